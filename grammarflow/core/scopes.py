"""Constraint scopes as a run goes: each constrained open hole's counts, checked at
every change and decided when they can no longer change (docs/constraints.md;
proofs/10-constraints.md). Pure: :class:`ConstraintState` records an undo action for
each change through the hook it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grammarflow.core.constraints import (
    AtMost,
    Constraint,
    Each,
    NoEdges,
    NoTasks,
    OnlyEdges,
    OnlyKinds,
    constraints_from_json,
    constraints_to_json,
    parse_constraint,
)
from grammarflow.errors import BrokenPromise, Why

__all__ = ["ConstraintState", "Scope", "TooFewNeighbours"]


class TooFewNeighbours(BrokenPromise):
    """A lower bound of an ``each`` constraint broken: ``task`` ends with too few
    neighbours of a kind. Decided by a change when it can be, else when the task would
    start (or its scope closes); then whoever made ``task`` is to name."""

    task: str

    def __init__(self, reason: str, *, hole: str, task: str, constraint: str) -> None:
        super().__init__(reason, why=Why.CONSTRAINT, hole=hole, task=task,
                         constraint=constraint)


@dataclass(frozen=True, slots=True)
class Scope:
    """What a constrained hole promised: started at ``hole`` (of ``type``), with its
    parameters bound to tasks (``bound``)."""

    id: str
    hole: str
    type: str
    constraints: tuple[Constraint, ...]
    bound: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "hole": self.hole, "type": self.type,
                "constraints": constraints_to_json(self.constraints),
                "bound": dict(self.bound)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        return cls(data["id"], data["hole"], data["type"],
                   constraints_from_json(data["constraints"]), dict(data["bound"]))

    def broken(self, c: Constraint, what: str) -> BrokenPromise:
        return BrokenPromise(self._said(c, what), why=Why.CONSTRAINT, hole=self.hole,
                             constraint=str(c))

    def too_few(self, c: Each, task: str, what: str) -> TooFewNeighbours:
        return TooFewNeighbours(self._said(c, what), hole=self.hole, task=task,
                                constraint=str(c))

    def _said(self, c: Constraint, what: str) -> str:
        return f"constraint '{c}' of hole {self.hole} ({self.type}) is broken: {what}"

    def matches(self, name: str, task: str | None, kind: str) -> bool:
        """Does an edge constraint's ``name`` (a parameter, else a kind) name ``task``
        (None: a task not made yet, which no parameter is bound to)?"""
        bound = self.bound.get(name)
        return bound == task if bound is not None else kind == name


Undo = Callable[..., None]
_MISSING = object()


def _restore(table: dict[Any, Any], key: Any, old: Any) -> None:
    if old is _MISSING:
        del table[key]
    else:
        table[key] = old


class ConstraintState:
    """The constraint bookkeeping of one derivation: scopes, the scopes each hole is
    in, counts of what each scope made, and neighbour counts of constrained tasks.

    Every change is recorded with ``on_undo(fn, *args)`` (the graph's undo log), so a
    refused step leaves no trace here either. Each call costs O(size of the change).
    """

    def __init__(self, on_undo: Callable[..., None]) -> None:
        self.on_undo = on_undo
        self.scopes: dict[str, Scope] = {}
        self.live: dict[str, int] = {}  # scope -> its holes in the graph
        self.made: dict[tuple[str, int], int] = {}  # (scope, constraint index) -> tasks
        self.hole_scopes: dict[str, tuple[str, ...]] = {}  # hole -> scopes, outer first
        self.rules: dict[str, tuple[tuple[str, Each], ...]] = {}  # task -> its 'each'
        self.degree: dict[tuple[str, str, str], int] = {}  # (task, side, kind) -> count
        self.closing: dict[str, list[str]] = {}  # scope -> tasks to check when it closes

    def __bool__(self) -> bool:
        return bool(self.scopes)

    # ---------------------------------------------------------------- undoable writes
    def _put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        self.on_undo(_restore, table, key, table.get(key, _MISSING))
        table[key] = value

    def _drop(self, table: dict[Any, Any], key: Any) -> None:
        self.on_undo(_restore, table, key, table.pop(key))

    def _add(self, table: dict[Any, int], key: Any, n: int) -> int:
        value = table.get(key, 0) + n
        self._put(table, key, value)
        return value

    # ---------------------------------------------------------------- scopes
    def scopes_of(self, hole: str) -> tuple[str, ...]:
        return self.hole_scopes.get(hole, ())

    def start(self, hole: str, type_name: str, constraints: tuple[Constraint, ...],
              bound: Mapping[str, str]) -> str:
        """A new scope at ``hole`` (already in the scopes of its parent, if any)."""
        sid = hole
        k = 1
        while sid in self.scopes:
            k += 1
            sid = f"{hole}+{k}"
        self._put(self.scopes, sid, Scope(sid, hole, type_name, constraints, dict(bound)))
        self._put(self.closing, sid, [])
        self._put(self.live, sid, 1)
        self._put(self.hole_scopes, hole, (*self.scopes_of(hole), sid))
        return sid

    def holes_made(self, parent: tuple[str, ...], holes: Iterable[str]) -> None:
        for hid in holes:
            self._put(self.hole_scopes, hid, parent)
            for sid in parent:
                self._add(self.live, sid, 1)

    def hole_gone(self, hole: str, kind_of: Callable[[str], str],
                  succ: Callable[[str], Iterable[str]]) -> None:
        """``hole`` was removed: a scope with no hole left closes (out-degrees decided)."""
        chain = self.hole_scopes.get(hole)
        if not chain:
            return
        self._drop(self.hole_scopes, hole)
        for sid in chain:
            if self._add(self.live, sid, -1) == 0:
                self._close(self.scopes[sid], kind_of, succ)

    def _close(self, scope: Scope, kind_of: Callable[[str], str],
               succ: Callable[[str], Iterable[str]]) -> None:
        for task in self.closing[scope.id]:
            for sid, each in self.rules[task]:
                if sid != scope.id:
                    continue
                for d in each.degrees:
                    if d.side != "after":
                        continue
                    count = sum(1 for v in succ(task) if kind_of(v) == d.kind)
                    if d.too_few(count):
                        raise scope.too_few(each, task, f"task {task} ({each.kind}) has "
                                                        f"{count} {d.kind} after it as the "
                                                        "hole closes")

    # ---------------------------------------------------------------- changes
    def check_change(self, chain: tuple[str, ...], tasks: Sequence[tuple[str, str]],
                     edges: Sequence[tuple[str, str]], kind_of: Callable[[str], str]) -> None:
        """A change made inside the scopes ``chain``: new ``tasks`` (id, kind) and
        new ``edges``. Raises naming the constraint broken; else counts it."""
        for sid in chain:
            scope = self.scopes[sid]
            for i, c in enumerate(scope.constraints):
                self._check(scope, i, c, tasks, edges, kind_of)
        for tid, kind in tasks:
            rules = tuple((sid, c) for sid in chain for c in self.scopes[sid].constraints
                          if isinstance(c, Each) and c.kind == kind)
            if rules:
                self._put(self.rules, tid, rules)
                for sid in {sid for sid, each in rules
                            if any(d.side == "after" and d.too_few(0) for d in each.degrees)}:
                    self.closing[sid].append(tid)
                    self.on_undo(self.closing[sid].pop)

    def _check(self, scope: Scope, i: int, c: Constraint, tasks: Sequence[tuple[str, str]],
               edges: Sequence[tuple[str, str]], kind_of: Callable[[str], str]) -> None:
        match c:
            case OnlyKinds(kinds):
                for tid, kind in tasks:
                    if kind not in kinds:
                        raise scope.broken(c, f"task {tid} of kind {kind}")
            case NoTasks():
                if tasks:
                    raise scope.broken(c, f"task {tasks[0][0]} of kind {tasks[0][1]}")
            case AtMost(n, kind):
                for tid, k in tasks:
                    if kind is None or k == kind:
                        made = self._add(self.made, (scope.id, i), 1)
                        if made > n:
                            raise scope.broken(c, f"task {tid} would be the {_nth(made)} "
                                                  f"{kind or 'task'} made there")
            case NoEdges(source, target):
                for u, v in edges:
                    if (source is None or scope.matches(source, u, kind_of(u))) and \
                            (target is None or scope.matches(target, v, kind_of(v))):
                        raise scope.broken(c, f"edge {u} -> {v}")
            case OnlyEdges(allowed):
                for u, v in edges:
                    ku, kv = kind_of(u), kind_of(v)
                    if not any(scope.matches(a, u, ku) and scope.matches(b, v, kv)
                               for a, b in allowed):
                        raise scope.broken(c, f"edge {u} -> {v} ({ku} -> {kv})")

    def check_edges(self, edges: Sequence[tuple[str, str]], kind_of: Callable[[str], str]
                    ) -> None:
        """New edges anywhere: the upper bounds of constrained tasks' neighbour counts."""
        rules = self.rules
        for u, v in edges:
            if u in rules:
                self._count(u, "after", kind_of(v), f"edge {u} -> {v}")
            if v in rules:
                self._count(v, "before", kind_of(u), f"edge {u} -> {v}")

    def _count(self, task: str, side: str, kind: str, what: str) -> None:
        relevant = [(sid, each, d) for sid, each in self.rules[task] for d in each.degrees
                    if d.side == side and d.kind == kind]
        if not relevant:
            return
        count = self._add(self.degree, (task, side, kind), 1)
        for sid, each, d in relevant:
            if d.too_many(count):
                raise self.scopes[sid].broken(
                    each, f"{what} would be the {_nth(count)} {kind} {side} {task}")

    def check_start(self, task: str) -> None:
        """``task`` would start: its predecessors are final, so decide the lower bounds."""
        self._check_before(task, "would start with {count} {kind} before it")

    def check_final(self, task: str) -> None:
        """``task`` can get no more predecessors — no hole comes before it and none is
        attached everywhere — so decide the lower bounds now: the change that left it
        so is the one that broke the promise, and it is refused."""
        self._check_before(task, "has {count} {kind} before it, and nothing can add one "
                                 "now: no hole comes before it")

    def _check_before(self, task: str, said: str) -> None:
        for sid, each in self.rules.get(task, ()):
            for d in each.degrees:
                if d.side != "before":
                    continue
                count = self.degree.get((task, "before", d.kind), 0)
                if d.too_few(count):
                    raise self.scopes[sid].too_few(
                        each, task, f"task {task} ({each.kind}) "
                                    + said.format(count=count, kind=d.kind))

    # ---------------------------------------------------------------- JSON (snapshots)
    def to_json(self) -> dict[str, Any]:
        return {
            "scopes": [s.to_json() for s in self.scopes.values()],
            "live": self.live,
            "made": [[s, k, n] for (s, k), n in self.made.items()],
            "holes": {h: list(c) for h, c in self.hole_scopes.items() if c},
            "rules": {t: [[sid, str(each)] for sid, each in r] for t, r in self.rules.items()},
            "degree": [[t, s, k, n] for (t, s, k), n in self.degree.items()],
            "closing": self.closing,
        }

    def load_json(self, data: Mapping[str, Any]) -> None:
        self.scopes = {s["id"]: Scope.from_json(s) for s in data["scopes"]}
        self.live = dict(data["live"])
        self.made = {(s, k): n for s, k, n in data["made"]}
        self.hole_scopes = {h: tuple(c) for h, c in data["holes"].items()}
        self.rules = {t: tuple((sid, _each(text)) for sid, text in r)
                      for t, r in data["rules"].items()}
        self.degree = {(t, s, k): n for t, s, k, n in data["degree"]}
        self.closing = {s: list(ts) for s, ts in data["closing"].items()}


def _each(text: str) -> Each:
    c = parse_constraint(text)
    assert isinstance(c, Each)
    return c


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
