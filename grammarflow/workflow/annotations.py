"""Declared data types, on the orchestrator's side: Python annotations to signatures
(JSON Schemas, :mod:`grammarflow.core.dataflow`), and values validated by pydantic.

Importing it costs nothing; pydantic is imported the first time a type becomes a schema
or a value is checked. Which types work: docs/data.md.
"""

from __future__ import annotations

from collections.abc import Collection

from grammarflow.errors import GrammarflowError
from grammarflow.gather import All, Gathered, Item, type_text

TYPE_CHECKING = False  # not `typing`: workflow files import All and Item in every task
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from grammarflow.core.dataflow import Gather, Signature



class _Nothing:
    def __repr__(self) -> str:
        return "NOTHING"


#: ``Kind(output=NOTHING)`` (the default): the kind gives no output.
NOTHING: Any = _Nothing()


class DataTypeError(GrammarflowError):
    """A declared type that cannot describe JSON data, or a value not of its type."""


class KindTypes:
    """A kind's declared Python types: its inputs and output (``NOTHING``: none), and
    which inputs are optional (a parameter with a default)."""

    __slots__ = ("inputs", "optional", "output")

    def __init__(self, inputs: Mapping[str, Any] | None = None, output: Any = NOTHING,
                 optional: frozenset[str] = frozenset()) -> None:
        self.inputs = dict(inputs or {})
        self.output = output
        self.optional = optional

    def signature(self, kind: str) -> Signature:
        """The kind's signature: every type as a JSON Schema (pydantic's)."""
        from grammarflow.core.dataflow import Input, Signature

        inputs = []
        for name, hint in self.inputs.items():
            gather, inner = _gather(hint)
            inputs.append(Input(name, gather, schema_of(inner, f"input '{name}' of kind {kind}"),
                                type_text(inner), optional=name in self.optional))
        if self.output is NOTHING or self.output is None or self.output is type(None):
            return Signature(tuple(inputs))
        return Signature(tuple(inputs), schema_of(self.output, f"the output of kind {kind}"),
                         type_text(self.output))


def function_types(func: Callable[..., Any], skip: int = 0,
                   params: Collection[str] = ()) -> KindTypes | None:
    """The types a function declares (``None`` if it takes no input and declares no
    output: an untyped task). ``skip``: leading parameters filled by the
    kind's ``args``; ``params``: names of the run's parameters (no inputs)."""
    import inspect
    import typing
    from typing import Any

    try:
        hints = typing.get_type_hints(func)
    except Exception as e:  # a name in an annotation that does not exist, ...
        raise DataTypeError(f"function {func.__name__}: its annotations cannot be read: "
                            f"{type(e).__name__}: {e}") from None
    taken = [p for p in list(inspect.signature(func).parameters.values())[skip:]
             if p.name not in params]
    if not taken and hints.get("return", None) in (None, type(None)):
        return None  # takes nothing, gives nothing: an untyped task
    inputs: dict[str, Any] = {}
    optional = set()
    for p in taken:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise DataTypeError(f"function {func.__name__}: *{p.name} cannot be an input; "
                                "name each input")
        inputs[p.name] = hints.get(p.name, Any)
        if p.default is not p.empty:
            optional.add(p.name)
    output = hints.get("return", Any)
    return KindTypes(inputs, output, frozenset(optional))


def _gather(hint: Any) -> tuple[Gather, Any]:
    """How an input gathers, and the type of one value it gathers."""
    from grammarflow.core.dataflow import Gather

    if isinstance(hint, Gathered):
        return Gather(hint.gather), hint.item
    return Gather.ONE, hint


def schema_of(hint: Any, what: str) -> dict[str, Any]:
    """The JSON Schema of a type (pydantic's); DataTypeError if it has none."""
    try:
        return _adapter(hint).json_schema()  # type: ignore[no-any-return]
    except Exception as e:
        raise DataTypeError(f"{what} is declared {type_text(hint)}, which is not a type of "
                            f"JSON data: {_first_line(e)}") from None


def _adapter(hint: Any) -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(hint)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class Validator:
    """Checks values of one type (pydantic, strict, as from JSON) and gives them back as
    JSON, normalised (unknown fields dropped, defaults filled)."""

    def __init__(self, hint: Any) -> None:
        self.hint = hint
        self.text = type_text(hint)
        self._adapter: Any = None

    def __call__(self, value: Any) -> Any:
        """The value as journaled; DataTypeError with the path to what is wrong."""
        import json

        from pydantic import ValidationError

        if self._adapter is None:
            self._adapter = _adapter(self.hint)
        try:
            checked = self._adapter.validate_json(json.dumps(value), strict=True)
        except ValidationError as e:
            raise DataTypeError(_explain(e, self.text)) from None
        return self._adapter.dump_python(checked, mode="json")


def _explain(error: Any, expected: str) -> str:
    """``at [1].x: Input should be a valid integer (got "2")``; the first three."""
    import json

    parts = []
    for item in error.errors()[:3]:
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"])
        got = json.dumps(item.get("input"), default=str)
        got = got if len(got) <= 40 else got[:37] + "..."
        parts.append(f"at {loc or 'the top'}: {item['msg']} (got {got})")
    more = error.error_count() - len(parts)
    tail = f"; and {more} more" if more > 0 else ""
    return f"expected {expected}: " + "; ".join(parts) + tail


__all__ = ["NOTHING", "All", "DataTypeError", "Item", "KindTypes",
           "Validator", "function_types", "schema_of", "type_text"]
