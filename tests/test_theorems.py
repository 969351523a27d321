"""Property tests for the theorems of DESIGN.md §6 (see proofs/, one file each).

Random grammars (tests/strategies.py) meet random runs in which tasks send random
messages, legal and not (grammarflow.testing.message_runs). Each test names the
theorem it guards.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reference import Model, allowed, expand, full_graph
from strategies import grammars

from grammarflow import (
    BrokenPromise,
    Derivation,
    Diff,
    Expand,
    Grammar,
    Grow,
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
from grammarflow.match import Added
from grammarflow.testing import (
    MessageRun,
    derivations,
    message_runs,
    production_diff,
)

MAP = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))


@st.composite
def grammar_runs(draw: st.DrawFn) -> MessageRun:
    return draw(message_runs(draw(grammars())))


def _expansions(outcome_result: Any, message: Any) -> list[Expand]:
    if isinstance(outcome_result, Added):
        return [s for s in outcome_result.steps if isinstance(s, Expand)]
    return [message] if isinstance(message, Expand) else []


# ---------------------------------------------------------------- Theorem 1: soundness
def check_accepted_steps_are_production_applications(run: MessageRun) -> None:
    for o in run.outcomes:
        if not o.accepted:
            continue
        model = Model.of(o.before)
        grammar = o.grammar_before
        steps = _expansions(o.result, o.message)
        for step in steps:
            graph_now = {"holes": [{"id": h, "type": t, "args": list(a), "allowed":
                                    _allowed_of(o.before, h)} for h, (t, a) in model.holes.items()]}
            assert step.production in allowed(grammar, graph_now, step.hole), (
                f"{step} used a production that was not allowed")
            expand(model, grammar, step.hole, step.production)
        if steps:
            assert model.same_shape(o.after), f"{o.message} did not yield its productions"
        elif isinstance(o.message, NarrowType | NarrowHole | SetState):
            assert Model.of(o.before).same_shape(o.after)
        elif isinstance(o.message, Grow | Refine):
            _check_open_step(o.before, o.after, o.message)


def _allowed_of(graph: dict[str, Any], hole_id: str) -> list[str] | None:
    for h in graph["holes"]:
        if h["id"] == hole_id:
            return h["allowed"]  # type: ignore[no-any-return]
    return None  # a hole created earlier in the same batch: not narrowed


def _check_open_step(before: dict[str, Any], after: dict[str, Any], step: Grow | Refine) -> None:
    hole = next(h for h in before["holes"] if h["id"] == step.hole)
    new_tasks = {t["id"] for t in after["tasks"]} - {t["id"] for t in before["tasks"]}
    new_edges = {tuple(e) for e in after["edges"]} - {tuple(e) for e in before["edges"]}
    assert all(t.startswith(f"{step.hole}/") for t in new_tasks)
    if hole["everywhere"]:
        started = {t["id"] for t in before["tasks"] if t["state"] != "pending"}
        assert not any(v in started for _, v in new_edges)
        return
    roles = dict(zip(hole["args"], hole["roles"], strict=True))
    for u, v in new_edges:
        assert u in new_tasks or roles.get(u) == "after", f"edge {u} -> {v} leaves the hole"
        assert v in new_tasks or roles.get(v) == "before", f"edge {u} -> {v} enters the hole"


@given(grammar_runs())
def test_accepted_steps_keep_graph_derivable(run: MessageRun) -> None:
    """Theorem 1 (soundness): every accepted step is an allowed production application."""
    check_accepted_steps_are_production_applications(run)


def check_add_yields_exactly_the_diff(run: MessageRun) -> None:
    for o in run.outcomes:
        if not (o.accepted and isinstance(o.message, Diff)):
            continue
        assert isinstance(o.result, Added)
        ids = o.result.ids
        before_tasks = {t["id"] for t in o.before["tasks"]}
        new_tasks = {t["id"]: t["kind"] for t in o.after["tasks"] if t["id"] not in before_tasks}
        assert new_tasks == {ids[t.local]: t.kind for t in o.message.tasks}
        before_edges = {tuple(e) for e in o.before["edges"]}
        new_edges = {tuple(e) for e in o.after["edges"]} - before_edges
        wanted = {(ids.get(u, u), ids.get(v, v)) for u, v in o.message.edges} - before_edges
        assert new_edges == wanted, f"asked for {sorted(wanted)}, got {sorted(new_edges)}"


@given(grammar_runs())
def test_an_accepted_raw_change_is_exactly_what_was_asked(run: MessageRun) -> None:
    """Theorem 1 (soundness, raw diffs): the graph changes by exactly the diff."""
    check_add_yields_exactly_the_diff(run)


# ---------------------------------------------------------------- Theorem 2: promise safety
@given(grammar_runs())
def test_refused_changes_leave_no_trace_and_runs_end_finished_or_broken(run: MessageRun) -> None:
    """Theorem 2 (promise safety)."""
    for o in run.outcomes:
        if not o.accepted:
            assert o.after == o.before and o.grammar_after == o.grammar_before
            assert str(o.error)
    d = run.derivation
    if run.broken is None:
        assert d.is_finished()
    else:
        hole = d.graph.holes[run.broken.hole or ""]
        assert hole.id in set(d.graph.due())
        htype = d.grammar.types[hole.type]
        assert htype.default not in {p.name for p in htype.allowed(hole.allowed)}


# ---------------------------------------------------------------- Theorem 3: completeness
def reach_by_messages(grammar: Grammar, target: Derivation) -> Derivation:
    """Run the workflow so that each hole is expanded just in time, by a running task,
    following the target's derivation; return the run's derivation."""
    plan: dict[str, Any] = {}  # target hole id -> [(step, child hole ids, tasks)]
    first: dict[str, int] = {}  # target hole id -> index of its first step in the history
    replay = grammar.derivation()
    for i, step in enumerate(target.history):
        applied = replay.apply(step)
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
    run = reach_by_messages(grammar, target)
    assert run.is_finished()
    task_map = run.graph_task_map  # type: ignore[attr-defined]
    assert {task_map[t]: k.kind for t, k in target.graph.tasks.items()} == \
        {t: k.kind for t, k in run.graph.tasks.items()}
    assert {(task_map[u], task_map[v]) for u, v in target.graph.edges()} == \
        set(run.graph.edges())


@given(st.data())
def test_every_production_instance_is_accepted_as_a_raw_change(data: st.DataObject) -> None:
    """Theorem 3 (completeness, raw diffs): a production's own diff is always accepted."""
    grammar = data.draw(grammars())
    d = grammar.derivation()
    closed = [h for h in sorted(d.graph.holes) if not d.grammar.types[d.graph.holes[h].type].open]
    if not closed:
        return
    hole = d.graph.holes[data.draw(st.sampled_from(closed))]
    names = [p.name for p in d.grammar.types[hole.type].allowed(hole.allowed)]
    name = data.draw(st.sampled_from(names))
    diff = production_diff(d, hole, name)
    if not diff.tasks and not diff.edges:
        return  # a production that adds nothing is sent as 'expand', never as a raw change
    expected = grammar.derivation()
    expected.apply(Expand(hole.id, name))
    added = add(d, diff)  # must not raise
    assert set(added.ids) == {t.local for t in diff.tasks}
    assert sorted(t.kind for t in d.graph.tasks.values()) == \
        sorted(t.kind for t in expected.graph.tasks.values())
    assert len(set(d.graph.edges())) == len(set(expected.graph.edges()))


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


