"""Find the production application(s) behind a raw diff, or refuse it.

:func:`add` accepts a :class:`Diff` only if a sequence of production applications yields
exactly it (or an open hole admits it), and applies them; :func:`plan` finds them
without applying. How the search works and what it costs: docs/architecture.md,
"Matching a raw change"; proofs/03-completeness.md.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import chain, islice
from typing import Any, Generic, NamedTuple, TypeVar

from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import JSON, Hole, check_name
from grammarflow.core.narrowing import narrowing_of
from grammarflow.core.plans import child_hole_id
from grammarflow.core.productions import Fragment, HoleType, Production, TaskSpec
from grammarflow.core.steps import Applied, Expand, Grow, Step
from grammarflow.core.wellformed import find_cycle, reachable_types
from grammarflow.errors import Attempt, BrokenPromise, GrammarflowError

#: Steps the search may try, beyond one per element of the diff, before it refuses.
DEFAULT_BUDGET = 20_000
#: Seconds the search may take before it refuses the diff as too costly to explain.
DEFAULT_DEADLINE = 5.0

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
# Units of work (steps tried, elements examined) between looks at the clock and at the
# cancellation hook: often enough to stop within milliseconds, rare enough to be free.
_CHECK_EVERY = 256
#: Moves the forward check (:meth:`_Search.doomed`) looks at before it gives up.
_VIABLE_WORK = 2_000
_USE_EXPAND = "name the productions with 'expand' instead of sending a raw change"
# Keys of the state hash: random, so that no diff can be built to make states collide.
_RANDOM = random.Random()
K = TypeVar("K")
V = TypeVar("V")


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


@dataclass(frozen=True, slots=True)
class Added:
    """An accepted diff: the steps that explain it and the ids its tasks received."""

    steps: tuple[Step, ...]
    ids: Mapping[str, str] = field(default_factory=dict)
    holes: tuple[str, ...] = ()


class Plan:
    """The steps that explain a diff, found by :func:`plan` and not applied yet.

    Making the plan only reads the derivation; :meth:`apply` writes it, atomically.
    Apply a plan to the derivation it was made for, with no step applied in between.
    """

    __slots__ = ("_attrs", "_derivation", "_grow", "_moves")

    def __init__(self, derivation: Derivation, moves: tuple[_Move, ...] = (),
                 attrs: Mapping[str, Mapping[str, JSON]] | None = None,
                 grow: Grow | None = None) -> None:
        self._derivation = derivation
        self._moves = moves
        self._attrs = attrs or {}
        self._grow = grow

    def apply(self) -> Added:
        """Apply the plan: every step of it, or (on a refusal) none."""
        return self.apply_to(self._derivation)

    def apply_to(self, derivation: Derivation) -> Added:
        """Apply the plan to ``derivation``: the one it was made for, or one that stands
        where that one stood then (made by :meth:`Derivation.copy`), whatever steps it
        took since. Every step is checked as it is applied: all of them, or (on a
        refusal, e.g. a hole another step took meanwhile) none."""
        if self._grow is not None:
            applied = derivation.apply(self._grow)
            return Added((self._grow,), dict(applied.tasks))
        if not self._moves:
            return Added(())
        return _apply_moves(derivation, self._moves, self._attrs)


def add(derivation: Derivation, diff: Diff, *, budget: int | None = None,
        deadline: float | None = DEFAULT_DEADLINE,
        cancelled: Callable[[], bool] | None = None, sender: str | None = None) -> Added:
    """Accept ``diff`` as the production application(s) that yield exactly it.

    Raises :class:`BrokenPromise` (the graph untouched) if no sequence of allowed
    productions, and no open hole, yields exactly this diff; or if the search gives up:
    after ``budget`` steps (default: one per element of the diff plus
    ``DEFAULT_BUDGET``), after ``deadline`` seconds (``None``: no limit), or when
    ``cancelled()`` returns true (it is asked every few hundred units of work). A diff
    that touches no task of the graph grows in an open hole attached to ``sender`` (the
    task that sent it) if there is one, else in another open hole.

    Threads: the search plans first and applies after; until it has the whole plan it
    only reads ``derivation``. So a caller may run ``add`` in a worker thread as long
    as nothing else touches the derivation until it returns (e.g. the event loop awaits
    the thread, and sets a flag that ``cancelled`` reads); or run :func:`plan` in the
    worker and :meth:`Plan.apply` on its own thread.

    >>> from grammarflow import define
    >>> d = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b").derivation()
    >>> add(d, Diff((TaskSpec("mine", "B"),), (("s", "mine"), ("mine", "e")))).ids
    {'mine': 'X.1/B'}
    """
    return plan(derivation, diff, budget=budget, deadline=deadline,
                cancelled=cancelled, sender=sender).apply()


def plan(derivation: Derivation, diff: Diff, *, budget: int | None = None,
         deadline: float | None = DEFAULT_DEADLINE,
         cancelled: Callable[[], bool] | None = None, sender: str | None = None) -> Plan:
    """Find the steps behind ``diff`` without applying them (see :func:`add`).

    Only reads ``derivation``; raises :class:`BrokenPromise` as :func:`add` does.

    >>> from grammarflow import define
    >>> d = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b").derivation()
    >>> p = plan(d, Diff((TaskSpec("a", "A"),), (("s", "a"), ("a", "e"))))
    >>> sorted(d.graph.tasks), p.apply().ids
    (['e', 's'], {'a': 'X.1/A'})
    """
    started = time.monotonic()
    elements = _Elements(derivation, diff)
    if not elements.items:
        return Plan(derivation)
    steps = len(elements.items) + DEFAULT_BUDGET if budget is None else budget
    search = _Search(derivation, elements, _Limits(steps, deadline, cancelled, started))
    types = derivation.graph.types_in_use()
    if not any(derivation.grammar.types[t].open for t in types):  # else anything may come
        _refuse_what_no_hole_makes(search, types)
    try:
        moves = search.run()
    except _TooCostly as stop:
        grow = _grow_for(derivation, elements, sender)
        if grow is None:
            raise BrokenPromise(str(stop), hole=_first_hole(derivation, elements)) from None
        return Plan(derivation, grow=grow)
    except _Cancelled as stop:
        raise BrokenPromise(str(stop), hole=_first_hole(derivation, elements)) from None
    decided = False  # did a complete search find that no plan exists?
    cut = ""  # why the complete search stopped before it decided, if it did
    if moves is None and len(elements.items) <= EXHAUSTIVE_UP_TO:
        try:
            moves = _exhaustive_moves(derivation, elements, search.limits, search.index)
            decided = moves is None
        except _TooCostly as stop:  # the refusal says what the first search found, and this
            cut = str(stop).split(";")[0].replace("the change could not be explained within ", "")
        except _Cancelled as stop:
            raise BrokenPromise(str(stop), hole=_first_hole(derivation, elements)) from None
    if moves is not None:
        return Plan(derivation, tuple(moves), elements.attrs)
    grow = _grow_for(derivation, elements, sender)
    if grow is not None:
        return Plan(derivation, grow=grow)
    left = _left_alone(search, diff)
    if left is not None:
        raise _refusal(search, left, certain=decided, cut=cut)
    blame = "" if search.doom is None else search.doom.why(search.el)
    raise _refusal(search, search.state.best_left(), blame=blame, certain=decided, cut=cut)


def _left_alone(search: _Search, diff: Diff) -> list[int] | None:
    """The edges that doomed the search, if the rest of the diff has a plan without
    them: then exactly those are what no plan produces, and the refusal names them
    alone. Each round drops what the last search blamed, for up to ``_SHOWN`` rounds
    (None: a round blamed nothing, failed otherwise, or ran out of time)."""
    el, dropped = search.el, set[tuple[str, str]]()
    failed = search
    for _ in range(_SHOWN):
        doom = failed.doom
        if doom is None:
            return None
        dropped.update(failed.el.items[i] for i in doom.edges)  # type: ignore[misc]
        rest = Diff(diff.tasks, tuple(e for e in diff.edges if e not in dropped))
        failed = _Search(search.derivation, _Elements(search.derivation, rest),
                         search.limits, search.index)
        try:
            if failed.run() is not None:
                return sorted(el.edge_index[e] for e in dropped)
        except _Stop:
            return None
    return None


def _apply_moves(d: Derivation, moves: tuple[_Move, ...],
                 attrs: Mapping[str, Mapping[str, JSON]]) -> Added:
    ids: dict[str, str] = {}
    hole_ids: dict[tuple[int, int], str] = {}
    steps: list[Step] = []
    created: dict[str, None] = {}  # ordered set: holes made and not expanded again
    with d.atomic():
        for i, move in enumerate(moves):
            ref = move.hole.ref
            hole_id = ref if isinstance(ref, str) else hole_ids.pop(ref)
            left: list[str] = []  # holes the via steps make and leave
            for prod, k in move.pattern.via:
                applied = _expand(d, Expand(hole_id, prod.name), steps, created)
                left.extend(h for j, h in enumerate(applied.holes) if j != k)
                hole_id = applied.holes[k]
            bound = list(zip(move.pattern.locals, move.binding, strict=True))
            given = {local: attrs[name] for local, name in bound if attrs.get(name)}
            applied = _expand(d, Expand(hole_id, move.pattern.production.name, given),
                              steps, created)
            for local, name in bound:
                ids[name] = applied.tasks[local]
            for k, hid in enumerate([*left, *applied.holes]):
                hole_ids[(i, k)] = hid
    return Added(tuple(steps), ids, tuple(created))


def _expand(d: Derivation, step: Expand, steps: list[Step],
            created: dict[str, None]) -> Applied:
    """Apply ``step``, noting it and the holes it makes (and the one it takes away)."""
    applied = d.apply(step)
    steps.append(step)
    created.update(dict.fromkeys(applied.holes))
    if applied.removed is not None:
        created.pop(applied.removed, None)
    return applied


# ------------------------------------------------------------------------ limits
class _Stop(Exception):
    """The search gave up before it could decide; the message says why."""


class _TooCostly(_Stop):
    """Out of steps or time: an open hole may still take the diff whole."""


class _Cancelled(_Stop):
    """The caller's ``cancelled`` hook said stop."""


