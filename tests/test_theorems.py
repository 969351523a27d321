"""Property tests for the theorems of DESIGN.md §6 (see proofs/, one file each).

Random grammars (tests/strategies.py) meet random runs in which tasks send random
messages, legal and not (grammarflow.testing.message_runs; tests/test_fuzzing.py
asserts they reach every kind of step). The oracle is tests/reference.py, a naive
second implementation of every step. Each test names the theorem it guards and
records what its examples exercised with hypothesis.event (see
``--hypothesis-show-statistics``); none returns early: where a case is needed, a
strategy builds it (or ``assume`` drops the rare example without it).
"""

from __future__ import annotations

import random
import re
from typing import Any

import networkx as nx
import pytest
from hypothesis import assume, event, example, given, settings
from hypothesis import strategies as st
from reference import Illegal, Model, full_graph, productive, replay
from strategies import FIND, cyclic_grammars, grammar_runs, grammars, note

from grammarflow import (
    BrokenPromise,
    Derivation,
    Diff,
    Expand,
    Fragment,
    Grammar,
    GrammarError,
    GrammarflowError,
    Graph,
    Grow,
    HoleType,
    NarrowHole,
    NarrowType,
    Refine,
    SetState,
    TaskSpec,
    TaskState,
    add,
    define,
    repeat_parallel,
)
from grammarflow.core.constraints import parse_constraints
from grammarflow.core.match import Added
from grammarflow.core.match.agenda import Agenda
from grammarflow.core.match.diff import Elements
from grammarflow.core.match.exhaustive import (
    EXHAUSTIVE_BUDGET,
    exhaustive_moves,
    searched_hole_by_hole,
)
from grammarflow.core.match.limits import Limits, TooCostly
from grammarflow.core.match.search import Search
from grammarflow.core.simulate import RandomChooser, finish
from grammarflow.core.steps import Constrain
from grammarflow.errors import Why
from grammarflow.testing import MessageRun, derivations, message_runs, partial_runs

MAP = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))


# ---------------------------------------------------------------- Theorem 1: soundness
def check_accepted_steps_are_production_applications(run: MessageRun) -> None:
    """Every accepted message did exactly what the reference does with its steps, and
    the reference finds each step allowed."""
    for o in run.outcomes:
        if not o.accepted:
            continue
        try:
            model = replay(o.before, o.grammar_before, o.steps())
        except Illegal as e:
            raise AssertionError(f"{o.message} ({', '.join(o.tags)}) was accepted, but "
                                 f"the reference refuses it: {e}") from None
        differences = model.differences(o.after, o.grammar_after)
        assert not differences, f"{o.message} did not do what its steps do: {differences}"


def check_the_run_stays_in_its_promises(run: MessageRun) -> None:
    """The whole history (messages, defaults, states), replayed in the reference from
    the start: every step allowed, nothing grows outside the hole it comes from, and
    the scheduler's bookkeeping (ready tasks, due holes) right after every step."""
    core = run.grammar.derivation()
    model = Model.of(core.graph.to_json(), run.grammar.to_json())
    for i, step in enumerate(run.derivation.history):
        try:
            model.apply(step)
        except Illegal as e:
            raise AssertionError(f"step {i} of the run was accepted, but the reference "
                                 f"refuses it: {e}") from None
        core.apply(step)
        assert set(core.graph.ready()) == model.ready(), f"ready tasks after step {i} {step}"
        assert set(core.graph.due()) == model.due(), f"due holes after step {i} {step}"
    differences = model.differences(run.derivation.graph.to_json(),
                                    run.derivation.grammar.to_json())
    assert not differences, f"the run ends elsewhere than its steps lead: {differences}"


@given(grammar_runs())
def test_accepted_steps_keep_graph_derivable(run: MessageRun) -> None:
    """Theorem 1 (soundness): every accepted step is an allowed production application
    (or growth of an open hole within its region), and does exactly that."""
    note(run)
    check_accepted_steps_are_production_applications(run)
    check_the_run_stays_in_its_promises(run)


def check_add_yields_exactly_the_diff(run: MessageRun) -> None:
    for o in run.outcomes:
        if not (o.accepted and isinstance(o.message, Diff)):
            continue
        assert isinstance(o.result, Added)
        ids = o.result.ids
        before_tasks = {t["id"] for t in o.before["tasks"]}
        new_tasks = {t["id"]: t["kind"] for t in o.after["tasks"] if t["id"] not in before_tasks}
        assert new_tasks == {ids[t.local]: t.kind for t in o.message.tasks}, \
            f"asked for tasks {o.message.tasks}, got {new_tasks}"
        before_edges = {tuple(e) for e in o.before["edges"]}
        new_edges = {tuple(e) for e in o.after["edges"]} - before_edges
        wanted = {(ids.get(u, u), ids.get(v, v)) for u, v in o.message.edges} - before_edges
        assert new_edges == wanted, f"asked for {sorted(wanted)}, got {sorted(new_edges)}"


@given(grammar_runs())
def test_an_accepted_raw_change_is_exactly_what_was_asked(run: MessageRun) -> None:
    """Theorem 1 (soundness, raw diffs): the graph changes by exactly the diff."""
    note(run)
    check_add_yields_exactly_the_diff(run)


# ---------------------------------------------------------------- Theorem 2: promise safety
def check_promise_safety(run: MessageRun) -> None:
    for o in run.outcomes:
        if o.accepted:
            assert not o.illegal, (f"{o.message} was built to break a promise "
                                   f"({', '.join(o.tags)}), but it was accepted")
            # history is permanent: no task or edge is ever taken away
            assert {t["id"] for t in o.before["tasks"]} <= {t["id"] for t in o.after["tasks"]}
            assert {tuple(e) for e in o.before["edges"]} <= {tuple(e) for e in o.after["edges"]}
        else:
            assert o.after == o.before, f"refused {o.message} left a trace in the graph"
            assert o.grammar_after == o.grammar_before, \
                f"refused {o.message} left a trace in the grammar"
            assert o.error is not None and o.error.reason
    d = run.derivation
    if run.broken is None:
        assert d.is_finished()
    elif run.broken.why is Why.CONSTRAINT:  # decided at a start or close
        assert run.broken.hole in d.limits.scopes
    else:
        hole = d.graph.holes[run.broken.hole or ""]
        assert hole.id in set(d.graph.due())
        htype = d.grammar.types[hole.type]
        assert htype.default not in {p.name for p in htype.allowed(hole.allowed)}