@given(st.data())
def test_expansions_of_distinct_holes_commute(data: st.DataObject) -> None:
    """Theorem 4 (confluence), up to the names of fresh holes."""
    grammar = data.draw(grammars(allow_open=False))
    start = grammar.derivation()
    for _ in range(data.draw(st.integers(0, 3))):  # walk somewhere first
        if not start.graph.holes:
            break
        hole = start.graph.holes[data.draw(st.sampled_from(sorted(start.graph.holes)))]
        names = [p.name for p in start.grammar.types[hole.type].allowed()]
        start.apply(Expand(hole.id, data.draw(st.sampled_from(names))))
    if len(start.graph.holes) < 2:
        return
    h1, h2 = data.draw(st.lists(st.sampled_from(sorted(start.graph.holes)), min_size=2,
                                max_size=2, unique=True))
    p1 = data.draw(st.sampled_from([p.name for p in start.grammar.types[
        start.graph.holes[h1].type].allowed()]))
    p2 = data.draw(st.sampled_from([p.name for p in start.grammar.types[
        start.graph.holes[h2].type].allowed()]))
    one = Derivation.replay(grammar, [*start.history, Expand(h1, p1), Expand(h2, p2)])
    two = Derivation.replay(grammar, [*start.history, Expand(h2, p2), Expand(h1, p1)])
    match = nx.algorithms.isomorphism.categorical_node_match("label", None)
    ematch = nx.algorithms.isomorphism.categorical_edge_match("label", None)
    assert nx.is_isomorphic(_labelled(one), _labelled(two), node_match=match, edge_match=ematch)


