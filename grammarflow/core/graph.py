"""The sentential form: tasks, edges, holes, run states, and the run-time invariants.

A :class:`Graph` knows nothing of productions. It keeps the invariants that hold
whatever the grammar says (proofs/00-definitions.md) and what a scheduler needs in O(1)
per change: which tasks are ready, which holes are due. Every mutation can be undone
(:meth:`Graph.atomic`), so a refused step leaves no trace. Its nodes are in
:mod:`~grammarflow.core.nodes` (re-exported here), its undo log in
:mod:`~grammarflow.core.undo`, its JSON forms in :mod:`~grammarflow.core.graph_codec`,
its paths in :mod:`~grammarflow.core.reachability` and its order in
:mod:`~grammarflow.core.ordering`.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterator, Mapping
from typing import Any

from grammarflow.core import graph_codec, graph_views, ordering, reachability
from grammarflow.core.nodes import (
    _AFTER,
    _BEFORE,
    _DONE,
    _PENDING,
    JSON,
    NAME_PATTERN,
    NO_ATTRS,
    STARTED,
    Hole,
    Role,
    Task,
    TaskState,
    check_name,
)
from grammarflow.core.undo import UndoLog
from grammarflow.errors import BrokenPromise, GrammarflowError, Why

__all__ = ["JSON", "NAME_PATTERN", "NO_ATTRS", "STARTED", "Graph", "Hole", "Role", "Task",
           "TaskState", "check_name"]


class Graph(UndoLog):
    """The sentential form, with O(1) bookkeeping of ready tasks and due holes.

    >>> g = Graph()
    >>> g.add_task(Task("start", "start")); g.add_task(Task("end", "end"))
    >>> g.add_edge("start", "end")
    >>> list(g.ready())
    ['start']
    """

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self.holes: dict[str, Hole] = {}
        self.succ: dict[str, set[str]] = {}
        self.pred: dict[str, set[str]] = {}
        self.state: dict[str, TaskState] = {}
        self.outputs: dict[str, JSON] = {}  # task -> its output (a JSON value), once set
        self.edge_attrs: dict[tuple[str, str], dict[str, JSON]] = {}  # cosmetics of edges
        #: (a, b): b runs after a though no edge says so — the order of an open hole
        #: that closed as nothing (docs/notation.md, "Changing the graph"); no part of the shape.
        self.order: dict[tuple[str, str], None] = {}
        self._holes_at: dict[str, set[str]] = {}
        self._everywhere: dict[str, None] = {}
        self._waiting: dict[str, int] = {}  # pending task -> undone preds + blocking holes
        self._ready: dict[str, None] = {}  # ordered set: pending tasks waiting on nothing
        #: (rank, id) of every task that became ready, oldest first; an entry whose task
        #: is no longer ready is skipped when met (ready_oldest_first)
        self._ready_heap: list[tuple[int, str]] = []
        self._undone_after: dict[str, int] = {}  # local hole -> after-args not done
        self._due: dict[str, None] = {}  # ordered set of local holes with all after-args done
        self._undone_tasks = 0
        self.rank: dict[str, int] = {}  # task -> creation order, for a stable schedule
        self._by_type: dict[str, dict[str, None]] = {}  # hole type -> ordered hole ids
        # for next_of_kind: task -> how often its successors changed; (task, kind) ->
        # (that count when cached, the ranks of its successors of that kind, sorted)
        self._succ_changes: dict[str, int] = {}
        self._next_of_kind: dict[tuple[str, str], tuple[int, list[int]]] = {}
        # undo log: (function, *args) entries, cheaper to make than closures
        self._undo: list[tuple[Any, ...]] | None = None

    # ---------------------------------------------------------------- queries
    def __contains__(self, node_id: object) -> bool:
        return node_id in self.tasks or node_id in self.holes

    def has_edge(self, u: str, v: str) -> bool:
        return v in self.succ.get(u, ())

    def edges(self) -> Iterator[tuple[str, str]]:
        for u, vs in self.succ.items():
            for v in vs:
                yield (u, v)

    def is_started(self, task_id: str) -> bool:
        return self.state[task_id] is not _PENDING

    def ready(self) -> Iterator[str]:
        """Pending tasks whose predecessors are all done and that no hole comes before."""
        return iter(self._ready)

    # oldest first: grammarflow.core.ordering's functions, taken as methods
    ready_in_order = ordering.ready_in_order
    ready_oldest_first = ordering.ready_oldest_first
    kinds_in_order = ordering.kinds_in_order

    def done_count(self) -> int:
        """How many tasks are done (kept as states change: O(1))."""
        return len(self.tasks) - self._undone_tasks

    def is_ready(self, task_id: str) -> bool:
        return task_id in self._ready

    def due(self) -> Iterator[str]:
        """Holes that must be expanded now: every task they come after is done.

        An ``everywhere`` hole is due once every task is done.
        """
        yield from self._due
        if self._undone_tasks == 0:
            yield from self._everywhere

    def is_due(self, hole_id: str) -> bool:
        """Whether hole ``hole_id`` is among :meth:`due` (O(1))."""
        if hole_id in self._everywhere:
            return self._undone_tasks == 0
        return hole_id in self._due

    def holes_at(self, task_id: str) -> set[str]:
        """Ids of the local holes attached to ``task_id`` (in any role)."""
        return self._holes_at.get(task_id, set())

    def everywhere_holes(self) -> Iterator[str]:
        return iter(self._everywhere)

    def types_in_use(self) -> set[str]:
        return {t for t, ids in self._by_type.items() if ids}

    def next_of_kind(self, task_id: str, kind: str) -> list[int]:
        """The creation ranks of the tasks of ``kind`` that ``task_id`` runs right
        before, in order (cached until an edge changes: a map's copies are counted and
        placed in O(log n), not O(n), each)."""
        key = (task_id, kind)
        changes = self._succ_changes.get(task_id, 0)
        hit = self._next_of_kind.get(key)
        if hit is not None and hit[0] == changes:
            return hit[1]
        tasks, rank = self.tasks, self.rank
        ranks = sorted(rank[w] for w in self.succ[task_id] if tasks[w].kind == kind)
        if len(self._next_of_kind) > 4096:
            self._next_of_kind.clear()
        self._next_of_kind[key] = (changes, ranks)
        return ranks

    def holes_of_type(self, hole_type: str) -> Iterator[str]:
        """Ids of the holes of one type, oldest first."""
        return iter(self._by_type.get(hole_type, ()))

    # what runs after what: grammarflow.core.reachability's functions, taken as methods
    reaches = reachability.reaches
    downstream = reachability.downstream

    # ---------------------------------------------------------------- mutations
    def add_task(self, task: Task) -> None:
        if task.id in self:
            raise BrokenPromise(f"node id {task.id!r} already exists; ids are never reused",
                                why=Why.NAME_OR_ID, task=task.id)
        self.tasks[task.id] = task
        self.succ[task.id] = set()
        self.pred[task.id] = set()
        self.state[task.id] = TaskState.PENDING
        self.rank[task.id] = len(self.rank)
        self._waiting[task.id] = 0
        self._make_ready(task.id)
        self._undone_tasks += 1
        if self._undo is not None:
            self._undo.append((self._drop_task, task.id))

    def set_output(self, task_id: str, value: JSON) -> None:
        """Record a task's output (once: a task has one output)."""
        if task_id not in self.tasks:
            raise BrokenPromise(f"no task {task_id!r} in the graph", why=Why.UNKNOWN_TASK,
                                task=task_id)
        if task_id in self.outputs:
            raise BrokenPromise(f"task {task_id} has set its output already; a task "
                                "gives one output", why=Why.OUTPUT, task=task_id)
        self.outputs[task_id] = value
        if self._undo is not None:
            self._undo.append((self.outputs.pop, task_id))

    def keep_order(self, a: str, b: str) -> None:
        """Mark that ``b`` runs after ``a`` (:attr:`order`)."""
        if (a, b) not in self.order:
            self.order[(a, b)] = None
            if self._undo is not None:
                self._undo.append((self.order.pop, (a, b)))

    def style_task(self, task_id: str, attrs: Mapping[str, JSON]) -> None:
        """Merge cosmetic attributes into a task's (undone with the transaction)."""
        old = self.tasks[task_id]
        self.tasks[task_id] = Task(old.id, old.kind, {**old.attrs, **attrs})
        if self._undo is not None:
            self._undo.append((self.tasks.__setitem__, task_id, old))

    def style_edge(self, u: str, v: str, attrs: Mapping[str, JSON]) -> None:
        """Merge cosmetic attributes into an edge's (undone with the transaction)."""
        if not self.has_edge(u, v):
            raise BrokenPromise(f"no edge {u} -> {v} in the graph to style",
                                why=Why.UNKNOWN_TASK, edge=(u, v))
        old = self.edge_attrs.get((u, v))
        self.edge_attrs[(u, v)] = {**(old or {}), **attrs}
        if self._undo is not None:
            self._undo.append((self._restore_edge_attrs, (u, v), old))

    def _restore_edge_attrs(self, edge: tuple[str, str], old: dict[str, JSON] | None) -> None:
        if old is None:
            self.edge_attrs.pop(edge, None)
        else:
            self.edge_attrs[edge] = old

    def _drop_task(self, task_id: str) -> None:
        del self.tasks[task_id], self.succ[task_id], self.pred[task_id], self.state[task_id]
        del self.rank[task_id]
        del self._waiting[task_id]
        self._ready.pop(task_id, None)
        self._undone_tasks -= 1

    def add_edge(self, u: str, v: str) -> None:
        """Add ``u -> v`` (a no-op if present). ``v`` must not have started."""
        state = self.state
        su = self.succ.get(u)
        if su is None or v not in state:
            missing = u if su is None else v
            raise BrokenPromise(f"edge {u} -> {v}: no task {missing!r} in the graph",
                                why=Why.UNKNOWN_TASK, task=missing, edge=(u, v))
        if v in su:
            return
        if u == v:
            raise BrokenPromise(f"edge {u} -> {v} would be a cycle of one task", why=Why.CYCLE,
                                edge=(u, v))
        if state[v] is not _PENDING:
            raise BrokenPromise(
                f"edge {u} -> {v} ends at task {v!r}, which has already started "
                f"({state[v].value}); a started task can get no new predecessor",
                why=Why.STARTED, task=v, edge=(u, v))
        su.add(v)
        self.pred[v].add(u)
        if self._next_of_kind:
            self._keep_next_of_kind(u, v)
        else:
            self._succ_changes[u] = self._succ_changes.get(u, 0) + 1
        if state[u] is not _DONE:
            self._waiting[v] += 1
            self._ready.pop(v, None)
        if self._undo is not None:
            self._undo.append((self._drop_edge, u, v))

    def _keep_next_of_kind(self, u: str, v: str) -> None:
        """A new edge u -> v: the cached ranks of u's successors of v's kind take v's
        rank (a map growing by one copy costs O(log n), not a recount)."""
        was = self._succ_changes.get(u, 0)
        self._succ_changes[u] = was + 1
        key = (u, self.tasks[v].kind)
        hit = self._next_of_kind.get(key)
        if hit is not None and hit[0] == was:
            bisect.insort(hit[1], self.rank[v])
            self._next_of_kind[key] = (was + 1, hit[1])

    def _drop_edge(self, u: str, v: str) -> None:
        self.succ[u].discard(v)
        self.pred[v].discard(u)
        self._succ_changes[u] = self._succ_changes.get(u, 0) + 1
        if self.state[u] is not TaskState.DONE:
            self._unblock(v)

    def _make_ready(self, task_id: str) -> None:
        if task_id not in self._ready:
            self._ready[task_id] = None
            heapq.heappush(self._ready_heap, (self.rank[task_id], task_id))

    def _block(self, task_id: str) -> None:
        self._waiting[task_id] += 1
        self._ready.pop(task_id, None)

    def _unblock(self, task_id: str) -> None:
        self._waiting[task_id] -= 1
        if self._waiting[task_id] == 0 and self.state[task_id] is TaskState.PENDING:
            self._make_ready(task_id)

    def add_hole(self, hole: Hole) -> None:
        if hole.id in self:
            raise BrokenPromise(f"node id {hole.id!r} already exists; ids are never reused",
                                why=Why.NAME_OR_ID, hole=hole.id)
        state = self.state
        if len(hole.args) != len(hole.roles):
            raise BrokenPromise(f"hole {hole.id} ({hole.type}) has {len(hole.args)} "
                                f"argument(s) but {len(hole.roles)} role(s)",
                                why=Why.HOLE_ARGUMENTS, hole=hole.id)
        for a, role in zip(hole.args, hole.roles, strict=False):  # lengths checked above
            if a not in state:
                raise BrokenPromise(f"hole {hole.id} ({hole.type}) is attached to {a!r}, "
                                    "which is not a task in the graph",
                                    why=Why.UNKNOWN_TASK, hole=hole.id, task=a)
            if role is _BEFORE and state[a] is not _PENDING:
                raise BrokenPromise(
                    f"hole {hole.id} ({hole.type}) would come before task {a!r}, "
                    f"which has already started ({state[a].value})",
                    why=Why.STARTED, hole=hole.id, task=a)
        self._link_hole(hole)
        if self._undo is not None:
            self._undo.append((self._unlink_hole, hole))

    def remove_hole(self, hole_id: str) -> Hole:
        hole = self.holes[hole_id]
        self._unlink_hole(hole)
        if self._undo is not None:
            self._undo.append((self._link_hole, hole))
        return hole

    def replace_hole(self, hole: Hole) -> None:
        """Swap a hole for an updated version with the same id (narrowed, grown)."""
        old = self.remove_hole(hole.id)
        try:
            self.add_hole(hole)
        except BaseException:
            if self._undo is None:  # not inside atomic(): restore by hand
                self._link_hole(old)
            raise

    def _link_hole(self, hole: Hole) -> None:
        self.holes[hole.id] = hole
        self._by_type.setdefault(hole.type, {})[hole.id] = None
        if hole.everywhere:
            self._everywhere[hole.id] = None
            return
        undone = 0
        holes_at, state = self._holes_at, self.state
        for a, role in _attachment(hole):
            at = holes_at.get(a)
            if at is None:
                holes_at[a] = {hole.id}
            else:
                at.add(hole.id)
            if role is _AFTER:
                if state[a] is not _DONE:
                    undone += 1
            else:
                self._waiting[a] += 1
                self._ready.pop(a, None)
        self._undone_after[hole.id] = undone
        if undone == 0:
            self._due[hole.id] = None

    def _unlink_hole(self, hole: Hole) -> None:
        del self.holes[hole.id]
        del self._by_type[hole.type][hole.id]
        if hole.everywhere:
            del self._everywhere[hole.id]
            return
        for a, role in _attachment(hole):
            at = self._holes_at.get(a)
            if at is not None:  # None: the same task in both roles, already unlinked
                at.discard(hole.id)
                if not at:
                    del self._holes_at[a]
            if role is _BEFORE:
                self._unblock(a)
        del self._undone_after[hole.id]
        self._due.pop(hole.id, None)

    def set_state(self, task_id: str, new: TaskState) -> None:
        """Move a task along pending -> running -> done | failed (or back to pending)."""
        old = self.state[task_id]
        allowed = _TRANSITIONS[old]
        if new not in allowed:
            raise GrammarflowError(
                f"task {task_id!r} cannot go from {old.value} to {new.value}; "
                f"expected one of {sorted(s.value for s in allowed)}"
            )
        if new is TaskState.RUNNING and task_id not in self._ready:
            raise GrammarflowError(f"task {task_id!r} is not ready: it waits on "
                                   f"{self._waiting[task_id]} predecessor(s) or hole(s)")
        self._set_state(task_id, old, new)
        self._on_undo(self._set_state, task_id, new, old)

    def _set_state(self, task_id: str, old: TaskState, new: TaskState) -> None:
        self.state[task_id] = new
        if new is not TaskState.PENDING:
            self._ready.pop(task_id, None)
        elif new is TaskState.PENDING and self._waiting[task_id] == 0:
            self._make_ready(task_id)
        if new is TaskState.DONE:
            self._undone_tasks -= 1
            self._on_done(task_id, +1)
        elif old is TaskState.DONE:
            self._undone_tasks += 1
            self._on_done(task_id, -1)

    def _on_done(self, task_id: str, sign: int) -> None:
        for v in self.succ[task_id]:
            if sign > 0:
                self._unblock(v)
            else:
                self._block(v)
        for h in self._holes_at.get(task_id, ()):
            hole = self.holes[h]
            if task_id not in hole.after:
                continue
            self._undone_after[h] -= sign
            if self._undone_after[h] == 0:
                self._due[h] = None
            else:
                self._due.pop(h, None)

    # ---------------------------------------------------------------- (de)serialisation
    # grammarflow.core.graph_codec's functions, taken as methods (no call in between)
    to_json = graph_codec.to_json
    from_json = classmethod(graph_codec.from_json)
    snapshot = graph_codec.snapshot
    from_snapshot = classmethod(graph_codec.from_snapshot)

    def _force_state(self, task_id: str, new: TaskState) -> None:
        self._set_state(task_id, self.state[task_id], new)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Graph) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    # grammarflow.core.graph_views's: the graph in the notation's words, for networkx
    notation = graph_views.notation
    __repr__ = graph_views.graph_repr
    to_networkx = graph_views.to_networkx
    _repr_svg_ = graph_views.graph_svg


def _attachment(hole: Hole) -> Iterator[tuple[str, Role]]:
    """(task, role) pairs of a hole, each task once per role (a hole may name a task
    twice, as in T(s, s); its bookkeeping counts it once)."""
    args = hole.args
    n = len(args)
    if n < 2 or (n == 2 and args[0] != args[1]) or len(set(args)) == n:
        return zip(args, hole.roles, strict=False)  # add_hole checked the lengths
    seen: dict[tuple[str, str], Role] = {}
    for a, r in zip(args, hole.roles, strict=True):
        seen.setdefault((a, r.value), r)
    return ((a, r) for (a, _), r in seen.items())


_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.PENDING: frozenset({TaskState.RUNNING}),
    TaskState.RUNNING: frozenset({TaskState.DONE, TaskState.FAILED, TaskState.PENDING}),
    TaskState.DONE: frozenset({TaskState.PENDING}),
    TaskState.FAILED: frozenset({TaskState.PENDING}),
}
