"""`grammarflow restart RUN TASK` through the CLI: TASK and every task after it run again,
what they did rolled back first (proofs/12-restart.md) — with nobody running the run,
taken by a living orchestrator, refused while one of them runs, and across kill -9.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from reference import replay

from grammarflow.core.graph import TaskState
from grammarflow.core.steps import Output, SetState, Style
from grammarflow.journal.state import fold_run, journaled_steps
from grammarflow.journal.store import Store
from grammarflow.journal.transactions import CRASH_ENV, FAIL_WRITES_ENV
from grammarflow.workflow.definition import Workflow

from .conftest import Project
from .test_operations import start, status, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def in_the_language(project: Project, run_id: int) -> None:
    """The journal's kept steps, replayed by the naive reference model, are accepted and
    end where the fold ends: the graph is in the workflow's language."""
    store = Store(project.db, readonly=True)
    grammar = Workflow.from_json(store.run(run_id).workflow).grammar
    start_d = grammar.derivation()
    kept = [j.step for j in journaled_steps(store, run_id)  # the shape (no outputs, styles)
            if not isinstance(j.step, Style | Output)]
    model = replay(start_d.graph.to_json(), start_d.grammar.to_json(), kept)
    end = fold_run(store, run_id).d
    assert not model.differences(end.graph.to_json(), end.grammar.to_json())
    project.check_consistent(run_id)


def ms(view: dict[str, Any]) -> list[str]:
    return sorted(t["id"] for t in view["tasks"] if t["kind"] == "M")


def history(project: Project) -> list[dict[str, Any]]:
    return json.loads(project.cli("history", "1", "--json").stdout)  # type: ignore[no-any-return]


def test_a_task_that_made_a_map_reruns_and_picks_another_count(project: Project) -> None:
    env = {**os.environ, "EXAMPLE_SEED": "1"}  # 3 Ms
    first = project.run(str(EXAMPLES / "random_map.py"), env=env)
    assert first.code == 0 and len(ms(first.view)) == 3
    said = project.cli("restart", "1", "A")
    assert said.returncode == 0, said.stderr
    assert said.stdout == (
        "task A of run 1 restarted: 2 task(s) back to pending, 14 step(s) rolled back; 3 "
        "task(s) they made are gone; hole(s) open again: Ms.1 (journal entry 26); nobody "
        "runs it now: `grammarflow resume 1` runs them again\n")
    view = status(project)
    assert view["status"] == "restarted" and ms(view) == []
    assert {t["id"]: t["state"] for t in view["tasks"]} == {"A": "pending", "B": "pending"}
    assert [h["id"] for h in view["holes"]] == ["Ms.1"]  # open again, with its productions
    again = project.resume(1, env={**os.environ, "EXAMPLE_SEED": "7"})  # 5 Ms
    assert again.code == 0, again.stderr[-800:]
    assert len(ms(again.view)) == 5
    attempts = {t["id"]: t["attempts"] for t in again.view["tasks"]}
    assert attempts["A"] == 2 and attempts["B"] == 2
    in_the_language(project, 1)
    restarts = [e for e in history(project) if e["kind"] == "restart"]
    assert len(restarts) == 1 and restarts[0]["data"]["vanished"] == [
        "Ms.1/M", "Ms.1/Ms_more.1/M", "Ms.1/Ms_more.1.2/M"]
    text = project.cli("history", "1").stdout
    assert ("RESTART of task A (asked by pid " in text
            and "2 task(s) back to pending (A, B), 14 step(s) rolled back, 3 task(s) gone, "
                "hole(s) open again: Ms.1" in text)
    page = project.cli("history", "1", "--html", str(project.root / "h.html"))
    assert page.returncode == 0, page.stderr
    assert "RESTART of task A" in (project.root / "h.html").read_text()


def test_the_orchestrators_guarded_map_is_rolled_back_and_chosen_again(
        project: Project) -> None:
    first = project.run(str(EXAMPLES / "map_list.py"), env={**os.environ, "EXAMPLE_ITEMS": "4"})
    assert first.code == 0
    assert project.cli("restart", "1", "split").returncode == 0
    again = project.resume(1, env={**os.environ, "EXAMPLE_ITEMS": "2"})
    assert again.code == 0, again.stderr[-800:]
    tasks = {t["id"]: t for t in again.view["tasks"]}
    assert tasks["split"]["output"] == ["w0", "w1x"]
    assert tasks["total"]["output"] == [2, 3]  # only the copies of the new list
    assert sorted(t for t in tasks if t.startswith("Each")) == ["Each.1.2/measure",
                                                                "Each.1/measure"]
    in_the_language(project, 1)