class _Limits:
    """When the search must give up: after ``budget`` steps, ``deadline`` seconds from
    ``started`` (``time.monotonic()``), or when ``cancelled()`` says so."""

    __slots__ = ("budget", "cancelled", "deadline", "started")

    def __init__(self, budget: int, deadline: float | None,
                 cancelled: Callable[[], bool] | None, started: float) -> None:
        self.budget = budget
        self.deadline = deadline
        self.cancelled = cancelled
        self.started = started

    def check(self, tries: int) -> None:
        if self.cancelled is not None and self.cancelled():
            raise _Cancelled(
                f"the search for the productions behind the change was cancelled after "
                f"{tries} step(s); nothing was applied (a change this costly to explain "
                "should name its productions with 'expand')")
        if self.deadline is not None and time.monotonic() - self.started > self.deadline:
            raise _TooCostly(
                f"the change could not be explained within {self.deadline:g} s of search "
                f"({tries} step(s) tried); {_USE_EXPAND}")


# ------------------------------------------------------------------------ values
class _Hole(NamedTuple):
    """A hole as the search sees it: existing (``ref`` is its id) or planned."""

    ref: str | tuple[int, int]
    type: str
    args: tuple[str, ...]
    allowed: frozenset[str] | None


class _Move(NamedTuple):
    """One production application the search may take (a tuple: cheap to make by the
    thousand)."""

    hole: _Hole
    pattern: _Pattern
    binding: tuple[str, ...]  # the diff task each new task of the fragment becomes
    covers: tuple[int, ...]  # the elements it produces
    new_holes: tuple[_Hole, ...]
    delta: int  # what it adds to the state's hash

    def touches(self) -> set[str]:
        """The tasks it makes, and the tasks its new holes are attached to."""
        names = set(self.binding)
        for h in self.new_holes:
            names.update(h.args)
        names.discard("*")
        return names


class _Doom(NamedTuple):
    """A move after which edges at a task it made can never be produced."""

    move: _Move
    task: str
    edges: tuple[int, ...]

    def why(self, el: _Elements) -> str:
        shown = ", ".join(el.describe(i) for i in self.edges[:_SHOWN])
        more = " ..." if len(self.edges) > _SHOWN else ""
        prods = " then ".join(map(repr, self.move.pattern.steps()))
        return (f": {shown}{more} can never be made: the production that makes task "
                f"{self.task} ({prods}) attaches no hole there that could make it")


