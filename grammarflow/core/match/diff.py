"""A raw change (:class:`Diff`) and its elements: the new tasks and edges, checked
against the graph and indexed for the search (:class:`Elements`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import JSON, check_name
from grammarflow.core.productions import TaskSpec
from grammarflow.core.wellformed import find_cycle
from grammarflow.errors import BrokenPromise, GrammarflowError, Why

__all__ = ["SHOWN", "Diff", "Elements", "diff_of"]

#: Elements a refusal names, and kinds a count of the change's tasks names.
SHOWN = 5


@dataclass(frozen=True, slots=True)
class Diff:
    """A raw change: new tasks (``local`` is the sender's name for each) and new edges.

    Edge endpoints are new tasks' names or ids of existing tasks.
    """

    tasks: tuple[TaskSpec, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"tasks": [{"name": t.local, "kind": t.kind, "attrs": dict(t.attrs)}
                          for t in self.tasks],
                "edges": [list(e) for e in self.edges]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Diff:
        return cls(tuple(TaskSpec(t["name"], t["kind"], dict(t.get("attrs", {})))
                         for t in data.get("tasks", ())),
                   tuple((u, v) for u, v in data.get("edges", ())))


def diff_of(fragment_tasks: Mapping[str, str], edges: list[tuple[str, str]]) -> Diff:
    """A diff from ``{name: kind}`` and edges (a convenience for tests and tasks)."""
    return Diff(tuple(TaskSpec(n, k) for n, k in fragment_tasks.items()), tuple(edges))


class Elements:
    """The diff, checked and indexed: new tasks, then new edges, numbered in diff order."""

    def __init__(self, d: Derivation, diff: Diff) -> None:
        self.graph = d.graph
        self.kind: dict[str, str] = {}
        self.attrs: dict[str, Mapping[str, JSON]] = {}
        self._check_tasks(diff)
        self.edges: list[tuple[str, str]] = self._check_edges(diff)
        self.items: list[str | tuple[str, str]] = [*self.kind, *self.edges]
        self.task_index = {n: i for i, n in enumerate(self.kind)}
        self.edge_index = {e: len(self.kind) + i for i, e in enumerate(self.edges)}
        out_edges: dict[str, list[tuple[str, str]]] = {}
        in_edges: dict[str, list[tuple[str, str]]] = {}
        for u, v in self.edges:
            out_edges.setdefault(u, []).append((u, v))
            in_edges.setdefault(v, []).append((u, v))
        # tuples, which the garbage collector stops tracking (lists it keeps scanning)
        self.out_edges = {u: tuple(es) for u, es in out_edges.items()}
        self.in_edges = {v: tuple(es) for v, es in in_edges.items()}
        self.by_kind: dict[str, list[str]] = {}
        for name, kind in self.kind.items():
            self.by_kind.setdefault(kind, []).append(name)
        self._neighbours: dict[str, tuple[str, ...]] = {}

    def __len__(self) -> int:
        return len(self.items)

    def kind_of(self, idx: int) -> str:
        element = self.items[idx]
        return self.kind[element[0] if isinstance(element, tuple) else element]

    def neighbours(self, name: str) -> tuple[str, ...]:
        """Tasks at the other end of ``name``'s edges: predecessors, then successors."""
        found = self._neighbours.get(name)
        if found is None:
            found = self._neighbours[name] = tuple(
                [u for u, _ in self.in_edges.get(name, ())]
                + [v for _, v in self.out_edges.get(name, ())])
        return found

    def degree(self, name: str) -> int:
        return len(self.in_edges.get(name, ())) + len(self.out_edges.get(name, ()))

    def edges_at(self, name: str) -> Iterator[int]:
        for e in chain(self.out_edges.get(name, ()), self.in_edges.get(name, ())):
            yield self.edge_index[e]

    def near(self, name: str) -> Iterator[int]:
        """Elements next to task ``name``: its edges and the new tasks at their ends."""
        for e in chain(self.out_edges.get(name, ()), self.in_edges.get(name, ())):
            yield self.edge_index[e]
            other = e[1] if e[0] == name else e[0]
            if other in self.task_index:
                yield self.task_index[other]

    def is_near(self, idx: int, names: set[str]) -> bool:
        element = self.items[idx]
        if isinstance(element, tuple):
            return element[0] in names or element[1] in names
        return not names.isdisjoint(self.neighbours(element))

    def around(self, names: set[str], depth: int, produced: set[str],
               limit: int) -> list[int] | None:
        """New tasks not ``produced`` at most ``depth`` edges of the diff away from
        ``names`` (walking through such tasks), and the edges at them; None once that is
        over ``limit``."""
        seen = set(names)
        found: list[int] = []
        ring = list(names)
        for _ in range(depth):
            nxt = []
            for name in ring:
                for other in self.neighbours(name):
                    if (other not in seen and other in self.task_index
                            and other not in produced):
                        seen.add(other)
                        nxt.append(other)
                        found.append(self.task_index[other])
                        found.extend(self.edges_at(other))
                        if len(found) > limit:
                            return None
            ring = nxt
        return found

    def describe(self, idx: int) -> str:
        element = self.items[idx]
        if isinstance(element, tuple):
            return f"edge {element[0]} -> {element[1]}"
        return f"task {element} ({self.kind[element]})"

    def _check_tasks(self, diff: Diff) -> None:
        kinds: set[str] = set()  # checked already
        for t in diff.tasks:
            try:
                check_name(t.local, "new task name")
                if not (isinstance(t.kind, str) and t.kind in kinds):
                    kinds.add(check_name(t.kind, f"kind of new task {t.local!r}"))
            except GrammarflowError as e:
                raise BrokenPromise(str(e), why=Why.NAME_OR_ID, task=t.local) from None
            if t.local in self.kind:
                raise BrokenPromise(f"new task name {t.local!r} appears twice in the change",
                                    why=Why.NAME_OR_ID, task=t.local)
            if t.local in self.graph:
                raise BrokenPromise(f"new task name {t.local!r} is already a node id; "
                                    "name new tasks apart from existing ones",
                                    why=Why.NAME_OR_ID, task=t.local)
            self.kind[t.local] = t.kind
            self.attrs[t.local] = t.attrs

    def _check_edges(self, diff: Diff) -> list[tuple[str, str]]:
        g, new, tasks = self.graph, self.kind, self.graph.tasks
        seen: dict[tuple[str, str], None] = {}  # ordered set: the new edges
        ends: set[str] = set()  # existing tasks checked as edge ends
        for u, v in diff.edges:
            for name in (u, v):
                if name not in new and name not in tasks:
                    raise BrokenPromise(f"edge {u} -> {v}: {name!r} is neither a new task "
                                        "of this change nor a task in the graph",
                                        why=Why.UNKNOWN_TASK, task=name, edge=(u, v))
            if u == v:
                raise BrokenPromise(f"edge {u} -> {v} would be a cycle of one task",
                                    why=Why.CYCLE, edge=(u, v))
            if v not in new and v not in ends:
                if g.is_started(v):
                    raise BrokenPromise(
                        f"edge {u} -> {v} ends at task {v!r}, which has already started "
                        f"({g.state[v].value}); a started task can get no new predecessor",
                        why=Why.STARTED, task=v, edge=(u, v))
                ends.add(v)
            if u not in new and v not in new and g.has_edge(u, v):
                continue
            seen[(u, v)] = None
        edges = list(seen)
        succ: dict[str, list[str]] = {}
        for u, v in edges:
            if u in new and v in new:
                succ.setdefault(u, []).append(v)
        cycle = find_cycle(succ)
        if cycle:
            raise BrokenPromise(f"the change has a cycle: {' -> '.join(cycle)}",
                                why=Why.CYCLE, edge=(cycle[0], cycle[1]))
        return edges
