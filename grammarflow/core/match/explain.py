"""Why a change is refused: at once, unsearched, for a kind or an edge no hole of the
graph can ever make; after a search, with what each production tried needs and the
change lacks, and the narrowing that removed a production a plan would use."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from itertools import islice
from typing import NamedTuple

from grammarflow.core.graph import Hole
from grammarflow.core.match.diff import SHOWN, Diff, Elements
from grammarflow.core.match.exhaustive import exhaustive_moves, searched_hole_by_hole
from grammarflow.core.match.growth import existing_ends
from grammarflow.core.match.limits import USE_EXPAND, Stop
from grammarflow.core.match.patterns import (
    PARAM,
    Index,
    Lifted,
    Move,
    Pattern,
    SearchHole,
    likeness,
    one_of_each,
    pattern_of,
)
from grammarflow.core.match.search import Search
from grammarflow.core.narrowing import narrowing_of
from grammarflow.core.plans import child_hole_id
from grammarflow.core.productions import Production
from grammarflow.errors import Attempt, BrokenPromise, Why

__all__ = ["left_alone", "refusal", "refuse_what_no_hole_makes"]


#: Ways to bind a production's new tasks that :func:`_why` tries before it names what
#: the first one lacks.
_BINDINGS_TRIED = 64


def refuse_what_no_hole_makes(search: Search, types: set[str]) -> None:
    """Refuse at once, unsearched, a diff with a kind or an edge that no hole of the
    closed ``types`` can ever make."""
    el = search.el
    missing = _kinds_no_hole_makes(search.index, el, types)
    if missing:
        left = [i for i, item in enumerate(el.items)
                if isinstance(item, str) and el.kind[item] in missing]
        raise refusal(search, left, "; no hole of the graph can ever make a task of kind "
                       f"{', '.join(missing)}", certain=True)
    impossible = _edges_no_hole_makes(search.index, el, types)
    if impossible:
        these = "this one" if len(impossible) == 1 else "these"
        raise refusal(search, impossible, "; no production a hole of the graph can reach "
                       f"has an edge that could be {these}", certain=True)


def _kinds_no_hole_makes(index: Index, el: Elements, types: set[str]) -> list[str]:
    """The diff's kinds that no hole of closed ``types`` can make in any number of
    steps: a refusal that needs no search."""
    return sorted(set(el.by_kind) - index.derivable_kinds(types))


def _edges_no_hole_makes(index: Index, el: Elements, types: set[str]) -> list[int]:
    """The diff's edges that no production of any type reachable from closed ``types``
    could make: one that makes an edge u -> v has an edge whose ends are each a
    parameter (any task) or a new task of that end's kind (if the end is new)."""
    shapes = index.edge_shapes(types)
    out = []
    for u, v in el.edges:
        left = (PARAM, el.kind[u]) if u in el.kind else (PARAM,)
        right = (PARAM, el.kind[v]) if v in el.kind else (PARAM,)
        if not any((a, b) in shapes for a in left for b in right):
            out.append(el.edge_index[(u, v)])
    return out


def left_alone(search: Search, diff: Diff) -> list[int] | None:
    """The edges that doomed the search, if the rest of the diff has a plan without
    them: then exactly those are what no plan produces, and the refusal names them
    alone. Each round drops what the last search blamed, for up to ``SHOWN`` rounds
    (None: a round blamed nothing, failed otherwise, or ran out of time)."""
    el, dropped = search.el, set[tuple[str, str]]()
    failed = search
    for _ in range(SHOWN):
        doom = failed.doom
        if doom is None:
            return None
        dropped.update(failed.el.items[i] for i in doom.edges)  # type: ignore[misc]
        rest = Diff(diff.tasks, tuple(e for e in diff.edges if e not in dropped))
        failed = Search(search.derivation, Elements(search.derivation, rest),
                         search.limits, search.index)
        try:
            if failed.run() is not None:
                return sorted(el.edge_index[e] for e in dropped)
        except Stop:
            return None
    return None


class _Verdict(NamedTuple):
    """Whether a production fits the change where it was tried (makes only elements of
    the change, with every edge it needs), and one line on why or why not."""

    fits: bool
    why: str


