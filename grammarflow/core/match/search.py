"""The element-first search: an exact cover of the change's elements by production
applications (moves), depth first from the state, every move checked for doom (the
forward check). How it works: docs/architecture.md, "Matching a raw change"."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from grammarflow.core.derivation import Derivation
from grammarflow.core.match.agenda import Agenda
from grammarflow.core.match.diff import SHOWN, Elements
from grammarflow.core.match.limits import USE_EXPAND, Limits, TooCostly
from grammarflow.core.match.patterns import (
    Index,
    Move,
    Pattern,
    SearchHole,
    index_of,
    likeness,
    one_of_each,
)
from grammarflow.core.productions import HoleType

__all__ = ["Search"]


# Units of work (steps tried, elements examined) between looks at the clock and at the
# cancellation hook: often enough to stop within milliseconds, rare enough to be free.
_CHECK_EVERY = 256
#: Moves the forward check (:meth:`Search.doomed`) looks at before it gives up.
_VIABLE_WORK = 2_000
# Keys of the state hash: random, so that no diff can be built to make states collide.
_RANDOM = random.Random()


class _Doom(NamedTuple):
    """A move after which edges at a task it made can never be produced."""

    move: Move
    task: str
    edges: tuple[int, ...]

    def why(self, el: Elements) -> str:
        shown = ", ".join(el.describe(i) for i in self.edges[:SHOWN])
        more = " ..." if len(self.edges) > SHOWN else ""
        prods = " then ".join(map(repr, self.move.pattern.steps()))
        return (f": {shown}{more} can never be made: the production that makes task "
                f"{self.task} ({prods}) attaches no hole there that could make it")


class _State:
    """Where the search stands: the elements produced, the graph holes used, the
    planned holes waiting (closed ones indexed by the tasks they are attached to, all by
    type), a hash of all that, and the deepest state reached so far."""

    def __init__(self, elements: Elements, closed: frozenset[str]) -> None:
        self.closed = closed
        self.uncovered: set[int] = set(range(len(elements.items)))
        self.produced: set[str] = set()
        self.consumed: set[str] = set()
        self.planned_at: dict[str, dict[tuple[int, int], SearchHole]] = {}
        self.planned_of_type: dict[str, dict[tuple[int, int], SearchHole]] = {}
        self.depth = 0
        # The hash: the sum of a random key per covered element, used graph hole and
        # planned hole (a multiset); each move carries what it adds (its delta).
        self.z = 0
        self.keys = [_RANDOM.getrandbits(128) for _ in elements.items]
        self._hole_keys: dict[object, int] = {}
        # The deepest state: its moves are best[:low] (shared with the plan, which has
        # not been shorter than low since) + best[low:].
        self.best_count = len(elements.items)
        self.best: list[Move] = []
        self.low = 0

    def hole_key(self, what: object) -> int:
        """A random key for a used graph hole (its id) or a planned one (what it is)."""
        key = self._hole_keys.get(what)
        if key is None:
            key = self._hole_keys[what] = _RANDOM.getrandbits(128)
        return key

    def advance(self, move: Move, plan: list[Move]) -> None:
        """Take ``move`` (the plan already ends with it)."""
        self.uncovered.difference_update(move.covers)
        self.produced.update(move.binding)
        hole = move.hole
        if isinstance(hole.ref, str):
            self.consumed.add(hole.ref)
        else:
            self._forget(hole)
        for h in move.new_holes:
            self._remember(h)
        self.z += move.delta
        self.depth += 1
        if len(self.uncovered) < self.best_count:
            self.best_count = len(self.uncovered)
            del self.best[self.low:]
            self.best.extend(plan[self.low:])
            self.low = len(plan)

    def back(self, plan: list[Move]) -> None:
        """Undo the plan's last move, and drop it."""
        move = plan.pop()
        self.low = min(self.low, len(plan))
        self.depth -= 1
        self.z -= move.delta
        for h in move.new_holes:
            self._forget(h)
        hole = move.hole
        if isinstance(hole.ref, str):
            self.consumed.discard(hole.ref)
        else:
            self._remember(hole)
        self.produced.difference_update(move.binding)
        self.uncovered.update(move.covers)

    def _remember(self, h: SearchHole) -> None:
        ref: Any = h.ref
        self.planned_of_type.setdefault(h.type, {})[ref] = h
        if h.type in self.closed:
            for a in h.args:
                self.planned_at.setdefault(a, {})[ref] = h

    def _forget(self, h: SearchHole) -> None:
        ref: Any = h.ref
        del self.planned_of_type[h.type][ref]
        if h.type in self.closed:
            for a in h.args:
                self.planned_at[a].pop(ref, None)

    def best_left(self) -> list[int]:
        """The elements the deepest state left unproduced, in diff order."""
        left = set(range(len(self.keys)))
        for move in self.best:
            left.difference_update(move.covers)
        return sorted(left)