@given(grammar_runs())
def test_refused_changes_leave_no_trace_and_runs_end_finished_or_broken(run: MessageRun) -> None:
    """Theorem 2 (promise safety): every message built to break a promise is refused,
    a refusal leaves no trace, and a run ends finished or with a broken promise."""
    note(run)
    check_promise_safety(run)


# ---------------------------------------------------------------- Theorem 3: completeness
def reach_by_messages(grammar: Grammar, target: Derivation) -> Derivation:
    """Run the workflow so that each hole is expanded just in time, by a running task,
    following the target's derivation; return the run's derivation."""
    plan: dict[str, Any] = {}  # target hole id -> [(step, child hole ids, tasks)]
    first: dict[str, int] = {}  # target hole id -> index of its first step in the history
    replayed = grammar.derivation()
    for i, step in enumerate(target.history):
        applied = replayed.apply(step)
        hole = getattr(step, "hole", None)
        if hole is not None:
            plan.setdefault(hole, []).append((step, applied.holes, applied.tasks))
            first.setdefault(hole, i)
    run = grammar.derivation()
    hole_map = {h: h for h in run.graph.holes}  # run hole id -> target hole id
    task_map = {t: t for t in run.graph.tasks}  # target task id -> run task id

    def translate(step: Any, run_hole: str) -> Any:
        if isinstance(step, Expand):
            return Expand(run_hole, step.production, step.attrs)
        fragment = step.fragment
        local = set(fragment.locals)
        edges = tuple((u if u in local else task_map[u], v if v in local else task_map[v])
                      for u, v in fragment.edges)
        moved = type(fragment)(fragment.tasks, fragment.holes, edges)
        return type(step)(run_hole, moved) if isinstance(step, Grow) else \
            Refine(run_hole, moved, step.types)

    def expand_due(task: str | None) -> None:
        changed = True
        while changed:
            changed = False
            # the target's own order: a step may name tasks an earlier step created
            for hid, hole in sorted(run.graph.holes.items(),
                                    key=lambda kv: first.get(hole_map.get(kv[0], ""), 0)):
                if hole.everywhere:
                    others = [t for t, s in run.graph.state.items()
                              if s is not TaskState.DONE and t != task]
                    if others:
                        continue
                elif any(run.graph.state[a] is not TaskState.DONE and a != task
                         for a in hole.after):
                    continue
                target_id = hole_map.pop(hid)
                for step, children, tasks in plan.pop(target_id):
                    applied = run.apply(translate(step, hid))
                    for run_child, target_child in zip(applied.holes, children, strict=True):
                        hole_map[run_child] = target_child
                    for local, target_task in tasks.items():
                        task_map[target_task] = applied.tasks[local]
                    if isinstance(step, Grow):
                        hole_map[hid] = target_id
                changed = True
                break

    expand_due(None)  # holes due before anything runs (none: registration refuses them)
    while True:
        ready = sorted(run.graph.ready())
        if not ready:
            break
        task = ready[0]
        run.apply(SetState(task, TaskState.RUNNING))
        expand_due(task)
        run.apply(SetState(task, TaskState.DONE))
        run.close_due()
    assert not plan, f"holes never expanded: {sorted(plan)}"
    run.graph_task_map = task_map  # type: ignore[attr-defined]
    return run


@given(st.data())
def test_every_finished_graph_can_be_reached_by_task_messages(data: st.DataObject) -> None:
    """Theorem 3 (completeness)."""
    grammar = data.draw(grammars())
    target = data.draw(derivations(grammar))
    event(f"target: {len(target.history)} steps")
    run = reach_by_messages(grammar, target)
    assert run.is_finished()
    task_map = run.graph_task_map  # type: ignore[attr-defined]
    assert {task_map[t]: k.kind for t, k in target.graph.tasks.items()} == \
        {t: k.kind for t, k in run.graph.tasks.items()}
    assert {(task_map[u], task_map[v]) for u, v in target.graph.edges()} == \
        set(run.graph.edges())


@given(grammar_runs())
def test_every_message_built_to_keep_the_promises_is_accepted(run: MessageRun) -> None:
    """Theorem 3 (completeness of the checker): an expansion of an allowed production,
    a batch of them, the raw diff they make, growth or refinement of an open hole
    within its attachment, a narrowing that leaves a way to finish — all accepted."""
    note(run)
    for o in run.outcomes:
        if o.legal:
            assert o.accepted, f"{o.message} ({', '.join(o.tags)}) keeps every promise, " \
                               f"but was refused: {o.error}"


def _copy(d: Derivation) -> Derivation:
    from grammarflow import Graph

    return Derivation(d.grammar, Graph.from_json(d.graph.to_json()))


def _adds(d: Derivation, hole_id: str, production: str) -> bool:
    """Does applying the production add a task or an edge the graph has not?"""
    scratch = _copy(d)
    before = set(scratch.graph.edges())
    applied = scratch.apply(Expand(hole_id, production))
    return bool(applied.tasks) or bool(set(scratch.graph.edges()) - before)


def _adding(d: Derivation) -> list[tuple[str, str]]:
    """(hole, production) pairs that add a task or an edge."""
    return [(h, p.name) for h in sorted(d.graph.holes)
            for p in d.grammar.types[d.graph.holes[h].type].allowed(d.graph.holes[h].allowed)
            if _adds(d, h, p.name)]


