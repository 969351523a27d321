"""What a grammar allows, known before anything runs: how many tasks a finished run can
have (fewest and most, or unbounded and why), of which kinds, which productions no run
can use, and which holes can fall due with no default (the run would break there).

Exact on the grammar, no sampling: least and greatest fixpoints over the hole types, as
for the sizes of the words of a context-free grammar (proofs/13-analysis.md). A hole's
productions are all possible (a guard or a task's choice picks among them; which one
is not known before the run); an open hole may make nothing, and as many tasks as its
constraints allow (``at most``, ``only``). Pure: no graph is built, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from grammarflow.core import chains
from grammarflow.core.constraints import AtMost, NoTasks, OnlyEdges, OnlyKinds
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph
from grammarflow.core.productions import HoleType, Production
from grammarflow.core.wellformed import productive_types

__all__ = ["ANY_KIND", "Analysis", "Bounds", "analyze", "analyze_graph", "witness"]

#: The kind an open hole with no ``only`` may make tasks of: any.
ANY_KIND = "*"

INF = math.inf
#: A production's weight: how many of the tasks it makes count.
Weight = Callable[[Production], int]


@dataclass(frozen=True, slots=True)
class Bounds:
    """Fewest and most (None: unbounded) of something in a finished run."""

    min: int
    max: int | None

    def __str__(self) -> str:
        return (f"{self.min}" if self.max == self.min else
                f"{self.min} to {'unbounded' if self.max is None else self.max}")

    def to_json(self) -> dict[str, int | None]:
        return {"min": self.min, "max": self.max}


@dataclass(frozen=True)
class Analysis:
    """What every finished run of a grammar (from a graph) has in common."""

    tasks: Bounds  # tasks in all, those already there included
    kinds: Mapping[str, Bounds]  # tasks of each kind that can ever run (ANY_KIND: any)
    never: tuple[str, ...]  # kinds the grammar names that no run can have
    unbounded_by: tuple[str, ...]  # the hole types that let the tasks grow without end
    unused: tuple[tuple[str, str], ...]  # (type, production) no finished run can use
    stuck: tuple[str, ...]  # hole types that can fall due with no default
    finishable: bool  # some run can finish at all
    chain: int | None = None  # the most tasks on one path (each after the one before)

    def to_json(self) -> dict[str, object]:
        return {"tasks": self.tasks.to_json(),
                "kinds": {k: b.to_json() for k, b in sorted(self.kinds.items())},
                "never": list(self.never), "unbounded_by": list(self.unbounded_by),
                "unused": [list(u) for u in self.unused], "stuck": list(self.stuck),
                "finishable": self.finishable, "longest_chain": self.chain}


def analyze(grammar: Grammar) -> Analysis:
    """What the grammar allows from its start graph."""
    start = grammar.start
    holes: list[Root] = [(h.type, None) for h in start.holes]
    parts = _Parts.of(grammar.types, holes)
    a = _analysis(grammar.types, [t.kind for t in start.tasks], holes, grammar.kinds(), parts)
    chain = chains.longest_chain(start, _summaries(grammar.types, parts), grammar.types)
    return replace(a, chain=None if chain == INF else int(chain))


def analyze_graph(grammar: Grammar, graph: Graph) -> Analysis:
    """What is still possible from ``graph`` (a run as it stands): its tasks, and what
    its holes (each as narrowed) may still become."""
    holes: list[Root] = [(h.type, h.allowed) for h in graph.holes.values()]
    parts = _Parts.of(grammar.types, holes)
    a = _analysis(grammar.types, [t.kind for t in graph.tasks.values()], holes,
                  grammar.kinds(), parts)
    chain = chains.longest_in_graph(graph, _summaries(grammar.types, parts), grammar.types)
    return replace(a, chain=None if chain == INF else int(chain))


@dataclass(frozen=True)
class _Parts:
    """What every piece of the analysis starts from: the types that can finish, the
    productions that can be used (every hole they make can finish), and the types the
    roots can reach through those."""

    finishing: set[str]
    usable: dict[str, list[Production]]
    reach: set[str]

    @classmethod
    def of(cls, types: Mapping[str, HoleType], roots: Iterable[Root]) -> _Parts:
        finishing = productive_types(types)
        usable = {n: [p for p in t.allowed()
                      if all(h.type in finishing for h in p.fragment.holes)]
                  for n, t in types.items()}
        return cls(finishing, usable, _reachable(types, usable, {n for n, _ in roots}))


def _summaries(types: Mapping[str, HoleType], parts: _Parts) -> dict[str, chains.Summary]:
    most = {n: min(_open_most(types[n], None), _open_chain(types[n]))
            for n in parts.reach if types[n].open}
    return chains.summaries(types, parts.usable, parts.reach, most)


def _open_chain(t: HoleType) -> float:
    """The most tasks an open hole of ``t`` may put one after another: with ``only``
    edges, a path of kinds along them (every edge it makes is one; unbounded if they
    make a cycle of kinds), else unbounded."""
    bound = INF
    for c in t.constraints:
        if isinstance(c, OnlyEdges):
            bound = min(bound, _kind_path(c.edges, set(t.params)))
    return bound


def _kind_path(edges: Iterable[tuple[str, str]], params: set[str]) -> float:
    """The most kinds on a path along ``edges`` (between kinds, not ``params``)."""
    pairs = list(edges)
    kinds = {x for e in pairs for x in e} - params
    succ = {k: {v for u, v in pairs if u == k and v in kinds} for k in kinds}
    longest: dict[str, float] = {}

    def walk(k: str, seen: frozenset[str]) -> float:
        if k in seen:
            return INF  # a cycle of kinds: as long as you like
        if k not in longest:
            longest[k] = 1 + max((walk(v, seen | {k}) for v in succ[k]), default=0)
        return longest[k]
    return max((walk(k, frozenset()) for k in kinds), default=0)


def _analysis(types: Mapping[str, HoleType], tasks: list[str], roots: list[Root],
              named: Iterable[str], parts: _Parts) -> Analysis:
    finishing, usable, reach = parts.finishing, parts.usable, parts.reach
    kinds = _kinds(types, usable, reach, tasks)
    counts = {k: _bounds(types, usable, reach, roots, tasks, _weight_of(k), k)
              for k in sorted(kinds)}
    total = _bounds(types, usable, reach, roots, tasks, lambda p: len(p.fragment.tasks), None)
    used = {(n, p.name) for n in reach for p in usable[n]}
    unused = tuple(sorted((n, p.name) for n, t in types.items() for p in t.allowed()
                          if (n, p.name) not in used))
    stuck = tuple(sorted(n for n in reach if _can_stick(types[n])))
    return Analysis(
        tasks=total, kinds={k: v for k, v in counts.items() if v.max != 0},
        never=() if ANY_KIND in kinds else tuple(sorted(  # an open hole may make any
            set(named) - {k for k, v in counts.items() if v.max != 0})),
        unbounded_by=tuple(sorted(
            _pumping(types, usable, reach, lambda p: len(p.fragment.tasks))
            | {n for n in reach if types[n].open and _open_most(types[n], None) == INF})),
        unused=unused, stuck=stuck,
        finishable=all(any(p.name in allowed for p in usable[name]) if allowed is not None
                       else name in finishing for name, allowed in roots))


def witness(grammar: Grammar, most: bool = False) -> dict[str, str]:
    """For each closed hole type a production to take every time such a hole is
    expanded, so that the run finishes with exactly the fewest tasks (``most``: the
    most, where that is bounded; types that pump are left out): the bounds of
    :func:`analyze` are reached, not just kept."""
    types = grammar.types
    parts = _Parts.of(types, [(h.type, None) for h in grammar.start.holes])
    usable, reach = parts.usable, parts.reach

    def size(p: Production) -> int:
        return len(p.fragment.tasks)
    values, rounds = (_most(types, usable, reach, size, None, ranked=True) if most
                      else _fewest(types, usable, reach, size, ranked=True))
    chosen = {}
    for n in sorted(reach):
        if types[n].open or values[n] == INF:
            continue
        for p in usable[n]:  # one whose holes were settled in earlier rounds: it ends
            kids = [h.type for h in p.fragment.holes]
            if (size(p) + sum(values[k] for k in kids) == values[n]
                    and all(rounds[k] < rounds[n] for k in kids)):
                chosen[n] = p.name
                break
    return chosen


# ---------------------------------------------------------------- the pieces
#: A hole to analyse: its type, and the productions it is narrowed to (None: all).
Root = tuple[str, frozenset[str] | None]


def _reachable(types: Mapping[str, HoleType], usable: Mapping[str, list[Production]],
               roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = [r for r in roots if r in types]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(h.type for p in usable[n] for h in p.fragment.holes)
    return seen


def _kinds(types: Mapping[str, HoleType], usable: Mapping[str, list[Production]],
           reach: set[str], tasks: list[str]) -> set[str]:
    found = set(tasks)
    for n in reach:
        t = types[n]
        if t.open:
            only = _only(t)
            found.update(only if only is not None else [ANY_KIND])
        for p in usable[n]:
            found.update(s.kind for s in p.fragment.tasks)
    return found


def _only(t: HoleType) -> set[str] | None:
    """The kinds an open type may make tasks of (None: any)."""
    only: set[str] | None = None
    for c in t.constraints:
        if isinstance(c, NoTasks):
            return set()
        if isinstance(c, OnlyKinds):
            only = set(c.kinds) if only is None else only & set(c.kinds)
    return only


def _open_most(t: HoleType, kind: str | None) -> float:
    """The most tasks (of ``kind``; None: all) an open hole of ``t`` may make: its
    constraints' bounds, else unbounded."""
    only = _only(t)
    if kind is not None and only is not None and kind not in only:
        return 0
    if kind == ANY_KIND and only is not None:
        return 0
    most = INF
    per_kind: dict[str, float] = {}
    for c in t.constraints:
        if isinstance(c, NoTasks):
            return 0
        if isinstance(c, AtMost):
            if c.kind is None:
                most = min(most, c.n)
            else:
                per_kind[c.kind] = min(per_kind.get(c.kind, INF), c.n)
    if kind is None:
        if only is not None:  # every kind it may make bounded: their sum
            most = min(most, sum(per_kind.get(k, INF) for k in only))
        return most
    return min(most, per_kind.get(kind, INF))