class _Narrowed(NamedTuple):
    """A production that a narrowing removed, and that a plan would use without it."""

    hole: str  # the hole's id (for a hole the plan makes: the id it would get)
    planned: bool  # made by an earlier step of the plan, not in the graph yet
    production: Production
    narrowing: str  # which narrowing removed it (see narrowing.narrowing_of)

    def claim(self) -> str:
        where = ", made by an earlier step of the change" if self.planned else ""
        return (f"production {self.production.name} of hole {self.hole} "
                f"({self.production.lhs}{where}) would match, but it was removed by a "
                f"narrowing promise ({self.narrowing})")


def refusal(search: Search, left: list[int], why: str = "", *, blame: str = "",
             certain: bool, cut: str = "") -> BrokenPromise:
    """Why the diff is refused: ``left`` are the elements (indices) no plan produced,
    ``why`` what holds for all of them, ``blame`` what the search found that no plan
    could produce; ``certain`` says that no plan exists (else, when some production
    fits, the refusal suggests naming productions with 'expand'); ``cut``, why the
    search for a plan the first one missed stopped undecided."""
    el = search.el
    existing = existing_ends(search.graph.tasks, el)
    holes = search.holes_at(set(existing)) if existing else search.holes_making(0)
    if not holes:
        where = f"tasks {existing}" if existing else "no existing task"
        return BrokenPromise(
            f"the change touches {where}, and no hole that could take it is attached "
            "there: the grammar promises no new tasks or edges at this place",
            why=Why.NO_HOLE_TAKES_IT)
    head = (f"no sequence of allowed productions yields exactly this change "
            f"({_count(len(el.kind), 'task')}, {_count(len(el.edges), 'edge')})")
    named = _narrowing_behind(search)
    tried, fits = _tried(search, holes, named)
    if named is not None:
        return BrokenPromise(f"{head}: {named.claim()}", why=Why.NARROWING_REMOVED_IT,
                             hole=str(holes[0].ref) if named.planned else named.hole,
                             attempts=tuple(tried))
    shown = ", ".join(el.describe(i) for i in left[:SHOWN])
    more = " ..." if len(left) > SHOWN else ""
    unmade = "" if why else _task_no_production_makes(search, left)
    why = why or unmade or _kinds_not_made_here(search, holes, existing, left)
    hint = "" if certain or unmade or not fits else (
        " (if a production should allow it, name it with 'expand')")
    if cut:  # undecided: refused, never accepted, and said so
        hint = (f" (undecided: the search for a plan the first one missed ran out of {cut}; "
                f"{USE_EXPAND})")
    category = (Why.SEARCH_BUDGET if cut else Why.EDGE_NO_HOLE_CAN_MAKE if blame
                else Why.NO_PRODUCTION_YIELDS_IT)
    return BrokenPromise(f"{head}{blame}; not produced: {shown}{more}{why}{hint}",
                         why=category, hole=str(holes[0].ref), attempts=tuple(tried))


def _tried(search: Search, holes: list[SearchHole],
           named: _Narrowed | None) -> tuple[list[Attempt], bool]:
    """Each production of ``holes`` (and the one ``named``), why it does not yield the
    change; and whether some allowed production fits where it was tried. Holes alike
    (same type, attachment and narrowing) are tried once, under the first one's id."""
    types = search.types
    out = []
    if named is not None:
        out.append(Attempt(f"{named.hole}: {named.production!r}",
                           f"removed by a narrowing promise ({named.narrowing}); with it, "
                           "the change would be accepted"))
    alike = Counter(map(likeness, holes))
    holes = one_of_each(holes)
    fits = False
    for h in holes:
        htype, where = types[h.type], _hole_named(h, alike[likeness(h)])
        for p in htype.allowed(h.allowed):
            verdict = _why(search, p, h)
            fits = fits or verdict.fits
            out.append(Attempt(f"{where}: {p!r}", verdict.why + (
                ", but no further steps then yield the rest of the change"
                if verdict.fits else "")))
    for h in holes:
        htype, where = types[h.type], _hole_named(h, alike[likeness(h)])
        for p in htype.productions:
            if htype.permits(p.name, h.allowed) or (
                    named is not None and (named.hole, named.production) == (h.ref, p)):
                continue
            verdict = _why(search, p, h)
            out.append(Attempt(f"{where}: {p!r}", (
                f"removed by a narrowing promise ({narrowing_of(htype, str(h.ref), p.name)}); "
                + (f"it {verdict.why}" if verdict.fits
                   else f"it would not fit anyway: {verdict.why}"))))
    return out, fits


