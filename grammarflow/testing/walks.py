"""Walks along a graph's order: what runs after a task, and whether the way there takes
an edge added through a hole attached everywhere."""

from __future__ import annotations

from collections.abc import Sequence

from grammarflow.core.graph import Graph

__all__ = ["downstream", "reach", "successors"]


def downstream(starts: Sequence[str], edges: Sequence[tuple[str, str]],
               graph: Graph | None = None) -> dict[str, set[str]]:
    """For each start, the nodes after it along ``edges`` (and the graph's, if given)."""
    succ: dict[str, set[str]] = {}
    for u, v in edges:
        succ.setdefault(u, set()).add(v)
    out = {}
    for s in starts:
        seen: set[str] = set()
        stack = [s]
        while stack:
            x = stack.pop()
            nexts = set(succ.get(x, ()))
            if graph is not None:
                nexts |= set(successors(graph, x))
            for y in nexts - seen:
                seen.add(y)
                stack.append(y)
        out[s] = seen | {s}
    return out


def successors(graph: Graph, x: str) -> list[str]:
    """Tasks that run after ``x``: along edges, and across the holes it comes before."""
    out = sorted(graph.succ.get(x, ()))  # sorted: a set's order changes between runs
    for hid in sorted(graph.holes_at(x)):
        hole = graph.holes[hid]
        if x in hole.after:
            out.extend(hole.before)
    return out


def reach(graph: Graph, start: str, wide: set[tuple[str, str]]) -> dict[str, bool]:
    """Tasks after ``start``, each with True if some way there takes a ``wide`` edge."""
    seen = {(start, False)}
    stack = [(start, False)]
    out: dict[str, bool] = {}
    while stack:
        x, through = stack.pop()
        for y in successors(graph, x):
            state = (y, through or (x, y) in wide)
            if state not in seen:
                seen.add(state)
                stack.append(state)
                out[y] = out.get(y, False) or state[1]
    return out

