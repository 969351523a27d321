"""How a simulation grows an open hole: up to a number of tasks it chooses, of the kinds
the hole's constraints name (or the grammar's, or the user's), joined to the tasks it
is attached to; each growth is kept only if the hole could still close right after it,
so that a simulated run never strands a hole its constraints would refuse to close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from grammarflow.core.constraints import AtMost, Each, OnlyEdges, OnlyKinds
from grammarflow.core.graph import Hole
from grammarflow.core.productions import Fragment, TaskSpec
from grammarflow.core.steps import Grow, Refine
from grammarflow.errors import BrokenPromise

if TYPE_CHECKING:  # annotations only: the simulation passes its derivation
    from grammarflow.core.derivation import Derivation

T = TypeVar("T")


class Chooser(Protocol):
    """Where a simulation's choices come from."""

    def choose(self, options: Sequence[T]) -> T: ...

    def coin(self) -> bool: ...


@dataclass
class Growth:
    """How far each open hole of a simulation has grown (``grown``), and how far it is to
    grow (``target``, chosen when first met, at most ``most``); ``kinds``: the kinds to
    grow where the hole's constraints name none."""

    kinds: tuple[str, ...]
    most: int
    grown: dict[str, int] = field(default_factory=dict)
    target: dict[str, int] = field(default_factory=dict)


def step_open(d: Derivation, hole: Hole, chooser: Chooser, growth: Growth, big: bool
              ) -> None:
    """Grow one task inside open ``hole`` while it is to grow (and the run is not
    ``big``), else close it (refine it to nothing)."""
    target = growth.target.get(hole.id)
    if target is None:  # chosen once a hole (a draw each visit would skew the choices)
        target = growth.target[hole.id] = chooser.choose(range(growth.most + 1))
    done = growth.grown.get(hole.id, 0)
    if done < target and not big and grow(d, hole, chooser, growth):
        growth.grown[hole.id] = done + 1
        return
    growth.target[hole.id] = done  # it grows no more
    d.apply(Refine(hole.id, Fragment()))


def grow(d: Derivation, hole: Hole, chooser: Chooser, growth: Growth) -> bool:
    """Grow one task inside ``hole``: a chosen kind joined at random, then the same kind
    joined to every task the hole is attached to, then each other kind so joined; the
    first growth after which the hole could still close is applied. False if none."""
    name = _fresh(d, hole)
    kinds = kinds_for(d, hole, growth.kinds)
    first = chooser.choose(kinds)
    tries = [_random(d, hole, name, first, chooser), _joined(hole, name, first),
             *(_joined(hole, name, k) for k in kinds if k != first)]
    for fragment in tries:
        step = Grow(hole.id, fragment)
        if _closable_after(d, step):
            d.apply(step)
            return True
    return False


def kinds_for(d: Derivation, hole: Hole, otherwise: Sequence[str]) -> list[str]:
    """The kinds to grow in ``hole``: those its constraints name (under ``only K, ...``
    only those), then ``otherwise``."""
    named: dict[str, None] = {}
    only: set[str] | None = None
    for sid in d.limits.scopes_of(hole.id):
        scope = d.limits.scopes[sid]
        for c in scope.constraints:
            found: list[str] = []
            match c:
                case OnlyKinds(kinds):
                    found = list(kinds)
                    only = set(kinds) if only is None else only & set(kinds)
                case AtMost(_, kind) if kind is not None:
                    found = [kind]
                case Each(kind, degrees):
                    found = [kind, *(g.kind for g in degrees)]
                case OnlyEdges(edges):
                    found = [x for edge in edges for x in edge]
            named.update(dict.fromkeys(k for k in found if k not in scope.bound))
    pool = list(dict.fromkeys([*named, *otherwise]))
    if only is not None:
        pool = [k for k in pool if k in only]
    return pool or list(otherwise) or ["task"]


def _fresh(d: Derivation, hole: Hole) -> str:
    n = 1
    while f"{hole.id}/n{n}" in d.graph:
        n += 1
    return f"n{n}"


def _random(d: Derivation, hole: Hole, name: str, kind: str, chooser: Chooser) -> Fragment:
    if hole.everywhere:
        sources = list(d.graph.tasks)
        edges = [(chooser.choose(sources), name)] if sources and chooser.coin() else []
    else:
        edges = [(a, name) for a in hole.after if chooser.coin()]
        edges += [(name, b) for b in hole.before if chooser.coin()]
    return Fragment(tasks=(TaskSpec(name, kind),), edges=tuple(edges))


def _joined(hole: Hole, name: str, kind: str) -> Fragment:
    edges = [(a, name) for a in hole.after] + [(name, b) for b in hole.before]
    return Fragment(tasks=(TaskSpec(name, kind),), edges=tuple(edges))


def _closable_after(d: Derivation, step: Grow) -> bool:
    """Is ``step`` accepted, and could its hole close right after it? (Tried on a copy.)"""
    trial = d.copy()
    try:
        trial.apply(step)
        trial.apply(Refine(step.hole, Fragment()))
    except BrokenPromise:
        return False
    return True


__all__ = ["Chooser", "Growth", "grow", "kinds_for", "step_open"]