def _hole_named(hole: SearchHole, alike: int) -> str:
    return f"{hole.ref} (and {_count(alike - 1, 'hole')} alike)" if alike > 1 else str(hole.ref)


def _why(search: Search, prod: Production, hole: SearchHole) -> _Verdict:
    """Does ``prod`` applied to ``hole`` fit the change? If not, what it needs that the
    change lacks: tasks of a kind (counted), or an edge (named)."""
    fragment, el = prod.fragment, search.el
    if not fragment.tasks and not fragment.edges:
        if fragment.holes:
            return _Verdict(True, "fits, making only holes "
                                  f"({', '.join(h.type for h in fragment.holes)})")
        return _Verdict(False, "adds nothing")
    need = Counter(t.kind for t in fragment.tasks)
    if any(n > len(el.by_kind.get(kind, ())) for kind, n in need.items()):
        have = Counter({kind: len(names) for kind, names in el.by_kind.items()})
        return _Verdict(False, f"needs {_tally(need, need)}; the change has "
                               f"{_tally(have, need) if have else 'no new task'}")
    pattern = pattern_of(prod)
    lacking = None
    for binding in islice(search.extend(pattern, hole, {}), _BINDINGS_TRIED):
        edge = _edge_lacking(search, pattern, hole.args + binding)
        lacking = lacking or edge
        if edge is None:
            named = ", ".join(f"{local} = {name}"
                              for local, name in zip(pattern.locals, binding, strict=True))
            return _Verdict(True, f"fits ({named})" if named else "fits")
    if lacking is None:  # no binding follows the change's edges: any one lacks an edge
        lacking = _edge_lacking(search, pattern, hole.args + _any_binding(pattern, el))
    if lacking is None:
        return _Verdict(False, "its new tasks have no place among the change's")
    return _Verdict(False, f"needs edge {lacking[0]} -> {lacking[1]}, which the change "
                           "does not add")


def _edge_lacking(search: Search, pattern: Pattern,
                  nodes: tuple[str, ...]) -> tuple[str, str] | None:
    """The first edge of ``pattern``, its slots bound to ``nodes``, that is neither in
    the change nor in the graph."""
    for x, y in pattern.edges:
        e = (nodes[x], nodes[y])
        if e not in search.el.edge_index and not search.present(e):
            return e
    return None


def _any_binding(pattern: Pattern, el: Elements) -> tuple[str, ...]:
    """The new tasks of ``pattern`` bound to the change's first tasks of their kinds
    (the change has enough of each)."""
    taken: Counter[str] = Counter()
    out = []
    for kind in pattern.kinds[pattern.first:]:
        out.append(el.by_kind[kind][taken[kind]])
        taken[kind] += 1
    return tuple(out)