def _weight_of(kind: str) -> Weight:
    return lambda p: sum(1 for s in p.fragment.tasks if s.kind == kind)


def _bounds(types: Mapping[str, HoleType], usable: Mapping[str, list[Production]],
            reach: set[str], roots: list[Root], tasks: list[str], weight: Weight,
            kind: str | None) -> Bounds:
    """Fewest and most of what ``weight`` counts (tasks of ``kind``; None: all) in a
    finished run: the tasks there now, and what each root hole may still become."""
    low = _fewest(types, usable, reach, weight)
    high = _most(types, usable, reach, weight, kind)
    here = sum(1 for k in tasks if kind is None or k == kind)
    lo: float = here
    hi: float = here
    for name, allowed in roots:
        prods = [p for p in usable.get(name, []) if allowed is None or p.name in allowed]
        t = types[name]
        if t.open:
            hi += _open_most(t, kind)
            continue
        lo += min((weight(p) + sum(low[h.type] for h in p.fragment.holes) for p in prods),
                  default=INF)
        hi += max((weight(p) + sum(high[h.type] for h in p.fragment.holes) for p in prods),
                  default=0)
    return Bounds(int(lo) if lo != INF else 0, None if hi == INF else int(hi))


def _fewest(types: Mapping[str, HoleType], usable: Mapping[str, list[Production]],
            reach: set[str], weight: Weight, ranked: bool = False) -> Any:
    """The least of ``weight`` each type can finish with (least fixpoint from above: a
    fewest derivation repeats no type along a branch, so ``len(reach)`` rounds do);
    ``ranked``: with the round each value was reached in."""
    low: dict[str, float] = {n: (0 if types[n].open else INF) for n in reach}
    rounds = dict.fromkeys(reach, 0)
    for r in range(1, len(reach) + 2):
        before = dict(low)  # rounds in lockstep: a value of round r uses those of r - 1
        for n in reach:
            if types[n].open:
                continue
            best = min((weight(p) + sum(before.get(h.type, INF) for h in p.fragment.holes)
                        for p in usable[n]), default=INF)
            if best < low[n]:
                low[n] = best
                rounds[n] = r
        if low == before:
            break
    return (low, rounds) if ranked else low