class _Pattern:
    """A production numbered for matching: slots ``0 .. first-1`` are its parameters,
    the next ones its new tasks; edges and hole arguments are slots (-1: ``*``).

    A pattern may also reach its production *through* productions that make only holes
    (``via``: each such production and the index of its hole the next step expands):
    ``Lanes(a, b) ::= Lane(a, b), Lanes_more(a, b)`` then ``Lane(a, b) ::= a -> X -> b``
    is one pattern of ``Lanes`` that makes an X. Its holes are those the steps leave:
    each via production's other holes, in order, then the production's own."""

    __slots__ = ("adjacent", "edges", "first", "free", "holes", "kinds", "locals",
                 "production", "reach", "slots_of_kind", "via")

    def __init__(self, prod: Production,
                 via: tuple[tuple[Production, int], ...] = ()) -> None:
        first = len(via[0][0].params) if via else len(prod.params)
        tasks = prod.fragment.tasks
        slot: dict[str, int] = {name: i for i, name in enumerate(prod.params)}
        holes: list[tuple[str, tuple[int, ...]]] = []
        if via:  # each next production's parameters: what the step before glued it to
            params = {name: i for i, name in enumerate(via[0][0].params)}
            nexts = [step.params for step, _ in via[1:]] + [prod.params]
            for (step, k), after in zip(via, nexts, strict=True):
                made = step.fragment.holes
                holes.extend((h.type, tuple(params.get(a, -1) for a in h.args))
                             for j, h in enumerate(made) if j != k)
                params = dict(zip(after, (params.get(a, -1) for a in made[k].args),
                                  strict=True))
            slot = params
        slot.update((t.local, first + j) for j, t in enumerate(tasks))
        self.production = prod
        self.via = via
        self.first = first
        self.locals = tuple(t.local for t in tasks)
        self.kinds = ("",) * first + tuple(t.kind for t in tasks)
        by_kind: dict[str, list[int]] = {}
        for j, t in enumerate(tasks):
            by_kind.setdefault(t.kind, []).append(first + j)
        self.slots_of_kind = {k: tuple(v) for k, v in by_kind.items()}
        self.edges = tuple((slot[x], slot[y]) for x, y in prod.fragment.edges)
        holes.extend((h.type, tuple(slot.get(a, -1) for a in h.args))
                     for h in prod.fragment.holes)
        self.holes = tuple(holes)
        adjacent: list[list[tuple[int, bool]]] = [[] for _ in self.kinds]
        for x, y in self.edges:
            adjacent[x].append((y, True))
            adjacent[y].append((x, False))
        #: per slot, the slots at the other end of its edges (True: it is the source)
        self.adjacent = tuple(map(tuple, adjacent))
        distance = _distances(self.adjacent, first)
        #: how many edges away from a parameter its new tasks joined to one lie, at most
        self.reach = max((distance[s] for s in range(first, len(self.kinds))
                          if s in distance), default=0)
        #: kinds of its new tasks joined to no parameter by any path: they may be any task
        self.free = frozenset(t.kind for j, t in enumerate(tasks) if first + j not in distance)

    def steps(self) -> tuple[Production, ...]:
        """The productions applied, in order: the via ones, then its own."""
        return (*(step for step, _ in self.via), self.production)


def _distances(adjacent: tuple[tuple[tuple[int, bool], ...], ...],
               first: int) -> dict[int, int]:
    """Edges between each slot joined to a parameter and the nearest parameter."""
    distance = dict.fromkeys(range(first), 0)
    todo = list(range(first))
    for s in todo:  # breadth first: todo grows as it is read
        for other, _ in adjacent[s]:
            if other not in distance:
                distance[other] = distance[s] + 1
                todo.append(other)
    return distance


class _Elements:
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
                raise BrokenPromise(str(e)) from None
            if t.local in self.kind:
                raise BrokenPromise(f"new task name {t.local!r} appears twice in the change")
            if t.local in self.graph:
                raise BrokenPromise(f"new task name {t.local!r} is already a node id; "
                                    "name new tasks apart from existing ones")
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
                                        "of this change nor a task in the graph")
            if u == v:
                raise BrokenPromise(f"edge {u} -> {v} would be a cycle of one task")
            if v not in new and v not in ends:
                if g.is_started(v):
                    raise BrokenPromise(
                        f"edge {u} -> {v} ends at task {v!r}, which has already started "
                        f"({g.state[v].value}); a started task can get no new predecessor")
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
            raise BrokenPromise(f"the change has a cycle: {' -> '.join(cycle)}")
        return edges


class _Once(Generic[K, V]):
    """``make(key)``, worked out once per key: keys are immutable (productions,
    grammars' types), so they are looked up by id and checked by identity. Past
    ``_CACHED`` entries the cache starts over, so that a long run's narrowed grammars
    do not pile up."""

    def __init__(self, make: Callable[[K], V]) -> None:
        self._make = make
        self._hits: dict[int, tuple[K, V]] = {}

    def __call__(self, key: K) -> V:
        hit = self._hits.get(id(key))
        if hit is None or hit[0] is not key:
            if len(self._hits) >= _CACHED:
                self._hits.clear()
            hit = self._hits[id(key)] = (key, self._make(key))
        return hit[1]


_CACHED = 256
_pattern: _Once[Production, _Pattern] = _Once(_Pattern)