def _tally(counts: Counter[str], first: Mapping[str, int]) -> str:
    """``2 × M, 1 × Q``: the kinds in ``first`` first, then the others (a few)."""
    kinds = sorted(counts, key=lambda k: (k not in first, k))
    shown = ", ".join(f"{counts[k]} × {k}" for k in kinds[:SHOWN])
    rest = len(kinds) - SHOWN
    return shown + (f" and {rest} more kind(s)" if rest > 0 else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _kinds_not_made_here(search: Search, holes: list[SearchHole], existing: list[str],
                         left: list[int]) -> str:
    """``; no hole at A, B can ever make a task of kind N`` for the kinds of ``left``
    that no hole the change touches can make (empty if there are none)."""
    el = search.el
    kinds = {el.kind[item] for i in left if isinstance(item := el.items[i], str)}
    never = sorted(kinds - search.index.derivable_kinds({h.type for h in holes}))
    if not never or not existing:
        return ""
    more = " ..." if len(existing) > SHOWN else ""
    return (f"; no hole at {', '.join(existing[:SHOWN])}{more} can ever make a task of "
            f"kind {', '.join(never)}")


def _task_no_production_makes(search: Search, left: list[int]) -> str:
    """``; task m (M) has 1 edge in and 0 out, but ...`` for the first task of ``left``
    with fewer edges than any production that can make its kind gives it (then no plan
    exists); empty if there is none, or an open hole may make anything."""
    types = search.graph.types_in_use()
    if any(search.types[t].open for t in types):
        return ""
    least = search.index.least_edges(types)
    el = search.el
    for i in left:
        task = el.items[i]
        if not isinstance(task, str) or not least.get(el.kind[task]):
            continue
        n_in, n_out = len(el.in_edges.get(task, ())), len(el.out_edges.get(task, ()))
        needs = least[el.kind[task]]
        if not any(a <= n_in and b <= n_out for a, b in needs):
            fewest = sorted(n for n in needs
                            if not any(m != n and m[0] <= n[0] and m[1] <= n[1] for m in needs))
            return (f"; task {task} ({el.kind[task]}) has {_count(n_in, 'edge')} in and "
                    f"{n_out} out, but any production making a task of kind {el.kind[task]} "
                    "gives it at least " + " or ".join(f"{a} in and {b} out" for a, b in fewest))
    return ""


def _narrowing_behind(search: Search) -> _Narrowed | None:
    """The production a narrowing removed that a plan would use, if with every
    narrowing lifted the change has a plan (searched within the same limits)."""
    graph, types = search.graph, search.types
    if (not any(t.removed for t in types.values())
            and all(h.allowed is None for h in graph.holes.values())):
        return None  # nothing was narrowed: the common case, and free
    moves = _lifted_moves(search)
    if moves is None:
        return None
    for hid, htype, prod, planned in _plan_steps(moves):
        allowed = None if planned else graph.holes[hid].allowed
        if not types[htype].permits(prod.name, allowed):
            return _Narrowed(hid, planned, prod, narrowing_of(types[htype], hid, prod.name))
    return None


def _lifted_moves(search: Search) -> list[Move] | None:
    """A plan for the diff with every narrowing lifted (None: none found)."""
    d, el, limits, index = search.derivation, search.el, search.limits, Lifted(search.types)
    try:
        moves = Search(d, el, limits, index).run()
        if moves is None and searched_hole_by_hole(el):
            moves = exhaustive_moves(d, el, limits, index)
    except Stop:
        return None  # out of time or cancelled: the refusal then names no narrowing
    return moves


def _plan_steps(moves: list[Move]) -> Iterator[tuple[str, str, Production, bool]]:
    """Each expansion the plan applies: the id of its hole (a graph hole's own, or the
    id a hole an earlier step makes will get, as
    :func:`~grammarflow.core.plans.instantiate` names it), its type, the production,
    and whether an earlier step of the plan makes the hole."""
    made: dict[tuple[int, int], str] = {}
    for i, move in enumerate(moves):
        ref = move.hole.ref
        hid, htype, planned = (ref, move.hole.type, False) if isinstance(ref, str) \
            else (made[ref], move.hole.type, True)
        left: list[str] = []
        for prod, k in move.pattern.via:
            yield hid, htype, prod, planned
            children = _child_ids(hid, htype, prod)
            left.extend(c for j, c in enumerate(children) if j != k)
            hid, htype, planned = children[k], prod.fragment.holes[k].type, True
        yield hid, htype, move.pattern.production, planned
        for k, child in enumerate([*left, *_child_ids(hid, htype, move.pattern.production)]):
            made[(i, k)] = child


def _child_ids(hid: str, htype: str, prod: Production) -> list[str]:
    """The ids of the holes ``prod`` makes when it expands hole ``hid``."""
    parent = Hole(hid, htype)
    counts = Counter(h.type for h in prod.fragment.holes)
    seen: Counter[str] = Counter()
    out = []
    for h in prod.fragment.holes:
        seen[h.type] += 1
        out.append(child_hole_id(parent, h.type, seen[h.type], counts[h.type]))
    return out
