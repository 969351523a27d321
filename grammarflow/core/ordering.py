"""Tasks oldest first (in the order they were created: their rank): the documented
order in which runs start ready tasks, all at once (:func:`ready_in_order`) or one at a
time off the graph's heap (:func:`ready_oldest_first`, what the scheduler asks on every
pass). The functions are :class:`~grammarflow.core.graph.Graph`'s methods of the same
names: their first argument is the graph.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grammarflow.core.graph import Graph

__all__ = ["kinds_in_order", "ready_in_order", "ready_oldest_first"]


def ready_in_order(self: Graph) -> list[str]:
    """Ready tasks, oldest first: the documented order in which runs start them."""
    return sorted(self._ready, key=self.rank.__getitem__)


def ready_oldest_first(self: Graph) -> Iterator[str]:
    """Ready tasks, oldest first, one at a time (the order of :meth:`ready_in_order`),
    without sorting them all: the caller may start each before it asks for the next.
    O(log n) a task, however many are ready — what the scheduler asks on every pass."""
    heap, ready = self._ready_heap, self._ready
    kept: list[tuple[int, str]] = []  # ready ones the caller did not start
    seen: set[str] = set()
    try:
        while heap:
            entry = heap[0]
            if (entry[1] not in ready or self.rank.get(entry[1]) != entry[0]
                    or entry[1] in seen):
                heapq.heappop(heap)  # started, blocked or gone since, or twice: stale
                continue
            seen.add(entry[1])
            yield entry[1]
            if heap and heap[0] == entry and entry[1] in ready:
                kept.append(heapq.heappop(heap))  # still ready: put back at the end
    finally:
        for entry in kept:
            heapq.heappush(heap, entry)


def kinds_in_order(self: Graph, task_ids: Iterable[str]) -> dict[str, str]:
    """``{id: kind}`` of these tasks, oldest first (in the order they were created)."""
    return {t: self.tasks[t].kind for t in sorted(task_ids, key=self.rank.__getitem__)}