class _Index:
    """A grammar's hole types as the search asks about them: which are closed, which
    compiled productions a hole allows, which types can make a task of a kind."""

    def __init__(self, types: Mapping[str, HoleType]) -> None:
        self.types = types
        self.closed = frozenset(name for name, t in types.items() if not t.open)
        self._allowed: dict[tuple[str, frozenset[str] | None], tuple[_Pattern, ...]] = {}
        self._of: dict[str, frozenset[str]] = {}
        self._free: dict[str, frozenset[str]] = {}
        self._reach: dict[str, int] = {}
        self._derivable: dict[str, frozenset[str]] = {}
        self._shapes: dict[str, frozenset[tuple[str, str]]] = {}
        self._degrees: dict[str, frozenset[tuple[str, int, int]]] = {}

    def allowed(self, hole: _Hole) -> tuple[_Pattern, ...]:
        """The productions still allowed for ``hole``, compiled: each one, and each one
        reached through productions that make only holes (see :class:`_Pattern`)."""
        return self._patterns(hole.type, hole.allowed)

    def _patterns(self, name: str, allowed: frozenset[str] | None) -> tuple[_Pattern, ...]:
        key = (name, allowed)
        found = self._allowed.get(key)
        if found is None:
            productions = tuple(self.types[name].allowed(allowed))
            found = self._allowed[key] = (
                *map(_pattern, productions),
                *(pattern for prod in productions if _only_holes(prod)
                  for k in _holes_apart(prod)
                  for pattern in self._through(((prod, k),))))
        return found

    def _through(self, via: tuple[tuple[Production, int], ...]) -> Iterator[_Pattern]:
        """Patterns that go ``via`` productions making only holes (each with the hole of
        it the next step expands), then a production of that hole's type; or through at
        most ``_THROUGH`` such productions in all. A path never enters a type it has been
        through, nor a hole alike (type and attachment) to one it left behind: either
        would only change which of two holes a plan uses, and the plan that uses the
        first stays."""
        step, k = via[-1]
        hole = step.fragment.holes[k]
        child = self.types[hole.type]
        if child.open or not set(hole.args) <= set(step.params):
            return  # open, or glued to '*': nothing to match through
        if hole.type in {prod.lhs for prod, _ in via} or _entered_again(via):
            return
        for prod in child.allowed():
            if not _only_holes(prod):
                yield _Pattern(prod, via)
            elif len(via) < _THROUGH:
                for j in _holes_apart(prod):
                    yield from self._through((*via, (prod, j)))

    def of(self, kind: str) -> frozenset[str]:
        """Closed types with a pattern (a production, or one reached through productions
        that make only holes) that has a task of ``kind``."""
        found = self._of.get(kind)
        if found is None:
            found = self._of[kind] = frozenset(
                t.name for t in self.types.values()
                if not t.open and any(kind in p.slots_of_kind
                                      for p in self._patterns(t.name, None)))
        return found

    def derivable_kinds(self, types: Iterable[str]) -> set[str]:
        """The kinds of task that holes of ``types`` can make, in any number of steps."""
        out: set[str] = set()
        for name in types:
            out |= self._reached(self._derivable, name, _kinds)
        return out

    def edge_shapes(self, types: Iterable[str]) -> set[tuple[str, str]]:
        """(from, to) of every edge of a production that holes of ``types`` can reach:
        each end the kind of a new task, or "" for a parameter."""
        out: set[tuple[str, str]] = set()
        for name in types:
            out |= self._reached(self._shapes, name, _shapes)
        return out

    def least_edges(self, types: Iterable[str]) -> dict[str, set[tuple[int, int]]]:
        """For each kind, the (in, out) edges that some production a hole of ``types``
        can reach gives a new task of it at least: a task of the change with fewer has
        no production to make it."""
        out: dict[str, set[tuple[int, int]]] = {}
        for name in types:
            for kind, n_in, n_out in self._reached(self._degrees, name, _least_edges):
                out.setdefault(kind, set()).add((n_in, n_out))
        return out

    def _reached(self, cache: dict[str, frozenset[V]], name: str,
                 of: Callable[[Fragment], Iterable[V]]) -> frozenset[V]:
        """``of`` every fragment of a production that a hole of type ``name`` can reach
        (worked out once per type, in ``cache``)."""
        found = cache.get(name)
        if found is None:
            found = cache[name] = frozenset(
                x for t in reachable_types(self.types, (name,))
                for p in self.types[t].allowed() for x in of(p.fragment))
        return found

    def free(self, kind: str) -> frozenset[str]:
        """Closed types with a production that has a task of ``kind`` joined to none of
        its parameters: only such a task may be made far from every available task."""
        found = self._free.get(kind)
        if found is None:
            found = self._free[kind] = frozenset(
                t.name for t in self.types.values()
                if not t.open and any(kind in p.free for p in self._patterns(t.name, None)))
        return found

    def reach(self, types: Iterable[str]) -> int:
        """How far from its arguments (in edges) a hole of ``types`` can make a task."""
        out = 0
        for name in types:
            found = self._reach.get(name)
            if found is None:
                found = self._reach[name] = max(
                    (p.reach for p in self._patterns(name, None)), default=0)
            out = max(out, found)
        return out


_index: _Once[Mapping[str, HoleType], _Index] = _Once(_Index)
#: Productions that make only holes a pattern may go through (see :class:`_Pattern`).
_THROUGH = 3


def _entered_again(via: tuple[tuple[Production, int], ...]) -> bool:
    """Does the last step of ``via`` enter a hole alike to one an earlier step left
    (same type, glued to the same parameters of the first production)?"""
    glued = via[0][0].params  # what each step's parameters are glued to, in the first's
    left: set[tuple[str, tuple[str, ...]]] = set()
    for step, k in via:
        params = dict(zip(step.params, glued, strict=True))
        made = [(h.type, tuple(params.get(a, "*") for a in h.args))
                for h in step.fragment.holes]
        if made[k] in left:
            return True
        left.update(h for j, h in enumerate(made) if j != k)
        glued = made[k][1]
    return False


