"""Snapshots are only a cache (grammarflow/journal/state.py, DESIGN §7): a run read from its
newest snapshot is the run folded from its whole journal, at every point of it."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from strategies import grammars, mixed_grammars

from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph
from grammarflow.core.notation import define
from grammarflow.errors import Refusal
from grammarflow.journal.entries import ChangeRefused, JournalEntry, Other, StepTaken, encode
from grammarflow.journal.state import (
    SNAPSHOT_EVERY,
    STDERR_LINES,
    Checkpoints,
    RunState,
    current_snapshot,
    fold_from_start,
    fold_run,
    snapshot_due,
    stderr_lines,
)
from grammarflow.journal.status import run_view
from grammarflow.journal.store import Store
from grammarflow.testing import MessageRun, message_runs, partial_runs
from grammarflow.workflow.definition import Workflow


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
def _journaled_run(data: st.DataObject, of: st.SearchStrategy[Grammar] | None = None
                   ) -> Iterator[tuple[Store, int, MessageRun]]:
    """A store holding a run (nothing journaled yet) of a random grammar (of ``of``, or
    :func:`grammars`), and a random run of that grammar in which tasks sent messages,
    to journal."""
    grammar = data.draw(of if of is not None else grammars())
    run: MessageRun = data.draw(message_runs(grammar))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "db")
        yield store, store.create_run(Workflow(grammar, {}, Path(tmp) / "wf.py").to_json()), run
        store.close()


#: Constraints with counts a snapshot must keep: tasks made, a task's neighbours
#: before it, and tasks whose neighbours after them are checked as the scope closes.
COUNTED = define("s0 -> s1, s2, Lim(s0, s1), Wide(*), X(s0, s2)", [
    "Lim(a; b) ::= * where at most 3 tasks; each A has at least 1 B after; "
    "each B has at most 2 A before",
    "Wide(*) ::= * where at most 4 A; each A has at most 1 s0 before",
    "X(a, b) ::= a -> A -> b | a -> B, Lim(a, B) | [default] a -> b",
])


def journal_entries(run: MessageRun, rnd: random.Random) -> list[JournalEntry]:
    """The run's steps as a journal holds them, with what else an orchestrator
    journals between them: attempts started, waiting for an answer, ended (failed or
    not), the run paused and unpaused, a refused change."""
    tasks = sorted(run.derivation.graph.tasks)
    entries: list[JournalEntry] = []
    for i, s in enumerate(run.derivation.history):
        entries.append(StepTaken(s))
        task = rnd.choice(tasks)
        match rnd.randrange(8):
            case 0:
                entries.append(Other("attempt", {"event": "start", "task": task, "attempt": i}))
            case 1:
                entries.append(Other("attempt", {"event": "wait", "task": task, "attempt": i,
                                            "question": f"proceed {i}?"}))
            case 2:
                entries.append(Other("attempt", {"event": "end", "task": task, "attempt": i,
                                            "reason": f"failure {i}" if i % 2 else None,
                                            "stderr_tail": f"out {i}\nValueError: {i}\n",
                                            "log": f"t.{i}.log", "log_bytes": i % 8}))
            case 3:
                entries.append(Other("control", {"op": rnd.choice(["pause", "unpause"]),
                                            "by": None}))
            case 4 if not any(isinstance(e, ChangeRefused) for e in entries):
                entries.append(ChangeRefused(Refusal(f"refused {i}", task)))
    return entries


def held(snapshot: dict[str, Any]) -> list[str]:
    """What of a run's state a snapshot holds beyond its graph, in words (``event``)."""
    limits = snapshot["constraints"]
    return [what for what, there in [
        ("a narrowed hole", any(h[5] is not None for h in snapshot["graph"]["holes"])),
        ("a narrowed type", any(t["removed"] for t in snapshot["grammar"]["types"])),
        ("constraint counts", bool(limits["made"])),
        ("neighbour counts", bool(limits["degree"])),
        ("tasks to check as a scope closes", any(limits["closing"].values())),
        ("a hole in two scopes", any(len(c) > 1 for c in limits["holes"].values())),
        ("a pause", snapshot["paused"]), ("a waiting task", bool(snapshot["waiting"]))]
        if there]


def state_of(fold: RunState) -> dict[str, Any]:
    """Everything a fold holds, as JSON: two folds are the same run if these are equal."""
    return {"graph": fold.d.graph.to_json(), "grammar": fold.d.grammar.to_json(),
            "constraints": fold.d.limits.to_json(), "attempts": fold.attempts,
            "failures": {t: f.to_json() for t, f in fold.failures.items()},
            "refusal": fold.refusal.to_json() if fold.refusal else None,
            "paused": fold.paused, "waiting": fold.waiting, "seq": fold.seq}


def status_of(store: Store, run_id: int) -> dict[str, Any]:
    """What `status --json` shows of the run but the time it is read."""
    return {k: v for k, v in run_view(store, run_id).items()
            if k not in ("updated", "orchestrator")}