class Search:
    """The exact cover: tries moves depth first from the state (see the module doc)."""

    def __init__(self, d: Derivation, elements: Elements, limits: Limits,
                 index: Index | None = None) -> None:
        self.derivation = d
        self.graph = d.graph
        self.types: Mapping[str, HoleType] = d.grammar.types
        self.index = index_of(self.types) if index is None else index
        self.closed = self.index.closed
        self.el = elements
        self.limits = limits
        self.tries = 0
        self.work = 0
        self.state = _State(elements, self.closed)
        # the state's containers, which moves read (changed in place, never replaced)
        self.uncovered = self.state.uncovered
        self.produced = self.state.produced
        self.consumed = self.state.consumed
        self.planned_at = self.state.planned_at
        self.planned_of_type = self.state.planned_of_type
        self.failed: set[int] = set()  # hashes of states from which no plan exists
        self.doom: _Doom | None = None  # why the deepest state was doomed, if it was
        self._graph_holes: dict[str, SearchHole] = {}
        self.agenda = Agenda(self)

    def run(self) -> list[Move] | None:
        """Moves producing every element exactly once, or None if there are none."""
        self.limits.check(self.tries)
        state = self.state
        plan: list[Move] = []
        # per level of the search: the moves left to try (the next one last), and the
        # agenda's mark on entering it (a level with none left keeps no list)
        todo: list[list[Move] | tuple[()]] = []
        marks: list[tuple[int, int]] = []
        self._enter(None, todo, marks)
        while todo:
            left = todo[-1]
            if not left:
                todo.pop()
                self.agenda.leave(marks.pop())
                self.failed.add(state.z)
                if plan:
                    state.back(plan)
                continue
            move = left.pop()
            if not left:
                todo[-1] = ()
            self.tries += 1
            if self.tries > self.limits.budget:
                raise TooCostly(f"the change could not be explained within "
                                 f"{self.limits.budget} search steps; {USE_EXPAND}")
            self._tick()
            plan.append(move)
            state.advance(move, plan)
            if not self.uncovered:
                return plan
            if state.z in self.failed:
                state.back(plan)
                continue
            doom = self.doomed(move)
            if doom is not None:
                if len(self.uncovered) == state.best_count:  # the deepest state: blame it
                    self.doom = doom
                self.failed.add(state.z)
                state.back(plan)
                continue
            self._enter(move, todo, marks)
        return None

    def _enter(self, move: Move | None, todo: list[list[Move] | tuple[()]],
               marks: list[tuple[int, int]]) -> None:
        marks.append(self.agenda.mark())
        moves = self.agenda.choose(move)
        moves.reverse()
        todo.append(moves or ())

    def _tick(self) -> None:
        self.work += 1
        if self.work % _CHECK_EVERY == 0:
            self.limits.check(self.tries)

    # ---------------------------------------------------------------- forward check
    def doomed(self, move: Move) -> _Doom | None:
        """The edges of the diff at a task ``move`` made that nothing can produce after
        it (None if there are none).

        A task a move makes is attached to no hole but the move's own new holes, and
        every hole attached to it later descends from those (a production glues new
        holes only to its parameters and its new tasks). So an edge at it that no move
        on those holes, or on the holes they make at it, could produce dooms the state:
        no choice elsewhere can help. Moves are judged against the state now, which
        only loses choices later, so a state with a plan is never doomed; past
        :data:`_VIABLE_WORK` moves the check gives up and finds nothing.
        """
        uncovered = self.uncovered
        for task in move.binding:
            left = [i for i in self.el.edges_at(task) if i in uncovered]
            if not left:
                continue
            holes = [h for h in move.new_holes if task in h.args]
            made = self._made_from(holes, task) if holes else set()
            if made is not None and not made.issuperset(left):
                return _Doom(move, task, tuple(i for i in left if i not in made))
        return None

    def _made_from(self, holes: list[SearchHole], task: str) -> set[int] | None:
        """Every element some move on ``holes``, or on a hole such moves make attached to
        ``task``, produces now (None: more than :data:`_VIABLE_WORK` moves to look at)."""
        made: set[int] = set()
        seen: set[tuple[str, tuple[str, ...], frozenset[str] | None]] = set()
        todo = list(holes)
        work = 0
        while todo:
            hole = todo.pop()
            if likeness(hole) in seen:
                continue
            seen.add(likeness(hole))
            for move in self.moves_on(hole):
                work += 1
                if work > _VIABLE_WORK:
                    return None
                made.update(move.covers)
                todo.extend(h for h in move.new_holes if task in h.args)
        return made

    def moves_on(self, hole: SearchHole) -> list[Move]:
        """Every way to expand ``hole`` that produces something and only the diff's."""
        moves = []
        for pattern in self.index.allowed(hole):
            for binding in self.extend(pattern, hole, {}):
                self._tick()
                move = self._move(pattern, hole, binding)
                if move is not None and (move.covers or move.new_holes):
                    moves.append(move)
        return moves

    # ---------------------------------------------------------------- moves
    def moves_covering(self, idx: int) -> tuple[list[Move], bool]:
        """The moves producing element ``idx`` now, and whether it has an anchor (an
        available task next to it, whose holes are the ones to try)."""
        self._tick()
        anchors = self.anchors(idx)
        moves: list[Move] = []
        element = self.el.items[idx]
        kind = self.el.kind[element] if isinstance(element, str) else None
        holes = self.holes_at(anchors) if anchors else self.holes_making(idx)
        for hole in one_of_each(holes) if len(holes) > 1 else holes:
            for pattern in self.index.allowed(hole):
                if kind is None:
                    self._embed_edge(pattern, hole, idx, moves)
                elif kind in pattern.slots_of_kind:
                    self._embed_task(pattern, hole, idx, moves)
        return moves, bool(anchors)

    def anchors(self, idx: int) -> set[str]:
        element = self.el.items[idx]
        names = element if isinstance(element, tuple) else self.el.neighbours(element)
        tasks, produced = self.graph.tasks, self.produced
        return {n for n in names if n in tasks or n in produced}

    def _graph_hole(self, hid: str) -> SearchHole:
        hole = self._graph_holes.get(hid)
        if hole is None:
            live = self.graph.holes[hid]
            hole = self._graph_holes[hid] = SearchHole(hid, live.type, live.args, live.allowed)
        return hole

    def holes_at(self, anchors: set[str]) -> list[SearchHole]:
        """The closed holes, unused or planned, attached to ``anchors``."""
        found: dict[str | tuple[int, int], SearchHole] = {}
        consumed, graph = self.consumed, self.graph
        for a in sorted(anchors) if len(anchors) > 1 else anchors:
            ids = graph.holes_at(a)
            for hid in sorted(ids) if len(ids) > 1 else ids:
                if (hid not in consumed and hid not in found
                        and graph.holes[hid].type in self.closed):
                    found[hid] = self._graph_hole(hid)
        planned: dict[tuple[int, int], SearchHole] = {}
        for a in anchors:
            here = self.planned_at.get(a)
            if here:
                planned.update(here)
        for ref in sorted(planned):
            found[ref] = planned[ref]
        return list(found.values())

    def holes_making(self, idx: int) -> list[SearchHole]:
        """Holes that could make an element attached to no available task: those of the
        types with a production that has a task of the element's kind."""
        types = self.index.of(self.el.kind_of(idx))
        found: list[SearchHole] = []
        planned: dict[tuple[int, int], SearchHole] = {}
        for name in self.types:
            if name in types:
                found.extend(self._graph_hole(hid) for hid in self.graph.holes_of_type(name)
                             if hid not in self.consumed)
                planned.update(self.planned_of_type.get(name, ()))
        found.extend(planned[ref] for ref in sorted(planned))
        return found

    def _embed_task(self, pattern: Pattern, hole: SearchHole, idx: int,
                    out: list[Move]) -> None:
        """Add to ``out`` the ways to make task ``idx`` by ``pattern`` on ``hole``."""
        element: Any = self.el.items[idx]
        slots = pattern.slots_of_kind[self.el.kind[element]]
        if len(slots) == 1 and len(pattern.locals) == 1:  # the common case, made short
            move = self._move(pattern, hole, (element,))
            if move is not None:
                out.append(move)
            return
        self._embed(pattern, hole, idx, [{s: element} for s in slots], out)

    def _embed_edge(self, pattern: Pattern, hole: SearchHole, idx: int,
                    out: list[Move]) -> None:
        """Add to ``out`` the ways to make edge ``idx`` by ``pattern`` on ``hole``."""
        element: Any = self.el.items[idx]
        seeds = [seed for x, y in pattern.edges
                 if (seed := self._seed_edge(pattern, hole, (x, y), element)) is not None]
        if seeds:
            self._embed(pattern, hole, idx, seeds, out)

    def _embed(self, pattern: Pattern, hole: SearchHole, idx: int, seeds: list[dict[int, str]],
               out: list[Move]) -> None:
        """Add to ``out`` the moves by ``pattern`` on ``hole`` that grow from ``seeds``
        and produce element ``idx``."""
        seen: set[tuple[str, ...]] = set()
        for seed in seeds:
            for binding in self.extend(pattern, hole, seed):
                self._tick()  # there may be many: a task of a kind, bound to no parameter
                if len(seeds) > 1:  # two seeds may grow into the same binding
                    if binding in seen:
                        continue
                    seen.add(binding)
                move = self._move(pattern, hole, binding)
                if move is not None and idx in move.covers:
                    out.append(move)

    def _seed_edge(self, pattern: Pattern, hole: SearchHole, edge: tuple[int, int],
                   target: tuple[str, str]) -> dict[int, str] | None:
        seed: dict[int, str] = {}
        for s, value in zip(edge, target, strict=True):
            if s < pattern.first:
                if hole.args[s] != value:
                    return None
            elif (self.el.kind.get(value) != pattern.kinds[s] or value in self.produced
                  or seed.get(s, value) != value):
                return None
            else:
                seed[s] = value
        if len(set(seed.values())) != len(seed):
            return None
        return seed

    def extend(self, pattern: Pattern, hole: SearchHole,
               seed: dict[int, str]) -> Iterator[tuple[str, ...]]:
        """Injective maps of the fragment's tasks onto unproduced diff tasks of their
        kind, given ``seed``: each the tuple of diff tasks, slot by slot.

        The slot bound next is the one with the fewest candidates (the diff's edges at
        a bound neighbour, else every task of its kind), so a fragment anchored anywhere
        is matched along its edges whatever the order of its slots or of the diff."""
        first = pattern.first
        nodes: list[str | None] = [*hole.args, *([None] * len(pattern.locals))]
        for s, value in seed.items():
            nodes[s] = value
        free = [s for s in range(first, len(nodes)) if nodes[s] is None]
        if not free:
            return iter((_bound(nodes, first),))
        el, produced, adjacent = self.el, self.produced, pattern.adjacent

        def candidates(s: int) -> list[str]:
            best: tuple[tuple[str, str], ...] | None = None
            source = False  # is slot s the source of the edges in best?
            for other, out in adjacent[s]:
                bound = nodes[other]
                if bound is not None:
                    found = el.in_edges.get(bound, ()) if out else el.out_edges.get(bound, ())
                    if best is None or len(found) < len(best):
                        best, source = found, out
            if best is None:
                return el.by_kind.get(pattern.kinds[s], [])
            return [u for u, _ in best] if source else [v for _, v in best]

        def rec(left: list[int]) -> Iterator[tuple[str, ...]]:
            if not left:
                yield _bound(nodes, first)
                return
            s, found = left[0], candidates(left[0])
            for other in left[1:]:
                if len(found) <= 1:
                    break
                more = candidates(other)
                if len(more) < len(found):
                    s, found = other, more
            rest = [x for x in left if x != s]
            kind = pattern.kinds[s]
            for value in dict.fromkeys(found):
                if (el.kind.get(value) == kind and value not in produced
                        and value not in nodes[first:]):
                    nodes[s] = value
                    yield from rec(rest)
                    nodes[s] = None

        return rec(free)

    def _move(self, pattern: Pattern, hole: SearchHole, binding: tuple[str, ...]) -> Move | None:
        el, uncovered, state = self.el, self.uncovered, self.state
        nodes = hole.args + binding
        covers = [el.task_index[v] for v in binding]
        for x, y in pattern.edges:
            e = (nodes[x], nodes[y])
            ei = el.edge_index.get(e)
            if ei is not None and ei in uncovered:
                if ei not in covers:
                    covers.append(ei)
            elif not self.present(e):
                return None
        keys = state.keys
        delta = 0
        for i in covers:
            delta += keys[i]
        delta += (state.hole_key(hole.ref) if isinstance(hole.ref, str)
                  else -state.hole_key(hole[1:]))
        new_holes: list[SearchHole] = []
        for i, (htype, slots) in enumerate(pattern.holes):
            args = tuple([nodes[s] if s >= 0 else "*" for s in slots])
            new_holes.append(SearchHole((state.depth, i), htype, args, None))
            delta += state.hole_key((htype, args, None))
        return Move(hole, pattern, binding, tuple(covers), tuple(new_holes), delta)

    def present(self, e: tuple[str, str]) -> bool:
        u, v = e
        if u in self.graph.tasks and v in self.graph.tasks and self.graph.has_edge(u, v):
            return True
        ei = self.el.edge_index.get(e)
        return ei is not None and ei not in self.uncovered


def _bound(nodes: list[str | None], first: int) -> tuple[str, ...]:
    return tuple(n for n in nodes[first:] if n is not None)
