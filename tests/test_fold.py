"""Snapshots are only a cache (grammarflow/fold.py, DESIGN §7): a run read from its
newest snapshot is the run folded from its whole journal, at every point of it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import grammars

from grammarflow.fold import (
    SNAPSHOT_EVERY,
    STDERR_LINES,
    current_snapshot,
    fold_from_start,
    fold_run,
    snapshot_due,
    stderr_lines,
)
from grammarflow.graph import Graph
from grammarflow.status import run_view
from grammarflow.steps import step_to_json
from grammarflow.store import Store
from grammarflow.testing import MessageRun, message_runs, partial_runs
from grammarflow.workflow import Workflow


@given(st.data())
def test_a_graph_from_its_snapshot_is_the_graph(data: st.DataObject) -> None:
    d = data.draw(partial_runs(data.draw(grammars())))
    g = d.graph
    snapshot = g.snapshot()
    again = Graph.from_snapshot(snapshot)
    assert again == g
    # the ready tasks it names (for `status`, which reads them without building a graph)
    assert [snapshot["ids"][i] for i in snapshot["ready"]] == list(g.ready())
    # what the scheduler reads, and the order it reads it in
    assert again.ready_in_order() == g.ready_in_order()
    assert sorted(again.due()) == sorted(g.due())
    assert again.rank == g.rank
    assert again._waiting == g._waiting and again._undone_tasks == g._undone_tasks


@contextmanager
def _journaled_run(data: st.DataObject) -> Iterator[tuple[Store, int, MessageRun]]:
    """A store holding a run (nothing journaled yet) of a random grammar, and a random
    run of that grammar in which tasks sent messages, to journal."""
    grammar = data.draw(grammars())
    run: MessageRun = data.draw(message_runs(grammar))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "db")
        yield store, store.create_run(Workflow(grammar, {}, Path(tmp) / "wf.py").to_json()), run
        store.close()


@given(st.data())
def test_a_run_read_from_a_snapshot_is_the_run_folded_from_the_start(
        data: st.DataObject) -> None:
    with _journaled_run(data) as (store, run_id, run):
        steps = run.derivation.history
        entries = []
        for i, s in enumerate(steps):
            entries.append(("step", step_to_json(s)))
            entries.append(("attempt", {"event": "start", "task": f"t{i % 3}", "attempt": i}))
            if i % 4 == 0:
                entries.append(("attempt", {"event": "end", "task": f"t{i % 3}",
                                            "attempt": i, "reason": f"failure {i}",
                                            "stderr_tail": f"out {i}\nValueError: {i}\n",
                                            "log": f"t.{i}.log", "log_bytes": i % 8}))
            if i == len(steps) // 2:
                entries.append(("refused", {"task": f"t{i % 3}", "reason": f"refused {i}",
                                            "hole": None, "attempts": [], "message": None}))
        store.append_many(run_id, entries)
        last = store.last_seq(run_id)
        for at in sorted(set(data.draw(st.lists(st.integers(1, max(last, 1)), max_size=3)))):
            store.put_snapshot(run_id, at, fold_from_start(store, run_id, upto=at).snapshot())
        upto = data.draw(st.one_of(st.none(), st.integers(0, last)))
        cached = fold_run(store, run_id, upto)
        whole = fold_from_start(store, run_id, upto)
        assert cached.d.graph == whole.d.graph
        assert cached.d.grammar == whole.d.grammar
        assert (cached.attempts, cached.failures, cached.refusal) == (
            whole.attempts, whole.failures, whole.refusal)


@given(st.data())
def test_status_read_from_a_snapshot_is_status_folded_from_the_journal(
        data: st.DataObject) -> None:
    """`status` reads a run whose newest snapshot holds its whole state from that
    snapshot alone (no graph built); any entry of the state after it, and it folds."""
    with _journaled_run(data) as (store, run_id, run):
        steps = run.derivation.history
        store.append_many(run_id, [("step", step_to_json(s)) for s in steps])
        tasks = sorted(run.derivation.graph.tasks)
        if tasks:
            task = data.draw(st.sampled_from(tasks))
            store.append_many(run_id, [
                ("attempt", {"event": "start", "task": task, "attempt": 2}),
                ("attempt", {"event": "end", "task": task, "attempt": 2, "reason": "no",
                             "stderr_tail": "ValueError: no\n", "log": "t.log",
                             "log_bytes": 3})])
        folded = run_view(store, run_id)  # no snapshot: the journal folded
        at = store.last_seq(run_id)
        store.put_snapshot(run_id, at, fold_from_start(store, run_id).snapshot())
        store.set_status(run_id, "failed", "the end")  # an entry not of the state
        assert current_snapshot(store, run_id) is not None
        read = run_view(store, run_id)
        assert {**read, "verdict": None, "status": None, "reason": None, "updated": None} \
            == {**folded, "verdict": None, "status": None, "reason": None, "updated": None}
        # an entry of the state after it: the snapshot no longer holds the state
        store.append(run_id, "control", {"op": "pause", "by": None})
        assert current_snapshot(store, run_id) is None
        assert run_view(store, run_id)["paused"] and not read["paused"]


def test_a_snapshot_of_another_format_is_not_trusted(tmp_path: Path) -> None:
    grammar_file = tmp_path / "wf.py"
    from grammarflow import define

    grammar = define("a -> b")
    store = Store(tmp_path / "db")
    run_id = store.create_run(Workflow(grammar, {}, grammar_file).to_json())
    store.append(run_id, "step", {"op": "state", "task": "a", "state": "running"})
    store.put_snapshot(run_id, 1, {"format": 999, "graph": "garbage"})
    assert fold_run(store, run_id).d.graph.state["a"].value == "running"


@pytest.mark.parametrize("static", [0, 200_000, 2_000_000])
def test_snapshots_cost_a_bounded_share_and_leave_a_bounded_tail(static: int) -> None:
    """Over a run of a million entries: all snapshots together hold at most about five
    times the journal, and a reader folds at most a fifth of it, or as many entries as
    twice its state holds tasks (it reads that state anyway).
    ``static``: a graph of that many tasks there from the start (a static workflow),
    whose every snapshot costs all of it; 0: a state that grows with the journal."""
    n = 1_000_000
    last, written, worst_tail = 0, 0, 0
    for seq in range(1, n + 1):
        size = static or seq // 4  # what a snapshot costs to write
        if snapshot_due(last, seq, size):
            written += size
            last = seq
        worst_tail = max(worst_tail, seq - last)
    assert written <= 5 * n
    assert worst_tail <= max(SNAPSHOT_EVERY, n // 5, 2 * size)  # the state: read anyway
    assert (last > 0) == (static <= n)


def test_a_failure_shows_the_traceback_frame_and_message_and_no_control_characters() -> None:
    traceback = ("Traceback (most recent call last):\n"
                 '  File "wf.py", line 3, in <module>\n    main()\n'
                 '  File "wf.py", line 9, in check\n    raise ValueError(rows)\n'
                 "ValueError: rows\n")
    assert stderr_lines(traceback) == (
        '  File "wf.py", line 3, in <module>', "    main()",
        '  File "wf.py", line 9, in check', "    raise ValueError(rows)", "ValueError: rows")
    long = traceback + "".join(f"\x1b[31mrow {i}\x1b[0m\n" for i in range(9))
    lines = stderr_lines(long)
    assert len(lines) == STDERR_LINES
    assert lines[:2] == ('  File "wf.py", line 9, in check', "...")
    assert lines[-1] == "\\x1b[31mrow 8\\x1b[0m"
