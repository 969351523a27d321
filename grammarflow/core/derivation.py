"""A grammar applied to a graph: steps, atomicity, instantiation, and the ids it makes.

Every change goes through :meth:`Derivation.apply`: it happens entirely, or raises
:class:`~grammarflow.errors.BrokenPromise` and leaves graph and grammar as they were.
Roles make acyclicity local (proofs/05-acyclicity.md) and ids are a function of the
derivation tree (proofs/04-confluence.md; the rule: docs/notation.md). How a change
request reaches it: docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from grammarflow.core import choosing, graph_views, narrowing, open_holes, styling
from grammarflow.core.finishing import stranded
from grammarflow.core.graph import JSON, NO_ATTRS, Graph, Hole, TaskState
from grammarflow.core.narrowing import narrowing_of
from grammarflow.core.plans import Plan, compile_fragment, instantiate
from grammarflow.core.productions import Fragment, HoleType, Production
from grammarflow.core.scopes import ConstraintState
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
from grammarflow.core.values import check_data_edges, inputs, output
from grammarflow.errors import Attempt, BrokenPromise, GrammarflowError, Why

if TYPE_CHECKING:  # annotations only: a grammar is checked by, and built above, this module
    from grammarflow.core.grammar import Grammar

#: Above this length the part of an id before its last hole segment is replaced by a
#: digest of it, so ids stay short under any recursion (still a function of the tree).
MAX_ID = 160


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
            self.instantiate_plan(compile_fragment(grammar.start, (), grammar.types), (), None)

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

    def __repr__(self) -> str:
        """The steps that rebuild it, as code to paste into a test (``@example``):
        ``replay(grammar, [...])`` (:func:`grammarflow.testing.replay`)."""
        return f"replay(grammar, {self.history!r})"

    def _repr_svg_(self) -> str | None:
        """Jupyter's picture: the graph as it stands, every hole a wildcard."""
        return graph_views.svg(self.graph, self.grammar, self.limits)

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
        hole = self.hole(hole_id)
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
                why=Why.DUE_WITHOUT_DEFAULT, hole=hole_id,
            )
        return self.apply(Expand(hole_id, htype.default))

    def chosen(self, hole: Hole) -> Production:
        """The production a due hole of a guarded type takes (:func:`choosing.chosen`)."""
        return choosing.chosen(self, hole)

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
                return open_holes.grow(self, step)
            case Refine():
                return open_holes.refine(self, step)
            case NarrowType():
                return narrowing.narrow_type(self, step)
            case NarrowHole():
                return narrowing.narrow_hole(self, step)
            case Constrain():
                return open_holes.constrain(self, step)
            case Output():
                return output(self, step)
            case Style():
                return styling.style(self, step)
            case SetState(task, state):
                if task not in self.graph.tasks:
                    raise BrokenPromise(f"no task {task!r} in the graph",
                                        why=Why.UNKNOWN_TASK, task=task)
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
        """The values of a task's inputs (:func:`grammarflow.core.values.inputs`)."""
        return inputs(self, task)

    def hole(self, hole_id: str) -> Hole:
        hole = self.graph.holes.get(hole_id)
        if hole is None:
            raise BrokenPromise(f"no hole {hole_id!r} in the graph (it may have been "
                                "expanded already)", why=Why.NO_SUCH_HOLE, hole=hole_id)
        return hole

    # ---------------------------------------------------------------- productions
    def _expand(self, step: Expand) -> Applied:
        hole = self.graph.holes.get(step.hole)
        if hole is None:
            hole = self.hole(step.hole)  # raises with the reason
        htype = self.grammar.types[hole.type]
        if htype.open:
            raise BrokenPromise(f"hole {hole.id} ({hole.type}) is open: it is changed by "
                                "'add' or 'refine', not by a production",
                                why=Why.WRONG_STEP, hole=hole.id)
        prod, plan = self._production_plan(htype, step.production)
        if not htype.permits(prod.name, hole.allowed):
            allowed = [p.name for p in htype.allowed(hole.allowed)]
            narrowing = narrowing_of(htype, hole.id, prod.name)
            raise BrokenPromise(
                f"production {prod!r} was narrowed away for hole {hole.id} ({narrowing}); "
                f"still allowed: {allowed}", why=Why.NARROWED_AWAY, hole=hole.id,
                attempts=(Attempt(repr(prod), f"removed by a narrowing promise ({narrowing})"),))
        if prod.guard is not None:
            choosing.check_guard(self, hole, htype, prod)
        if prod.condition is not None:
            choosing.check_condition(self, hole, htype, prod)
        attrs = step.attrs
        if attrs:
            unknown = set(attrs) - set(prod.fragment.locals)
            if unknown:
                raise BrokenPromise(f"attrs name {sorted(unknown)}, which {prod!r} does not "
                                    "create", why=Why.ATTRS, hole=hole.id)
        self.graph.remove_hole(hole.id)
        created, holes = self.instantiate_plan(plan, hole.args, hole, attrs, replaced=True)
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
    # ---------------------------------------------------------------- constraints
    def instantiate_plan(self, plan: Plan, values: Sequence[str], parent: Hole | None,
                     attrs: Mapping[str, Mapping[str, JSON]] = NO_ATTRS, *,
                     replaced: bool = False) -> tuple[dict[str, str], tuple[str, ...]]:
        """:func:`instantiate`, keeping the constraints of the scopes ``parent`` is in
        (``replaced``: the parent hole was removed by this step); ``attrs``: those the
        step gives its new tasks, styles checked like a ``Style`` step's. O(size of the
        change)."""
        if attrs:
            styling.check_given_styles(self, parent, attrs)
        lim = self.limits
        if not lim and not self.grammar.constrained:
            if not self.grammar.data:
                return instantiate(self.graph, plan, values, parent, attrs)
            created, holes = instantiate(self.graph, plan, values, parent, attrs)
            nodes = [*values, *created.values()]
            check_data_edges(self, ((nodes[u], nodes[v]) for u, v in plan.edges))
            return created, holes
        g = self.graph
        n = len(values)
        before = {(values[u], values[v]) for u, v in plan.edges
                  if u < n and v < n and g.has_edge(values[u], values[v])}
        created, holes = instantiate(g, plan, values, parent, attrs)
        if self.grammar.data:
            nodes = [*values, *created.values()]
            check_data_edges(self, ((nodes[u], nodes[v]) for u, v in plan.edges))
        chain = lim.scopes_of(parent.id) if parent is not None else ()
        if chain or lim.rules:
            nodes = [*values, *created.values()]
            edges = [e for e in dict.fromkeys((nodes[u], nodes[v]) for u, v in plan.edges)
                     if e not in before]
            if chain:
                tasks = [(tid, g.tasks[tid].kind) for tid in created.values()]
                lim.check_change(chain, tasks, edges, self.kind_of)
                self.check_can_finish(holes, chain)
            if lim.rules:
                lim.check_edges(edges, self.kind_of)
        lim.holes_made(chain, holes)
        for hid in holes:
            hole = g.holes[hid]
            htype = self.grammar.types[hole.type]
            if htype.constraints:
                lim.start(hid, htype.name, htype.constraints,
                          dict(zip(htype.params, hole.args, strict=False)))
        if replaced and parent is not None:
            lim.hole_gone(parent.id, self.kind_of, self.successors)
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

    def check_can_finish(self, holes: Iterable[str], chain: tuple[str, ...] | None = None,
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
                    why=Why.NO_WAY_TO_FINISH, hole=hid)

    def kind_of(self, task: str) -> str:
        return self.graph.tasks[task].kind

    def successors(self, task: str) -> set[str]:
        return self.graph.succ[task]

    # ---------------------------------------------------------------- narrowing











__all__ = ["Derivation"]
