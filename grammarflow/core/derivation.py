"""A grammar applied to a graph: steps, atomicity, instantiation, and the ids it makes.

Every change goes through :meth:`Derivation.apply`: it happens entirely, or raises
:class:`~grammarflow.errors.BrokenPromise` and leaves graph and grammar as they were.
Roles make acyclicity local (proofs/05-acyclicity.md) and ids are a function of the
derivation tree (proofs/04-confluence.md; the rule: docs/notation.md). How a change
request reaches it: docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from grammarflow.core.constraints import (
    Constraint,
    ConstraintState,
    check_constraint,
    fragment_breaks,
)
from grammarflow.core.cosmetics import cosmetic_part, promise_refusal, style_refusal
from grammarflow.core.dataflow import BindingError, bind, edge_problem
from grammarflow.core.finishing import stranded
from grammarflow.core.graph import JSON, NO_ATTRS, Graph, Hole, Role, Task, TaskState
from grammarflow.core.guards import DEPTH, Counts, GuardError
from grammarflow.core.productions import EVERYWHERE, Fragment, HoleType, Production
from grammarflow.core.resolve import Vocabulary, unresolved
from grammarflow.core.steps import (
    Applied,
    Constrain,
    Expand,
    Grow,
    NarrowHole,
    NarrowType,
    Output,
    Refine,
    SetState,
    Step,
    Style,
)
from grammarflow.core.wellformed import check_fragment, productive_types, reachable_types
from grammarflow.errors import Attempt, BrokenPromise, GrammarflowError

if TYPE_CHECKING:  # annotations only: a grammar is checked by, and built above, this module
    from grammarflow.core.grammar import Grammar

#: Above this length the part of an id before its last hole segment is replaced by a
#: digest of it, so ids stay short under any recursion (still a function of the tree).
MAX_ID = 160


# ====================================================================== plans and ids
@dataclass(frozen=True, slots=True)
class Plan:
    """A fragment compiled for instantiation: names replaced by indices into
    ``[outside names..., new tasks...]``, each new hole with its roles and its place
    among the fragment's holes of its type (for its id)."""

    outside: tuple[str, ...]
    tasks: tuple[tuple[str, str, Mapping[str, JSON]], ...]
    holes: tuple[tuple[str, tuple[int, ...], tuple[Role, ...], bool, int, int], ...]
    edges: tuple[tuple[int, int], ...]


def compile_fragment(fragment: Fragment, outside: Sequence[str],
                     types: Mapping[str, HoleType]) -> Plan:
    """The plan of ``fragment`` whose outside names are ``outside`` (in that order)."""
    index = {p: i for i, p in enumerate(outside)}
    for t in fragment.tasks:
        index[t.local] = len(index)
    counts: dict[str, int] = {}
    for h in fragment.holes:
        counts[h.type] = counts.get(h.type, 0) + 1
    seen: dict[str, int] = {}
    holes = []
    for h in fragment.holes:
        ht = types[h.type]
        seen[h.type] = seen.get(h.type, 0) + 1
        args = () if ht.everywhere else tuple(index[a] for a in h.args)
        holes.append((h.type, args, ht.roles, ht.everywhere, seen[h.type], counts[h.type]))
    return Plan(tuple(outside), tuple((t.local, t.kind, t.attrs) for t in fragment.tasks),
                tuple(holes), tuple((index[u], index[v]) for u, v in fragment.edges))


def child_hole_id(parent: Hole | None, htype: str, index: int, count: int) -> str:
    """The id of the ``index``-th of ``count`` new holes of type ``htype`` made by
    expanding ``parent`` (``None``: the start graph). The rule: docs/notation.md."""
    if parent is None:
        return f"{htype}.{index}"
    if htype == parent.type and count == 1:
        prefix, slash, segment = parent.id.rpartition("/")
        parts = segment.split(".")
        depth = int(parts[2]) + 1 if len(parts) == 3 else 2
        return f"{prefix}{slash}{parts[0]}.{parts[1]}.{depth}"
    return _bounded(f"{parent.id}/{htype}.{index}")


def _bounded(hole_id: str) -> str:
    if len(hole_id) <= MAX_ID:
        return hole_id
    prefix, _, segment = hole_id.rpartition("/")
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:16]
    return f"~{digest}/{segment}"


def instantiate(graph: Graph, plan: Plan, values: Sequence[str], parent: Hole | None,
                attrs: Mapping[str, Mapping[str, JSON]] = NO_ATTRS
                ) -> tuple[dict[str, str], tuple[str, ...]]:
    """Add a compiled fragment to ``graph``, its outside names bound to ``values``, its
    new nodes named under ``parent``. Returns the new task ids (by local name) and the
    new hole ids. The one routine behind the start graph, Expand, Grow and Refine."""
    nodes = list(values)
    prefix = parent.id + "/" if parent is not None else ""
    created: dict[str, str] = {}
    for local, kind, task_attrs in plan.tasks:
        tid = prefix + local
        extra = attrs.get(local) if attrs else None
        graph.add_task(Task(tid, kind, {**task_attrs, **extra} if extra else task_attrs))
        nodes.append(tid)
        created[local] = tid
    new_holes = []
    for htype, arg_index, roles, everywhere, index, count in plan.holes:
        hid = child_hole_id(parent, htype, index, count)
        if everywhere:
            graph.add_hole(Hole(hid, htype, everywhere=True))
        else:
            graph.add_hole(Hole(hid, htype, tuple([nodes[i] for i in arg_index]), roles))
        new_holes.append(hid)
    for u, v in plan.edges:
        graph.add_edge(nodes[u], nodes[v])
    return created, tuple(new_holes)


