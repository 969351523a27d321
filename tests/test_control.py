"""Operations asked of a run from another process (grammarflow.control), against a real
SQLite journal whose run's lease this test process holds as its orchestrator would."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import pytest

from grammarflow import control
from grammarflow.control import Done, set_paused
from grammarflow.errors import GrammarflowError
from grammarflow.store import Holder, Store


def wait_until_asked(store: Store, run: int, asker: concurrent.futures.Future[Done]) -> None:
    deadline = time.monotonic() + 30
    while not store.asked(run):
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
    monkeypatch.setattr(control, "TAKE_WITHIN", 0.3)
    orchestrator = Store(tmp_path / "db")
    run = orchestrator.create_owned_run({"path": "x"}, Holder.this_process())
    with pytest.raises(GrammarflowError) as refused:
        set_paused(Store(tmp_path / "db"), run, True)  # nobody takes it
    assert str(refused.value).endswith(
        "to pause, and it did not take the request within 0.3 s (is it stopped?); the "
        "request is withdrawn: nothing changed")
    assert orchestrator.asked(run) == []
