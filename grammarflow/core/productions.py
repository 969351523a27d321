"""The values a grammar is made of: fragments, productions and hole types.

A :class:`Production` ``X(p1..pk) ::= H`` says what a hole of type ``X`` glued to
``a1..ak`` may become; a :class:`HoleType` is a nonterminal with its productions. Each
prints itself in the notation (:mod:`grammarflow.core.formatting`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grammarflow.core.constraints import (
    Constraint,
    constraints_from_json,
    constraints_to_json,
    to_constraints,
)
from grammarflow.core.formatting import format_fragment, format_hole_type, pretty
from grammarflow.core.graph import JSON, NO_ATTRS, Role
from grammarflow.core.guards import Guard, guard_from_json
from grammarflow.errors import BrokenPromise, Why

__all__ = ["EVERYWHERE", "Fragment", "HoleSpec", "HoleType", "Production", "TaskSpec",
           "hole_type", "open_type"]

EVERYWHERE = "*"


# ====================================================================== fragments
@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A new task in a fragment: its local name, its kind, default attributes."""

    local: str
    kind: str
    attrs: Mapping[str, JSON] = NO_ATTRS


@dataclass(frozen=True, slots=True)
class HoleSpec:
    """A new hole in a fragment: its type and its arguments (names in the fragment)."""

    type: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Fragment:
    """A graph fragment: new tasks, new holes, and edges among names.

    Names in ``edges`` and hole ``args`` are the fragment's task locals, or outside
    names (a production's parameters; for open holes, existing task ids).
    """

    tasks: tuple[TaskSpec, ...] = ()
    holes: tuple[HoleSpec, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()

    @property
    def locals(self) -> tuple[str, ...]:
        return tuple(t.local for t in self.tasks)

    def is_empty(self) -> bool:
        return not (self.tasks or self.holes or self.edges)

    def outside_names(self) -> tuple[str, ...]:
        """Names the fragment uses that are not its own tasks, in order of first use."""
        local = set(self.locals)
        seen: dict[str, None] = {}
        for u, v in self.edges:
            for name in (u, v):
                if name not in local:
                    seen[name] = None
        for h in self.holes:
            for name in h.args:
                if name not in local and name != EVERYWHERE:
                    seen[name] = None
        return tuple(seen)

    def __repr__(self) -> str:
        return format_fragment(self)

    _repr_pretty_ = pretty

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": [{"local": t.local, "kind": t.kind, "attrs": dict(t.attrs)}
                      for t in self.tasks],
            "holes": [{"type": h.type, "args": list(h.args)} for h in self.holes],
            "edges": [list(e) for e in self.edges],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fragment:
        return cls(
            tasks=tuple(TaskSpec(t["local"], t["kind"], dict(t.get("attrs", {})))
                        for t in data.get("tasks", ())),
            holes=tuple(HoleSpec(h["type"], tuple(h["args"])) for h in data.get("holes", ())),
            edges=tuple((u, v) for u, v in data.get("edges", ())),
        )


@dataclass(frozen=True, slots=True)
class Production:
    """``lhs(params) ::= fragment``; ``name`` identifies it among its type's productions.

    >>> from grammarflow import define
    >>> define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b").types["X"].productions[0]
    X(a, b) ::= a -> A -> b
    """

    lhs: str
    params: tuple[str, ...]
    fragment: Fragment
    name: str = "1"
    guard: Guard | None = None  # [when ...] / [else]: chosen on the data (guards.py)
    condition: Guard | None = None  # [if ...]: needed to be taken at all (guards.py)

    def __repr__(self) -> str:
        marks = [g.label() for g in (self.guard, self.condition) if g is not None]
        guard = f"[{', '.join(marks)}] " if marks else ""
        return (f"{self.lhs}({', '.join(self.params)}) ::= "
                f"{guard}{format_fragment(self.fragment)}")

    __str__ = __repr__
    _repr_pretty_ = pretty


