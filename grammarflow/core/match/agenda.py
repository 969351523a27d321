"""Which element of the change the search branches on next, without rescanning the
change: blocked elements wait until a move may have made them producible."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from grammarflow.core.match.patterns import Move, SearchHole

if TYPE_CHECKING:
    from grammarflow.core.match.search import Search

__all__ = ["Agenda"]


# What the agenda's log records, so that leaving a frame can undo it.
_BLOCKED, _WOKEN, _POPPED = 0, 1, 2


class Agenda:
    """Which element to branch on next, without rescanning the diff.

    Every element before ``frontier`` is covered, or *blocked* (no move produced it
    when last examined, and no move since touched it), or waiting in ``heap`` to be
    examined again (a move touched it). A move can only make a blocked element
    producible by making a task next to it, or by attaching a new hole to a task next
    to it (for an element next to no available task: by making a hole of a type that
    could produce it); everything else a move does only removes choices. Each change
    to these sets is logged, and leaving a frame unwinds the log.
    """

    def __init__(self, search: Search) -> None:
        self.search = search
        self.el = search.el
        self.index = search.index
        self.frontier = 0
        self.blocked: set[int] = set()
        self.blocked_free: set[int] = set()  # blocked, and next to no available task
        self.waiting: set[int] = set()
        self.heap: list[int] = []
        self.log: list[tuple[int, int, bool]] = []

    def mark(self) -> tuple[int, int]:
        """Where the agenda is, for :meth:`leave` to come back to."""
        return len(self.log), self.frontier

    def choose(self, move: Move | None) -> list[Move]:
        """The moves to try in the state after ``move`` (``None``: the first state)."""
        if move is not None and self.blocked:
            self._wake(move)
        return self._select()

    def leave(self, mark: tuple[int, int]) -> None:
        """Undo what the agenda did since ``mark``."""
        log_at, self.frontier = mark
        log = self.log
        while len(log) > log_at:
            op, idx, free = log.pop()
            if op == _BLOCKED:
                self.blocked.discard(idx)
                self.blocked_free.discard(idx)
            elif op == _POPPED:
                self.waiting.add(idx)
                heapq.heappush(self.heap, idx)
            else:  # woken: blocked again (its entry in the heap is skipped as stale)
                self.waiting.discard(idx)
                self.blocked.add(idx)
                if free:
                    self.blocked_free.add(idx)

    def _select(self) -> list[Move]:
        """Moves producing the first element (in diff order) that some move produces."""
        uncovered = self.search.uncovered
        while self.heap:
            idx = heapq.heappop(self.heap)
            if idx not in self.waiting:
                continue  # left in the heap when a wake-up was undone
            self.waiting.discard(idx)
            self.log.append((_POPPED, idx, False))
            if idx in uncovered:
                moves = self._branch(idx)
                if moves:
                    return moves
        end = len(self.el.items)
        while self.frontier < end:
            idx = self.frontier
            self.frontier += 1
            if idx in uncovered:
                moves = self._branch(idx)
                if moves:
                    return moves
        return []

    def _branch(self, idx: int) -> list[Move]:
        moves, anchored = self.search.moves_covering(idx)
        if not moves:
            self.blocked.add(idx)
            if not anchored:
                self.blocked_free.add(idx)
            self.log.append((_BLOCKED, idx, not anchored))
        return moves

    def _wake(self, move: Move) -> None:
        """Blocked elements that ``move`` may have made producible wait to be re-examined."""
        woken = self._near_blocked(move.touches())
        if move.new_holes and self.blocked_free:
            woken.update(self._free_woken(move.new_holes))
        for idx in woken:
            free = idx in self.blocked_free
            self.blocked.discard(idx)
            self.blocked_free.discard(idx)
            self.waiting.add(idx)
            heapq.heappush(self.heap, idx)
            self.log.append((_WOKEN, idx, free))

    def _near_blocked(self, names: set[str]) -> set[int]:
        """Blocked elements next to ``names``: a new anchor, or a new hole at one."""
        el = self.el
        if sum(el.degree(n) for n in names) < len(self.blocked):
            return {i for n in names for i in el.near(n) if i in self.blocked}
        return {i for i in self.blocked if el.is_near(i, names)}

    def _free_woken(self, holes: tuple[SearchHole, ...]) -> set[int]:
        """Blocked elements next to no available task that new ``holes`` may produce.

        A fragment task that a path of k edges joins to a parameter becomes a task of the
        diff at most k edges (through new tasks) from the hole's arguments, and its edges
        lie there too; only a task joined to no parameter may be any task of its kind.
        """
        types = {h.type for h in holes}
        args = {a for h in holes for a in h.args if a != "*"}
        el, index, blocked = self.el, self.index, self.blocked_free
        free = {k for k in el.by_kind if not types.isdisjoint(index.free(k))}
        woken = {i for i in blocked if self._of_kinds(i, free)} if free else set()
        near = el.around(args, index.reach(types), self.search.produced, 4 * len(blocked) + 64)
        if near is None:  # a wide neighbourhood: look at the blocked elements instead
            made = {k for k in el.by_kind if not types.isdisjoint(index.of(k))}
            woken.update(i for i in blocked if self._of_kinds(i, made))
        else:
            woken.update(i for i in near if i in blocked)
        return woken

    def _of_kinds(self, idx: int, kinds: set[str]) -> bool:
        """Is element ``idx`` a task of one of ``kinds``, or an edge at one?"""
        element = self.el.items[idx]
        if isinstance(element, str):
            return self.el.kind[element] in kinds
        return any(self.el.kind.get(end) in kinds for end in element)