LIVE = """
import pathlib, time
from grammarflow import define

grammar = define("A -> B -> C, D")

def A() -> None:
    pass

def B() -> None:
    n = len(list(pathlib.Path().glob("b-ran.*")))
    pathlib.Path(f"b-ran.{n}").write_text("")
    while n >= 1 and not pathlib.Path("b-go").exists():  # its re-run waits for the test
        time.sleep(0.02)

def C() -> None:
    pass

def D() -> None:
    pathlib.Path("d-started").write_text("")
    while not pathlib.Path("d-go").exists():
        time.sleep(0.02)
"""


def test_a_living_orchestrator_takes_a_restart_and_refuses_one_while_a_task_runs(
        project: Project) -> None:
    project.write("wf.py", LIVE)
    (project.root / "b-go").write_text("")
    run = start(project, "run", "wf.py", "--max-parallel", "2")
    wait_for(lambda: (project.root / "d-started").exists() and project.db.exists()
             and {t["id"]: t["state"] for t in status(project)["tasks"]}.get("C") == "done",
             "C done while D runs")
    busy = project.cli("restart", "1", "D")
    assert busy.returncode == 2
    assert busy.stderr == ("error: cannot restart task D now: D is running, and a restart "
                           "rolls back what it does; wait until it ends, or stop the run "
                           "(Ctrl-C) and restart it then\n")
    said = project.cli("restart", "1", "B")
    assert said.returncode == 0, said.stderr
    assert said.stdout.startswith("task B of run 1 restarted: 2 task(s) back to pending, ")
    assert "its orchestrator (pid " in said.stdout
    wait_for(lambda: {t["id"]: t["attempts"] for t in status(project)["tasks"]}["C"] == 2,
             "B and C to run again")
    (project.root / "d-go").write_text("")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-1000:]
    view = json.loads(out)
    assert view["status"] == "succeeded"
    assert {t["id"]: t["attempts"] for t in view["tasks"]} == {"A": 1, "B": 2, "C": 2, "D": 1}
    in_the_language(project, 1)


def test_kill_9_after_a_restart_was_taken_and_during_the_rerun_loses_nothing(
        project: Project) -> None:
    project.write("wf.py", LIVE)
    (project.root / "d-go").write_text("")
    assert project.run().code == 0
    assert project.cli("restart", "1", "B").returncode == 0
    run = start(project, "resume", "1")
    wait_for(lambda: (project.root / "b-ran.1").exists(), "B's re-run to start")
    run.send_signal(signal.SIGKILL)  # B runs again: its attempt is lost
    run.communicate(timeout=30)
    (project.root / "b-go").write_text("")
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-800:]
    attempts = {t["id"]: t["attempts"] for t in resumed.view["tasks"]}
    assert attempts == {"A": 1, "B": 3, "C": 2, "D": 1}
    kept = journaled_steps(Store(project.db, readonly=True), 1)
    assert [j.step for j in kept].count(SetState("B", TaskState.DONE)) == 1  # once, as it stands
    in_the_language(project, 1)


def test_a_restart_killed_in_its_transaction_or_right_after_loses_nothing(
        project: Project) -> None:
    project.write("wf.py", LIVE)
    (project.root / "d-go").write_text("")
    (project.root / "b-go").write_text("")
    assert project.run().code == 0
    failed = project.cli("restart", "1", "A", env={**os.environ, FAIL_WRITES_ENV: "1+"})
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: the restart of run 1 could not be journaled, so "
                                    "nothing changed: database "), failed.stderr
    assert status(project)["status"] == "succeeded"  # nothing of it was journaled
    assert not [e for e in history(project) if e["kind"] == "restart"]
    killed = project.cli("restart", "1", "A", env={**os.environ, CRASH_ENV: "1"})
    assert killed.returncode == -signal.SIGKILL  # right after its transaction committed
    assert status(project)["status"] == "restarted"
    resumed = project.resume(1)  # the killed process's lease is dead: resume takes it
    assert resumed.code == 0, resumed.stderr[-800:]
    assert {t["id"]: t["attempts"] for t in resumed.view["tasks"]} == {
        "A": 2, "B": 2, "C": 2, "D": 1}
    in_the_language(project, 1)


def test_restart_says_what_it_cannot_do(project: Project) -> None:
    project.write("wf.py", LIVE)
    (project.root / "d-go").write_text("")
    (project.root / "b-go").write_text("")
    assert project.run().code == 0
    unknown = project.cli("restart", "1", "BB")
    assert (unknown.returncode, unknown.stderr) == (
        2, "error: no task 'BB' in the run; did you mean B?\n")
    project.write("broken.py", """
        from grammarflow import define, task

        grammar = define("A -> B")

        def A() -> None:
            task.expand("nowhere", "1")

        def B() -> None:
            pass
        """)
    assert project.run("broken.py").code == 3
    broken = project.cli("restart", "2", "A")
    assert broken.returncode == 2 and broken.stderr.startswith(
        "error: run 2 is broken: nothing restarts — a broken promise is final")