@st.composite
def walks(draw: st.DrawFn, grammar: Grammar, keep: Any) -> Derivation:
    """A derivation after 0-2 random expansions, each one that leaves ``keep(d)`` true
    (the case a test needs), if the start has it."""
    d = grammar.derivation()
    for _ in range(draw(st.integers(0, 2))):
        options = []
        for h in sorted(d.graph.holes):
            hole = d.graph.holes[h]
            for p in d.grammar.types[hole.type].allowed(hole.allowed):
                after = _copy(d)
                after.apply(Expand(h, p.name))
                if keep(after):
                    options.append(Expand(h, p.name))
        if not options:
            break
        d.apply(draw(st.sampled_from(options)))
    return d


@st.composite
def production_sequences(draw: st.DrawFn, least: int = 1,
                         most: int = 3) -> tuple[Derivation, Derivation, list[Expand]]:
    """A derivation walked a little, and ``least`` to ``most`` allowed expansions after
    it (fewer if none is left; often of a hole the previous one made), each adding a task
    or an edge: (before, after, steps)."""
    grammar = draw(grammars(allow_open=False))
    d = draw(walks(grammar, lambda d: bool(_adding(d))))
    after = _copy(d)
    steps: list[Expand] = []
    children: list[str] = []
    for _ in range(draw(st.integers(least, most))):
        options = _adding(after)
        inner = [o for o in options if o[0] in children]
        if not options:
            break
        hole, name = draw(st.sampled_from(inner if inner and draw(st.booleans()) else options))
        steps.append(Expand(hole, name))
        children = list(after.apply(steps[-1]).holes)
    assume(steps)
    return d, after, steps


def _sequence(start: str, productions: str,
              steps: list[tuple[str, str]]) -> tuple[Derivation, Derivation, list[Expand]]:
    """A case of production_sequences written out: the start, then the steps."""
    grammar = define(start, productions)
    after = grammar.derivation()
    for hole, name in steps:
        after.apply(Expand(hole, name))
    return grammar.derivation(), after, [Expand(h, n) for h, n in steps]


# Found by the fuzzer: the element-first search takes the M that X can make at once,
# while both M need X's other production (fixed by the hole-by-hole search) ...
@example(case=_sequence("s, e, X(s, e)", """
    X(a, b) ::= a -> M -> b | Y(a, b), Y(a, b)
    Y(a, b) ::= a -> M -> b
""", [("X.1", "2"), ("X.1/Y.1", "1"), ("X.1/Y.2", "1")]), rnd=random.Random(0))
# ... and a hole whose production remakes it twice over ran the search 1000 deep.
@example(case=_sequence("s0, s2, T0(s0, s2), T0(s0, s2)", """
    T0(a, b) ::= N:A -> b | a -> b, T0(a, b), T0(a, b)
""", [("T0.1", "2"), ("T0.1/T0.1", "1")]), rnd=random.Random(0))
# ... and the hole-by-hole search needed 2,000-3,000 steps for three nested expansions
# among symmetric B tasks (its budget was 2,000).
@example(case=_sequence("s0:A -> s2:A, s1:A, T1(s1, s2, s2), T1(s0, s1, s1), T2(s1, s1)", """
    T0(a0, a1) ::= nothing | T0(a0, a0) | N0:A, T0(a0, a0)
    T1(a0, b1, b2) ::= a0 -> b1, a0 -> b2 | T0(a0, a0) | a0 -> N0:A -> N1:A -> b1, \
        a0 -> N1 -> b2, a0 -> b1, a0 -> b2, N0 -> b1, N0 -> b2, P(a0, b1)
    T2(a0, a1) ::= a0 -> N1:B, a0 -> N2:B, a1 -> N2, N0:A | N0:B, T2(a0, N0), T2(a1, a0) \
        | N0:B, T0(a0, a0)
    P(a0, b0) ::= a0 -> b0 | nothing
""", [("T2.1", "2"), ("T2.1/T2.2", "1"), ("T2.1/T2.1", "2")]), rnd=random.Random(0))
@given(production_sequences(), st.randoms(use_true_random=False))
def test_every_production_instance_is_accepted_as_a_raw_change(
        case: tuple[Derivation, Derivation, list[Expand]], rnd: random.Random) -> None:
    """Theorem 3 (completeness, raw diffs): what one or several allowed expansions add,
    sent as a raw diff (its tasks and edges in any order), is accepted and yields it."""
    d, expected, steps = case
    event(f"raw diff of {len(steps)} expansion(s)")
    new = [t for t in expected.graph.tasks.values() if t.id not in d.graph.tasks]
    names = {t.id: f"x{i}" for i, t in enumerate(new)}
    old = set(d.graph.tasks)
    added = add(d, raw_diff(d, expected, rnd))  # must not raise
    event(f"explained by {len(added.steps)} step(s)")
    assert set(added.ids) == set(names.values())
    assert {added.ids[names[t.id]]: t.kind for t in new} == \
        {t: k.kind for t, k in d.graph.tasks.items() if t not in old}
    ids = {t: added.ids[n] for t, n in names.items()}
    assert {(ids.get(u, u), ids.get(v, v)) for u, v in expected.graph.edges()} == \
        set(d.graph.edges())


def raw_diff(d: Derivation, expected: Derivation, rnd: random.Random) -> Diff:
    """What ``expected`` adds to ``d``, as a raw diff listed in a random order."""
    new = [t for t in expected.graph.tasks.values() if t.id not in d.graph.tasks]
    names = {t.id: f"x{i}" for i, t in enumerate(new)}
    tasks = [TaskSpec(names[t.id], t.kind) for t in new]
    edges = [(names.get(u, u), names.get(v, v)) for u, v in sorted(expected.graph.edges())
             if not d.graph.has_edge(u, v)]
    rnd.shuffle(tasks)
    rnd.shuffle(edges)
    return Diff(tuple(tasks), tuple(edges))


