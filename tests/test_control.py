"""Operations asked of a run from another process (grammarflow.journal.operations), against a real
SQLite journal whose run's lease this test process holds as its orchestrator would."""

from __future__ import annotations

import concurrent.futures
import random
import time
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st
from reference import full_graph
from strategies import grammars

from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import TaskState
from grammarflow.core.rollback import Journaled, plan_restart, rollback
from grammarflow.core.simulate import Limits, RandomChooser, run_from
from grammarflow.core.steps import SetState, Step
from grammarflow.errors import GrammarflowError
from grammarflow.journal import operations
from grammarflow.journal.lease import Holder
from grammarflow.journal.operations import Done, set_paused
from grammarflow.journal.store import Store

LIMITS = Limits(max_tasks=14, max_open_growth=2, max_steps=120)


def wait_until_asked(store: Store, run: int, asker: concurrent.futures.Future[Done]) -> None:
    deadline = time.monotonic() + 30
    while not store.requests.asked(run):
        assert time.monotonic() < deadline and not asker.done(), asker.exception()
        time.sleep(0.01)


def pause_from_another_connection(db: Path, run: int) -> Done:
    """`grammarflow pause RUN`, as its own process would (its own connection)."""
    return set_paused(Store(db), run, True)


@pytest.mark.parametrize(("status", "said"), [
    ("broken", "run 1 is broken: there is nothing to pause — a broken promise is final"),
    ("succeeded", "run 1 succeeded: there is nothing to pause")])
def test_a_request_its_orchestrator_ended_without_taking_is_decided_on_the_ended_run(
        tmp_path: Path, status: str, said: str) -> None:
    orchestrator = Store(tmp_path / "db")
    run = orchestrator.create_owned_run({"path": "x"}, Holder.this_process())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        asked = pool.submit(pause_from_another_connection, tmp_path / "db", run)
        wait_until_asked(orchestrator, run, asked)  # asked of the living orchestrator ...
        orchestrator.finish_run(run, status, "it ended")  # ... which ends without it
        with pytest.raises(GrammarflowError) as refused:
            asked.result(timeout=30)
    assert str(refused.value).startswith(said)
    assert [e.kind for e in orchestrator.entries(run)] == ["status"]  # nothing after it


def test_a_request_its_orchestrator_ended_without_taking_is_done_here_if_the_run_goes_on(
        tmp_path: Path) -> None:
    orchestrator = Store(tmp_path / "db")
    run = orchestrator.create_owned_run({"path": "x"}, Holder.this_process())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        asked = pool.submit(pause_from_another_connection, tmp_path / "db", run)
        wait_until_asked(orchestrator, run, asked)
        orchestrator.finish_run(run, "interrupted", "Ctrl-C")
        done = asked.result(timeout=30)
    assert done == Done(2, None)  # journaled by the asker itself, after the status
    assert [e.data.get("op") for e in orchestrator.entries(run)] == [None, "pause"]


def test_a_request_not_taken_in_time_is_withdrawn(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(operations, "TAKE_WITHIN", 0.3)
    orchestrator = Store(tmp_path / "db")
    run = orchestrator.create_owned_run({"path": "x"}, Holder.this_process())
    with pytest.raises(GrammarflowError) as refused:
        set_paused(Store(tmp_path / "db"), run, True)  # nobody takes it
    assert str(refused.value).endswith(
        "to pause, and it did not take the request within 0.3 s (is it stopped?); the "
        "request is withdrawn: nothing changed")
    assert orchestrator.requests.asked(run) == []


# ---------------------------------------------------------------- restart while tasks run
@given(grammar=grammars(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_a_restart_is_refused_exactly_when_a_running_task_would_be_rolled_back(
        grammar: Grammar, seed: int, data: st.DataObject) -> None:
    """Theorem 12 (proofs/12-restart.md) with tasks running: a restart rolls back what
    runs after the task and what the tasks it restarts made — and a task that is
    running cannot be rolled back under its process. So `plan_restart` refuses exactly
    when a running task runs after the restarted one (networkx on the graph) or was
    made by a step the restart removes (it would vanish), naming each such task; else
    it is the rollback."""
    chooser = RandomChooser(random.Random(seed))
    d = grammar.derivation()
    told: list[tuple[Step, str | None]] = []
    run_from(d, chooser, LIMITS, lambda step, by: told.append((step, by)),
             data.draw(st.integers(1, 10), label="tasks run"))
    ready = d.graph.ready_in_order()
    for task in data.draw(st.lists(st.sampled_from(ready), min_size=1, unique=True) if ready
                          else st.just([]), label="then start"):
        d.apply(SetState(task, TaskState.RUNNING))
        told.append((d.history[-1], None))
    journal = [Journaled(i + 1, step, by) for i, (step, by) in enumerate(told)]
    done = sorted(t for t, s in d.graph.state.items() if s is TaskState.DONE)
    assume(done)
    running = {t for t, s in d.graph.state.items() if s is TaskState.RUNNING}
    # as often as not a task right before a running one, or one whose step made it
    near = sorted({t for t in done if any(t in d.graph.pred[r] for r in running)}
                  | {by for step, by in told for r in running if by in done
                     and getattr(step, "hole", None) == r.rpartition("/")[0]})
    started = st.sampled_from(sorted({*done, *running}))
    task = data.draw(st.sampled_from(near) | started if near else started,
                     label="restarted task")
    rb = rollback(grammar, journal, d.graph, [task])
    after = nx.descendants(full_graph(d.graph.to_json()), task)
    busy = sorted(t for t in running
                  if t == task or t in after or t not in rb.derivation.graph.tasks)
    vanishes = any(t not in rb.derivation.graph.tasks for t in busy)
    event("running tasks: " + ("none" if not running else "none rolled back" if not busy
                               else "one vanishes" if vanishes else "some rolled back"))
    if not busy:
        assert plan_restart(d, journal, grammar, task, running).removed == rb.removed
        return
    with pytest.raises(GrammarflowError) as refused:
        plan_restart(d, journal, grammar, task, running)
    said = str(refused.value)
    assert said.startswith(f"cannot restart task {task} now: {', '.join(busy)} ")
