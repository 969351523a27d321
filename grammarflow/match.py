"""Find the production application(s) behind a raw diff, or refuse it.

A task may send a raw :class:`Diff` (new tasks under names of its choosing, new
edges) instead of naming productions. :func:`add` accepts it only if a sequence of
production applications yields *exactly* that diff, and journals those applications.

The search never re-parses the graph (REFERENCES.md): it starts from the holes
attached to the tasks the diff touches and works as an exact cover of the diff's
elements (each new task and edge produced by exactly one step). At every point it
takes the first element some step can produce and branches over the steps that
produce it; failed states are remembered. So its cost depends on the diff and the
holes it touches, never on the size of the graph, and a ``budget`` caps the number of
steps it tries. When no production fits, an open hole that admits the whole diff
takes it (:class:`~grammarflow.grammar.Grow`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from grammarflow.derivation import Derivation
from grammarflow.errors import Attempt, BrokenPromise, GrammarflowError
from grammarflow.grammar import Fragment, HoleType, Production, TaskSpec
from grammarflow.graph import JSON, check_name
from grammarflow.steps import Expand, Grow, Step
from grammarflow.wellformed import find_cycle

#: Steps the search may try before it refuses a diff as too costly to explain.
DEFAULT_BUDGET = 20_000


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


class _Budget(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Hole:
    """A hole as the search sees it: existing (``ref`` is its id) or planned."""

    ref: str | tuple[int, int]
    type: str
    args: tuple[str, ...]
    allowed: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class _Move:
    hole: _Hole
    production: Production
    binding: Mapping[str, str]  # fragment local -> diff task name
    covers: frozenset[int]
    new_holes: tuple[_Hole, ...]


def add(derivation: Derivation, diff: Diff, *, budget: int = DEFAULT_BUDGET) -> Added:
    """Accept ``diff`` as the production application(s) that yield exactly it.

    Raises :class:`BrokenPromise` (the graph untouched) if no sequence of allowed
    productions, and no open hole, yields exactly this diff.

    >>> from grammarflow import define
    >>> d = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b").derivation()
    >>> add(d, Diff((TaskSpec("mine", "B"),), (("s", "mine"), ("mine", "e")))).ids
    {'mine': 'X.1/B'}
    """
    search = _Search(derivation, diff, budget)
    if search.is_empty():
        return Added(())
    plan: list[_Move] | None
    try:
        plan = search.run()
    except _Budget:
        plan = None
        if search.open_hole() is None:
            raise BrokenPromise(
                f"the change could not be explained within {budget} search steps; "
                "name the productions with 'expand' instead of sending a raw change",
                hole=search.first_hole()) from None
    if plan is not None:
        return _apply_plan(derivation, search, plan)
    grow = search.open_hole()
    if grow is not None:
        applied = derivation.apply(grow)
        return Added((grow,), dict(applied.tasks))
    raise search.refusal()


def _apply_plan(d: Derivation, search: _Search, plan: list[_Move]) -> Added:
    ids: dict[str, str] = {}
    hole_ids: dict[tuple[int, int], str] = {}
    steps: list[Step] = []
    created: list[str] = []
    with d.atomic():
        for i, move in enumerate(plan):
            ref = move.hole.ref
            hole_id = ref if isinstance(ref, str) else hole_ids[ref]
            attrs = {local: search.attrs[name] for local, name in move.binding.items()
                     if search.attrs.get(name)}
            step = Expand(hole_id, move.production.name, attrs)
            applied = d.apply(step)
            steps.append(step)
            for local, name in move.binding.items():
                ids[name] = applied.tasks[local]
            for k, hid in enumerate(applied.holes):
                hole_ids[(i, k)] = hid
                created.append(hid)
            if applied.removed in created:
                created.remove(applied.removed)
    return Added(tuple(steps), ids, tuple(created))


class _Search:
    def __init__(self, d: Derivation, diff: Diff, budget: int) -> None:
        self.d = d
        self.graph = d.graph
        self.types: Mapping[str, HoleType] = d.grammar.types
        self.budget = budget
        self.tries = 0
        self.kind: dict[str, str] = {}
        self.attrs: dict[str, Mapping[str, JSON]] = {}
        self._check_tasks(diff)
        self.edges: list[tuple[str, str]] = self._check_edges(diff)
        self.elements: list[str | tuple[str, str]] = [*self.kind, *self.edges]
        self.task_index = {n: i for i, n in enumerate(self.kind)}
        self.edge_index = {e: len(self.kind) + i for i, e in enumerate(self.edges)}
        self.out_edges: dict[str, list[tuple[str, str]]] = {}
        self.in_edges: dict[str, list[tuple[str, str]]] = {}
        for u, v in self.edges:
            self.out_edges.setdefault(u, []).append((u, v))
            self.in_edges.setdefault(v, []).append((u, v))
        self.uncovered: set[int] = set(range(len(self.elements)))
        self.produced: set[str] = set()
        self.consumed: set[str] = set()
        self.alive: dict[tuple[int, int], _Hole] = {}
        self.failed: set[tuple[frozenset[int], frozenset[str], frozenset[Any]]] = set()
        self.depth = 0
        self.best_left: set[int] = set(self.uncovered)

    # ---------------------------------------------------------------- validation
    def _check_tasks(self, diff: Diff) -> None:
        for t in diff.tasks:
            try:
                check_name(t.local, "new task name")
                check_name(t.kind, f"kind of new task {t.local!r}")
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
        g = self.graph
        edges: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for u, v in diff.edges:
            for name in (u, v):
                if name not in self.kind and name not in g.tasks:
                    raise BrokenPromise(f"edge {u} -> {v}: {name!r} is neither a new task "
                                        "of this change nor a task in the graph")
            if u == v:
                raise BrokenPromise(f"edge {u} -> {v} would be a cycle of one task")
            if v in g.tasks and g.is_started(v):
                raise BrokenPromise(
                    f"edge {u} -> {v} ends at task {v!r}, which has already started "
                    f"({g.state[v].value}); a started task can get no new predecessor")
            if (u, v) in seen or (u in g.tasks and v in g.tasks and g.has_edge(u, v)):
                continue
            seen.add((u, v))
            edges.append((u, v))
        succ: dict[str, list[str]] = {}
        for u, v in edges:
            if u in self.kind and v in self.kind:
                succ.setdefault(u, []).append(v)
        cycle = find_cycle(succ)
        if cycle:
            raise BrokenPromise(f"the change has a cycle: {' -> '.join(cycle)}")
        return edges

    def is_empty(self) -> bool:
        return not self.elements

    # ---------------------------------------------------------------- search
    def run(self) -> list[_Move] | None:
        plan: list[_Move] = []
        stack: list[Iterator[_Move]] = [self._moves()]
        while stack:
            move = next(stack[-1], None)
            if move is None:
                stack.pop()
                self.failed.add(self._key())
                if plan:
                    self._undo(plan.pop())
                continue
            self.tries += 1
            if self.tries > self.budget:
                raise _Budget
            self._do(move)
            plan.append(move)
            if not self.uncovered:
                return plan
            if len(self.uncovered) < len(self.best_left):
                self.best_left = set(self.uncovered)
            if self.failed and self._key() in self.failed:
                self._undo(plan.pop())
                continue
            stack.append(self._moves())
        return None

    def _key(self) -> tuple[frozenset[int], frozenset[str], frozenset[Any]]:
        return (frozenset(self.uncovered), frozenset(self.consumed),
                frozenset((h.type, h.args, h.allowed) for h in self.alive.values()))

    def _do(self, move: _Move) -> None:
        self.uncovered -= move.covers
        self.produced.update(move.binding.values())
        if isinstance(move.hole.ref, str):
            self.consumed.add(move.hole.ref)
        else:
            del self.alive[move.hole.ref]
        for h in move.new_holes:
            self.alive[h.ref] = h  # type: ignore[index]
        self.depth += 1

    def _undo(self, move: _Move) -> None:
        self.depth -= 1
        for h in move.new_holes:
            del self.alive[h.ref]  # type: ignore[arg-type]
        if isinstance(move.hole.ref, str):
            self.consumed.discard(move.hole.ref)
        else:
            self.alive[move.hole.ref] = move.hole
        self.produced.difference_update(move.binding.values())
        self.uncovered |= move.covers

    def _moves(self) -> Iterator[_Move]:
        """Steps producing the first element (in diff order) that some step can produce."""
        for idx in range(len(self.elements)):
            if idx not in self.uncovered:
                continue
            moves = list(self._moves_covering(idx))
            if moves:
                return iter(moves)
        return iter(())

    def _available(self, name: str) -> bool:
        return name in self.graph.tasks or name in self.produced

    def _anchors(self, idx: int) -> set[str]:
        element = self.elements[idx]
        if isinstance(element, tuple):
            return {n for n in element if self._available(n)}
        near = [u for u, _ in self.in_edges.get(element, ())]
        near += [v for _, v in self.out_edges.get(element, ())]
        return {n for n in near if self._available(n)}

    def _holes_at(self, anchors: set[str]) -> list[_Hole]:
        found: dict[str | tuple[int, int], _Hole] = {}
        for a in sorted(anchors):
            for hid in sorted(self.graph.holes_at(a)):
                if hid in self.consumed or hid in found:
                    continue
                live = self.graph.holes[hid]
                found[hid] = _Hole(hid, live.type, live.args, live.allowed)
        for ref, h in self.alive.items():
            if ref not in found and anchors.intersection(h.args):
                found[ref] = h
        return [h for h in found.values() if not self.types[h.type].open]

    def _holes_making(self, idx: int) -> list[_Hole]:
        """Holes that could make an element attached to no existing task: those of the
        types with a production that has a task of the element's kind."""
        element = self.elements[idx]
        kind = self.kind[element[0] if isinstance(element, tuple) else element]
        types = [t.name for t in self.types.values()
                 if not t.open and any(s.kind == kind for p in t.allowed()
                                       for s in p.fragment.tasks)]
        found: list[_Hole] = []
        for name in types:
            for hid in self.graph.holes_of_type(name):
                if hid not in self.consumed:
                    live = self.graph.holes[hid]
                    found.append(_Hole(hid, live.type, live.args, live.allowed))
        found.extend(h for h in self.alive.values() if h.type in types)
        return found

    def _moves_covering(self, idx: int) -> Iterator[_Move]:
        anchors = self._anchors(idx)
        holes = self._holes_at(anchors) if anchors else self._holes_making(idx)
        for hole in holes:
            for prod in self.types[hole.type].allowed(hole.allowed):
                yield from self._embeddings(prod, hole, idx)

    def _embeddings(self, prod: Production, hole: _Hole, idx: int) -> Iterator[_Move]:
        """Ways to produce element ``idx`` by applying ``prod`` to ``hole`` now."""
        base = dict(zip(prod.params, hole.args, strict=True))
        element = self.elements[idx]
        seeds: list[dict[str, str]] = []
        if isinstance(element, str):
            for t in prod.fragment.tasks:
                if t.kind == self.kind[element]:
                    seeds.append({t.local: element})
        else:
            for x, y in prod.fragment.edges:
                seed = self._seed_edge(base, prod, (x, y), element)
                if seed is not None:
                    seeds.append(seed)
        seen: set[frozenset[tuple[str, str]]] = set()
        for seed in seeds:
            for binding in self._extend(prod, base, seed):
                key = frozenset(binding.items())
                if key in seen:
                    continue
                seen.add(key)
                move = self._move(prod, hole, base, binding)
                if move is not None and idx in move.covers:
                    yield move

    def _seed_edge(self, base: Mapping[str, str], prod: Production, edge: tuple[str, str],
                   target: tuple[str, str]) -> dict[str, str] | None:
        kinds = {t.local: t.kind for t in prod.fragment.tasks}
        seed: dict[str, str] = {}
        for name, value in zip(edge, target, strict=True):
            if name in base:
                if base[name] != value:
                    return None
            elif (self.kind.get(value) != kinds[name] or value in self.produced
                  or seed.get(name, value) != value):
                return None
            else:
                seed[name] = value
        if len(set(seed.values())) != len(seed):
            return None
        return seed

    def _extend(self, prod: Production, base: Mapping[str, str],
                seed: dict[str, str]) -> Iterator[dict[str, str]]:
        """Injective maps of the fragment's tasks onto unproduced diff tasks of their kind."""
        frag = prod.fragment
        order = [t for t in frag.tasks if t.local not in seed]
        kinds = {t.local: t.kind for t in frag.tasks}
        bound: dict[str, str] = dict(seed)

        def node(name: str) -> str | None:
            return base.get(name) or bound.get(name)

        def candidates(local: str) -> list[str]:
            for x, y in frag.edges:
                if y == local and node(x) is not None:
                    return [v for _, v in self.out_edges.get(node(x) or "", ())]
                if x == local and node(y) is not None:
                    return [u for u, _ in self.in_edges.get(node(y) or "", ())]
            return list(self.kind)

        def ok(local: str, value: str) -> bool:
            if self.kind.get(value) != kinds[local] or value in self.produced:
                return False
            return value not in bound.values()

        def rec(i: int) -> Iterator[dict[str, str]]:
            if i == len(order):
                yield dict(bound)
                return
            local = order[i].local
            for value in dict.fromkeys(candidates(local)):
                if ok(local, value):
                    bound[local] = value
                    yield from rec(i + 1)
                    del bound[local]

        return rec(0)

    def _move(self, prod: Production, hole: _Hole, base: Mapping[str, str],
              binding: dict[str, str]) -> _Move | None:
        def node(name: str) -> str:
            return base.get(name) or binding[name]

        covers = {self.task_index[v] for v in binding.values()}
        for x, y in prod.fragment.edges:
            e = (node(x), node(y))
            ei = self.edge_index.get(e)
            if ei is not None and ei in self.uncovered:
                covers.add(ei)
            elif not self._present(e):
                return None
        step_no = self.depth
        new_holes = tuple(
            _Hole((step_no, i), h.type, tuple(node(a) if a != "*" else a for a in h.args), None)
            for i, h in enumerate(prod.fragment.holes))
        return _Move(hole, prod, binding, frozenset(covers), new_holes)

    def _present(self, e: tuple[str, str]) -> bool:
        u, v = e
        if u in self.graph.tasks and v in self.graph.tasks and self.graph.has_edge(u, v):
            return True
        ei = self.edge_index.get(e)
        return ei is not None and ei not in self.uncovered

    # ---------------------------------------------------------------- open holes
    def open_hole(self) -> Grow | None:
        """A step through an open hole that admits the whole diff, if one does."""
        existing = {n for e in self.edges for n in e if n in self.graph.tasks}
        candidates: list[str] = []
        for a in sorted(existing):
            candidates.extend(sorted(self.graph.holes_at(a)))
        candidates.extend(self.graph.everywhere_holes())
        for hid in dict.fromkeys(candidates):
            open_hole = self.graph.holes[hid]
            if not self.types[open_hole.type].open:
                continue
            if open_hole.everywhere or self._fits_open(open_hole.after, open_hole.before):
                return Grow(hid, Fragment(
                    tasks=tuple(TaskSpec(n, k, self.attrs[n]) for n, k in self.kind.items()),
                    edges=tuple(self.edges)))
        return None

    def _fits_open(self, after: tuple[str, ...], before: tuple[str, ...]) -> bool:
        return all((u in self.kind or u in after) and (v in self.kind or v in before)
                   for u, v in self.edges)

    # ---------------------------------------------------------------- refusal
    def first_hole(self) -> str | None:
        holes = self._holes_at({n for e in self.edges for n in e if n in self.graph.tasks})
        return str(holes[0].ref) if holes else None

    def refusal(self) -> BrokenPromise:
        existing = sorted({n for e in self.edges for n in e if n in self.graph.tasks})
        holes = self._holes_at(set(existing))
        if not existing and self.elements:
            holes = self._holes_making(0)
        if not holes:
            where = f"tasks {existing}" if existing else "no existing task"
            return BrokenPromise(
                f"the change touches {where}, and no hole that could take it is attached "
                "there: the grammar promises no new tasks or edges at this place")
        attempts = [Attempt(f"{h.ref}: {p!r}", self._why(p, h))
                    for h in holes for p in self.types[h.type].allowed(h.allowed)]
        narrowed = [Attempt(f"{h.ref}: {p!r}", "removed by a narrowing promise")
                    for h in holes for p in self.types[h.type].productions
                    if p not in list(self.types[h.type].allowed(h.allowed))]
        left = [self._describe(i) for i in sorted(self.best_left)]
        return BrokenPromise(
            f"no sequence of allowed productions yields exactly this change "
            f"({len(self.kind)} task(s), {len(self.edges)} edge(s)); not produced: "
            f"{', '.join(left[:5])}{' ...' if len(left) > 5 else ''} (if a production "
            "should allow it, name it with 'expand')",
            hole=str(holes[0].ref), attempts=tuple(attempts + narrowed))

    def _describe(self, idx: int) -> str:
        element = self.elements[idx]
        if isinstance(element, tuple):
            return f"edge {element[0]} -> {element[1]}"
        return f"task {element} ({self.kind[element]})"

    def _why(self, prod: Production, hole: _Hole) -> str:
        """One line on why ``prod`` applied to ``hole`` does not yield the change."""
        if not prod.fragment.tasks and not prod.fragment.edges:
            return "adds no task or edge"
        base = dict(zip(prod.params, hole.args, strict=True))
        have = sorted(set(self.kind.values()))
        for t in prod.fragment.tasks:
            if t.kind not in have:
                return f"needs a new task of kind {t.kind}; the change has kinds {have}"
        for binding in self._extend(prod, base, {}):
            def node(name: str, b: dict[str, str] = binding) -> str:
                return base.get(name) or b[name]
            for x, y in prod.fragment.edges:
                e = (node(x), node(y))
                if e not in self.edge_index and not self._present(e):
                    return f"needs edge {e[0]} -> {e[1]}, which the change does not add"
            return "yields part of the change, but no further step yields the rest"
        return "has more tasks of some kind than the change has"


def diff_of(fragment_tasks: Mapping[str, str], edges: list[tuple[str, str]]) -> Diff:
    """A diff from ``{name: kind}`` and edges (a convenience for tests and tasks)."""
    return Diff(tuple(TaskSpec(n, k) for n, k in fragment_tasks.items()), tuple(edges))