@st.composite
def flat_expansions(draw: st.DrawFn) -> tuple[Derivation, Derivation]:
    """A derivation walked a little, and expansions of 1-6 of its graph's holes (none a
    hole another of them makes), each adding a task or an edge: (before, after)."""
    grammar = draw(grammars(allow_open=False))
    d = draw(walks(grammar, lambda d: bool(_adding(d))))
    options = _adding(d)
    assume(options)
    after = _copy(d)
    chosen: dict[str, str] = {}
    for hole, name in draw(st.lists(st.sampled_from(options), min_size=1, max_size=6)):
        chosen.setdefault(hole, name)
    for hole, name in chosen.items():
        after.apply(Expand(hole, name))
    event(f"{len(chosen)} hole(s) of the graph expanded")
    return d, after


@given(flat_expansions(), st.randoms(use_true_random=False))
def test_the_first_search_alone_explains_expansions_of_the_graphs_own_holes(
        case: tuple[Derivation, Derivation], rnd: random.Random) -> None:
    """Theorem 3 (completeness, the element-first search): when every step of a diff
    expands a hole the graph has now, each element can be made by a hole that exists
    from the start, and branching over the moves that make it (with the forward check)
    finds a plan in any listing order — without the hole-by-hole search, which small
    diffs would otherwise fall back on (hiding a bug in the first search)."""
    d, expected = case
    diff = raw_diff(d, expected, rnd)
    event(f"{len(diff.tasks) + len(diff.edges)} element(s)")
    moves = Search(d, Elements(d, diff), Limits(20_000, None, None, 0.0)).run()
    assert moves is not None, f"no plan found for {diff}"


@given(production_sequences(least=1, most=4), st.randoms(use_true_random=False))
def test_the_hole_by_hole_search_alone_explains_every_production_sequence(
        case: tuple[Derivation, Derivation, list[Expand]], rnd: random.Random) -> None:
    """Theorem 3 (completeness, the hole-by-hole search): the search that small changes
    the first one refused fall back on finds a plan for every change a sequence of
    allowed expansions makes — those through productions that make only holes too —
    when it runs alone (the first search explains most changes, hiding its bugs)."""
    d, expected, steps = case
    elements = Elements(d, raw_diff(d, expected, rnd))
    assume(searched_hole_by_hole(elements))
    event(f"{len(steps)} expansion(s)")
    try:
        moves = exhaustive_moves(d, elements, Limits(EXHAUSTIVE_BUDGET, None, None, 0.0),
                                 Search(d, elements, Limits(1, None, None, 0.0)).index)
    except TooCostly:
        assume(False)
        return
    assert moves is not None, f"no plan found for {steps}"


class _WakeAll(Agenda):
    """An agenda that wakes every blocked element after every move: slow, and surely
    never misses one that a move made producible."""

    def _near_blocked(self, names: set[str]) -> set[int]:
        return set(self.blocked)

    def _free_woken(self, holes: Any) -> set[int]:
        return set(self.blocked_free)


class _Awake(Search):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.agenda = _WakeAll(self)


@given(production_sequences(least=2, most=10), st.randoms(use_true_random=False))
def test_waking_only_what_a_move_may_make_producible_loses_no_plan(
        case: tuple[Derivation, Derivation, list[Expand]], rnd: random.Random) -> None:
    """Theorem 3 (completeness, the search's agenda): an element no move makes waits
    until a move makes a task next to it or a hole within its type's reach of it
    (proofs/03); the first search finds a plan whenever the same search that looks at
    every waiting element after every move finds one."""
    d, expected, _ = case
    elements = Elements(d, raw_diff(d, expected, rnd))
    limits = Limits(20_000, None, None, 0.0)
    try:
        awake = _Awake(d, elements, limits).run()
        found = Search(d, elements, limits).run()
    except TooCostly:
        assume(False)
        return
    event("a plan" if awake is not None else "no plan")
    assert (found is None) == (awake is None)


@st.composite
def joined_through_holes(draw: st.DrawFn, deepest: int = 2
                         ) -> tuple[Derivation, Derivation]:
    """A grammar whose productions make a task no edge joins to its hole's arguments —
    ``n`` below, joined to ``b`` only through a hole it makes, and 0 to ``deepest``
    holes that make only holes before it — started with 1-3 such holes and expanded to
    the end:
    (before, after). ``n``'s element is next to no task of the graph, so it waits until
    a move makes a hole that may make it anywhere."""
    depth = draw(st.integers(0, deepest))
    lanes = draw(st.integers(1, 3))
    beside = draw(st.booleans())  # X makes a task of its own too
    via = draw(st.booleans())  # n reaches b through a task P, or straight
    rules = [f"X(a, b) ::= {'a -> M -> b, ' if beside else ''}Y0(a, b)"]
    rules += [f"Y{i}(a, b) ::= Y{i + 1}(a, b)" for i in range(depth)]
    rules += [f"Y{depth}(a, b) ::= n:N, Z(n, b)",
              f"Z(u, v) ::= {'u -> P -> v' if via else 'u -> Q, Q -> v'}"]
    start = ", ".join(["s, e", *("X(s, e)" for _ in range(lanes))])
    d = define(start, "\n".join(rules)).derivation()
    after = _copy(d)
    while after.graph.holes:
        after.apply(Expand(min(after.graph.holes), "1"))
    return d, after


@given(joined_through_holes(), st.randoms(use_true_random=False))
def test_a_task_joined_to_its_hole_only_through_holes_is_found_in_any_order(
        case: tuple[Derivation, Derivation], rnd: random.Random) -> None:
    """Theorem 3 (completeness, the search's agenda): an element next to no task of the
    graph is woken by any new hole whose type may make its kind anywhere (proofs/03,
    waking), so the first search alone finds the plan whatever is listed first."""
    d, expected = case
    diff = raw_diff(d, expected, rnd)
    event(f"{diff.tasks[0].kind} listed first")
    moves = Search(d, Elements(d, diff), Limits(20_000, None, None, 0.0)).run()
    assert moves is not None, f"no plan found for {diff}"