@dataclass(frozen=True, slots=True)
class HoleType:
    """A nonterminal symbol: its parameters with roles, and its productions.

    ``open`` types admit any fragment (``X(..) ::= *``) and default to nothing;
    ``everywhere`` open types are attached to every task. ``removed`` lists the
    productions narrowed away at run time (kept so ids in the journal stay valid).
    ``constraints`` (open types only) limit what a hole of the type may grow
    (:mod:`grammarflow.core.constraints`).
    """

    name: str
    params: tuple[str, ...]
    roles: tuple[Role, ...]
    productions: tuple[Production, ...] = ()
    default: str | None = None
    open: bool = False
    everywhere: bool = False
    removed: frozenset[str] = frozenset()
    constraints: tuple[Constraint, ...] = ()

    def allowed(self, only: frozenset[str] | None = None) -> Iterator[Production]:
        """The productions still allowed: not removed, and in ``only`` (a hole's own
        narrowing, ``None`` for no narrowing) if given."""
        for p in self.productions:
            if p.name in self.removed:
                continue
            if only is not None and p.name not in only:
                continue
            yield p

    def permits(self, name: str, only: frozenset[str] | None = None) -> bool:
        """Is production ``name`` still allowed (for a hole narrowed to ``only``)?"""
        return name not in self.removed and (only is None or name in only)

    @property
    def guarded(self) -> bool:
        """Are its productions chosen on data (each has a guard)?"""
        return bool(self.productions) and self.productions[0].guard is not None

    def production(self, name: str) -> Production:
        for p in self.productions:
            if p.name == name:
                return p
        raise BrokenPromise(
            f"hole type {self.name} has no production named {name!r}; "
            f"expected one of {[p.name for p in self.productions]}",
            why=Why.NO_SUCH_PRODUCTION)

    @property
    def after(self) -> tuple[str, ...]:
        return tuple(p for p, r in zip(self.params, self.roles, strict=True) if r is Role.AFTER)

    @property
    def before(self) -> tuple[str, ...]:
        return tuple(p for p, r in zip(self.params, self.roles, strict=True)
                     if r is Role.BEFORE)

    def __repr__(self) -> str:
        return format_hole_type(self)

    _repr_pretty_ = pretty

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "params": list(self.params),
            "roles": [r.value for r in self.roles],
            "productions": [{"name": p.name, "fragment": p.fragment.to_json(),
                             **({"guard": p.guard.to_json()} if p.guard else {}),
                             **({"condition": p.condition.to_json()} if p.condition else {})}
                            for p in self.productions],
            "default": self.default, "open": self.open, "everywhere": self.everywhere,
            "removed": sorted(self.removed),
            **({"constraints": constraints_to_json(self.constraints)}
               if self.constraints else {}),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HoleType:
        params = tuple(data["params"])
        return cls(
            name=data["name"], params=params, roles=tuple(Role(r) for r in data["roles"]),
            productions=tuple(Production(data["name"], params,
                                         Fragment.from_json(p["fragment"]), p["name"],
                                         guard_from_json(p.get("guard")),
                                         guard_from_json(p.get("condition")))
                              for p in data["productions"]),
            default=data.get("default"), open=bool(data.get("open")),
            everywhere=bool(data.get("everywhere")),
            removed=frozenset(data.get("removed", ())),
            constraints=constraints_from_json(data.get("constraints", ())),
        )


def hole_type(
    name: str,
    params: Sequence[str],
    roles: Sequence[Role],
    alternatives: Sequence[Fragment] = (),
    *,
    names: Sequence[str] | None = None,
    default: str | None = None,
) -> HoleType:
    """Build a closed hole type from fragments (the Python form of ``X(..) ::= H1 | H2``).

    >>> from grammarflow import Fragment, Role, TaskSpec
    >>> hole_type("X", ["a", "b"], [Role.AFTER, Role.BEFORE],
    ...           [Fragment((TaskSpec("A", "A"),), (), (("a", "A"), ("A", "b")))])
    X(a, b) ::= a -> A -> b
    """
    labels = list(names) if names is not None else [str(i + 1) for i in range(len(alternatives))]
    prods = tuple(Production(name, tuple(params), f, n)
                  for f, n in zip(alternatives, labels, strict=True))
    return HoleType(name, tuple(params), tuple(roles), prods, default)


def open_type(name: str, params: Sequence[str] = (), roles: Sequence[Role] = (),
              *, everywhere: bool = False,
              constraints: str | Iterable[str | Constraint] = ()) -> HoleType:
    """An open hole type ``X(..) ::= *``: admits any fragment (within its
    ``constraints``, texts such as ``"only M, N"`` or values); its default is nothing.

    >>> open_type("Any", everywhere=True)
    Any(*) ::= *
    >>> open_type("Dyn", ["a", "b"], [Role.AFTER, Role.BEFORE],
    ...           constraints=["only M", "no edges into b"])
    Dyn(a; b) ::= * where only M; no edges into b
    """
    return HoleType(name, tuple(params), tuple(roles), open=True, everywhere=everywhere,
                    constraints=to_constraints(constraints, f"open type {name}"))