def _holes_apart(prod: Production) -> list[int]:
    """The index of each hole ``prod`` makes but those alike to an earlier one (same
    type and arguments): going through either is the same."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out = []
    for k, hole in enumerate(prod.fragment.holes):
        if (hole.type, hole.args) not in seen:
            seen.add((hole.type, hole.args))
            out.append(k)
    return out


def _only_holes(prod: Production) -> bool:
    """Does ``prod`` make holes and nothing else (no task, no edge), unguarded?"""
    fragment = prod.fragment
    return (bool(fragment.holes) and not fragment.tasks and not fragment.edges
            and prod.guard is None and prod.condition is None)


class _Lifted(_Index):
    """The index of a grammar with every narrowing lifted, of types and of holes: what
    the search would find had no promise been narrowed (for a refusal to name one)."""

    def __init__(self, types: Mapping[str, HoleType]) -> None:
        super().__init__({name: replace(t, removed=frozenset()) for name, t in types.items()})

    def allowed(self, hole: _Hole) -> tuple[_Pattern, ...]:
        return super().allowed(hole._replace(allowed=None))


# ------------------------------------------------------------------------ search
# What the agenda's log records, so that leaving a frame can undo it.
_BLOCKED, _WOKEN, _POPPED = 0, 1, 2


class _Agenda:
    """Which element to branch on next, without rescanning the diff.

    Every element before ``frontier`` is covered, or *blocked* (no move produced it
    when last examined, and no move since touched it), or waiting in ``heap`` to be
    examined again (a move touched it). A move can only make a blocked element
    producible by making a task next to it, or by attaching a new hole to a task next
    to it (for an element next to no available task: by making a hole of a type that
    could produce it); everything else a move does only removes choices. Each change
    to these sets is logged, and leaving a frame unwinds the log.
    """

    def __init__(self, search: _Search) -> None:
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

    def choose(self, move: _Move | None) -> list[_Move]:
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

    def _select(self) -> list[_Move]:
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

    def _branch(self, idx: int) -> list[_Move]:
        moves, anchored = self.search.moves_covering(idx)
        if not moves:
            self.blocked.add(idx)
            if not anchored:
                self.blocked_free.add(idx)
            self.log.append((_BLOCKED, idx, not anchored))
        return moves

    def _wake(self, move: _Move) -> None:
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

    def _free_woken(self, holes: tuple[_Hole, ...]) -> set[int]:
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


class _State:
    """Where the search stands: the elements produced, the graph holes used, the
    planned holes waiting (closed ones indexed by the tasks they are attached to, all by
    type), a hash of all that, and the deepest state reached so far."""

    def __init__(self, elements: _Elements, closed: frozenset[str]) -> None:
        self.closed = closed
        self.uncovered: set[int] = set(range(len(elements.items)))
        self.produced: set[str] = set()
        self.consumed: set[str] = set()
        self.planned_at: dict[str, dict[tuple[int, int], _Hole]] = {}
        self.planned_of_type: dict[str, dict[tuple[int, int], _Hole]] = {}
        self.depth = 0
        # The hash: the sum of a random key per covered element, used graph hole and
        # planned hole (a multiset); each move carries what it adds (its delta).
        self.z = 0
        self.keys = [_RANDOM.getrandbits(128) for _ in elements.items]
        self._hole_keys: dict[object, int] = {}
        # The deepest state: its moves are best[:low] (shared with the plan, which has
        # not been shorter than low since) + best[low:].
        self.best_count = len(elements.items)
        self.best: list[_Move] = []
        self.low = 0

    def hole_key(self, what: object) -> int:
        """A random key for a used graph hole (its id) or a planned one (what it is)."""
        key = self._hole_keys.get(what)
        if key is None:
            key = self._hole_keys[what] = _RANDOM.getrandbits(128)
        return key

    def advance(self, move: _Move, plan: list[_Move]) -> None:
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

    def back(self, plan: list[_Move]) -> None:
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

    def _remember(self, h: _Hole) -> None:
        ref: Any = h.ref
        self.planned_of_type.setdefault(h.type, {})[ref] = h
        if h.type in self.closed:
            for a in h.args:
                self.planned_at.setdefault(a, {})[ref] = h

    def _forget(self, h: _Hole) -> None:
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


class _Search:
    """The exact cover: tries moves depth first from the state (see the module doc)."""

    def __init__(self, d: Derivation, elements: _Elements, limits: _Limits,
                 index: _Index | None = None) -> None:
        self.derivation = d
        self.graph = d.graph
        self.types: Mapping[str, HoleType] = d.grammar.types
        self.index = _index(self.types) if index is None else index
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
        self._graph_holes: dict[str, _Hole] = {}
        self.agenda = _Agenda(self)

    def run(self) -> list[_Move] | None:
        """Moves producing every element exactly once, or None if there are none."""
        self.limits.check(self.tries)
        state = self.state
        plan: list[_Move] = []
        # per level of the search: the moves left to try (the next one last), and the
        # agenda's mark on entering it (a level with none left keeps no list)
        todo: list[list[_Move] | tuple[()]] = []
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
                raise _TooCostly(f"the change could not be explained within "
                                 f"{self.limits.budget} search steps; {_USE_EXPAND}")
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

    def _enter(self, move: _Move | None, todo: list[list[_Move] | tuple[()]],
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
    def doomed(self, move: _Move) -> _Doom | None:
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

    def _made_from(self, holes: list[_Hole], task: str) -> set[int] | None:
        """Every element some move on ``holes``, or on a hole such moves make attached to
        ``task``, produces now (None: more than :data:`_VIABLE_WORK` moves to look at)."""
        made: set[int] = set()
        seen: set[tuple[str, tuple[str, ...], frozenset[str] | None]] = set()
        todo = list(holes)
        work = 0
        while todo:
            hole = todo.pop()
            if _what(hole) in seen:
                continue
            seen.add(_what(hole))
            for move in self.moves_on(hole):
                work += 1
                if work > _VIABLE_WORK:
                    return None
                made.update(move.covers)
                todo.extend(h for h in move.new_holes if task in h.args)
        return made

    def moves_on(self, hole: _Hole) -> list[_Move]:
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
    def moves_covering(self, idx: int) -> tuple[list[_Move], bool]:
        """The moves producing element ``idx`` now, and whether it has an anchor (an
        available task next to it, whose holes are the ones to try)."""
        self._tick()
        anchors = self.anchors(idx)
        moves: list[_Move] = []
        element = self.el.items[idx]
        kind = self.el.kind[element] if isinstance(element, str) else None
        holes = self.holes_at(anchors) if anchors else self.holes_making(idx)
        for hole in _one_of_each(holes) if len(holes) > 1 else holes:
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

    def _graph_hole(self, hid: str) -> _Hole:
        hole = self._graph_holes.get(hid)
        if hole is None:
            live = self.graph.holes[hid]
            hole = self._graph_holes[hid] = _Hole(hid, live.type, live.args, live.allowed)
        return hole

    def holes_at(self, anchors: set[str]) -> list[_Hole]:
        """The closed holes, unused or planned, attached to ``anchors``."""
        found: dict[str | tuple[int, int], _Hole] = {}
        consumed, graph = self.consumed, self.graph
        for a in sorted(anchors) if len(anchors) > 1 else anchors:
            ids = graph.holes_at(a)
            for hid in sorted(ids) if len(ids) > 1 else ids:
                if (hid not in consumed and hid not in found
                        and graph.holes[hid].type in self.closed):
                    found[hid] = self._graph_hole(hid)
        planned: dict[tuple[int, int], _Hole] = {}
        for a in anchors:
            here = self.planned_at.get(a)
            if here:
                planned.update(here)
        for ref in sorted(planned):
            found[ref] = planned[ref]
        return list(found.values())

    def holes_making(self, idx: int) -> list[_Hole]:
        """Holes that could make an element attached to no available task: those of the
        types with a production that has a task of the element's kind."""
        types = self.index.of(self.el.kind_of(idx))
        found: list[_Hole] = []
        planned: dict[tuple[int, int], _Hole] = {}
        for name in self.types:
            if name in types:
                found.extend(self._graph_hole(hid) for hid in self.graph.holes_of_type(name)
                             if hid not in self.consumed)
                planned.update(self.planned_of_type.get(name, ()))
        found.extend(planned[ref] for ref in sorted(planned))
        return found

    def _embed_task(self, pattern: _Pattern, hole: _Hole, idx: int,
                    out: list[_Move]) -> None:
        """Add to ``out`` the ways to make task ``idx`` by ``pattern`` on ``hole``."""
        element: Any = self.el.items[idx]
        slots = pattern.slots_of_kind[self.el.kind[element]]
        if len(slots) == 1 and len(pattern.locals) == 1:  # the common case, made short
            move = self._move(pattern, hole, (element,))
            if move is not None:
                out.append(move)
            return
        self._embed(pattern, hole, idx, [{s: element} for s in slots], out)

    def _embed_edge(self, pattern: _Pattern, hole: _Hole, idx: int,
                    out: list[_Move]) -> None:
        """Add to ``out`` the ways to make edge ``idx`` by ``pattern`` on ``hole``."""
        element: Any = self.el.items[idx]
        seeds = [seed for x, y in pattern.edges
                 if (seed := self._seed_edge(pattern, hole, (x, y), element)) is not None]
        if seeds:
            self._embed(pattern, hole, idx, seeds, out)

    def _embed(self, pattern: _Pattern, hole: _Hole, idx: int, seeds: list[dict[int, str]],
               out: list[_Move]) -> None:
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

    def _seed_edge(self, pattern: _Pattern, hole: _Hole, edge: tuple[int, int],
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

    def extend(self, pattern: _Pattern, hole: _Hole,
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

    def _move(self, pattern: _Pattern, hole: _Hole, binding: tuple[str, ...]) -> _Move | None:
        el, uncovered, state = self.el, self.uncovered, self.state
        nodes = hole.args + binding
        covers = [el.task_index[v] for v in binding]
        for x, y in pattern.edges:
            e = (nodes[x], nodes[y])
            ei = el.edge_index.get(e)
            if ei is not None and ei in uncovered:
                if ei not in covers:
                    covers.append(ei)
            elif not self._present(e):
                return None
        keys = state.keys
        delta = 0
        for i in covers:
            delta += keys[i]
        delta += (state.hole_key(hole.ref) if isinstance(hole.ref, str)
                  else -state.hole_key(hole[1:]))
        new_holes: list[_Hole] = []
        for i, (htype, slots) in enumerate(pattern.holes):
            args = tuple([nodes[s] if s >= 0 else "*" for s in slots])
            new_holes.append(_Hole((state.depth, i), htype, args, None))
            delta += state.hole_key((htype, args, None))
        return _Move(hole, pattern, binding, tuple(covers), tuple(new_holes), delta)

    def _present(self, e: tuple[str, str]) -> bool:
        u, v = e
        if u in self.graph.tasks and v in self.graph.tasks and self.graph.has_edge(u, v):
            return True
        ei = self.el.edge_index.get(e)
        return ei is not None and ei not in self.uncovered


def _bound(nodes: list[str | None], first: int) -> tuple[str, ...]:
    return tuple(n for n in nodes[first:] if n is not None)


class _Exhaustive(_Search):
    """Decides hole by hole: the first undecided hole is expanded in each way that
    produces only elements of the diff, or left as it is; then the next. Complete, and
    exponential in the holes the diff could involve: for small diffs only."""

    def run(self) -> list[_Move] | None:
        self.limits.check(self.tries)
        self._skipped: set[Any] = set()
        self._seen_failed: set[tuple[int, frozenset[Any]]] = set()
        self._plan: list[_Move] = []
        self._idle = 0  # steps in the plan that produce only holes
        self._path: set[int] = {self.state.z}  # the states the plan went through
        self._graph_candidates = self._candidates()
        return self._plan if self._decide() else None

    def _candidates(self) -> list[_Hole]:
        """The graph's closed holes that could take part: attached to a task the diff
        touches, or of a type that makes a kind the diff has."""
        ends = {n for e in self.el.edges for n in e if n in self.graph.tasks}
        found = {h.ref: h for h in self.holes_at(ends)}
        for kind in self.el.by_kind:
            for name in self.index.of(kind):
                for hid in self.graph.holes_of_type(name):
                    found.setdefault(hid, self._graph_hole(hid))
        return [found[ref] for ref in sorted(found, key=str)]

    def _next_hole(self) -> _Hole | None:
        for h in self._graph_candidates:
            if h.ref not in self.consumed and _what(h) not in self._skipped:
                return h
        later = None  # holes that make a kind the diff lacks come first
        for name, planned in self.planned_of_type.items():
            for ref in sorted(planned):
                if _what(planned[ref]) not in self._skipped:
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
            self._skipped.add(_what(hole))
            left_here.append(_what(hole))
        else:
            return True
        self._skipped.difference_update(left_here)
        self._seen_failed.update(keys)
        return False

    def _try_moves_on(self, hole: _Hole) -> bool:
        for move in self.moves_on(hole):
            idle = not move.covers
            if idle and self._idle >= EXHAUSTIVE_IDLE_STEPS:
                continue
            self.tries += 1
            if self.tries > self.limits.budget:
                raise _TooCostly(f"the change could not be explained within "
                                 f"{self.limits.budget} search steps; {_USE_EXPAND}")
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
                 if h.ref not in self.consumed and _what(h) not in self._skipped}
        types |= {h.type for planned in self.planned_of_type.values()
                  for h in planned.values() if _what(h) not in self._skipped}
        makeable = self.index.derivable_kinds(types)
        return wanted <= makeable


def _kinds(fragment: Fragment) -> Iterator[str]:
    return (t.kind for t in fragment.tasks)


def _shapes(fragment: Fragment) -> Iterator[tuple[str, str]]:
    kinds = {t.local: t.kind for t in fragment.tasks}
    for u, v in fragment.edges:
        yield kinds.get(u, _PARAM), kinds.get(v, _PARAM)


def _least_edges(fragment: Fragment) -> Iterator[tuple[str, int, int]]:
    """(kind, in, out) for each new task of ``fragment``: the edges it surely has. Edges
    from two parameters count once: both may be bound to the same task."""
    for t in fragment.tasks:
        ins = [u for u, v in fragment.edges if v == t.local]
        outs = [v for u, v in fragment.edges if u == t.local]
        yield t.kind, _distinct(ins, fragment), _distinct(outs, fragment)


def _distinct(ends: list[str], fragment: Fragment) -> int:
    tasks = sum(1 for e in ends if e in fragment.locals)
    return tasks + (len(ends) > tasks)


def _kinds_no_hole_makes(index: _Index, el: _Elements, types: set[str]) -> list[str]:
    """The diff's kinds that no hole of closed ``types`` can make in any number of
    steps: a refusal that needs no search."""
    return sorted(set(el.by_kind) - index.derivable_kinds(types))


_PARAM = ""  # an edge end that is a production's parameter: it may be any task


def _edges_no_hole_makes(index: _Index, el: _Elements, types: set[str]) -> list[int]:
    """The diff's edges that no production of any type reachable from closed ``types``
    could make: one that makes an edge u -> v has an edge whose ends are each a
    parameter (any task) or a new task of that end's kind (if the end is new)."""
    shapes = index.edge_shapes(types)
    out = []
    for u, v in el.edges:
        left = (_PARAM, el.kind[u]) if u in el.kind else (_PARAM,)
        right = (_PARAM, el.kind[v]) if v in el.kind else (_PARAM,)
        if not any((a, b) in shapes for a in left for b in right):
            out.append(el.edge_index[(u, v)])
    return out


def _one_of_each(holes: list[_Hole]) -> list[_Hole]:
    """The first of each set of holes alike: expanding one or its twin the same way
    leads to the same state but for ids, so trying both only multiplies the search."""
    seen: set[tuple[str, tuple[str, ...], frozenset[str] | None]] = set()
    out = []
    for h in holes:
        what = _what(h)
        if what not in seen:
            seen.add(what)
            out.append(h)
    return out


def _what(hole: _Hole) -> tuple[str, tuple[str, ...], frozenset[str] | None]:
    """What a hole is, apart from its id: holes alike are interchangeable."""
    return hole.type, hole.args, hole.allowed


def _exhaustive_moves(d: Derivation, elements: _Elements, limits: _Limits,
                      index: _Index) -> list[_Move] | None:
    """The exhaustive search's plan (None: there is none); raises :class:`_TooCostly`
    past its budget (at most EXHAUSTIVE_BUDGET) and :class:`_Cancelled`."""
    limits = _Limits(min(limits.budget, EXHAUSTIVE_BUDGET), limits.deadline,
                     limits.cancelled, limits.started)
    return _Exhaustive(d, elements, limits, index).run()


# ------------------------------------------------------------------------ refusal
#: Ways to bind a production's new tasks that :func:`_why` tries before it names what
#: the first one lacks.
_BINDINGS_TRIED = 64
#: Elements a refusal names, and kinds a count of the change's tasks names.
_SHOWN = 5


def _refuse_what_no_hole_makes(search: _Search, types: set[str]) -> None:
    """Refuse at once, unsearched, a diff with a kind or an edge that no hole of the
    closed ``types`` can ever make."""
    el = search.el
    missing = _kinds_no_hole_makes(search.index, el, types)
    if missing:
        left = [i for i, item in enumerate(el.items)
                if isinstance(item, str) and el.kind[item] in missing]
        raise _refusal(search, left, "; no hole of the graph can ever make a task of kind "
                       f"{', '.join(missing)}", certain=True)
    impossible = _edges_no_hole_makes(search.index, el, types)
    if impossible:
        these = "this one" if len(impossible) == 1 else "these"
        raise _refusal(search, impossible, "; no production a hole of the graph can reach "
                       f"has an edge that could be {these}", certain=True)


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
    narrowing: str  # which narrowing removed it (see derivation.narrowing_of)

    def claim(self) -> str:
        where = ", made by an earlier step of the change" if self.planned else ""
        return (f"production {self.production.name} of hole {self.hole} "
                f"({self.production.lhs}{where}) would match, but it was removed by a "
                f"narrowing promise ({self.narrowing})")


def _refusal(search: _Search, left: list[int], why: str = "", *, blame: str = "",
             certain: bool, cut: str = "") -> BrokenPromise:
    """Why the diff is refused: ``left`` are the elements (indices) no plan produced,
    ``why`` what holds for all of them, ``blame`` what the search found that no plan
    could produce; ``certain`` says that no plan exists (else, when some production
    fits, the refusal suggests naming productions with 'expand'); ``cut``, why the
    search for a plan the first one missed stopped undecided."""
    el = search.el
    existing = _existing_ends(search.graph.tasks, el)
    holes = search.holes_at(set(existing)) if existing else search.holes_making(0)
    if not holes:
        where = f"tasks {existing}" if existing else "no existing task"
        return BrokenPromise(
            f"the change touches {where}, and no hole that could take it is attached "
            "there: the grammar promises no new tasks or edges at this place")
    head = (f"no sequence of allowed productions yields exactly this change "
            f"({_count(len(el.kind), 'task')}, {_count(len(el.edges), 'edge')})")
    named = _narrowing_behind(search)
    tried, fits = _tried(search, holes, named)
    if named is not None:
        return BrokenPromise(f"{head}: {named.claim()}",
                             hole=str(holes[0].ref) if named.planned else named.hole,
                             attempts=tuple(tried))
    shown = ", ".join(el.describe(i) for i in left[:_SHOWN])
    more = " ..." if len(left) > _SHOWN else ""
    unmade = "" if why else _task_no_production_makes(search, left)
    why = why or unmade or _kinds_not_made_here(search, holes, existing, left)
    hint = "" if certain or unmade or not fits else (
        " (if a production should allow it, name it with 'expand')")
    if cut:  # undecided: refused, never accepted, and said so
        hint = (f" (undecided: the search for a plan the first one missed ran out of {cut}; "
                f"{_USE_EXPAND})")
    return BrokenPromise(f"{head}{blame}; not produced: {shown}{more}{why}{hint}",
                         hole=str(holes[0].ref), attempts=tuple(tried))


def _tried(search: _Search, holes: list[_Hole],
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
    alike = Counter(map(_what, holes))
    holes = _one_of_each(holes)
    fits = False
    for h in holes:
        htype, where = types[h.type], _hole_named(h, alike[_what(h)])
        for p in htype.allowed(h.allowed):
            verdict = _why(search, p, h)
            fits = fits or verdict.fits
            out.append(Attempt(f"{where}: {p!r}", verdict.why + (
                ", but no further steps then yield the rest of the change"
                if verdict.fits else "")))
    for h in holes:
        htype, where = types[h.type], _hole_named(h, alike[_what(h)])
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


def _hole_named(hole: _Hole, alike: int) -> str:
    return f"{hole.ref} (and {_count(alike - 1, 'hole')} alike)" if alike > 1 else str(hole.ref)


def _why(search: _Search, prod: Production, hole: _Hole) -> _Verdict:
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
    pattern = _pattern(prod)
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


def _edge_lacking(search: _Search, pattern: _Pattern,
                  nodes: tuple[str, ...]) -> tuple[str, str] | None:
    """The first edge of ``pattern``, its slots bound to ``nodes``, that is neither in
    the change nor in the graph."""
    for x, y in pattern.edges:
        e = (nodes[x], nodes[y])
        if e not in search.el.edge_index and not search._present(e):
            return e
    return None


def _any_binding(pattern: _Pattern, el: _Elements) -> tuple[str, ...]:
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
    shown = ", ".join(f"{counts[k]} × {k}" for k in kinds[:_SHOWN])
    rest = len(kinds) - _SHOWN
    return shown + (f" and {rest} more kind(s)" if rest > 0 else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _kinds_not_made_here(search: _Search, holes: list[_Hole], existing: list[str],
                         left: list[int]) -> str:
    """``; no hole at A, B can ever make a task of kind N`` for the kinds of ``left``
    that no hole the change touches can make (empty if there are none)."""
    el = search.el
    kinds = {el.kind[item] for i in left if isinstance(item := el.items[i], str)}
    never = sorted(kinds - search.index.derivable_kinds({h.type for h in holes}))
    if not never or not existing:
        return ""
    more = " ..." if len(existing) > _SHOWN else ""
    return (f"; no hole at {', '.join(existing[:_SHOWN])}{more} can ever make a task of "
            f"kind {', '.join(never)}")


def _task_no_production_makes(search: _Search, left: list[int]) -> str:
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


def _narrowing_behind(search: _Search) -> _Narrowed | None:
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


def _lifted_moves(search: _Search) -> list[_Move] | None:
    """A plan for the diff with every narrowing lifted (None: none found)."""
    d, el, limits, index = search.derivation, search.el, search.limits, _Lifted(search.types)
    try:
        moves = _Search(d, el, limits, index).run()
        if moves is None and len(el.items) <= EXHAUSTIVE_UP_TO:
            moves = _exhaustive_moves(d, el, limits, index)
    except _Stop:
        return None  # out of time or cancelled: the refusal then names no narrowing
    return moves


def _plan_steps(moves: list[_Move]) -> Iterator[tuple[str, str, Production, bool]]:
    """Each expansion the plan applies: the id of its hole (a graph hole's own, or the
    id a hole an earlier step makes will get, as
    :func:`~grammarflow.core.derivation.instantiate` names it), its type, the production,
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


# ------------------------------------------------------------------------ open holes
def _existing_ends(tasks: Mapping[str, object], el: _Elements) -> list[str]:
    return sorted({n for e in el.edges for n in e if n in tasks})


def _grow_for(d: Derivation, el: _Elements, sender: str | None = None) -> Grow | None:
    """A step through an open hole that admits the whole diff, if one does: one
    attached where the diff touches the graph, else one attached everywhere. A diff
    that touches no task of the graph (tasks alone, or with edges only among them) is
    glued to nothing, so any open hole admits it: one attached to the ``sender`` (the
    task that sent it) first, then the others by id, else one attached everywhere; its
    constraints then judge it, as they judge any growth."""
    g = d.graph
    candidates: list[str] = []
    ends = _existing_ends(g.tasks, el)
    for a in ends:
        candidates.extend(sorted(g.holes_at(a)))
    if not ends:
        if sender is not None and sender in g.tasks:
            candidates.extend(sorted(g.holes_at(sender)))
        candidates.extend(sorted(h for name, t in d.grammar.types.items()
                                 if t.open and not t.everywhere
                                 for h in g.holes_of_type(name)))
    candidates.extend(g.everywhere_holes())
    for hid in dict.fromkeys(candidates):
        hole = g.holes[hid]
        if not d.grammar.types[hole.type].open:
            continue
        if hole.everywhere or _fits_open(el, hole.after, hole.before):
            return Grow(hid, Fragment(
                tasks=tuple(TaskSpec(n, k, el.attrs[n]) for n, k in el.kind.items()),
                edges=tuple(el.edges)))
    return None


def _fits_open(el: _Elements, after: tuple[str, ...], before: tuple[str, ...]) -> bool:
    return all((u in el.kind or u in after) and (v in el.kind or v in before)
               for u, v in el.edges)


def _first_hole(d: Derivation, el: _Elements) -> str | None:
    """The first closed hole of the graph attached where the diff touches it."""
    for a in _existing_ends(d.graph.tasks, el):
        for hid in sorted(d.graph.holes_at(a)):
            if not d.grammar.types[d.graph.holes[hid].type].open:
                return hid
    return None


def diff_of(fragment_tasks: Mapping[str, str], edges: list[tuple[str, str]]) -> Diff:
    """A diff from ``{name: kind}`` and edges (a convenience for tests and tasks)."""
    return Diff(tuple(TaskSpec(n, k) for n, k in fragment_tasks.items()), tuple(edges))