@given(joined_through_holes(deepest=6), st.randoms(use_true_random=False))
def test_the_hole_by_hole_search_goes_through_productions_that_make_only_holes(
        case: tuple[Derivation, Derivation], rnd: random.Random) -> None:
    """Theorem 3 (completeness, the hole-by-hole search): a plan may hold steps that
    make only holes (Y0 ::= Y1 ::= ... before the step that makes a task); the search
    alone finds it, whatever is listed first."""
    d, expected = case
    elements = Elements(d, raw_diff(d, expected, rnd))
    assume(searched_hole_by_hole(elements))
    moves = exhaustive_moves(d, elements, Limits(EXHAUSTIVE_BUDGET, None, None, 0.0),
                             Search(d, elements, Limits(1, None, None, 0.0)).index)
    assert moves is not None, f"no plan found for {elements.items}"


class _Unchecked(Search):
    """The element-first search without its forward check."""

    def doomed(self, move: Any) -> None:
        return None


@given(production_sequences(least=4, most=12), st.randoms(use_true_random=False))
def test_no_state_on_the_way_to_a_plan_is_doomed(
        case: tuple[Derivation, Derivation, list[Expand]], rnd: random.Random) -> None:
    """Theorem 3 (completeness, the search's forward check): a state from which a plan
    exists is never doomed. A plan found with the check switched off, replayed with it
    on: no move along it may doom the state it leads to (proofs/03-completeness.md)."""
    d, expected, _ = case
    elements = Elements(d, raw_diff(d, expected, rnd))
    limits = Limits(20_000, None, None, 0.0)
    try:
        moves = _Unchecked(d, elements, limits).run()
    except TooCostly:  # without the check, a search may take long: no plan to replay
        moves = None
    assume(moves)
    event(f"plan of {len(moves)} move(s)")
    checked = Search(d, elements, limits)
    done: list[Any] = []
    for move in moves:
        done.append(move)
        checked.state.advance(move, done)
        assert checked.doomed(move) is None, (
            f"after {len(done)} of {len(moves)} moves of a plan, the forward check "
            f"doomed the state: {checked.doomed(move)}")


# ---------------------------------------------------------------- Theorem 4: confluence
def _labelled(d: Derivation) -> nx.DiGraph:
    g = nx.DiGraph()
    for t in d.graph.tasks.values():
        g.add_node(t.id, label=("task", t.kind, d.graph.state[t.id].value))
    for h in d.graph.holes.values():
        g.add_node(h.id, label=("hole", h.type, h.allowed))
        for i, a in enumerate(h.args):
            g.add_edge(h.id, a, label=("arg", i))
    g.add_edges_from(d.graph.edges(), label=("edge",))
    return g


@st.composite
def two_expansions(draw: st.DrawFn) -> tuple[Grammar, list[Any], Expand, Expand]:
    """A derivation walked a little (keeping two holes or more: the grammars start
    with two), and expansions of two distinct holes of it."""
    grammar = draw(grammars(allow_open=False))
    d = grammar.derivation()
    for _ in range(draw(st.integers(0, 3))):
        keep = [(h, p.name) for h in sorted(d.graph.holes)
                for p in d.grammar.types[d.graph.holes[h].type].allowed()
                if len(d.graph.holes) - 1 + len(p.fragment.holes) >= 2]
        if not keep:
            break
        d.apply(Expand(*draw(st.sampled_from(keep))))
    h1, h2 = draw(st.lists(st.sampled_from(sorted(d.graph.holes)), min_size=2,
                           max_size=2, unique=True))
    p1, p2 = (draw(st.sampled_from([p.name for p in d.grammar.types[
        d.graph.holes[h].type].allowed()])) for h in (h1, h2))
    return grammar, list(d.history), Expand(h1, p1), Expand(h2, p2)


@given(two_expansions())
def test_expansions_of_distinct_holes_commute(
        case: tuple[Grammar, list[Any], Expand, Expand]) -> None:
    """Theorem 4 (confluence), up to the names of fresh holes."""
    grammar, history, e1, e2 = case
    one = Derivation.replay(grammar, [*history, e1, e2])
    two = Derivation.replay(grammar, [*history, e2, e1])
    base = Derivation.replay(grammar, history)
    event("new holes" if set(one.graph.holes) - set(base.graph.holes) else "no new holes")
    match = nx.algorithms.isomorphism.categorical_node_match("label", None)
    ematch = nx.algorithms.isomorphism.categorical_edge_match("label", None)
    assert nx.is_isomorphic(_labelled(one), _labelled(two), node_match=match, edge_match=ematch)


@given(two_expansions())
def test_expansions_of_distinct_holes_commute_ids_and_all(
        case: tuple[Grammar, list[Any], Expand, Expand]) -> None:
    """Theorem 4 with DESIGN §4's ids: a new node's id comes from the hole it came from
    and the production, so the order of independent expansions changes no id."""
    grammar, history, e1, e2 = case
    one = Derivation.replay(grammar, [*history, e1, e2])
    two = Derivation.replay(grammar, [*history, e2, e1])
    made = {h.type for h in one.graph.holes.values()} & {h.type for h in two.graph.holes.values()}
    event("children of one type" if made else "children of other types")
    assert one.graph.to_json()["holes"] == two.graph.to_json()["holes"]
    assert one.graph.to_json()["tasks"] == two.graph.to_json()["tasks"]
    assert set(one.graph.edges()) == set(two.graph.edges())


@given(grammars(), st.data())
def test_a_task_that_waits_on_another_cannot_start(grammar: Grammar, data: st.DataObject) -> None:
    """Theorem 2 (b) relies on it: a task starts only once everything before it is done.
    Starting a pending task with a predecessor not done (the orchestrator's bug, or a
    journal edited by hand) is refused and changes nothing."""
    d = data.draw(partial_runs(grammar))
    waiting = sorted(t for t, state in d.graph.state.items() if state is TaskState.PENDING
                     and any(d.graph.state[p] is not TaskState.DONE for p in d.graph.pred[t]))
    assume(waiting)
    task = data.draw(st.sampled_from(waiting))
    before = d.graph.to_json()
    with pytest.raises(GrammarflowError, match="is not ready"):
        d.apply(SetState(task, TaskState.RUNNING))
    assert d.graph.to_json() == before


