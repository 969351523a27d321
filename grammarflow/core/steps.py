"""The steps that change a derivation, what an accepted step did, and their JSON.

Every change to a sentential form is one of these values, applied by
:meth:`grammarflow.core.derivation.Derivation.apply` and journaled as its JSON form, so
that folding the journal replays the run exactly (proofs/07-replay.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from grammarflow.core.constraints import Constraint, constraints_from_json, constraints_to_json
from grammarflow.core.formatting import pretty
from grammarflow.core.graph import JSON, NO_ATTRS, TaskState
from grammarflow.core.productions import Fragment, HoleSpec, HoleType, TaskSpec
from grammarflow.errors import GrammarflowError


def as_code(value: object) -> str:
    """A step (or a part of one) as the code that makes it, to paste into a test
    (``Expand('Ms.1', '2')``): its fields without a default by position, the others by
    name where they are not the default; new hole types as the notation they parse from.

    >>> Grow("X.1", Fragment((TaskSpec("n", "M"),), edges=(("A", "n"),)))
    Grow('X.1', Fragment(tasks=(TaskSpec('n', 'M'),), edges=(('A', 'n'),)))
    """
    shown = []
    for f in fields(value):  # type: ignore[arg-type]
        part = getattr(value, f.name)
        if f.default is MISSING:
            shown.append(_code(part))
        elif part != f.default:
            shown.append(f"{f.name}={_code(part)}")
    return f"{type(value).__name__}({', '.join(shown)})"


def _code(value: object) -> str:
    if isinstance(value, Fragment | TaskSpec | HoleSpec):
        return as_code(value)
    if isinstance(value, tuple) and value and all(isinstance(v, HoleType) for v in value):
        return f"tuple(parse_types({[repr(t) for t in value]!r}).values())"
    if isinstance(value, tuple):
        parts = [_code(v) for v in value]
        return f"({parts[0]},)" if len(parts) == 1 else f"({', '.join(parts)})"
    return repr(value)


@dataclass(frozen=True, slots=True)
class Expand:
    """Apply production ``production`` (by name) to ``hole``; ``attrs`` set task
    attributes. ``guard``: the orchestrator chose it because this guard held (its
    text, journaled for the record; the guard is checked whoever expands)."""

    hole: str
    production: str
    attrs: Mapping[str, Mapping[str, JSON]] = NO_ATTRS
    guard: str | None = None

    __repr__ = as_code
    _repr_pretty_ = pretty


@dataclass(frozen=True, slots=True)
class Grow:
    """Add a raw fragment through an open hole, which stays open (``X ::= H, X``).

    For a hole attached to named tasks, the new tasks join its *after* role, so what
    grows inside the hole stays between its attachment.
    """

    hole: str
    fragment: Fragment

    __repr__ = as_code
    _repr_pretty_ = pretty


@dataclass(frozen=True, slots=True)
class Refine:
    """Replace an open hole by a fragment, possibly with fresh hole ``types``."""

    hole: str
    fragment: Fragment
    types: tuple[HoleType, ...] = ()

    __repr__ = as_code
    _repr_pretty_ = pretty


@dataclass(frozen=True, slots=True)
class NarrowType:
    """Remove productions from a hole type, for every hole of it now and later."""

    type: str
    remove: tuple[str, ...]

    __repr__ = as_code
    _repr_pretty_ = pretty


@dataclass(frozen=True, slots=True)
class NarrowHole:
    """Remove productions from one hole."""

    hole: str
    remove: tuple[str, ...]

    __repr__ = as_code
    _repr_pretty_ = pretty


@dataclass(frozen=True, slots=True)
class Constrain:
    """Add constraints to an open hole: what it grows from now on must keep them
    (a new scope; constraints are only ever added, never removed)."""

    hole: str
    constraints: tuple[Constraint, ...]

    __repr__ = as_code
    _repr_pretty_ = pretty


@dataclass(frozen=True, slots=True)
class Output:
    """A task gave its output: a JSON value, of its kind's declared type if it has one
    (validated by the orchestrator before the step is taken)."""

    task: str
    value: JSON

    __repr__ = as_code
    _repr_pretty_ = pretty


@dataclass(frozen=True, slots=True)
class Style:
    """Cosmetics of a task or of an edge (:mod:`grammarflow.core.cosmetics`): how it is drawn."""

    task: str | None
    edge: tuple[str, str] | None
    attrs: Mapping[str, JSON]

    __repr__ = as_code
    _repr_pretty_ = pretty


@dataclass(frozen=True, slots=True)
class SetState:
    """A task's run state changed (the scheduler's step, journaled like the others)."""

    task: str
    state: TaskState

    __repr__ = as_code
    _repr_pretty_ = pretty


Step = (Expand | Grow | Refine | NarrowType | NarrowHole | Constrain | Output | Style
        | SetState)


@dataclass(frozen=True, slots=True)
class Applied:
    """What an accepted step did: the ids it created (by local name) and removed."""

    step: Step
    tasks: Mapping[str, str] = NO_ATTRS
    holes: tuple[str, ...] = ()
    removed: str | None = None


def step_to_json(step: Step) -> dict[str, Any]:
    match step:
        case Expand(hole, production, attrs, guard):
            data = {"op": "expand", "hole": hole, "production": production,
                    "attrs": {k: dict(v) for k, v in attrs.items()}}
            if guard is not None:
                data["guard"] = guard
            return data
        case Grow(hole, fragment):
            return {"op": "grow", "hole": hole, "fragment": fragment.to_json()}
        case Refine(hole, fragment, types):
            return {"op": "refine", "hole": hole, "fragment": fragment.to_json(),
                    "types": [t.to_json() for t in types]}
        case NarrowType(type_, remove):
            return {"op": "narrow_type", "type": type_, "remove": list(remove)}
        case NarrowHole(hole, remove):
            return {"op": "narrow_hole", "hole": hole, "remove": list(remove)}
        case Constrain(hole, constraints):
            return {"op": "constrain", "hole": hole,
                    "constraints": constraints_to_json(constraints)}
        case Output(task, value):
            return {"op": "output", "task": task, "value": value}
        case Style(task, edge, attrs):
            return {"op": "style", **({"task": task} if task is not None else {}),
                    **({"edge": list(edge)} if edge is not None else {}), "attrs": dict(attrs)}
        case SetState(task, state):
            return {"op": "state", "task": task, "state": state.value}
    raise TypeError(f"not a step: {step!r}")




def step_from_json(data: Mapping[str, Any]) -> Step:
    op = data.get("op")
    if op == "expand":
        return Expand(data["hole"], data["production"],
                      {k: dict(v) for k, v in data.get("attrs", {}).items()},
                      data.get("guard"))
    if op == "grow":
        return Grow(data["hole"], Fragment.from_json(data["fragment"]))
    if op == "refine":
        return Refine(data["hole"], Fragment.from_json(data["fragment"]),
                      tuple(HoleType.from_json(t) for t in data.get("types", ())))
    if op == "narrow_type":
        return NarrowType(data["type"], tuple(data["remove"]))
    if op == "narrow_hole":
        return NarrowHole(data["hole"], tuple(data["remove"]))
    if op == "constrain":
        return Constrain(data["hole"], constraints_from_json(data["constraints"]))
    if op == "output":
        return Output(data["task"], data["value"])
    if op == "style":
        edge = data.get("edge")
        return Style(data.get("task"), (edge[0], edge[1]) if edge else None,
                     dict(data["attrs"]))
    if op == "state":
        return SetState(data["task"], TaskState(data["state"]))
    raise GrammarflowError(f"unknown step op {op!r}; expected expand, grow, refine, "
                           "narrow_type, narrow_hole, constrain, output, style or state")


__all__ = [
    "Applied",
    "Constrain",
    "Expand",
    "Grow",
    "NarrowHole",
    "NarrowType",
    "Output",
    "Refine",
    "SetState",
    "Step",
    "Style",
    "step_from_json",
    "step_to_json",
]
