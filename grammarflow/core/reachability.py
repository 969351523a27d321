"""What runs after what in a graph: paths through tasks, a local hole counted as a node
between its roles (what comes after a hole comes after what comes before it). The
functions are :class:`~grammarflow.core.graph.Graph`'s methods ``reaches`` and
``downstream``: their first argument is the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grammarflow.core.graph import Graph

__all__ = ["downstream", "reaches"]


def reaches(self: Graph, src: str, dst: str) -> bool:
    """Is there a path src ->* dst, counting a local hole as a node between its roles?

    Only used for edges that may end at an existing task (open holes attached
    everywhere); production steps are acyclic by construction and never call it.
    """
    return src == dst or any(y == dst for y in _onward_from(self, [src]))


def downstream(self: Graph, tasks: Iterable[str]) -> set[str]:
    """``tasks`` and every task that runs after one of them (the paths of
    :meth:`reaches`: what comes after a hole comes after what comes before it)."""
    starts = list(tasks)
    return {t for t in (*starts, *_onward_from(self, starts)) if t in self.tasks}


def _onward_from(self: Graph, starts: Iterable[str]) -> Iterator[str]:
    """Every node reachable from ``starts`` by one step or more, each once (not the
    starts themselves unless reached again), a local hole counted as a node between
    its roles."""
    seen = set(starts)
    stack = list(seen)
    while stack:
        x = stack.pop()
        nexts: list[str] = list(self.succ.get(x, ()))
        for h in self._holes_at.get(x, ()):
            hole = self.holes[h]
            if x in hole.after:
                nexts.extend(hole.before)
        for y in nexts:
            if y not in seen:
                seen.add(y)
                stack.append(y)
                yield y