# ---------------------------------------------------------------- Theorem 5: acyclicity
@given(grammar_runs())
def test_every_accepted_step_keeps_the_graph_acyclic(run: MessageRun) -> None:
    """Theorem 5 (acyclicity), with holes drawn between their roles."""
    note(run)
    for o in run.outcomes:
        assert nx.is_directed_acyclic_graph(full_graph(o.after)), f"after {o.message}"
    assert nx.is_directed_acyclic_graph(full_graph(run.derivation.graph.to_json()))


@given(cyclic_grammars())
def test_a_grammar_with_a_cycle_is_refused_at_registration(
        case: tuple[str, Fragment, dict[str, HoleType]]) -> None:
    """Theorem 5 at registration: a cycle in a production or the start graph is refused."""
    where, start, types = case
    event(f"a cycle in the {where}")
    with pytest.raises(GrammarError, match="cycle"):
        Grammar(start, types)


# ---------------------------------------------------------------- Theorem 6: narrowing
def _productions(grammar: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["name"], p["name"]) for t in grammar["types"] for p in t["productions"]
            if p["name"] not in t["removed"]}


@given(grammar_runs())
def test_narrowing_only_removes_futures(run: MessageRun) -> None:
    """Theorem 6 (monotone narrowing): allowed productions only shrink, per type and
    hole, by exactly what was removed (the reference checks the rest of each step)."""
    note(run)
    for o in run.outcomes:
        if not o.accepted:
            continue
        assert _productions(o.grammar_after) <= _productions(o.grammar_before) | {
            (t.name, p.name) for s in o.steps() if isinstance(s, Refine)
            for t in s.types for p in t.productions}
        if isinstance(o.message, NarrowType):
            assert _productions(o.grammar_before) - _productions(o.grammar_after) == {
                (o.message.type, n) for n in o.message.remove} - {
                (t["name"], n) for t in o.grammar_before["types"] for n in t["removed"]}
        for h in o.after["holes"]:
            old = next((x for x in o.before["holes"] if x["id"] == h["id"]), None)
            if old is not None and old["allowed"] is not None:
                assert set(h["allowed"]) <= set(old["allowed"])


def _narrowing_choices(d: Derivation) -> list[tuple[str, str]]:
    """(hole, production): removing the production from the hole's type leaves every
    type a way to finish (so from the hole too)."""
    choices = []
    types = {n: t.to_json() for n, t in d.grammar.types.items()}
    for hid in sorted(d.graph.holes):
        htype = d.grammar.types[d.graph.holes[hid].type]
        names = [p.name for p in htype.allowed()]
        for name in names if len(names) > 1 else ():
            narrowed = {**types, htype.name: {**types[htype.name], "removed": [name]}}
            if set(narrowed) == productive(narrowed):
                choices.append((hid, name))
    return choices


@st.composite
def narrowings(draw: st.DrawFn) -> tuple[Grammar, Derivation, NarrowType | NarrowHole, str]:
    """A derivation walked a little, and a narrowing of a hole it has (or of that
    hole's type) that removes some productions but leaves a way to finish."""
    grammar = draw(grammars(allow_open=False))
    d = draw(walks(grammar, lambda d: bool(_narrowing_choices(d))))
    choices = _narrowing_choices(d)
    assume(choices)
    hid, name = draw(st.sampled_from(choices))
    kind = draw(st.sampled_from(["type", "hole"]))
    step = NarrowType(d.graph.holes[hid].type, (name,)) if kind == "type" \
        else NarrowHole(hid, (name,))
    return grammar, d, step, hid


@given(narrowings(), st.integers(0, 2**32))
def test_a_narrowed_language_is_inside_the_original(
        case: tuple[Grammar, Derivation, NarrowType | NarrowHole, str], seed: int) -> None:
    """Theorem 6: after a narrowing that removes a production some hole could take,
    no way to finish uses it, and every one is a way the original grammar allows."""
    grammar, d, step, hid = case
    event(f"narrow {'type' if isinstance(step, NarrowType) else 'hole'}")
    before = list(d.history)
    d.apply(step)  # leaves a way to finish: must be accepted
    removed = set(step.remove)
    narrowed_type = d.graph.holes[hid].type
    finish(d, RandomChooser(random.Random(seed)))
    check = Derivation.replay(grammar, before)
    for s in d.history[len(before) + 1:]:
        if isinstance(s, Expand):
            hole = check.graph.holes[s.hole]
            hit = s.hole == hid if isinstance(step, NarrowHole) else hole.type == narrowed_type
            assert not (hit and s.production in removed), f"{s} used a removed production"
        check.apply(s)
    assert check.graph == d.graph


# ---------------------------------------------------------------- Theorem 7: replay
@given(grammar_runs())
def test_folding_the_history_reproduces_the_state(run: MessageRun) -> None:
    """Theorem 7 (replay) for the core: the accepted steps rebuild graph and grammar."""
    note(run)
    again = Derivation.replay(run.grammar, run.derivation.history)
    assert again.graph == run.derivation.graph
    assert again.grammar == run.derivation.grammar


# ---------------------------------------------------------------- the checks can fail
def test_a_checker_that_skips_the_edge_comparison_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: a matcher that believes every edge it needs is there must be caught."""
    monkeypatch.setattr(Search, "present", lambda self, e: True)

    @settings(max_examples=300, derandomize=True, database=None, phases=FIND)
    @given(message_runs(MAP))
    def mutated(run: MessageRun) -> None:
        check_add_yields_exactly_the_diff(run)

    with pytest.raises(AssertionError, match="asked for"):
        mutated()


def test_a_checker_that_ignores_narrowing_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: if Expand forgot the narrowing, the soundness oracle objects."""
    from grammarflow.core.productions import HoleType

    monkeypatch.setattr(HoleType, "permits", lambda self, name, only=None: True)

    @settings(max_examples=300, derandomize=True, database=None, phases=FIND)
    @given(message_runs(MAP))
    def mutated(run: MessageRun) -> None:
        check_accepted_steps_are_production_applications(run)

    with pytest.raises(AssertionError, match="narrowed away"):
        mutated()


