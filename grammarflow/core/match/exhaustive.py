"""The hole-by-hole search: complete, and exponential in the holes a change could
involve, so only small changes the element-first search refused are searched again
this way (proofs/03-completeness.md)."""

from __future__ import annotations

from typing import Any

from grammarflow.core.derivation import Derivation
from grammarflow.core.match.diff import Elements
from grammarflow.core.match.limits import USE_EXPAND, Limits, TooCostly
from grammarflow.core.match.patterns import Index, Move, SearchHole, likeness
from grammarflow.core.match.search import Search

__all__ = ["EXHAUSTIVE_BUDGET", "EXHAUSTIVE_IDLE_STEPS", "EXHAUSTIVE_UP_TO", "Exhaustive",
           "exhaustive_moves", "searched_hole_by_hole"]


#: Diffs of up to this many elements that the element-first search refuses are searched
#: again exhaustively, hole by hole (docs/architecture.md, "Matching a raw change"), for at most
#: EXHAUSTIVE_BUDGET steps.
EXHAUSTIVE_UP_TO = 40
EXHAUSTIVE_BUDGET = 10_000  # 2,000 left three nested expansions unexplained (fuzzing)
#: Steps that produce no element of the diff (only holes) a plan of the exhaustive
#: search may hold: a derivation needs few (each one that branches leads to elements
#: made later; a chain of them repeats a type within as many steps as there are
#: types), and a grammar with a hole that only remakes itself would otherwise never end.
EXHAUSTIVE_IDLE_STEPS = 24


def searched_hole_by_hole(elements: Elements) -> bool:
    """Is a change of ``elements`` small enough (at most EXHAUSTIVE_UP_TO) to be
    searched again hole by hole when the element-first search refuses it?"""
    return len(elements.items) <= EXHAUSTIVE_UP_TO


def exhaustive_moves(d: Derivation, elements: Elements, limits: Limits,
                      index: Index) -> list[Move] | None:
    """The exhaustive search's plan (None: there is none); raises :class:`TooCostly`
    past its budget (at most EXHAUSTIVE_BUDGET) and :class:`Cancelled`."""
    limits = Limits(min(limits.budget, EXHAUSTIVE_BUDGET), limits.deadline,
                     limits.cancelled, limits.started)
    return Exhaustive(d, elements, limits, index).run()


class Exhaustive(Search):
    """Decides hole by hole: the first undecided hole is expanded in each way that
    produces only elements of the diff, or left as it is; then the next. Complete, and
    exponential in the holes the diff could involve: for small diffs only."""

    def run(self) -> list[Move] | None:
        self.limits.check(self.tries)
        self._skipped: set[Any] = set()
        self._seen_failed: set[tuple[int, frozenset[Any]]] = set()
        self._plan: list[Move] = []
        self._idle = 0  # steps in the plan that produce only holes
        self._path: set[int] = {self.state.z}  # the states the plan went through
        self._graph_candidates = self._candidates()
        return self._plan if self._decide() else None

    def _candidates(self) -> list[SearchHole]:
        """The graph's closed holes that could take part: attached to a task the diff
        touches, or of a type that makes a kind the diff has."""
        ends = {n for e in self.el.edges for n in e if n in self.graph.tasks}
        found = {h.ref: h for h in self.holes_at(ends)}
        for kind in self.el.by_kind:
            for name in self.index.of(kind):
                for hid in self.graph.holes_of_type(name):
                    found.setdefault(hid, self._graph_hole(hid))
        return [found[ref] for ref in sorted(found, key=str)]

    def _next_hole(self) -> SearchHole | None:
        for h in self._graph_candidates:
            if h.ref not in self.consumed and likeness(h) not in self._skipped:
                return h
        later = None  # holes that make a kind the diff lacks come first
        for name, planned in self.planned_of_type.items():
            for ref in sorted(planned):
                if likeness(planned[ref]) not in self._skipped:
                    if self._makes_wanted(name):
                        return planned[ref]
                    later = later or planned[ref]
                    break
        return later

    def _makes_wanted(self, hole_type: str) -> bool:
        el = self.el
        return any(hole_type in self.index.of(el.kind[el.items[i]])  # type: ignore[index]
                   for i in self.uncovered if isinstance(el.items[i], str))

    def _decide(self) -> bool:
        """Expand the first undecided hole in each useful way (recursing), or leave it
        and every hole like it (same type, attachment and narrowing), now and later,
        and go on to the next. Leaving its twins too loses nothing: a plan that expands
        one of them expands this one the same way in a plan the first branch tries.
        Leaving is a loop, not a recursion: the stack is as deep as the plan is long."""
        left_here: list[Any] = []
        keys: list[tuple[int, frozenset[Any]]] = []
        while self.uncovered:
            key = (self.state.z, frozenset(self._skipped))
            if key in self._seen_failed:
                break
            keys.append(key)
            hole = self._next_hole()
            if hole is None or not self._kinds_still_makeable():
                break
            if self._try_moves_on(hole):
                return True
            self._tick()
            self._skipped.add(likeness(hole))
            left_here.append(likeness(hole))
        else:
            return True
        self._skipped.difference_update(left_here)
        self._seen_failed.update(keys)
        return False

    def _try_moves_on(self, hole: SearchHole) -> bool:
        for move in self.moves_on(hole):
            idle = not move.covers
            if idle and self._idle >= EXHAUSTIVE_IDLE_STEPS:
                continue
            self.tries += 1
            if self.tries > self.limits.budget:
                raise TooCostly(f"the change could not be explained within "
                                 f"{self.limits.budget} search steps; {USE_EXPAND}")
            self._plan.append(move)
            self._idle += idle
            self.state.advance(move, self._plan)
            z = self.state.z
            if z not in self._path:  # a state seen before on this plan: a detour
                self._path.add(z)
                if self._decide():
                    return True
                self._path.discard(z)
            self.state.back(self._plan)
            self._idle -= idle
        return False

    def _kinds_still_makeable(self) -> bool:
        """Can the undecided holes (with all they may make) still make a task of every
        kind the diff still lacks? If not, no choice below can succeed."""
        el = self.el
        wanted = {el.kind[el.items[i]] for i in self.uncovered  # type: ignore[index]
                  if isinstance(el.items[i], str)}
        if not wanted:
            return True
        types = {h.type for h in self._graph_candidates
                 if h.ref not in self.consumed and likeness(h) not in self._skipped}
        types |= {h.type for planned in self.planned_of_type.values()
                  for h in planned.values() if likeness(h) not in self._skipped}
        makeable = self.index.derivable_kinds(types)
        return wanted <= makeable
