import pytest

from grammarflow import BrokenPromise, Graph, Hole, Role, Task, TaskState
from grammarflow.errors import GrammarflowError


def chain() -> Graph:
    g = Graph()
    for t in ("a", "b", "c"):
        g.add_task(Task(t, t))
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g


def test_ready_follows_done_predecessors() -> None:
    g = chain()
    assert list(g.ready()) == ["a"]
    g.set_state("a", TaskState.RUNNING)
    assert list(g.ready()) == []
    g.set_state("a", TaskState.DONE)
    assert list(g.ready()) == ["b"]


def test_a_hole_blocks_the_tasks_it_comes_before_and_is_due_after_the_others() -> None:
    g = chain()
    g.add_hole(Hole("X.1", "X", ("a", "c"), (Role.AFTER, Role.BEFORE)))
    assert list(g.due()) == []
    g.set_state("a", TaskState.RUNNING)
    g.set_state("a", TaskState.DONE)
    assert list(g.due()) == ["X.1"]
    g.set_state("b", TaskState.RUNNING)
    g.set_state("b", TaskState.DONE)
    assert list(g.ready()) == []  # c waits on the hole
    g.remove_hole("X.1")
    assert list(g.ready()) == ["c"]


def test_an_edge_may_not_end_at_a_started_task() -> None:
    g = chain()
    g.set_state("a", TaskState.RUNNING)
    g.add_task(Task("n", "n"))
    with pytest.raises(BrokenPromise, match="already started"):
        g.add_edge("n", "a")


def test_starting_a_task_that_is_not_ready_is_an_error() -> None:
    g = chain()
    with pytest.raises(GrammarflowError, match="not ready"):
        g.set_state("c", TaskState.RUNNING)


def test_atomic_rolls_back_every_change() -> None:
    g = chain()
    before = g.to_json()
    with pytest.raises(BrokenPromise), g.atomic():
        g.add_task(Task("d", "d"))
        g.add_edge("c", "d")
        g.add_hole(Hole("X.1", "X", ("a", "d"), (Role.AFTER, Role.BEFORE)))
        g.add_edge("d", "d")
    assert g.to_json() == before
    assert list(g.ready()) == ["a"]


def test_ids_are_never_reused() -> None:
    g = chain()
    with pytest.raises(BrokenPromise, match="already exists"):
        g.add_task(Task("a", "a"))


def test_reaches_passes_through_holes() -> None:
    g = chain()
    g.add_task(Task("d", "d"))
    g.add_hole(Hole("X.1", "X", ("c", "d"), (Role.AFTER, Role.BEFORE)))
    assert g.reaches("a", "d")
    assert not g.reaches("d", "a")


def test_json_round_trip_keeps_states_and_bookkeeping() -> None:
    g = chain()
    g.add_hole(Hole("X.1", "X", ("b", "c"), (Role.AFTER, Role.BEFORE)))
    g.set_state("a", TaskState.RUNNING)
    g.set_state("a", TaskState.DONE)
    copy = Graph.from_json(g.to_json())
    assert copy == g
    assert list(copy.ready()) == list(g.ready()) == ["b"]
    assert list(copy.due()) == list(g.due()) == []


# ---------------------------------------------------------------- ready tasks, oldest first
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from strategies import grammars  # noqa: E402

from grammarflow.testing import partial_runs  # noqa: E402


@given(st.data())
def test_ready_tasks_come_oldest_first_from_the_heap_as_from_a_sort(
        data: st.DataObject) -> None:
    """The scheduler's heap (ready_oldest_first) gives what sorting the ready set gives,
    also when the caller starts some of them as they come, after a speculation was
    rolled back, and on a graph rebuilt from its snapshot."""
    d = data.draw(partial_runs(data.draw(grammars())))
    g = d.graph
    d.speculate()  # a running task's tentative changes, then thrown away
    for task in g.ready_in_order()[:2]:
        g.set_state(task, TaskState.RUNNING)
    d.discard()
    for graph in (g, Graph.from_snapshot(g.snapshot())):
        assert list(graph.ready_oldest_first()) == graph.ready_in_order()
        started, seen = [], []
        for task in graph.ready_oldest_first():
            seen.append(task)
            if data.draw(st.booleans(), label=f"start {task}"):
                graph.set_state(task, TaskState.RUNNING)
                started.append(task)
        assert seen == sorted(seen, key=graph.rank.__getitem__)
        assert list(graph.ready_oldest_first()) == graph.ready_in_order()
        assert not set(started) & set(graph.ready())