def test_the_map_example_stays_in_its_language() -> None:
    """A fixed example that stays: a map of three is three Ms between A and B."""
    d = MAP.derivation()
    names = {f"m{i}": "M" for i in range(3)}
    add(d, Diff(tuple(TaskSpec(n, k) for n, k in names.items()),
                tuple(e for m in names for e in (("A", m), (m, "B")))))
    d.close_due()
    assert sorted(t.kind for t in d.graph.tasks.values()) == ["A", "B", "M", "M", "M"]


# ---------------------------------------------------------------- constraint promises
#: Kinds and parameters the random constraints name (a kind no task has is fine too).
C_KINDS = ("A", "B", "C")


@st.composite
def random_constraint(draw: st.DrawFn, names: tuple[str, ...]) -> str:
    """One constraint in the notation, over ``names`` (kinds, and the parameters)."""
    kind = st.sampled_from(C_KINDS)
    name = st.sampled_from(names)
    n = draw(st.integers(0, 3))
    form = draw(st.sampled_from(["each", "only", "at most", "only edges", "no from",
                                 "no into", "each", "no tasks", "no edges"]))
    if form == "only":
        return "only " + ", ".join(draw(st.lists(kind, min_size=1, max_size=2, unique=True)))
    if form == "no tasks":
        return "no new tasks"
    if form == "at most":
        return f"at most {n} {draw(st.sampled_from((*C_KINDS, 'tasks')))}"
    if form == "only edges":
        pairs = draw(st.lists(st.tuples(name, name), min_size=1, max_size=3, unique=True))
        return "only " + ", ".join(f"{u} -> {v}" for u, v in pairs)
    if form == "no edges":
        return "no new edges"
    if form in ("no from", "no into"):
        return f"no edges {form[3:]} {draw(name)}"
    degrees = draw(st.lists(st.tuples(st.sampled_from(("", "at least ", "at most ")),
                                      st.integers(0, 2), kind,
                                      st.sampled_from(("before", "after"))),
                            min_size=1, max_size=2))
    return f"each {draw(kind)} has " + ", ".join(f"{b}{k} {j} {s}" for b, k, j, s in degrees)


@st.composite
def constrained_cases(draw: st.DrawFn) -> tuple[str, list[str], list[Any]]:
    """A grammar with one constrained open hole (between tasks, or everywhere), and a
    random sequence of changes to it: grown tasks and edges, tasks started and done,
    a constraint added, the hole closed."""
    everywhere = draw(st.booleans())
    names = C_KINDS if everywhere else (*C_KINDS, "a", "b")
    constraints = draw(st.lists(random_constraint(names), min_size=1, max_size=3))
    rule = ("Dyn(*) ::= * where " if everywhere else "Dyn(a; b) ::= * where ") + \
        "; ".join(constraints)
    ops = draw(st.lists(st.tuples(st.sampled_from(["grow"] * 4 + ["start"] * 2 + ["finish"] * 2
                                                  + ["constrain", "close"]),
                                  st.integers(0, 10**6)), min_size=1, max_size=20))
    extra = draw(random_constraint(names))
    return rule, [extra], ops


def _matches(name: str, task: str, kind: str, bound: dict[str, str]) -> bool:
    return bound[name] == task if name in bound else kind == name


def brute_force_violations(g: Graph, scopes: list[tuple[list[str], set[str], set[tuple[str, str]]]],
                           bound: dict[str, str], closed: bool) -> list[str]:
    """Every constraint broken by the graph as it stands, decided from scratch (not by
    grammarflow.core.constraints): ``scopes`` lists (constraints, tasks made, edges made)."""
    kind = {t: g.tasks[t].kind for t in g.tasks}
    out = []
    for texts, tasks, edges in scopes:
        for text in texts:
            words = text.split()
            if text.startswith("only") and "->" not in text:
                allowed = set(text[5:].split(", "))
                out += [f"{text}: {t}" for t in tasks if kind[t] not in allowed]
            elif text == "no new tasks":
                out += [f"{text}: {t}" for t in tasks]
            elif text.startswith("at most"):
                n, what = int(words[2]), words[3]
                if sum(1 for t in tasks if what == "tasks" or kind[t] == what) > n:
                    out.append(text)
            elif text.startswith("only"):
                pairs = [p.split(" -> ") for p in text[5:].split(", ")]
                out += [f"{text}: {u}->{v}" for u, v in edges if not any(
                    _matches(a, u, kind[u], bound) and _matches(b, v, kind[v], bound)
                    for a, b in pairs)]
            elif text == "no new edges":
                out += [f"{text}: {e}" for e in edges]
            elif text.startswith("no edges from"):
                out += [f"{text}: {u}" for u, v in edges if _matches(words[3], u, kind[u], bound)]
            elif text.startswith("no edges into"):
                out += [f"{text}: {v}" for u, v in edges if _matches(words[3], v, kind[v], bound)]
            else:
                out += _each_violations(g, text, tasks, kind, closed)
    return out


def _each_violations(g: Graph, text: str, tasks: set[str], kind: dict[str, str],
                     closed: bool) -> list[str]:
    head, _, rest = text.partition(" has ")
    target = head.split()[1]
    out = []
    for part in rest.split(", "):
        w = part.split()
        bound, (n, of, side) = ("exactly", w) if len(w) == 3 else (" ".join(w[:2]), w[2:])
        for t in tasks:
            if kind[t] != target:
                continue
            near = g.pred[t] if side == "before" else g.succ[t]
            count = sum(1 for x in near if kind[x] == of)
            decided = _predecessors_final(g, t) if side == "before" else closed
            if bound != "at least" and count > int(n):
                out.append(f"{text}: {t} has {count}")
            if decided and bound != "at most" and count < int(n):
                out.append(f"{text}: {t} has {count}")
    return out