# ---------------------------------------------------------------- Theorem 5: acyclicity
@given(grammar_runs())
def test_every_accepted_step_keeps_the_graph_acyclic(run: MessageRun) -> None:
    """Theorem 5 (acyclicity), with holes drawn between their roles."""
    for o in run.outcomes:
        assert nx.is_directed_acyclic_graph(full_graph(o.after)), f"after {o.message}"
    assert nx.is_directed_acyclic_graph(full_graph(run.derivation.graph.to_json()))


# ---------------------------------------------------------------- Theorem 6: narrowing
def _productions(grammar: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["name"], p["name"]) for t in grammar["types"] for p in t["productions"]
            if p["name"] not in t["removed"]}


@given(grammar_runs())
def test_narrowing_only_removes_futures(run: MessageRun) -> None:
    """Theorem 6 (monotone narrowing): allowed productions only shrink, per type and hole."""
    for o in run.outcomes:
        if o.accepted and isinstance(o.message, NarrowType | NarrowHole):
            assert _productions(o.grammar_after) <= _productions(o.grammar_before)
            for h in o.after["holes"]:
                old = next(x for x in o.before["holes"] if x["id"] == h["id"])
                if old["allowed"] is not None:
                    assert set(h["allowed"]) <= set(old["allowed"])


@given(st.data())
def test_a_narrowed_language_is_inside_the_original(data: st.DataObject) -> None:
    """Theorem 6: derivations under a narrowing replay under the original grammar."""
    grammar = data.draw(grammars(allow_open=False))
    d = grammar.derivation()
    htype = data.draw(st.sampled_from(sorted(grammar.types)))
    names = [p.name for p in grammar.types[htype].productions]
    removed = tuple(data.draw(st.lists(st.sampled_from(names), max_size=len(names) - 1,
                                       unique=True)))
    try:
        d.apply(NarrowType(htype, removed))
    except BrokenPromise:
        return
    narrowed = Grammar(grammar.start, d.grammar.types)
    inner = data.draw(derivations(narrowed))
    outer = Derivation.replay(grammar, inner.history)
    assert outer.graph == inner.graph
    for step in inner.history:
        assert not (isinstance(step, Expand) and step.production in removed
                    and inner.grammar.types[htype].name == htype
                    and step.hole.startswith(f"{htype}.")), "a removed production was used"


# ---------------------------------------------------------------- Theorem 7: replay
@given(grammar_runs())
def test_folding_the_history_reproduces_the_state(run: MessageRun) -> None:
    """Theorem 7 (replay) for the core: the accepted steps rebuild graph and grammar."""
    again = Derivation.replay(run.grammar, run.derivation.history)
    assert again.graph == run.derivation.graph
    assert again.grammar == run.derivation.grammar


# ---------------------------------------------------------------- the checks can fail
def test_a_checker_that_skips_the_edge_comparison_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: a matcher that believes every edge it needs is there must be caught."""
    from grammarflow import match

    monkeypatch.setattr(match._Search, "_present", lambda self, e: True)

    @settings(max_examples=300, derandomize=True, database=None)
    @given(message_runs(MAP))
    def mutated(run: MessageRun) -> None:
        check_add_yields_exactly_the_diff(run)

    with pytest.raises(AssertionError, match="asked for"):
        mutated()


def test_a_checker_that_ignores_narrowing_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: if Expand forgot the narrowing, the soundness oracle objects."""
    from grammarflow.grammar import HoleType

    monkeypatch.setattr(HoleType, "permits", lambda self, name, only=None: True)

    @settings(max_examples=300, derandomize=True, database=None)
    @given(message_runs(MAP))
    def mutated(run: MessageRun) -> None:
        check_accepted_steps_are_production_applications(run)

    with pytest.raises(AssertionError, match="not allowed"):
        mutated()


@example(MAP)
@given(st.just(MAP))
def test_the_map_example_stays_in_its_language(grammar: Grammar) -> None:
    """A fixed example that stays: a map of three is three Ms between A and B."""
    d = grammar.derivation()
    names = {f"m{i}": "M" for i in range(3)}
    add(d, Diff(tuple(TaskSpec(n, k) for n, k in names.items()),
                tuple(e for m in names for e in (("A", m), (m, "B")))))
    d.close_due()
    assert sorted(t.kind for t in d.graph.tasks.values()) == ["A", "B", "M", "M", "M"]