def _most(types: Mapping[str, HoleType], usable: Mapping[str, list[Production]],
          reach: set[str], weight: Weight, kind: str | None, ranked: bool = False) -> Any:
    """The most of ``weight`` each type can finish with: unbounded for a type that
    reaches a recursion that pumps (:func:`_pumping`) or an open hole with no bound;
    else a greatest value that ``len(reach)`` rounds reach (a most derivation of a
    bounded type need repeat no type along a branch either)."""
    endless = _pumping(types, usable, reach, weight)
    endless |= {n for n in reach if types[n].open and _open_most(types[n], kind) == INF}
    high: dict[str, float] = {n: (_open_most(types[n], kind) if types[n].open else 0)
                              for n in reach}
    for n in _reaching(types, usable, reach, endless):
        high[n] = INF
    # a type's value of round r: the most of derivations of depth r at most (no hole
    # left: a type that cannot finish is no option); -1 until it can finish at all
    high = {n: (v if types[n].open or v == INF else -1) for n, v in high.items()}
    rounds = dict.fromkeys(reach, 0)
    for r in range(1, len(reach) + 2):
        before = dict(high)
        for n in reach:
            if types[n].open or high[n] == INF:
                continue
            options = [weight(p) + sum(before[h.type] for h in p.fragment.holes)
                       for p in usable[n]
                       if all(before[h.type] >= 0 for h in p.fragment.holes)]
            best = max(options, default=-1)
            if best > high[n]:
                high[n] = best
                rounds[n] = r
        if high == before:
            break
    high = {n: max(v, 0) for n, v in high.items()}
    return (high, rounds) if ranked else high