def _predecessors_final(g: Graph, task: str) -> bool:
    """No edge can enter ``task`` any more: it started (no edge enters a started task),
    or no hole comes before it and none is attached everywhere (only those add edges
    into a task that exists)."""
    return g.is_started(task) or not any(h.everywhere or task in h.before
                                         for h in g.holes.values())


def _constrained_step(d: Derivation, op: str, seed: int, extra: list[str]) -> Any:
    """The step ``op`` means for the derivation as it stands (None: none possible)."""
    rng = random.Random(seed)
    g = d.graph
    hole = g.holes.get("Dyn.1")
    if op == "start":
        ready = g.ready_in_order()
        return SetState(rng.choice(ready), TaskState.RUNNING) if ready else None
    if op == "finish":
        running = sorted(t for t, s in g.state.items() if s is TaskState.RUNNING)
        return SetState(rng.choice(running), TaskState.DONE) if running else None
    if hole is None:
        return None
    if op == "constrain":
        return Constrain("Dyn.1", parse_constraints(extra[0]))
    if op == "close":
        return Refine("Dyn.1", Fragment())
    new = [f"n{seed}_{i}" for i in range(rng.randint(0, 3))]
    kinds = {n: rng.choice(C_KINDS) for n in new}
    sources = (sorted(g.tasks) if hole.everywhere else list(hole.after)) + new
    targets = ([t for t in sorted(g.tasks) if not g.is_started(t)] if hole.everywhere
               else list(hole.before)) + new
    edges = {(rng.choice(sources), rng.choice(targets))
             for _ in range(rng.randint(0, 5) if sources and targets else 0)}
    edges = {(u, v) for u, v in edges if u != v and not (u in new and v in new and
                                                         new.index(u) > new.index(v))}
    again = sorted((u, v) for u, v in g.edges() if not g.is_started(v)
                   and (hole.everywhere or (u in hole.after and v in hole.before)))
    if again and rng.random() < 0.5:  # an edge that exists, sent again: a no-op
        edges.add(rng.choice(again))
    return Grow("Dyn.1", Fragment(tuple(TaskSpec(n, k) for n, k in kinds.items()), (),
                                  tuple(sorted(edges))))


def check_constraints_decided_exactly(rule: str, extra: list[str], ops: list[Any]) -> None:
    """Each change is accepted exactly when the same change without constraints is, and
    the graph it leaves breaks none of them (as decided at that moment, by a brute-force
    checker over the whole graph)."""
    start = "s0 -> s1, s2, Dyn(*)" if "(*)" in rule else "s0 -> s1, s2, Dyn(s0, s2)"
    d = define(start, rule).derivation()
    free = define(start, rule.split(" where ")[0]).derivation()
    texts = rule.split(" where ")[1].split("; ")
    bound = {} if "(*)" in rule else {"a": "s0", "b": "s2"}
    scopes: list[tuple[list[str], set[str], set[tuple[str, str]]]] = [(texts, set(), set())]
    for op, seed in ops:
        step = _constrained_step(d, op, seed, extra)
        if step is None:
            continue
        event(f"constraints: {op}")
        if isinstance(step, Constrain):
            d.apply(step)
            scopes.append((extra, set(), set()))
            continue
        before_tasks, before_edges = set(free.graph.tasks), set(free.graph.edges())
        try:
            free.apply(step)
        except BrokenPromise:
            with pytest.raises(BrokenPromise):
                d.apply(step)
            continue
        made = set(free.graph.tasks) - before_tasks
        drawn = set(free.graph.edges()) - before_edges
        trial = [(t, tasks | made, edges | drawn) for t, tasks, edges in scopes]
        broken = brute_force_violations(free.graph, trial, bound, "Dyn.1" not in free.graph.holes)
        try:
            d.apply(step)
        except BrokenPromise as e:
            assert broken, f"refused, but no constraint is broken: {e.reason}"
            assert re.search(r"constraint '.*' of hole Dyn\.1 \(Dyn\) is broken", e.reason)
            event("constraints: refused")
            free = Derivation.replay(free.grammar, [s for s in d.history
                                                    if not isinstance(s, Constrain)])
            continue
        assert not broken, f"accepted {step}, yet {broken}"
        scopes = trial
        event("constraints: accepted")
    assert free.graph == d.graph


@settings(max_examples=150, deadline=None)
# a successor count decided when the scope closes (M51, a scope that never closes,
# survived the random cases without this one)
@example(case=("Dyn(a; b) ::= * where each A has at least 1 B after", ["no new tasks"],
               [("grow", 22), ("close", 0)]))
# a predecessor count decided by the change after which nothing can add one (issue 24:
# it was decided only when the task would start, the orchestrator blamed)
@example(case=("Dyn(a; b) ::= * where each A has 1 B before", ["no new tasks"],
               [("grow", 7)]))
@given(constrained_cases())
def test_constraints_are_decided_exactly(case: tuple[str, list[str], list[Any]]) -> None:
    """Every accepted run keeps every constraint, and every refused change broke one
    (proofs/10-constraints.md)."""
    check_constraints_decided_exactly(*case)


def test_a_constraint_checker_that_forgets_upper_bounds_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: neighbour counts never too many; the brute-force checker objects."""
    from grammarflow.core.constraints import Degree

    monkeypatch.setattr(Degree, "too_many", lambda self, count: False)

    @settings(max_examples=300, derandomize=True, database=None, phases=FIND)
    @given(constrained_cases())
    def mutated(case: tuple[str, list[str], list[Any]]) -> None:
        check_constraints_decided_exactly(*case)

    with pytest.raises(AssertionError, match=r"accepted .* yet"):
        mutated()