@given(st.data())
def test_a_run_read_from_a_snapshot_is_the_run_folded_from_the_start(
        data: st.DataObject) -> None:
    """Snapshots are only a cache (Theorem 7, proofs/07-replay.md): a run's state folded
    from any snapshot (taken at any entry) plus the journal after it is the state
    folded from its whole journal, as of any entry — its graph (each hole's
    narrowing), its grammar (narrowed), its constraint scopes and counts, attempts,
    failures, the refusal, whether it is paused, who waits for an answer — and
    `status` shows the same run either way. Grammars with constraints and without."""
    grammars = st.one_of(st.just(COUNTED), mixed_grammars(constrained=True))
    with _journaled_run(data, grammars) as (store, run_id, run):
        entries = journal_entries(run, random.Random(data.draw(st.integers(0, 2**32),
                                                               label="seed")))
        first = store.last_seq(run_id) + 1
        store.append_many(run_id, entries)
        last = store.last_seq(run_id)
        folded = status_of(store, run_id)  # no snapshot yet: the whole journal
        # mostly right after an entry that changes more than the graph's tasks (each
        # sort as often as another: narrowings are rare in a journal)
        marks: dict[str, list[int]] = {}
        for i, (kind, e) in enumerate(map(encode, entries)):
            sort = kind if kind == "control" else e.get("event") or e.get("op")
            if sort in ("control", "wait", "narrow_hole", "narrow_type", "constrain", "grow"):
                marks.setdefault(sort, []).append(first + i)
        points = {data.draw(st.integers(1, max(last, 1)), label="snapshot at"), *(
            data.draw(st.sampled_from(seqs), label=f"snapshot after {sort}")
            for sort, seqs in sorted(marks.items()))}
        for at in sorted(points):
            snapshot = fold_from_start(store, run_id, upto=at).snapshot()
            store.put_snapshot(run_id, at, snapshot)
            for what in held(snapshot):
                event(f"a snapshot holds {what}")
            for upto in (at, data.draw(st.integers(at, last), label="read as of"), None):
                assert state_of(fold_run(store, run_id, upto)) == \
                    state_of(fold_from_start(store, run_id, upto))
        assert status_of(store, run_id) == folded


@given(st.data())
def test_a_run_folded_from_a_checkpoint_is_the_run_folded_from_the_start(
        data: st.DataObject) -> None:
    """The slider's checkpoints (`grammarflow serve`) are a cache too: the state as of
    any entry, asked in any order, folded from the nearest state kept in memory, is the
    state folded from the whole journal."""
    with _journaled_run(data, mixed_grammars(constrained=True)) as (store, run_id, run):
        store.append_many(run_id, journal_entries(run, random.Random(data.draw(
            st.integers(0, 2**32), label="seed"))))
        last = store.last_seq(run_id)
        checkpoints = Checkpoints(every=data.draw(st.integers(1, 5), label="every"))
        asked = data.draw(st.lists(st.integers(0, last), min_size=1, max_size=6),
                          label="asked")
        for upto in asked:
            assert state_of(checkpoints.fold(store, run_id, upto)) == \
                state_of(fold_from_start(store, run_id, upto))
        assert checkpoints.kept[run_id] or last <= 2  # it did keep states along the way


def test_a_checkpoint_before_a_restart_is_not_used_after_it(tmp_path: Path) -> None:
    """A state kept before a restart holds steps the restart removed: the state as of
    an entry after the restart is folded without it, and states kept on the way to it
    are kept only past the restart."""
    from grammarflow.journal.operations import restart
    from grammarflow.running import run

    (tmp_path / "wf.py").write_text("from grammarflow import define\n"
                                    "grammar = define('A -> B -> C')\n"
                                    "def A() -> None: ...\ndef B() -> None: ...\n"
                                    "def C() -> None: ...\n")
    db = tmp_path / "gf.db"
    assert run(tmp_path / "wf.py", db=db).ok
    done = restart(Store.existing(db), 1, "B")
    import sqlite3

    with sqlite3.connect(db) as con:  # as a journal written before restarts took snapshots
        con.execute("DELETE FROM snapshots")
    store = Store(db, readonly=True)
    checkpoints = Checkpoints(every=1)
    for upto in [done.seq - 1, *range(store.last_seq(1) + 1)]:  # before it first
        assert state_of(checkpoints.fold(store, 1, upto)) == \
            state_of(fold_from_start(store, 1, upto)), upto
    assert any(seq < done.seq for seq in checkpoints.kept[1])  # it had some to misuse


@given(st.data())
def test_status_read_from_a_snapshot_is_status_folded_from_the_journal(
        data: st.DataObject) -> None:
    """`status` reads a run whose newest snapshot holds its whole state from that
    snapshot alone (no graph built); any entry of the state after it, and it folds."""
    with _journaled_run(data) as (store, run_id, run):
        steps = run.derivation.history
        store.append_many(run_id, [StepTaken(s) for s in steps])
        tasks = sorted(run.derivation.graph.tasks)
        if tasks:
            task = data.draw(st.sampled_from(tasks))
            store.append_many(run_id, [
                Other("attempt", {"event": "start", "task": task, "attempt": 2}),
                Other("attempt", {"event": "end", "task": task, "attempt": 2, "reason": "no",
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
        store.append(run_id, Other("control", {"op": "pause", "by": None}))
        assert current_snapshot(store, run_id) is None
        assert run_view(store, run_id)["paused"] and not read["paused"]


def test_a_snapshot_of_another_format_is_not_trusted(tmp_path: Path) -> None:
    grammar_file = tmp_path / "wf.py"
    from grammarflow import define

    grammar = define("a -> b")
    store = Store(tmp_path / "db")
    run_id = store.create_run(Workflow(grammar, {}, grammar_file).to_json())
    store.append(run_id, Other("step", {"op": "state", "task": "a", "state": "running"}))
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
