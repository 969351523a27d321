"""A task's protocol messages as typed values, read once from the dict the wire checked
(:func:`grammarflow.wire.decode_message`): the orchestrator dispatches on their class,
never on string keys. The task SDK (stdlib only) writes the dicts; this side reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grammarflow.core.constraints import parse_constraints
from grammarflow.core.match import Diff
from grammarflow.core.notation import parse_types
from grammarflow.core.productions import Fragment, HoleSpec, TaskSpec
from grammarflow.core.steps import Constrain, Expand, NarrowHole, NarrowType, Refine, Style
from grammarflow.errors import BrokenPromise, GrammarflowError, Why


@dataclass(frozen=True, slots=True)
class ExpandRequest:
    """Expand holes by named productions, all or none (``batch``: sent as a list)."""

    id: int
    steps: tuple[Expand, ...]
    batch: bool


@dataclass(frozen=True, slots=True)
class AddRequest:
    """A raw change: new tasks and edges, for the checker to explain by productions."""

    id: int
    diff: Diff


@dataclass(frozen=True, slots=True)
class NarrowRequest:
    """A promise that narrows a hole type, or one hole, by removing productions."""

    id: int
    step: NarrowType | NarrowHole


@dataclass(frozen=True, slots=True)
class RefineRequest:
    """An open hole made more precise: a fragment, with fresh hole types."""

    id: int
    step: Refine


@dataclass(frozen=True, slots=True)
class ConstrainRequest:
    """Constraints added to an open hole."""

    id: int
    step: Constrain


@dataclass(frozen=True, slots=True)
class FindRequest:
    """The tasks of ``kind`` right after ``after`` and right before ``before``."""

    id: int
    kind: str | None
    after: str | None
    before: str | None


@dataclass(frozen=True, slots=True)
class OutputRequest:
    """The task's output value (checked against its kind's type)."""

    id: int
    value: Any


@dataclass(frozen=True, slots=True)
class InputsRequest:
    """The values of the task's inputs."""

    id: int


@dataclass(frozen=True, slots=True)
class StyleRequest:
    """Cosmetics of one task or one edge."""

    id: int
    step: Style


@dataclass(frozen=True, slots=True)
class LogMessage:
    """A line for the attempt's log (no reply)."""

    text: str


@dataclass(frozen=True, slots=True)
class ProgressMessage:
    """How far the task has come (no reply)."""

    done: int
    total: int | None


Request = (ExpandRequest | AddRequest | NarrowRequest | RefineRequest | ConstrainRequest
           | FindRequest | OutputRequest | InputsRequest | StyleRequest)
Message = Request | LogMessage | ProgressMessage


def read(m: dict[str, Any]) -> Message:
    """The typed message of ``m``, a dict :func:`grammarflow.wire.decode_message` checked.
    A request whose constraints or types do not parse raises :class:`BrokenPromise`.

    >>> read({"op": "find", "id": 3, "kind": "M"})
    FindRequest(id=3, kind='M', after=None, before=None)
    >>> read({"op": "narrow", "id": 4, "hole": "X.1", "remove": ["2"]}).step
    NarrowHole('X.1', ('2',))
    """
    op = m["op"]
    if op == "log":
        return LogMessage(m["msg"])
    if op == "progress":
        return ProgressMessage(m.get("done") or 0, m.get("total"))
    return _REQUESTS[op](m)


def diff_of(m: dict[str, Any]) -> Diff:
    return Diff(tuple(TaskSpec(t["name"], t["kind"], t.get("attrs") or {})
                      for t in m.get("tasks", [])),
                tuple((u, v) for u, v in m.get("edges", [])))


def _expand(m: dict[str, Any]) -> ExpandRequest:
    return ExpandRequest(m["id"], tuple(Expand(s["hole"], s["production"], s.get("attrs") or {})
                                        for s in m.get("expansions", [m])),
                         "expansions" in m)


def _narrow(m: dict[str, Any]) -> NarrowRequest:
    return NarrowRequest(m["id"], NarrowType(m["type"], tuple(m["remove"])) if m.get("type")
                         else NarrowHole(m["hole"], tuple(m["remove"])))


def _constrain(m: dict[str, Any]) -> ConstrainRequest:
    try:
        constraints = tuple(c for text in m["constraints"] for c in parse_constraints(text))
    except GrammarflowError as e:
        raise BrokenPromise(f"constrain: the constraints do not parse: {e}",
                            why=Why.MESSAGE, hole=m["hole"]) from None
    return ConstrainRequest(m["id"], Constrain(m["hole"], constraints))


def _refine(m: dict[str, Any]) -> RefineRequest:
    try:
        types = tuple(parse_types(m.get("types", [])).values())
    except GrammarflowError as e:
        raise BrokenPromise(f"refine: the new types do not parse: {e}", why=Why.MESSAGE,
                            hole=m.get("hole")) from None
    fragment = Fragment(
        tasks=tuple(TaskSpec(t["name"], t["kind"], t.get("attrs") or {})
                    for t in m.get("tasks", [])),
        holes=tuple(HoleSpec(h["type"], tuple(h.get("args", []))) for h in m["holes"])
        if m.get("holes") else (),
        edges=tuple((u, v) for u, v in m.get("edges", [])))
    return RefineRequest(m["id"], Refine(m["hole"], fragment, types))


def _style(m: dict[str, Any]) -> StyleRequest:
    edge = m.get("edge")
    return StyleRequest(m["id"], Style(m.get("task") if edge is None else None,
                                       (edge[0], edge[1]) if edge else None, m["attrs"]))


_REQUESTS: dict[str, Callable[[dict[str, Any]], Request]] = {
    "expand": _expand,
    "add": lambda m: AddRequest(m["id"], diff_of(m)),
    "narrow": _narrow,
    "refine": _refine,
    "constrain": _constrain,
    "find": lambda m: FindRequest(m["id"], m.get("kind"), m.get("after"), m.get("before")),
    "output": lambda m: OutputRequest(m["id"], m["value"]),
    "inputs": lambda m: InputsRequest(m["id"]),
    "style": _style,
}


__all__ = [
    "AddRequest",
    "ConstrainRequest",
    "ExpandRequest",
    "FindRequest",
    "InputsRequest",
    "LogMessage",
    "Message",
    "NarrowRequest",
    "OutputRequest",
    "ProgressMessage",
    "RefineRequest",
    "Request",
    "StyleRequest",
    "diff_of",
    "read",
]
