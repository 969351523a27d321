"""A restart rolls back exactly what the restarted tasks did and what built on it, and
leaves a sentential form of the grammar (proofs/12-restart.md).

Random grammars run through the core's scheduler (simulate.run_from), every step
journaled in a real SQLite store with the task that made it — tasks expand, grow and
refine holes, narrow promises, style themselves; the scheduler starts tasks and closes
due holes. Then a random started task is restarted through `grammarflow.journal.operations`
(the CLI's path), sometimes after a snapshot, sometimes twice, with the run continued
in between. After each restart:

* the journal's kept steps, replayed by the naive reference model (tests/reference.py),
  are accepted: the rolled-back graph is in the language; the fold (from a snapshot or
  the start) is that graph;
* every task after the restarted one (networkx on the graph as it stood) is pending
  again or gone; no kept step is one of theirs; every other task is untouched;
* every kept close of a due hole is of a hole due at that point of the replay;
* every removed step had to go: a restarted or vanished task's, or one acting on what a
  removed step made, or a close of a hole a restarted task comes before;
* the run, continued, finishes in the language.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import tempfile
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from reference import full_graph, replay
from strategies import grammars

from grammarflow import Derivation, Grammar
from grammarflow.core.graph import TaskState
from grammarflow.core.rollback import Journaled, rollback
from grammarflow.core.simulate import Limits, RandomChooser, run_from
from grammarflow.core.steps import (
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
from grammarflow.errors import BrokenPromise, GrammarflowError
from grammarflow.journal.entries import RestartTaken, StepTaken, encode
from grammarflow.journal.operations import restart
from grammarflow.journal.state import fold_from_start, fold_run, journaled_steps, rolled_back
from grammarflow.journal.store import Store
from grammarflow.workflow.definition import Workflow

LIMITS = Limits(max_tasks=14, max_open_growth=2, max_steps=120)


def journal(store: Store, run_id: int, d: Derivation, chooser: RandomChooser,
            tasks: int | None) -> None:
    """Run ``tasks`` more tasks (None: to the end), journaling each step with its maker."""
    entries: list[tuple[str, dict[str, Any]]] = []

    def also(d: Derivation, task: str) -> None:  # a task narrows a promise, styles itself
        if chooser.coin():
            closed = sorted(t.name for t in d.grammar.types.values()
                            if not t.open and len(t.productions) > 1)
            if closed:
                htype = d.grammar.types[chooser.choose(closed)]
                # refused (nothing applied) if it would leave a hole no way to finish
                with contextlib.suppress(BrokenPromise):
                    d.apply(NarrowType(htype.name, (chooser.choose(htype.productions).name,)))
        if chooser.coin():
            d.apply(Style(task, None, {"color": chooser.choose(["red", "blue"])}))

    run_from(d, chooser, LIMITS, lambda step, by: entries.append(StepTaken(step, by)),
             tasks, also)
    store.append_many(run_id, entries)


def mentions(step: Step) -> set[str]:
    """The tasks and holes a step acts on (that must exist for it to apply)."""
    match step:
        case Expand(hole) | NarrowHole(hole) | Constrain(hole):
            return {hole}
        case Grow(hole, fragment) | Refine(hole, fragment):
            return {hole, *fragment.outside_names()}
        case Output(task) | SetState(task):
            return {task}
        case Style(task, edge):
            return {task} if task is not None else set(edge or ())
    return set()


def shape_steps(steps: list[Journaled]) -> list[Step]:
    """The steps the reference model knows: all but cosmetics (which no language sees)."""
    return [j.step for j in steps if not isinstance(j.step, Style)]


def owner(j: Journaled) -> str | None:
    return j.by if j.by is not None else (j.step.task if isinstance(j.step, SetState) else None)


def check_restart(store: Store, run_id: int, grammar: Grammar, task: str,
                  older: bool = False) -> None:
    """Restart ``task`` and check what that did; ``older``: as a version before issue 27
    journaled it, without the snapshot of the state after it (a journal it wrote must
    still be read right: a snapshot older than the restart holds what it removed)."""
    before = fold_run(store, run_id).d
    steps_before = journaled_steps(store, run_id)
    after_task = {t for t in nx.descendants(full_graph(before.graph.to_json()), task)
                  if t in before.graph.tasks} | {task}

    done = restart(store, run_id, task)
    if older:
        store.db.execute("DELETE FROM snapshots WHERE run=? AND seq>=?", (run_id, done.seq))

    entry = done.entry
    gone = set(entry.restarted) | set(entry.vanished)
    event(f"restart: joined {min(len(entry.joined), 1)}, vanished "
          f"{min(len(entry.vanished), 2)}, reopened {min(len(entry.reopened), 1)}")
    after = fold_run(store, run_id).d
    assert after.graph == fold_from_start(store, run_id).d.graph
    # the journaled restart is the rollback: its ranges hold exactly the removed steps
    rb = rollback(grammar, steps_before, before.graph, [task])
    assert rolled_back([done_entry(store, run_id, done.seq)]) == set(rb.removed)
    assert len(rb.removed) == entry.steps and after.graph == rb.derivation.graph
    kept = journaled_steps(store, run_id)
    # the rolled-back graph is in the language: the reference model accepts every kept step
    start = grammar.derivation()
    model = replay(start.graph.to_json(), start.grammar.to_json(), shape_steps(kept))
    assert not model.differences(after.graph.to_json(), after.grammar.to_json())
    # every task after the restarted one runs again (or is gone); nothing of theirs stays
    for t in after_task:
        assert t in gone, f"{t} runs after {task} but was not restarted"
    for t in entry.restarted:
        assert after.graph.state[t] is TaskState.PENDING and t not in after.graph.outputs
    assert not set(entry.vanished) & set(after.graph.tasks)
    assert set(entry.joined) <= set(entry.restarted)  # a vanished task joins nothing
    assert not [j for j in kept if owner(j) in gone]
    # everything else is untouched
    for t in before.graph.tasks:
        if t not in gone:
            assert after.graph.state[t] is before.graph.state[t], t
            assert after.graph.tasks[t] == before.graph.tasks[t], t
            assert after.graph.outputs.get(t) == before.graph.outputs.get(t), t
    check_kept_closes_were_due(grammar, kept)
    check_every_removal_was_needed(grammar, steps_before, set(rb.removed), gone)


def done_entry(store: Store, run_id: int, seq: int) -> Any:
    return next(e for e in store.restarts(run_id) if e.seq == seq)


def check_kept_closes_were_due(grammar: Grammar, kept: list[Journaled]) -> None:
    d = grammar.derivation()
    for j in kept:
        if j.by is None and isinstance(j.step, Expand | Refine):
            hole = d.graph.holes[j.step.hole]
            due = (all(s is TaskState.DONE for s in d.graph.state.values()) if hole.everywhere
                   else j.step.hole in set(d.graph.due()))
            assert due, f"entry {j.seq} closes hole {j.step.hole}, which is not due"
        d.apply(j.step)


def check_every_removal_was_needed(grammar: Grammar, steps: list[Journaled],
                                   removed: set[int], gone: set[str]) -> None:
    d = grammar.derivation()
    made_by_removed: set[str] = set()
    for j in steps:
        hole = d.graph.holes.get(j.step.hole) if isinstance(j.step, Expand | Refine) else None
        applied = d.apply(j.step)
        if j.seq not in removed:
            continue
        made_by_removed |= set(applied.tasks.values()) | set(applied.holes)
        if owner(j) in gone or mentions(j.step) & made_by_removed:
            continue
        assert j.by is None and hole is not None and (
            hole.everywhere or set(hole.after) & gone), \
            f"entry {j.seq} ({j.step}) was rolled back for no reason"


@given(grammar=grammars(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_a_restart_rolls_back_what_runs_after_the_task_and_leaves_a_sentential_form(
        grammar: Grammar, seed: int, data: st.DataObject) -> None:
    chooser = RandomChooser(random.Random(seed))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "gf.db")
        run_id = store.create_run(Workflow(grammar, {}, Path(tmp) / "wf.py").to_json())
        journal(store, run_id, grammar.derivation(), chooser,
                data.draw(st.none() | st.integers(1, 10), label="tasks run"))
        for round_ in range(data.draw(st.integers(1, 2), label="restarts")):
            if data.draw(st.booleans(), label="snapshot first"):
                seq = data.draw(st.integers(1, store.last_seq(run_id)), label="snapshot at")
                store.put_snapshot(run_id, seq, fold_from_start(store, run_id, seq).snapshot())
            g = fold_run(store, run_id).d.graph
            started = sorted(t for t, s in g.state.items() if s is not TaskState.PENDING)
            if round_ == 0:
                assume(started)
            elif not started:
                break
            check_restart(store, run_id, grammar,
                          data.draw(st.sampled_from(started), label="restarted task"),
                          data.draw(st.booleans(), label="as an older version did"))
            more = data.draw(st.none() | st.integers(1, 6), label="then tasks run")
            journal(store, run_id, fold_run(store, run_id).d, chooser, more)
        for r in store.restarts(run_id):  # as of a restart (render --at): no older snapshot
            assert fold_run(store, run_id, upto=r.seq).d.graph == \
                fold_from_start(store, run_id, r.seq).d.graph
        final = fold_run(store, run_id).d
        journal(store, run_id, final, chooser, None)  # to the end
        kept = shape_steps(journaled_steps(store, run_id))
        start = grammar.derivation()
        model = replay(start.graph.to_json(), start.grammar.to_json(), kept)
        end = fold_run(store, run_id).d
        assert end.is_finished()
        assert not model.differences(end.graph.to_json(), end.grammar.to_json())


@given(st.sets(st.integers(1, 200)))
def test_a_restart_entrys_ranges_hold_exactly_its_removed_steps(removed: set[int]) -> None:
    from grammarflow.journal.state import seq_ranges
    from grammarflow.journal.store import Entry

    ranges = seq_ranges(removed)
    restart = RestartTaken("A", (), (), (), {}, tuple((a, b) for a, b in ranges), len(removed))
    assert rolled_back([Entry(1, 999, 0.0, *encode(restart))]) == removed
    assert all(b[0] > a[1] + 1 for a, b in itertools.pairwise(ranges))  # as few as can be


def test_a_restart_of_a_task_that_never_started_or_does_not_exist_is_refused(
        tmp_path: Path) -> None:
    from grammarflow import define

    grammar = define("a -> b -> c")
    store = Store(tmp_path / "gf.db")
    run_id = store.create_run(Workflow(grammar, {}, tmp_path / "wf.py").to_json())
    journal(store, run_id, grammar.derivation(), RandomChooser(random.Random(1)), 1)
    for task, said in [
            ("c", "task c has not started: nothing to restart (it runs when its turn comes)"),
            ("bb", "no task 'bb' in the run; did you mean b?")]:
        with pytest.raises(GrammarflowError) as refused:
            restart(store, run_id, task)
        assert str(refused.value) == said


def test_a_restart_reads_the_journal_once_replays_once_and_resume_replays_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 27: the restart's state and steps come from one read of the journal; the
    # run as it stands comes from its snapshot (a run that ended took one), so only
    # the rollback replays — the kept steps, once — and the state it leaves is a
    # snapshot that `resume` (any fold) starts from: not one step replayed again.
    from grammarflow import define, repeat_parallel
    from grammarflow.core.derivation import Derivation

    grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    store = Store(tmp_path / "gf.db")
    run_id = store.create_run(Workflow(grammar, {}, tmp_path / "wf.py").to_json())
    journal(store, run_id, grammar.derivation(), RandomChooser(random.Random(3)), None)
    steps = journaled_steps(store, run_id)
    store.put_snapshot(run_id, store.last_seq(run_id),
                       fold_from_start(store, run_id).snapshot())
    reads, applied = [], []
    entries, apply = Store.entries, Derivation.apply
    monkeypatch.setattr(Store, "entries", lambda self, *a, **k: (
        reads.append(a), entries(self, *a, **k))[1])
    monkeypatch.setattr(Derivation, "apply", lambda self, step: (
        applied.append(step), apply(self, step))[1])
    done = restart(store, run_id, "B")
    assert len(reads) == 1
    assert len(applied) == len(steps) - done.entry.steps  # the kept steps, once
    reads.clear()
    applied.clear()
    after = fold_run(store, run_id)
    assert applied == [] and after.seq == done.seq
    monkeypatch.undo()
    assert after.d.graph == fold_from_start(store, run_id).d.graph
    assert 0 < done.entry.steps < len(steps) and done.entry.restarted == ("B",)


# ---------------------------------------------------------------- taken by a living orchestrator
@settings(max_examples=min(20, settings.default.max_examples), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # the same patch
@given(n=st.integers(2, 6), parallel=st.sampled_from([1, 2, 8]), data=st.data())
def test_a_living_orchestrator_restarts_a_done_task_while_its_siblings_run(
        n: int, parallel: int, data: st.DataObject, monkeypatch: Any) -> None:
    """A map A -> M* -> B runs with coroutine tasks at --max-parallel 1, 2 or 8. Once the
    first M is done and a slow one runs, a second connection to the database asks the
    orchestrator to restart the running one (refused: it runs) and then the done one
    (taken while its siblings run). The run ends succeeded, the restarted M ran twice and
    nothing else did, the journal's kept steps are in the language, and the fold of the
    journal is the orchestrator's own graph."""
    import asyncio

    from grammarflow import Kind, define, repeat_parallel
    from grammarflow.runtime import Options, Orchestrator, controls
    from grammarflow.runtime.inprocess import InProcessExecutor, TaskIO

    monkeypatch.setattr(controls, "CONTROL_POLL", 0.005)
    slow = data.draw(st.sets(st.integers(1, n - 1), min_size=1), label="slow Ms")
    grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    go = asyncio.Event()

    async def a(io: TaskIO) -> int:
        await io.request("add", tasks=[{"name": f"m{i}", "kind": "M", "attrs": {"i": i}}
                                       for i in range(n)],
                         edges=[e for i in range(n) for e in (("A", f"m{i}"), (f"m{i}", "B"))])
        return 0

    async def m(io: TaskIO) -> int:
        if io.context["attrs"]["i"] in slow:
            await go.wait()
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        workflow = Workflow(grammar, {k: Kind(f":{k}") for k in "ABM"}, root / "wf.py")
        store = Store(root / "gf.db")
        o = Orchestrator.start(store, workflow, Options(max_parallel=parallel, logs=root / "l"),
                               executor=InProcessExecutor({"A": a, "M": m}))
        other = Store(root / "gf.db")  # side by side: another command's connection

        async def operate() -> tuple[str, str, str | None]:
            g = o.d.graph
            while True:
                ms = {g.tasks[t].attrs.get("i"): t for t in g.tasks if g.tasks[t].kind == "M"}
                running = [t for i, t in ms.items() if i in slow
                           and g.state[t] is TaskState.RUNNING]
                if 0 in ms and g.state[ms[0]] is TaskState.DONE and running:
                    break
                await asyncio.sleep(0.001)
            refused = await taken(other.requests.ask(o.run_id, "restart", {"task": running[0]}))
            said = await taken(other.requests.ask(o.run_id, "restart", {"task": ms[0]}))
            go.set()
            return ms[0], refused or "", said

        async def taken(request: int) -> str | None:
            while (outcome := other.requests.taken(request)) is None:
                await asyncio.sleep(0.002)
            return outcome[1]

        async def both() -> tuple[str, tuple[str, str, str | None]]:
            run = asyncio.create_task(o.run())
            return await asyncio.gather(run, operate())  # type: ignore[return-value]

        status, (target, refused, said) = asyncio.run(both())
        assert status == "succeeded"
        assert "is running, and a restart rolls back what it does" in refused
        assert said is None  # taken
        entry = store.restarts(o.run_id)[-1].record
        assert isinstance(entry, RestartTaken)
        assert sorted(entry.restarted) == sorted([target, "B"]) and entry.vanished == ()
        attempts = o.state.attempts
        assert attempts[target] == 2
        assert all(k == 1 for t, k in attempts.items() if t != target)
        kept = journaled_steps(store, o.run_id)
        start = grammar.derivation()
        model = replay(start.graph.to_json(), start.grammar.to_json(), shape_steps(kept))
        assert not model.differences(o.d.graph.to_json(), o.d.grammar.to_json())
        assert fold_run(store, o.run_id).d.graph == o.d.graph == fold_from_start(
            store, o.run_id).d.graph