def _reaching(types: Mapping[str, HoleType], usable: Mapping[str, list[Production]],
              reach: set[str], targets: set[str]) -> set[str]:
    """The types whose holes can come to hold a hole of one of ``targets``."""
    found = set(targets)
    changed = True
    while changed:
        changed = False
        for n in reach:
            if n not in found and any(h.type in found for p in usable[n]
                                      for h in p.fragment.holes):
                found.add(n)
                changed = True
    return found


def _pumping(types: Mapping[str, HoleType], usable: Mapping[str, list[Production]],
             reach: set[str], weight: Weight) -> set[str]:
    """The types of recursions that pump: a type X whose production p makes a hole of
    a type in X's cycle (X derives X again) and with it some weight — its own
    (``weight(p) > 0``), or another hole that can make some. Taken again and again,
    such a production grows the run without end."""
    makes = _can_make(types, usable, reach, weight)
    cycle = _cycles(usable, reach)
    found = set()
    for n in reach:
        for p in usable[n]:
            kids = [h.type for h in p.fragment.holes]
            for i, k in enumerate(kids):
                if cycle.get(k) is not None and cycle.get(k) == cycle.get(n):
                    others = kids[:i] + kids[i + 1:]
                    if weight(p) > 0 or any(o in makes for o in others):
                        found.add(n)
    return found


def _can_make(types: Mapping[str, HoleType], usable: Mapping[str, list[Production]],
              reach: set[str], weight: Weight) -> set[str]:
    """Types that can finish with some weight (least fixpoint)."""
    found = {n for n in reach if types[n].open}
    changed = True
    while changed:
        changed = False
        for n in reach:
            if n not in found and any(weight(p) > 0 or any(h.type in found
                                                            for h in p.fragment.holes)
                                      for p in usable[n]):
                found.add(n)
                changed = True
    return found


def _cycles(usable: Mapping[str, list[Production]], reach: set[str]) -> dict[str, int]:
    """Each type on a cycle (it derives itself again), numbered by its strongly
    connected component (Tarjan's algorithm, iteratively)."""
    succ = {n: sorted({h.type for p in usable[n] for h in p.fragment.holes} & reach)
            for n in reach}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    comp: dict[str, int] = {}
    counter = 0
    for root in sorted(reach):
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            n, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(succ[nxt])))
                elif nxt in on:
                    low[n] = min(low[n], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[n])
            if low[n] == index[n]:
                members = []
                while True:
                    m = stack.pop()
                    on.discard(m)
                    members.append(m)
                    if m == n:
                        break
                if len(members) > 1 or n in succ[n]:
                    for m in members:
                        comp[m] = index[n]
    return comp


def _can_stick(t: HoleType) -> bool:
    """Can a hole of ``t`` fall due with nothing to close it with? A closed type whose
    productions no guard chooses among, with no default: when every task it comes after
    is done and no task expanded it, the run breaks there."""
    return not t.open and not t.guarded and t.default is None
