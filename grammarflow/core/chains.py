"""The longest chain a finished run can have: the most tasks on one path of its graph
(each must wait for the one before), or unbounded.

Each hole type is summed up by what a hole of it can put on a path, measured in tasks:
between two of its arguments (``a`` to ``b`` through it), from an argument into it, from
it to an argument, and inside it alone. A production's summary is a longest path in its
fragment, the holes it makes standing in as their types' summaries; a type's is the
most over its productions. Round after round the summaries grow (round r: derivations
nested r deep); one that still grows after as many rounds again as it took the others
to settle can grow without end (proofs/13-analysis.md). Pure, like the analysis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from grammarflow.core.graph import Graph, Role
from grammarflow.core.productions import EVERYWHERE, Fragment, HoleType, Production

__all__ = ["Summary", "longest_chain", "longest_in_graph", "summaries"]

INF = math.inf
NONE = -math.inf  # no such path


@dataclass
class Summary:
    """What a hole of a type can put on a path (tasks; NONE: no such path)."""

    through: dict[tuple[int, int], float] = field(default_factory=dict)  # arg i to arg j
    into: dict[int, float] = field(default_factory=dict)  # from arg i, ending inside
    out: dict[int, float] = field(default_factory=dict)  # from inside, on to arg j
    inner: float = NONE  # inside alone

    def values(self) -> list[float]:
        return [*self.through.values(), *self.into.values(), *self.out.values(), self.inner]


def _gadgets(names: Sequence[str], holes: Iterable[tuple[Sequence[str], Summary]]
             ) -> tuple[list[tuple[str, str, float]], dict[str, float], dict[str, float],
                        float]:
    """The holes' summaries as edges between names (through), as ends (into), as
    starts (out), and the longest inside one alone."""
    edges, ends, starts = [], dict.fromkeys(names, NONE), dict.fromkeys(names, NONE)
    alone = NONE
    for args, s in holes:
        for (i, j), w in s.through.items():
            if w != NONE and args[i] != EVERYWHERE and args[j] != EVERYWHERE:
                edges.append((args[i], args[j], w))
        for i, w in s.into.items():
            if args[i] in ends:
                ends[args[i]] = max(ends[args[i]], w)
        for j, w in s.out.items():
            if args[j] in starts:
                starts[args[j]] = max(starts[args[j]], w)
        alone = max(alone, s.inner)
    return edges, ends, starts, alone


def _longest(names: Sequence[str], weight: Mapping[str, int],
             edges: Sequence[tuple[str, str, float]], start: Mapping[str, float],
             end: Mapping[str, float]) -> float:
    """The most of (node weights + edge weights + start[s] + end[e]) over paths from s
    to e (a path may be one node), in an acyclic graph; NONE if none."""
    succ: dict[str, list[tuple[str, float]]] = {n: [] for n in names}
    indeg = dict.fromkeys(names, 0)
    for u, v, w in edges:
        succ[u].append((v, w))
        indeg[v] += 1
    order = [n for n in names if indeg[n] == 0]
    for n in order:  # Kahn: order grows while it is walked
        for v, _ in succ[n]:
            indeg[v] -= 1
            if indeg[v] == 0:
                order.append(v)
    best = dict.fromkeys(names, NONE)  # the most of a path from some start to here
    found = NONE
    for n in order:
        here = max(best[n], start.get(n, NONE))
        if here == NONE:
            continue
        here += weight[n]
        found = max(found, here + end.get(n, NONE))
        for v, w in succ[n]:
            best[v] = max(best[v], here + w)
    return found


def _production(p: Production, t: HoleType, sums: Mapping[str, Summary],
                open_most: Mapping[str, float]) -> Summary:
    f = p.fragment
    params = list(t.params)
    names = [*params, *f.locals]
    weight = {**dict.fromkeys(params, 0), **dict.fromkeys(f.locals, 1)}
    holes = [(h.args, sums[h.type]) for h in f.holes]
    edges, ends, starts, alone = _gadgets(names, holes)
    edges += [(u, v, 0) for u, v in f.edges]
    inside = {n: 0.0 for n in f.locals}
    s = Summary()
    for i, a in enumerate(params):
        for j, b in enumerate(params):
            if i != j:
                s.through[(i, j)] = _longest(names, weight, edges, {a: 0}, {b: 0})
        s.into[i] = _longest(names, weight, edges, {a: 0}, {**inside, **_only(ends)})
    for j, b in enumerate(params):
        s.out[j] = _longest(names, weight, edges, {**inside, **_only(starts)}, {b: 0})
    s.inner = max(alone, _longest(names, weight, edges, {**inside, **_only(starts)},
                                  {**inside, **_only(ends)}))
    return s


def _only(bonus: Mapping[str, float]) -> dict[str, float]:
    """The names a path may end (or start) at with a bonus: those with one."""
    return {n: w for n, w in bonus.items() if w != NONE}


def _open(t: HoleType, most: float) -> Summary:
    """An open hole: as long a chain as it may make tasks, from any argument it comes
    after to any it comes before."""
    after = [i for i, r in enumerate(t.roles) if r is Role.AFTER]
    before = [j for j, r in enumerate(t.roles) if r is Role.BEFORE]
    return Summary({(i, j): most for i in after for j in before},
                   dict.fromkeys(after, most), dict.fromkeys(before, most), most)


def summaries(types: Mapping[str, HoleType], usable: Mapping[str, list[Production]],
              reach: Iterable[str], open_most: Mapping[str, float]) -> dict[str, Summary]:
    """Each reachable type's summary: round by round until it settles; what still grows
    after as many rounds again grows without end (INF)."""
    reach = sorted(reach)
    closed = [n for n in reach if not types[n].open]
    fixed = {n: _open(types[n], open_most[n]) for n in reach if types[n].open}
    sums: dict[str, Summary] = {**fixed, **{n: Summary() for n in closed}}
    size = sum((len(types[n].params) + 1) ** 2 for n in reach) + 1

    def round_() -> dict[str, Summary]:
        new = dict(fixed)
        for n in closed:
            made = [_production(p, types[n], sums, open_most) for p in usable[n]]
            new[n] = _most_of(made, sums[n])
        return new

    for _ in range(size):
        sums = round_()
    settled = {n: sums[n].values() for n in closed}
    for _ in range(size):
        sums = round_()
    for n in closed:  # still growing: without end
        s = sums[n]
        for key, was in zip(_keys(s), settled[n], strict=True):
            if _get(s, key) != was:
                _set(s, key, INF)
    for _ in range(size):  # INF on, the rest settles again
        sums = {n: _with_inf(new, sums[n]) for n, new in round_().items()}
    return sums


def _most_of(made: Sequence[Summary], was: Summary) -> Summary:
    out = Summary(dict(was.through), dict(was.into), dict(was.out), was.inner)
    for s in made:
        for k, w in s.through.items():
            out.through[k] = max(out.through.get(k, NONE), w)
        for k2, w in s.into.items():
            out.into[k2] = max(out.into.get(k2, NONE), w)
        for k2, w in s.out.items():
            out.out[k2] = max(out.out.get(k2, NONE), w)
        out.inner = max(out.inner, s.inner)
    return out


def _keys(s: Summary) -> list[tuple[str, object]]:
    return ([("through", k) for k in s.through] + [("into", k) for k in s.into]
            + [("out", k) for k in s.out] + [("inner", None)])


def _get(s: Summary, key: tuple[str, object]) -> float:
    part, k = key
    found: float = s.inner if part == "inner" else getattr(s, part)[k]
    return found


def _set(s: Summary, key: tuple[str, object], value: float) -> None:
    part, k = key
    if part == "inner":
        s.inner = value
    else:
        getattr(s, part)[k] = value


def _with_inf(new: Summary, old: Summary) -> Summary:
    for key in _keys(old):
        if _get(old, key) == INF:
            _set(new, key, INF)
    return new


def longest_chain(start: Fragment, sums: Mapping[str, Summary],
                  types: Mapping[str, HoleType]) -> float:
    """The most tasks on a path of a finished run from the start graph ``start``."""
    names = list(start.locals)
    holes = [(h.args, sums[h.type], types[h.type].everywhere) for h in start.holes
             if h.type in sums]
    return _longest_with(names, dict.fromkeys(names, 1), list(start.edges), holes)


def longest_in_graph(graph: Graph, sums: Mapping[str, Summary],
                     types: Mapping[str, HoleType]) -> float:
    """The most tasks on a path of a finished run from ``graph`` (a run as it stands)."""
    names = list(graph.tasks)
    holes = [(h.args, sums[h.type], h.everywhere) for h in graph.holes.values()
             if h.type in sums]
    return _longest_with(names, dict.fromkeys(names, 1), list(graph.edges()), holes)


def _longest_with(names: list[str], weight: dict[str, int], edges: list[tuple[str, str]],
                  spread: Sequence[tuple[Sequence[str], Summary, bool]]) -> float:
    holes = [(args, s) for args, s, everywhere in spread if not everywhere]
    gadget, ends, starts, alone = _gadgets(names, holes)
    everywhere = max((s.inner for _, s, anywhere in spread if anywhere), default=NONE)
    tasks = dict.fromkeys(names, 0.0)
    best = _longest(names, weight, [*((u, v, 0) for u, v in edges), *gadget],
                    {**tasks, **_only(starts)}, {**tasks, **_only(ends)})
    best = max(best, alone, 0)
    if everywhere != NONE:  # a hole attached to every task: its tasks anywhere on a path
        best += max(everywhere, 0)
    return best