# ====================================================================== derivations
class Derivation:
    """A grammar applied to a graph: every change goes through :meth:`apply`.

    >>> from grammarflow import define
    >>> d = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b").derivation()
    >>> d.apply(Expand("X.1", "2")).tasks
    {'B': 'X.1/B'}
    >>> sorted(d.graph.edges())
    [('X.1/B', 'e'), ('s', 'X.1/B')]
    """

    def __init__(self, grammar: Grammar, graph: Graph | None = None,
                 constraints: Mapping[str, object] | None = None) -> None:
        self.grammar = grammar
        self.history: list[Step] = []
        self._pending: list[Step] | None = None
        self._speculation: tuple[int, Grammar] | None = None
        #: False in simulations, which have no outputs: a guard that reads a value
        #: nobody gave counts as "may hold" (every data-chosen future stays possible).
        self.data_known = True
        #: Every kind a run can make (its workflow's: the orchestrator sets them), so
        #: that a name in a constraint given at run time resolves or is refused
        #: (:mod:`grammarflow.core.resolve`); None: a grammar alone, whose open holes may
        #: make kinds it does not know.
        self.workflow_kinds: frozenset[str] | None = None
        #: Tasks whose predecessors a step may have made final: their lower bounds
        #: are decided when it ends (:meth:`_decide_final`).
        self._settle: list[str] = []
        fresh = graph is None
        self.graph = graph = Graph() if graph is None else graph
        #: Constraint scopes and counts (:mod:`grammarflow.core.constraints`); a derivation
        #: built on a given graph takes them from ``constraints`` (a snapshot's JSON).
        self.limits = ConstraintState(graph.on_undo)
        if constraints is not None:
            self.limits.load_json(constraints)
        if fresh:
            self._instantiate(compile_fragment(grammar.start, (), grammar.types), (), None)

    # ---------------------------------------------------------------- public
    def apply(self, step: Step) -> Applied:
        """Apply one step atomically, or raise :class:`BrokenPromise` and change nothing
        (also inside :meth:`atomic`, where a refused step caught by the caller leaves
        no trace and the block goes on)."""
        g = self.graph
        mark = g.open_or_savepoint()
        saved = self.grammar
        self._settle.clear()
        try:
            applied = self._apply_one(step)
            if self._settle:
                self._decide_final()
        except BaseException:
            g.undo_to(mark)
            self.grammar = saved
            raise
        g.close(mark)
        if self._pending is not None:
            self._pending.append(step)
        else:
            self.history.append(step)
        return applied

    def apply_batch(self, steps: Sequence[Step]) -> list[Applied]:
        """Apply several steps as one: all of them, or (on any refusal) none."""
        with self.atomic():
            return [self.apply(s) for s in steps]

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Every step applied inside the block is kept, or (on any exception) none is."""
        if self._pending is not None:
            yield
            return
        saved = self.grammar
        self._pending = []
        g = self.graph
        mark = g.open_or_savepoint()
        try:
            yield
        except BaseException:
            g.undo_to(mark)
            self.grammar = saved
            self._pending = None
            raise
        g.close(mark)
        self.history.extend(self._pending)
        self._pending = None

    def copy(self) -> Derivation:
        """A derivation of its own that stands where this one stands (an open
        speculation's steps included, its history not): what a worker thread may read
        while this one goes on changing."""
        copied = Derivation(self.grammar, Graph.from_snapshot(self.graph.snapshot()),
                            self.limits.to_json())
        copied.data_known = self.data_known
        copied.workflow_kinds = self.workflow_kinds
        return copied

    # ---------------------------------------------------------------- speculation
    def speculate(self) -> None:
        """Apply the next steps tentatively: :meth:`keep` them, or :meth:`discard` them
        (graph, grammar and history back as they were). Used for a running task's
        changes, which become permanent only when the task succeeds."""
        if self._speculation is not None:
            raise GrammarflowError("a speculation is already open")
        self.graph.begin()
        self._speculation = (len(self.history), self.grammar)

    def is_speculating(self) -> bool:
        return self._speculation is not None

    def keep(self) -> list[Step]:
        """End the speculation, keeping its steps; returns them."""
        if self._speculation is None:
            raise GrammarflowError("no speculation is open")
        start, _ = self._speculation
        self.graph.commit()
        self._speculation = None
        return self.history[start:]

    def discard(self) -> None:
        """End the speculation, undoing every step applied since it began."""
        if self._speculation is None:
            raise GrammarflowError("no speculation is open")
        start, grammar = self._speculation
        self.graph.rollback()
        del self.history[start:]
        self.grammar = grammar
        self._speculation = None

    def close(self, hole_id: str) -> Applied:
        """Apply the default production of a due hole, or raise naming the hole."""
        hole = self._hole(hole_id)
        htype = self.grammar.types[hole.type]
        if htype.open:
            return self.apply(Refine(hole_id, Fragment()))
        if htype.guarded:
            prod = self.chosen(hole)
            assert prod.guard is not None
            return self.apply(Expand(hole_id, prod.name, guard=prod.guard.label()))
        allowed = {p.name for p in htype.allowed(hole.allowed)}
        if htype.default is None or htype.default not in allowed:
            raise BrokenPromise(
                f"hole {hole_id} ({hole.type}) is due (every task it comes after is done) "
                f"but was not expanded, and its type has no default production "
                f"among {sorted(allowed)}",
                hole=hole_id,
            )
        return self.apply(Expand(hole_id, htype.default))

    def chosen(self, hole: Hole) -> Production:
        """The production a due hole of a guarded type takes: the first still allowed
        whose guard holds (``[else]``: when no other does). BrokenPromise if none does,
        or a guard cannot be read."""
        htype = self.grammar.types[hole.type]
        held = self._guards_held(hole, htype)
        for p in htype.allowed(hole.allowed):
            assert p.guard is not None
            if p.guard.otherwise:
                if not any(held.values()):
                    return p
            elif held[p.name] is not False:  # true, or unknown in a simulation
                return p
        true = [p for p in htype.productions if held.get(p.name)]
        if true:
            why = (f"{true[0].guard!r} holds, and production {true[0].name} was narrowed "
                   f"away ({narrowing_of(htype, hole.id, true[0].name)})")
        elif any(p.guard is not None and p.guard.otherwise for p in htype.productions):
            why = "no guard holds, and the [else] production was narrowed away"
        else:
            why = "no guard holds: " + "; ".join(
                f"{p.guard!r} is false" for p in htype.productions if p.guard is not None)
        raise BrokenPromise(f"hole {hole.id} ({hole.type}) is due and no allowed "
                            f"production may be taken: {why}{self._values_shown(hole)}",
                            hole=hole.id)

    def _guards_held(self, hole: Hole, htype: HoleType) -> dict[str, bool | None]:
        """Which ``when`` guards of the type hold for ``hole`` (every production's,
        narrowed away or not: ``else`` holds only when none does)."""
        values, counts = self._guard_context(hole, htype)
        held: dict[str, bool | None] = {}
        for p in htype.productions:
            if p.guard is None or p.guard.otherwise:
                continue
            if not self.data_known and not p.guard.names <= values.keys():
                held[p.name] = None  # unknown: it may hold or not
                continue
            try:
                held[p.name] = p.guard.holds(values, counts)
            except GuardError as e:
                raise BrokenPromise(f"guard {p.guard!r} of hole {hole.id} ({hole.type}) "
                                    f"cannot be read: {e}", hole=hole.id) from None
        return held

    def _guard_context(self, hole: Hole, htype: HoleType) -> tuple[dict[str, JSON], Counts]:
        bound = dict(zip(htype.params, hole.args, strict=False))
        outputs = self.graph.outputs
        values = {p: outputs[t] for p, t in bound.items() if t in outputs}
        values[DEPTH] = hole_depth(hole.id)
        g = self.graph

        def counts(left: str, right: str) -> int:
            if left in bound:
                return len(g.next_of_kind(bound[left], right))
            return sum(1 for w in g.pred[bound[right]] if g.tasks[w].kind == left)

        return values, counts

    def _values_shown(self, hole: Hole) -> str:
        """What the guards read, as they read it: ``(a = [1, 2], count(a -> M) = 2)``."""
        htype = self.grammar.types[hole.type]
        values, counts = self._guard_context(hole, htype)
        guards = [g for p in htype.productions for g in (p.guard, p.condition)
                  if g is not None]
        read = sorted({n for g in guards for n in g.names})
        shown = [f"{n} = {_short(values[n])}" if n in values else f"{n}: no output"
                 for n in read]
        if any(g.expr is not None and ("depth",) in _parts(g.expr) for g in guards):
            shown.append(f"depth = {values[DEPTH]}")
        counted = sorted({c for g in guards for c in g.counts})
        shown += [f"count({left} -> {right}) = {counts(left, right)}"
                  for left, right in counted]
        return f" ({', '.join(shown)})" if shown else ""

    def _check_guard(self, hole: Hole, htype: HoleType, prod: Production) -> None:
        """A guard is a promise: whoever expands, the production's guard must hold."""
        guard = prod.guard
        assert guard is not None
        held = self._guards_held(hole, htype)
        if guard.otherwise:
            true = [p for p in htype.productions if held.get(p.name)]
            if not true:
                return
            why = f"[else] holds only when no other guard does, and {true[0].guard!r} holds"
        elif held[prod.name] is not False:
            return
        else:
            why = f"its guard {guard!r} is false"
        raise BrokenPromise(
            f"hole {hole.id} ({hole.type}) may not become {prod!r}: {why}"
            f"{self._values_shown(hole)}", hole=hole.id,
            attempts=(Attempt(repr(prod), why),))

    def _check_condition(self, hole: Hole, htype: HoleType, prod: Production) -> None:
        """``[if ...]``: the production may be taken only while its condition holds."""
        cond = prod.condition
        assert cond is not None
        values, counts = self._guard_context(hole, htype)
        if not self.data_known and not cond.names <= values.keys():
            return  # a simulation: it may hold
        try:
            holds = cond.holds(values, counts)
        except GuardError as e:
            raise BrokenPromise(f"condition {cond!r} of hole {hole.id} ({hole.type}) cannot "
                                f"be read: {e}", hole=hole.id) from None
        if not holds:
            why = f"its condition {cond!r} is false"
            raise BrokenPromise(
                f"hole {hole.id} ({hole.type}) may not become {prod!r}: {why}"
                f"{self._values_shown(hole)}", hole=hole.id,
                attempts=(Attempt(repr(prod), why),))

    def close_due(self) -> list[Applied]:
        """Close due holes with their defaults until none is due (may raise)."""
        out: list[Applied] = []
        while True:
            due = next(self.graph.due(), None)
            if due is None:
                return out
            out.append(self.close(due))

    def is_finished(self) -> bool:
        return not self.graph.holes and all(
            s is TaskState.DONE for s in self.graph.state.values())

    @classmethod
    def replay(cls, grammar: Grammar, steps: Iterable[Step]) -> Derivation:
        """Fold accepted steps over the start graph (proofs/07-replay.md)."""
        d = cls(grammar)
        for s in steps:
            d.apply(s)
        return d

    # ---------------------------------------------------------------- dispatch
    def _apply_one(self, step: Step) -> Applied:
        match step:
            case Expand():
                return self._expand(step)
            case Grow():
                return self._grow(step)
            case Refine():
                return self._refine(step)
            case NarrowType():
                return self._narrow_type(step)
            case NarrowHole():
                return self._narrow_hole(step)
            case Constrain():
                return self._constrain(step)
            case Output():
                return self._output(step)
            case Style():
                return self._style(step)
            case SetState(task, state):
                if task not in self.graph.tasks:
                    raise BrokenPromise(f"no task {task!r} in the graph")
                if state is TaskState.RUNNING:
                    if task in self.limits.rules:
                        self.limits.check_start(task)
                    if self.grammar.data and self.data_known:
                        self.inputs(task)
                self.graph.set_state(task, state)
                return Applied(step)
        raise TypeError(f"not a step: {step!r}")

    # ---------------------------------------------------------------- data
    def inputs(self, task: str) -> dict[str, JSON]:
        """The values of a task's inputs (its predecessors done); BrokenPromise if one
        cannot be bound (decided when the task would start: the orchestrator could not
        start it)."""
        sig = self.grammar.data.get(self.graph.tasks[task].kind)
        if sig is None:
            return {}
        try:
            return bind(self.graph, task, sig)
        except BindingError as e:
            raise BrokenPromise(f"the orchestrator could not start task {task}: {e}") from None

    def _output(self, step: Output) -> Applied:
        g = self.graph
        if step.task not in g.tasks:
            raise BrokenPromise(f"no task {step.task!r} in the graph")
        if g.state[step.task] is not TaskState.RUNNING:
            raise BrokenPromise(f"task {step.task} is {g.state[step.task].value}: only a "
                                "running task gives its output")
        kind = g.tasks[step.task].kind
        sig = self.grammar.data.get(kind)
        if sig is not None and sig.output is None:
            raise BrokenPromise(f"task {step.task} gave an output, and kind {kind} declares "
                                "none (declare its type to give one)")
        g.set_output(step.task, step.value)
        return Applied(step)

    def _style(self, step: Style) -> Applied:
        """Cosmetics of one task or one edge, checked (:mod:`grammarflow.core.cosmetics`)."""
        if (step.task is None) == (step.edge is None):
            raise BrokenPromise("style: name a task or an edge (one of them)")
        what = step.task or " -> ".join(step.edge or ())
        why = style_refusal(self.grammar.cosmetics, what, step.task, step.attrs)
        if why is not None:
            raise BrokenPromise(why)
        if step.task is not None:
            if step.task not in self.graph.tasks:
                raise BrokenPromise(f"style: no task {step.task!r} in the graph")
            self.graph.style_task(step.task, step.attrs)
        else:
            assert step.edge is not None
            self.graph.style_edge(*step.edge, step.attrs)
        return Applied(step)

    def _check_data_edges(self, edges: Iterable[tuple[str, str]]) -> None:
        data = self.grammar.data
        for u, v in edges:
            why = edge_problem(self.graph, data, u, v)
            if why is not None:
                raise BrokenPromise(why)

    def _hole(self, hole_id: str) -> Hole:
        hole = self.graph.holes.get(hole_id)
        if hole is None:
            raise BrokenPromise(f"no hole {hole_id!r} in the graph (it may have been "
                                "expanded already)", hole=hole_id)
        return hole

    # ---------------------------------------------------------------- productions
    def _expand(self, step: Expand) -> Applied:
        hole = self.graph.holes.get(step.hole)
        if hole is None:
            hole = self._hole(step.hole)  # raises with the reason
        htype = self.grammar.types[hole.type]
        if htype.open:
            raise BrokenPromise(f"hole {hole.id} ({hole.type}) is open: it is changed by "
                                "'add' or 'refine', not by a production", hole=hole.id)
        prod, plan = self._production_plan(htype, step.production)
        if not htype.permits(prod.name, hole.allowed):
            allowed = [p.name for p in htype.allowed(hole.allowed)]
            narrowing = narrowing_of(htype, hole.id, prod.name)
            raise BrokenPromise(
                f"production {prod!r} was narrowed away for hole {hole.id} ({narrowing}); "
                f"still allowed: {allowed}", hole=hole.id,
                attempts=(Attempt(repr(prod), f"removed by a narrowing promise ({narrowing})"),))
        if prod.guard is not None:
            self._check_guard(hole, htype, prod)
        if prod.condition is not None:
            self._check_condition(hole, htype, prod)
        attrs = step.attrs
        if attrs:
            unknown = set(attrs) - set(prod.fragment.locals)
            if unknown:
                raise BrokenPromise(f"attrs name {sorted(unknown)}, which {prod!r} does not "
                                    "create", hole=hole.id)
        self.graph.remove_hole(hole.id)
        created, holes = self._instantiate(plan, hole.args, hole, attrs, replaced=True)
        return Applied(step, created, holes, hole.id)

    def _production_plan(self, htype: HoleType, name: str) -> tuple[Production, Plan]:
        """Production ``name`` of ``htype`` and its plan, compiled once per grammar."""
        plans = self.grammar.plans
        key = (htype.name, name)
        hit = plans.get(key)
        prod = htype.production(name)  # raises with the names that exist
        if hit is not None and hit[0] is prod:
            return prod, hit[1]
        plan = compile_fragment(prod.fragment, prod.params, self.grammar.types)
        plans[key] = (prod, plan)
        return prod, plan

    # ---------------------------------------------------------------- open holes
    def _open_hole(self, hole_id: str, what: str) -> tuple[Hole, HoleType]:
        hole = self._hole(hole_id)
        htype = self.grammar.types[hole.type]
        if not htype.open:
            raise BrokenPromise(
                f"hole {hole.id} ({hole.type}) is not open: it only becomes one of its "
                f"productions, so it cannot take a {what}", hole=hole.id,
                attempts=tuple(Attempt(repr(p), f"a {what} is not a production")
                               for p in htype.allowed(hole.allowed)))
        return hole, htype

    def _check_open_fragment(self, hole: Hole, fragment: Fragment,
                             types: Mapping[str, HoleType]) -> None:
        if hole.everywhere:
            outside: dict[str, Role | None] = {}
            outside_any = True
        else:
            outside = dict(zip(hole.args, hole.roles, strict=True))
            outside_any = False
        try:
            check_fragment(fragment, outside, types, where=f"change to open hole {hole.id}",
                           outside_any=outside_any)
        except GrammarflowError as e:
            raise BrokenPromise(str(e), hole=hole.id) from None
        for u, v in fragment.edges:
            for name in (u, v):
                if name not in fragment.locals and name not in self.graph.tasks:
                    raise BrokenPromise(f"edge {u} -> {v}: no task {name!r} in the graph",
                                        hole=hole.id)

    def _open_instantiate(self, hole: Hole, fragment: Fragment, types: Mapping[str, HoleType],
                          *, replaced: bool) -> tuple[dict[str, str], tuple[str, ...]]:
        """Instantiate a one-off fragment sent for an open hole (its outside names are
        task ids, bound to themselves)."""
        outside = fragment.outside_names()
        return self._instantiate(compile_fragment(fragment, outside, types), outside, hole,
                                 {t.local: t.attrs for t in fragment.tasks if t.attrs},
                                 replaced=replaced)

    # ---------------------------------------------------------------- constraints
    def _instantiate(self, plan: Plan, values: Sequence[str], parent: Hole | None,
                     attrs: Mapping[str, Mapping[str, JSON]] = NO_ATTRS, *,
                     replaced: bool = False) -> tuple[dict[str, str], tuple[str, ...]]:
        """:func:`instantiate`, keeping the constraints of the scopes ``parent`` is in
        (``replaced``: the parent hole was removed by this step); ``attrs``: those the
        step gives its new tasks, styles checked like a ``Style`` step's. O(size of the
        change)."""
        if attrs:
            self._check_given_styles(parent, attrs)
        lim = self.limits
        if not lim and not self.grammar.constrained:
            if not self.grammar.data:
                return instantiate(self.graph, plan, values, parent, attrs)
            created, holes = instantiate(self.graph, plan, values, parent, attrs)
            nodes = [*values, *created.values()]
            self._check_data_edges((nodes[u], nodes[v]) for u, v in plan.edges)
            return created, holes
        g = self.graph
        n = len(values)
        before = {(values[u], values[v]) for u, v in plan.edges
                  if u < n and v < n and g.has_edge(values[u], values[v])}
        created, holes = instantiate(g, plan, values, parent, attrs)
        if self.grammar.data:
            nodes = [*values, *created.values()]
            self._check_data_edges((nodes[u], nodes[v]) for u, v in plan.edges)
        chain = lim.scopes_of(parent.id) if parent is not None else ()
        if chain or lim.rules:
            nodes = [*values, *created.values()]
            edges = [e for e in dict.fromkeys((nodes[u], nodes[v]) for u, v in plan.edges)
                     if e not in before]
            if chain:
                tasks = [(tid, g.tasks[tid].kind) for tid in created.values()]
                lim.check_change(chain, tasks, edges, self._kind_of)
                self._check_can_finish(holes, chain)
            if lim.rules:
                lim.check_edges(edges, self._kind_of)
        lim.holes_made(chain, holes)
        for hid in holes:
            hole = g.holes[hid]
            htype = self.grammar.types[hole.type]
            if htype.constraints:
                lim.start(hid, htype.name, htype.constraints,
                          dict(zip(htype.params, hole.args, strict=False)))
        if replaced and parent is not None:
            lim.hole_gone(parent.id, self._kind_of, self._succ)
        if lim.rules:  # their predecessors may be final now: decided as the step ends
            self._settle.extend(t for t in created.values() if t in lim.rules)
            if replaced and parent is not None:
                gone = lim.rules if parent.everywhere else parent.before
                self._settle.extend(t for t in gone if t in lim.rules)
        return created, holes

    def _decide_final(self) -> None:
        """Decide the lower bounds on the predecessors of the tasks this step may have
        left with final ones: no hole comes before them and none is attached everywhere
        (only such holes add edges into a task; proofs/10-constraints.md)."""
        g = self.graph
        if next(g.everywhere_holes(), None) is not None:
            return
        holes = g.holes
        for task in dict.fromkeys(self._settle):
            if task in g.tasks and not g.is_started(task) and not any(
                    task in holes[h].before for h in g.holes_at(task)):
                self.limits.check_final(task)

    def _check_given_styles(self, parent: Hole | None,
                            attrs: Mapping[str, Mapping[str, JSON]]) -> None:
        """The styles among the attrs a step gives its new tasks keep the cosmetic
        promises a ``Style`` step keeps (a change may not draw what it could not
        restyle); a value the picture cannot draw is data, kept and not drawn."""
        prefix = parent.id + "/" if parent is not None else ""
        for local, given in attrs.items():
            looks = cosmetic_part(given)
            if looks:
                why = promise_refusal(self.grammar.cosmetics, prefix + local,
                                      prefix + local, looks)
                if why is not None:
                    raise BrokenPromise(why, hole=parent.id if parent is not None else None)

    def _check_fresh_looks(self, hole: Hole, types: Sequence[HoleType]) -> None:
        """What the tasks of a refinement's fresh types look like is a change too (not
        registered): it keeps the cosmetic promises a ``Style`` step keeps, judged as
        a style of a task inside ``hole`` (where those tasks will be made)."""
        for fresh in types:
            for prod in fresh.productions:
                for t in prod.fragment.tasks:
                    looks = cosmetic_part(t.attrs)
                    why = looks and promise_refusal(
                        self.grammar.cosmetics, f"task {t.local} of fresh hole type "
                        f"{fresh.name} (refining {hole.id})", f"{hole.id}/{t.local}", looks)
                    if why:
                        raise BrokenPromise(why, hole=hole.id)

    def _check_can_finish(self, holes: Iterable[str], chain: tuple[str, ...] | None = None,
                          types: Mapping[str, HoleType] | None = None,
                          allowed: frozenset[str] | None = None) -> None:
        """No hole inside constrained scopes may be stranded there: every way to finish
        it breaking one of their constraints (:mod:`grammarflow.core.finishing`). ``chain``:
        the scopes of all ``holes`` (else each hole's own); ``types`` and ``allowed``:
        the grammar's types and the hole's narrowing as a step would leave them."""
        g = self.graph
        for hid in holes:
            sids = chain if chain is not None else self.limits.scopes_of(hid)
            if not sids or hid not in g.holes:
                continue
            hole = g.holes[hid]
            ends = [(a, g.tasks[a].kind) if a in g.tasks else (None, a) for a in hole.args]
            why = stranded(types or self.grammar.types, [self.limits.scopes[s] for s in sids],
                           hole.type, ends, allowed if allowed is not None else hole.allowed)
            if why is not None:
                raise BrokenPromise(
                    f"hole {hid} ({hole.type}) would have no way to finish: {why}; a "
                    "change may not leave a hole that nothing allowed could replace",
                    hole=hid)

    def _kind_of(self, task: str) -> str:
        return self.graph.tasks[task].kind

    def _succ(self, task: str) -> set[str]:
        return self.graph.succ[task]

    def _constrain(self, step: Constrain) -> Applied:
        hole, htype = self._open_hole(step.hole, "constraint")
        if not step.constraints:
            raise BrokenPromise(f"constraining {hole.id}: no constraint given", hole=hole.id)
        for c in step.constraints:
            try:
                check_constraint(c, f"constraining {hole.id}")
            except GrammarflowError as e:
                raise BrokenPromise(str(e), hole=hole.id) from None
        self._check_names(f"constraining {hole.id}", htype, step.constraints,
                          dict(zip(htype.params, hole.args, strict=False)), hole.id)
        self.limits.start(hole.id, htype.name, step.constraints,
                          dict(zip(htype.params, hole.args, strict=False)))
        return Applied(step)

    def _check_names(self, where: str, htype: HoleType, constraints: Sequence[Constraint],
                     glued: Mapping[str, str], hole: str) -> None:
        """Every name in ``constraints`` (of a hole of ``htype``) resolves: to a
        parameter or a kind (:mod:`grammarflow.core.resolve`)."""
        g = self.graph

        def start_kind(name: str) -> str | None:
            task = g.tasks.get(name) if "/" not in name else None  # start tasks keep names
            return task.kind if task is not None else None

        def kinds() -> Collection[str]:
            return self.workflow_kinds if self.workflow_kinds is not None \
                else self.grammar.kinds()

        names = Vocabulary(htype.name, htype.params, glued, kinds,
                           self.workflow_kinds is not None, start_kind)
        why = unresolved(constraints, where, names)
        if why is not None:
            raise BrokenPromise(why, hole=hole)

    def _check_refine_constraints(self, hole: Hole, step: Refine, grammar: Grammar) -> None:
        """A refinement of a constrained hole may not promise a production that breaks
        one of its constraints whatever it is glued to (checked statically; the rest
        is checked when the production is applied)."""
        scopes = [self.limits.scopes[s] for s in self.limits.scopes_of(hole.id)]
        if not scopes:
            return
        for name in sorted(reachable_types(grammar.types, (h.type for h in step.fragment.holes))):
            htype = grammar.types[name]
            for prod in htype.allowed():
                frag = prod.fragment
                kinds = {t.local: t.kind for t in frag.tasks}
                edges = [(kinds.get(u), kinds.get(v)) for u, v in frag.edges]
                for scope in scopes:
                    for c in scope.constraints:
                        why = fragment_breaks(c, list(kinds.values()), edges)
                        if why is not None:
                            raise BrokenPromise(
                                f"refining {hole.id} with {prod!r} would break constraint "
                                f"'{c}' of hole {scope.hole} ({scope.type}): {why}; a "
                                "refinement keeps the constraints of the hole it refines",
                                hole=hole.id)

    def _grow(self, step: Grow) -> Applied:
        hole, _ = self._open_hole(step.hole, "raw fragment")
        if step.fragment.holes:
            raise BrokenPromise(f"a raw change through open hole {hole.id} adds tasks and "
                                "edges only; use 'refine' to add holes", hole=hole.id)
        self._check_open_fragment(hole, step.fragment, self.grammar.types)
        self.graph.remove_hole(hole.id)
        created, _ = self._open_instantiate(hole, step.fragment, self.grammar.types,
                                            replaced=False)
        new_ids = tuple(created.values())
        grown = hole if hole.everywhere else replace(
            hole, args=hole.args + new_ids, roles=hole.roles + (Role.AFTER,) * len(new_ids))
        self.graph.add_hole(grown)
        if hole.everywhere:
            self._check_acyclic(step.fragment, created)
        return Applied(step, created, (), None)

    def _refine(self, step: Refine) -> Applied:
        hole, _ = self._open_hole(step.hole, "refinement")
        grammar = self._with_new_types(step.types, hole)
        self._check_fresh_looks(hole, step.types)
        if self.workflow_kinds is not None:  # the grammar's own check knew only its kinds
            for t in step.types:
                self._check_names(f"refining {hole.id}: hole type {t.name}", t,
                                  t.constraints, {}, hole.id)
        self._check_open_fragment(hole, step.fragment, grammar.types)
        if not hole.everywhere:
            self._check_not_widened(hole, step, grammar)
        self._check_refine_constraints(hole, step, grammar)
        self.grammar = grammar
        self.graph.remove_hole(hole.id)
        created, holes = self._open_instantiate(hole, step.fragment, grammar.types,
                                                replaced=True)
        if hole.everywhere:
            self._check_acyclic(step.fragment, created)
            self._check_holes_acyclic(holes, set(created.values()))
        return Applied(step, created, holes, hole.id)

    def _check_not_widened(self, hole: Hole, step: Refine, grammar: Grammar) -> None:
        """A hole attached to some tasks may not become one attached everywhere: that
        would admit changes anywhere in the graph, a wider promise than it made."""
        fresh = [t.name for t in step.types if t.everywhere]
        reach = reachable_types(grammar.types, (h.type for h in step.fragment.holes))
        wide = sorted(set(fresh) | {t for t in reach if grammar.types[t].everywhere})
        if wide:
            raise BrokenPromise(
                f"refining {hole.id} ({hole.type}, attached to {', '.join(hole.args)}) "
                f"with hole type(s) {wide} attached everywhere would widen its promise: a "
                "refinement may narrow the futures, never widen them", hole=hole.id)

    def _with_new_types(self, new: Sequence[HoleType], hole: Hole) -> Grammar:
        clash = [t.name for t in new if t.name in self.grammar.types]
        if clash:
            raise BrokenPromise(f"refining {hole.id}: hole type(s) {clash} already exist; "
                                "a refinement may only declare fresh types", hole=hole.id)
        if not new:
            return self.grammar
        try:
            return self.grammar.with_types(new)
        except GrammarflowError as e:
            raise BrokenPromise(f"refining {hole.id}: {e}", hole=hole.id) from None

    def _check_acyclic(self, fragment: Fragment, created: Mapping[str, str]) -> None:
        """Edges and holes that may end at an existing task: search for a cycle."""
        g = self.graph
        for u, v in fragment.edges:
            if v in created:
                continue
            src = created.get(u, u)
            if g.reaches(v, src):
                raise BrokenPromise(f"edge {src} -> {v} would close a cycle: {v} already "
                                    f"runs before {src}")

    def _check_holes_acyclic(self, hole_ids: Iterable[str], created: set[str]) -> None:
        g = self.graph
        for hid in hole_ids:
            hole = g.holes[hid]
            for b in hole.before:
                if b in created:
                    continue
                for a in hole.after:
                    if g.reaches(b, a):
                        raise BrokenPromise(f"hole {hid} ({hole.type}) would come after {a} "
                                            f"and before {b}, but {b} already runs before "
                                            f"{a}: a cycle", hole=hid)

    # ---------------------------------------------------------------- narrowing
    def _narrow_type(self, step: NarrowType) -> Applied:
        htype = self.grammar.types.get(step.type)
        if htype is None:
            raise BrokenPromise(f"no hole type {step.type!r}; expected one of "
                                f"{sorted(self.grammar.types)}")
        for name in step.remove:
            htype.production(name)
        removed = htype.removed | frozenset(step.remove)
        default = htype.default if htype.default not in removed else None
        narrowed = replace(htype, removed=removed, default=default)
        types = dict(self.grammar.types)
        types[htype.name] = narrowed
        productive = productive_types(types)
        lost = set(types) - productive
        if lost:
            raise BrokenPromise(
                f"narrowing {htype.name} by removing {list(step.remove)} would leave "
                f"{sorted(lost)} with no way to finish; a promise may narrow the futures "
                "but must leave at least one")
        for hid in self.graph.holes_of_type(htype.name):
            hole = self.graph.holes[hid]
            if hole.allowed is not None and not _can_finish(narrowed, hole.allowed, productive):
                raise BrokenPromise(
                    f"narrowing {htype.name} by removing {list(step.remove)} would leave "
                    f"hole {hid}, itself narrowed to {sorted(hole.allowed)}, with no way to "
                    "finish; a promise may narrow the futures but must leave at least one",
                    hole=hid)
        if self.limits:  # a hole in a constrained scope may have lost its only way
            self._check_can_finish(list(self.limits.hole_scopes), types=types)
        self.grammar = self.grammar.with_types(types.values())
        return Applied(step)

    def _narrow_hole(self, step: NarrowHole) -> Applied:
        hole = self._hole(step.hole)
        htype = self.grammar.types[hole.type]
        if htype.open:
            raise BrokenPromise(f"hole {hole.id} is open; narrow it with 'refine'",
                                hole=hole.id)
        for name in step.remove:
            htype.production(name)
        left = frozenset(p.name for p in htype.allowed(hole.allowed)) - frozenset(step.remove)
        if not _can_finish(htype, left, productive_types(self.grammar.types)):
            raise BrokenPromise(f"narrowing hole {hole.id} by removing {list(step.remove)} "
                                "would leave it no way to finish", hole=hole.id)
        self._check_can_finish([hole.id], allowed=left)
        self.graph.replace_hole(replace(hole, allowed=left))
        return Applied(step)


def hole_depth(hole_id: str) -> int:
    """A hole's place in its chain: ``X.1`` is 1, ``X.1.2`` (made by expanding ``X.1``
    into another X) is 2, and so on (ids are a function of the derivation tree)."""
    parts = hole_id.rpartition("/")[2].split(".")
    return int(parts[2]) if len(parts) == 3 else 1


def _parts(expr: tuple[object, ...]) -> list[tuple[object, ...]]:
    found = [expr]
    for part in expr[1:]:
        if isinstance(part, tuple):
            found.extend(_parts(part))
    return found


def _short(value: JSON, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def narrowing_of(htype: HoleType, hole_id: str, production: str) -> str:
    """Which narrowing took ``production`` from hole ``hole_id`` (of ``htype``): one of
    its type, else one of the hole itself.

    >>> from grammarflow import define
    >>> x = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | nothing").types["X"]
    >>> narrowing_of(replace(x, removed=frozenset({"2"})), "X.1", "2")
    'type X lost production 2'
    >>> narrowing_of(x, "X.1", "2")
    'hole X.1 lost production 2'
    """
    if production in htype.removed:
        return f"type {htype.name} lost production {production}"
    return f"hole {hole_id} lost production {production}"


def _can_finish(htype: HoleType, only: frozenset[str], productive: set[str]) -> bool:
    """Has a hole of ``htype`` narrowed to ``only`` a production left that can finish?"""
    return any(all(h.type in productive for h in p.fragment.holes)
               for p in htype.allowed(only))


__all__ = ["EVERYWHERE", "Derivation", "Plan", "child_hole_id", "compile_fragment",
           "instantiate", "narrowing_of"]
