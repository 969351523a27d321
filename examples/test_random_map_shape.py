"""A user's own property tests of a workflow's shape, with grammarflow.testing.

The random map (examples/random_map.py) promises A -> M* -> B. These tests let
Hypothesis explore the futures the grammar allows — and runs in which tasks send
random, often illegal, messages — and check the user's invariants in every one.
"""

from pathlib import Path

from hypothesis import given

from grammarflow import Graph
from grammarflow.testing import MessageRun, finished_graphs, message_runs, runs
from grammarflow.workflow.reading import load_grammar

grammar = load_grammar(Path(__file__).with_name("random_map.py"))


def assert_is_a_map(graph: Graph) -> None:
    ms = [t for t in graph.tasks.values() if t.kind == "M"]
    assert sorted(t.kind for t in graph.tasks.values() if t.kind != "M") == ["A", "B"]
    assert not graph.pred["A"] and not graph.succ["B"]  # A first, B last
    for m in ms:
        assert graph.pred[m.id] == {"A"} and graph.succ[m.id] == {"B"}
    assert graph.has_edge("A", "B") == (not ms)  # the direct order only when n = 0


@given(finished_graphs(grammar))
def test_every_possible_final_graph_is_a_map(graph: Graph) -> None:
    assert_is_a_map(graph)


@given(runs(grammar))
def test_b_always_runs_after_every_m(run) -> None:  # type: ignore[no-untyped-def]
    order = [s.task for s in run.history if getattr(s, "state", None) is not None
             and s.state.value == "done"]
    assert order[-1] == "B"
    assert_is_a_map(run.graph)


@given(message_runs(grammar))
def test_whatever_tasks_send_the_shape_holds(run: MessageRun) -> None:
    if run.broken is None:
        assert_is_a_map(run.derivation.graph)
    refused = [o for o in run.outcomes if not o.accepted]
    assert all(o.before == o.after for o in refused)
