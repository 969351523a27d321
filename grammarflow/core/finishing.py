"""Whether a hole made inside constrained scopes can still finish there.

A hole every way to finish of which breaks a constraint of its scopes is *stranded*,
and the derivation refuses the step that would make one (docs/constraints.md). A least
fixpoint, like :func:`~grammarflow.core.wellformed.productive_types`, over a hole type
and what the constraints tell of the tasks glued to it. Pure: no graph, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from grammarflow.core.constraints import (
    AtMost,
    Constraint,
    NoEdges,
    NoTasks,
    OnlyEdges,
    OnlyKinds,
    fragment_breaks,
)
from grammarflow.core.productions import HoleType, Production
from grammarflow.core.scopes import Scope

#: A task as the constraints see it: its id if a scope names it (else None), its kind.
End = tuple[str | None, str]
#: A hole type with the ends glued to its parameters.
State = tuple[str, tuple[End, ...]]

#: States explored before giving up (then the hole is not judged stranded: the run
#: decides each change as it comes, as it always does).
BUDGET = 2_000


def stranded(types: Mapping[str, HoleType], scopes: Sequence[Scope], type_name: str,
             args: Sequence[End], allowed: frozenset[str] | None = None) -> str | None:
    """Why a hole of ``type_name`` glued to ``args`` (narrowed to ``allowed``), made
    inside ``scopes``, can never finish there; None if it can (or cannot be judged)."""
    named = {task for scope in scopes for task in scope.bound.values()}
    root: State = (type_name, tuple(_seen(end, named) for end in args))
    ways = _explore(types, scopes, root, allowed, named)
    if ways is None or root in _finishing(ways):
        return None
    reasons = [why for why, _ in ways[root] if why is not None]
    if reasons:
        return reasons[0]
    return "each of its productions makes a hole that could never finish there"


def _seen(end: End, named: set[str]) -> End:
    """An end as the constraints tell it apart: its id only if a scope names it."""
    return end if end[0] in named else (None, end[1])


Ways = dict[State, list[tuple[str | None, list[State]]]]


def _explore(types: Mapping[str, HoleType], scopes: Sequence[Scope], root: State,
             allowed: frozenset[str] | None, named: set[str]) -> Ways | None:
    """Every state reachable from ``root``: for each, its productions as (why it breaks
    a constraint or None, the states of the holes it makes). None: over BUDGET."""
    ways: Ways = {}
    todo = [root]
    while todo:
        state = todo.pop()
        if state in ways:
            continue
        if len(ways) >= BUDGET:
            return None
        htype = types[state[0]]
        if htype.open:
            ways[state] = [(None, [])]
            continue
        options = []
        for prod in htype.allowed(allowed if state is root else None):
            why, kids = _apply(scopes, prod, dict(zip(htype.params, state[1], strict=False)),
                               named)
            options.append((why, kids))
            if why is None:
                todo.extend(kids)
        ways[state] = options
    return ways


def _apply(scopes: Sequence[Scope], prod: Production, glued: Mapping[str, End],
           named: set[str]) -> tuple[str | None, list[State]]:
    """What taking ``prod`` with its parameters ``glued`` breaks, and the holes it makes."""
    kinds = {t.local: t.kind for t in prod.fragment.tasks}

    def end(name: str) -> End:
        return glued.get(name) or (None, kinds.get(name, name))

    edges = [(end(u), end(v)) for u, v in prod.fragment.edges]
    why = _breaks(scopes, list(kinds.values()), edges)
    kids = [(h.type, tuple(_seen(end(a), named) for a in h.args)) for h in prod.fragment.holes]
    return (None if why is None else f"{prod!r} {why}"), kids


def _breaks(scopes: Sequence[Scope], kinds: Sequence[str],
            edges: Iterable[tuple[End, End]]) -> str | None:
    """Which constraint a change making tasks of ``kinds`` and ``edges`` breaks."""
    edges = list(edges)
    for scope in scopes:
        for c in scope.constraints:
            why = _one(scope, c, kinds, edges)
            if why is not None:
                return f"breaks '{c}' of hole {scope.hole} ({scope.type}): {why}"
    return None


def _one(scope: Scope, c: Constraint, kinds: Sequence[str],
         edges: Sequence[tuple[End, End]]) -> str | None:
    match c:
        case OnlyKinds() | NoTasks() | AtMost():  # what one change makes decides them
            return fragment_breaks(c, kinds, ())
        case NoEdges(source, target):
            for u, v in edges:
                if (source is None or scope.matches(source, *u)) and \
                        (target is None or scope.matches(target, *v)):
                    return f"it makes an edge {_shown(u)} -> {_shown(v)}"
        case OnlyEdges(allowed):
            for u, v in edges:
                if not any(scope.matches(a, *u) and scope.matches(b, *v) for a, b in allowed):
                    return f"it makes an edge {_shown(u)} -> {_shown(v)}"
    return None


def _shown(end: End) -> str:
    """A task named by a scope by its id, any other by its kind."""
    return end[0] if end[0] is not None else end[1]


def _finishing(ways: Ways) -> set[State]:
    """The states that can finish (least fixpoint)."""
    done: set[State] = set()
    changed = True
    while changed:
        changed = False
        for state, options in ways.items():
            if state not in done and any(why is None and all(k in done for k in kids)
                                         for why, kids in options):
                done.add(state)
                changed = True
    return done


__all__ = ["BUDGET", "End", "State", "stranded"]
