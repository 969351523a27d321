"""Run one function of a Python file as a task: ``python -m grammarflow.workflow.call FILE FUNC``.

Extra arguments (the kind's ``args``) fill the function's first parameters, as strings.
Its other parameters are its inputs: each gets the value bound to it (the task's
context), turned into the parameter's dataclass (or pydantic model) where it is
annotated with one. What it returns is its output (a dataclass or model becomes JSON);
``None`` gives none. An exception fails the task (exit 1, with the traceback).
The file is imported as a module first (a workflow file defines its grammar at import;
that is harmless).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # no `typing` at run time unless a parameter needs converting
if TYPE_CHECKING:
    from typing import Any


#: The name a task's file is imported under (dataclasses and pickle look it up).
MODULE = "__grammarflow_task__"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: python -m grammarflow.workflow.call FILE FUNCTION [ARGS...]", file=sys.stderr)
        return 2
    path, name, *args = argv
    import grammarflow

    grammarflow.TASK_PROCESS = True  # the file's define() and kinds: stand-ins
    module = load(path)
    if module is None:
        print(f"cannot import {path!r}", file=sys.stderr)
        return 2
    return call(module, path, name, args)


def load(path: str, name: str = MODULE) -> Any:
    """Import the file at ``path`` as module ``name`` (None: it is not a Python file).
    By hand, not through ``importlib.util`` (which alone costs a task ~7 ms of imports):
    read, compile, run in a fresh module registered under ``name``."""
    if not path.endswith(".py"):
        return None
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    module = type(sys)(name)
    module.__file__ = path
    sys.modules[name] = module  # dataclasses and pickle look their module up
    exec(code, module.__dict__)
    return module


def call(module: Any, path: str, name: str, args: list[str]) -> int:
    """Run function ``name`` of ``module`` (imported from ``path``) as this task: its
    inputs as keywords, its return value as the task's output. Returns the exit code."""
    func = getattr(module, name, None)
    if not callable(func):
        print(f"{path!r} has no function {name!r}", file=sys.stderr)
        return 2
    inputs = {**_params(func), **_inputs()}
    if inputs:
        inputs = _converted(func, inputs)
    result = func(*args, **inputs)
    if result is not None:
        from grammarflow import task

        task.output(to_json(result))
    return 0


def _params(func: Any) -> dict[str, Any]:
    """The run's parameters the function names among its parameters (``n: int`` gets the
    run's ``n``)."""
    import os

    from grammarflow import wire

    if '"params"' not in os.environ.get(wire.ENV_TASK, ""):
        return {}
    from grammarflow import task

    code = getattr(func, "__code__", None)
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount] if code else ()
    given = task.context().params
    return {name: given[name] for name in names if name in given}


def _inputs() -> dict[str, Any]:
    import os

    from grammarflow import wire

    if '"inputs' not in os.environ.get(wire.ENV_TASK, ""):
        return {}  # an untyped task: no inputs (and no JSON parsed for nothing)
    from grammarflow import task

    return dict(task.context().inputs)


def _converted(func: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """Each input as its parameter's annotation wants it: a dict becomes the annotated
    dataclass or pydantic model (in lists, dicts and ``Optional`` too)."""
    import typing

    try:
        hints = typing.get_type_hints(func)
    except Exception:
        return inputs
    return {k: _as(hints.get(k), v) for k, v in inputs.items()}


def _as(hint: Any, value: Any) -> Any:
    import dataclasses
    import typing

    if hint is None or value is None:
        return value
    gather = getattr(hint, "gather", None)  # All[T] / Item[T] (grammarflow.workflow.annotations)
    if gather == "all" and isinstance(value, list):
        return [_as(hint.item, v) for v in value]
    if gather == "item":
        return _as(hint.item, value)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type) and isinstance(value, dict):
        hints = typing.get_type_hints(hint)
        names = {f.name for f in dataclasses.fields(hint) if f.init}
        return hint(**{k: _as(hints.get(k), v) for k, v in value.items() if k in names})
    if isinstance(hint, type) and hasattr(hint, "model_validate") and isinstance(value, dict):
        return hint.model_validate(value)  # a pydantic model
    if origin in (list, set, frozenset) and args and isinstance(value, list):
        items = [_as(args[0], v) for v in value]
        return items if origin is list else origin(items)
    if origin is tuple and args and isinstance(value, list):
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_as(args[0], v) for v in value)
        return tuple(_as(a, v) for a, v in zip(args, value, strict=False))
    if origin is dict and len(args) == 2 and isinstance(value, dict):
        return {k: _as(args[1], v) for k, v in value.items()}
    if args and origin is not None:  # Optional[X], X | None
        for arg in args:
            if isinstance(arg, type) and arg is not type(None) and (
                    dataclasses.is_dataclass(arg) or hasattr(arg, "model_validate")):
                return _as(arg, value)
    return value


def to_json(value: Any) -> Any:
    """A returned value as JSON data: dataclasses and pydantic models as objects,
    tuples and sets as lists; anything else as it is (json rejects what it cannot
    write, and the task fails saying so)."""
    import dataclasses

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_json(v) for v in value)
    return value


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = [
    "MODULE",
    "call",
    "load",
    "main",
    "to_json",
]
