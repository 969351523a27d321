"""Operating a run from another terminal: pause and unpause, while `grammarflow run`
runs and while nobody runs it; journaled, shown, and kept across kill -9.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from grammarflow.runtime import CRASH_BEFORE_COMMIT_ENV

from .conftest import Project

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# A waits for a file the test writes (so the test knows A is running and says when it
# ends); B and C just run.
WORKFLOW = """
import pathlib, time
from grammarflow import define

grammar = define("A -> B -> C")

def A() -> None:
    pathlib.Path("a-started").write_text("")
    while not pathlib.Path("a-go").exists():
        time.sleep(0.02)

def B() -> None:
    pathlib.Path("b-ran").write_text("")

def C() -> None:
    pass
"""


def wait_for(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def start(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "grammarflow", *args, "--json",
                             "--db", str(project.db)], cwd=project.root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def status(project: Project) -> dict[str, Any]:
    shown = project.cli("status", "1", "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)  # type: ignore[no-any-return]


def states(view: dict[str, Any]) -> dict[str, str]:
    return {t["id"]: t["state"] for t in view["tasks"]}


def controls(project: Project) -> list[tuple[int, str]]:
    return [(e["seq"], e["data"]["op"]) for e in json.loads(
        project.cli("history", "1", "--json").stdout) if e["kind"] == "control"]


def started_at(project: Project, task: str) -> int:
    return next(e["seq"] for e in json.loads(project.cli("history", "1", "--json").stdout)
                if e["kind"] == "step" and e["data"] == {"op": "state", "task": task,
                                                          "state": "running"})


def test_pause_and_unpause_from_a_second_process_while_the_run_runs(
        project: Project) -> None:
    project.write("wf.py", WORKFLOW)
    run = start(project, "run", "wf.py")
    wait_for(lambda: (project.root / "a-started").exists(), "A to start")
    paused = project.cli("pause", "1")
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.startswith("run 1 paused by its orchestrator (pid ")
    assert paused.stdout.endswith("): running tasks finish, no new one starts\n")
    (project.root / "a-go").write_text("")  # A ends and commits; B must not start
    wait_for(lambda: states(status(project))["A"] == "done", "A to commit")
    time.sleep(1.0)  # five looks at the control table: B would have started by now
    view = status(project)
    assert states(view) == {"A": "done", "B": "pending", "C": "pending"}
    assert view["paused"] is True and "PAUSED: no task starts until `grammarflow " \
        "unpause 1`" in view["verdict"]["line"]
    assert not (project.root / "b-ran").exists() and run.poll() is None
    picture = project.cli("render", "1", "--format", "dot", "-o", "-")
    assert "run 1 — PAUSED (`grammarflow unpause 1`)" in picture.stdout
    again = project.cli("pause", "1")
    assert again.stdout == "run 1 is paused already\n"
    unpaused = project.cli("unpause", "1")
    assert unpaused.returncode == 0 and "unpaused by its orchestrator" in unpaused.stdout
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-1000:]
    assert json.loads(out)["status"] == "succeeded"
    (pause_seq, _), (unpause_seq, _) = controls(project)
    assert controls(project) == [(pause_seq, "pause"), (unpause_seq, "unpause")]
    assert started_at(project, "B") > unpause_seq  # B started only once unpaused
    project.check_consistent(1)


def test_a_run_nobody_runs_is_paused_and_resume_waits_for_unpause(project: Project) -> None:
    project.write("wf.py", WORKFLOW)
    (project.root / "a-go").write_text("")
    killed = project.run(env={**os.environ, CRASH_BEFORE_COMMIT_ENV: "B"})
    assert killed.code == -signal.SIGKILL  # B ran but was never committed
    paused = project.cli("pause", "1")
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.startswith("run 1 paused (journal entry ")
    assert "nobody runs it now: `grammarflow resume 1` starts no task until " \
        "`grammarflow unpause 1`" in paused.stdout
    (project.root / "b-ran").unlink()
    resumed = start(project, "resume", "1")
    time.sleep(1.5)
    assert resumed.poll() is None  # waiting, not finished, not failed
    assert states(status(project)) == {"A": "done", "B": "pending", "C": "pending"}
    assert not (project.root / "b-ran").exists()
    # kill -9 while paused: nothing is lost, the pause is in the journal
    resumed.send_signal(signal.SIGKILL)
    resumed.communicate(timeout=30)
    again = start(project, "resume", "1")
    time.sleep(1.0)
    assert again.poll() is None and status(project)["paused"] is True
    unpaused = project.cli("unpause", "1")
    assert unpaused.returncode == 0 and "unpaused by its orchestrator" in unpaused.stdout
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err[-1000:]
    view = json.loads(out)
    assert view["status"] == "succeeded" and view["paused"] is False
    assert (project.root / "b-ran").exists()
    project.check_consistent(1)


def test_pause_says_what_it_cannot_do(project: Project) -> None:
    project.write("wf.py", WORKFLOW)
    (project.root / "a-go").write_text("")
    assert project.run().code == 0
    done = project.cli("pause", "1")
    assert done.returncode == 2
    assert done.stderr == "error: run 1 succeeded: there is nothing to pause\n"
    missing = project.cli("pause", "7")
    assert missing.returncode == 2 and "7" in missing.stderr
    assert project.cli("unpause", "1").returncode == 2


def test_unpause_of_a_run_that_is_not_paused_says_so(project: Project,
                                                      tmp_path: Path) -> None:
    project.write("wf.py", WORKFLOW)
    (project.root / "a-go").write_text("")
    killed = project.run(env={**os.environ, CRASH_BEFORE_COMMIT_ENV: "C"})
    assert killed.code == -signal.SIGKILL
    said = project.cli("unpause", "1")
    assert said.returncode == 0 and said.stdout == "run 1 is not paused\n"
    assert controls(project) == []


# ---------------------------------------------------------------- wait for a person
ASKED = """
import pathlib, time
from grammarflow import Kind, define

grammar = define("slow, approve, Pick(approve, done)", '''
    Pick(a, b) ::= [left] a -> L -> b | [right] a -> R -> b
''')
kinds = {"approve": Kind(ask="Which side, and are you sure?", output=bool)}

def slow() -> None:
    while not pathlib.Path("slow-go").exists():
        time.sleep(0.02)

def L() -> None:
    pathlib.Path("L-ran").write_text("")

def R() -> None:
    pathlib.Path("R-ran").write_text("")

def done() -> None:
    pass
"""


def test_a_waiting_task_runs_no_process_and_the_run_stops_waiting(project: Project) -> None:
    project.write("wf.py", ASKED)
    (project.root / "slow-go").write_text("")
    result = project.run()
    assert result.code == 4  # waiting: nothing else can run
    assert result.view["status"] == "waiting"
    assert result.view["reason"] == ("task approve waits for an answer: `grammarflow answer "
                                     "1 approve VALUE`, then `grammarflow resume 1`")
    waiting = next(t for t in result.view["tasks"] if t["id"] == "approve")
    assert waiting["state"] == "waiting"  # not running: no process runs it
    assert waiting["asks"] == "Which side, and are you sure?"
    assert [t["id"] for t in result.view["tasks"] if t["state"] == "running"] == []
    logs = project.db.parent / "logs" / "run-1"
    assert not any(p.name.startswith("approve")
                   for p in (logs.iterdir() if logs.exists() else ()))  # no process
    starts = [e["data"]["task"] for e in json.loads(project.cli("history", "1", "--json").stdout)
              if e["kind"] == "attempt" and e["data"].get("event") == "start"]
    assert "approve" not in starts and "slow" in starts
    text = project.cli("status", "1").stdout
    assert "  waiting  approve (approve)  asks: Which side, and are you sure?" in text


def test_a_snapshot_keeps_the_tasks_that_wait(project: Project) -> None:
    project.write("wf.py", ASKED)
    (project.root / "slow-go").write_text("")
    env = {**os.environ, "GRAMMARFLOW_SNAPSHOT_EVERY": "2"}  # snapshots all along
    assert project.run(env=env).code == 4
    from grammarflow.journal.store import Store

    store = Store(project.db, readonly=True)
    cached = store.snapshot(1)
    assert cached is not None and cached[0] >= next(
        e.seq for e in store.entries(1, ["attempt"]) if e.data.get("event") == "wait")
    assert cached[1]["waiting"] == {"approve": "Which side, and are you sure?"}
    waiting = [t["id"] for t in status(project)["tasks"] if t["state"] == "waiting"]
    assert waiting == ["approve"]


def test_an_answer_by_a_second_process_after_the_orchestrator_exited(project: Project) -> None:
    project.write("wf.py", ASKED)
    (project.root / "slow-go").write_text("")
    assert project.run().code == 4
    wrong = project.cli("answer", "1", "approve", "maybe", "--expand", "right")
    assert wrong.returncode == 2
    assert wrong.stderr == (
        "error: the answer to task approve is refused: the output of task approve is not "
        "of the type kind approve declares: expected bool: at the top: Input should be a "
        "valid boolean (got \"maybe\")\n")
    bad_choice = project.cli("answer", "1", "approve", "true", "--expand", "middle")
    assert bad_choice.returncode == 2 and "no production named 'middle'" in bad_choice.stderr
    said = project.cli("answer", "1", "approve", "true", "--expand", "right")
    assert said.returncode == 0, said.stderr
    assert said.stdout.startswith("task approve of run 1 answered: true (journal entry ")
    again = project.cli("answer", "1", "approve", "false")
    assert again.returncode == 2 and "task approve does not wait for an answer (it is " \
        "done)" in again.stderr
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-800:]
    tasks = {t["id"]: t for t in resumed.view["tasks"]}
    assert tasks["approve"]["output"] is True and "Pick.1/R" in tasks
    assert (project.root / "R-ran").exists() and not (project.root / "L-ran").exists()
    project.check_consistent(1)


def test_the_living_orchestrator_takes_an_answer_and_goes_on(project: Project) -> None:
    project.write("wf.py", ASKED)
    run = start(project, "run", "wf.py", "--max-parallel", "2")
    wait_for(lambda: project.db.exists() and "approve" in {
        t["id"] for t in status(project)["tasks"] if t["state"] == "waiting"}, "approve to wait")
    said = project.cli("answer", "1", "approve", "true", "--expand", "left")
    assert said.returncode == 0, said.stderr
    assert said.stdout.startswith("task approve of run 1 answered: true; its orchestrator "
                                  "(pid ")
    wait_for(lambda: (project.root / "L-ran").exists(), "L to run, slow still running")
    assert run.poll() is None  # slow still runs: the orchestrator went on meanwhile
    (project.root / "slow-go").write_text("")
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-1000:]
    assert json.loads(out)["status"] == "succeeded"
    project.check_consistent(1)


def test_kill_9_while_a_task_waits_then_resume_keeps_it_waiting(project: Project) -> None:
    project.write("wf.py", ASKED)
    run = start(project, "run", "wf.py", "--max-parallel", "2")
    wait_for(lambda: project.db.exists() and any(
        t["state"] == "waiting" for t in status(project)["tasks"]), "approve to wait")
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    (project.root / "slow-go").write_text("")
    resumed = project.resume(1)
    assert resumed.code == 4  # slow ran again (it was lost), approve still waits
    waits = [e for e in json.loads(project.cli("history", "1", "--json").stdout)
             if e["kind"] == "attempt" and e["data"].get("event") == "wait"]
    assert len(waits) == 1  # asked once: the wait survived the kill, not asked again
    assert project.cli("answer", "1", "approve", "false", "--expand", "left").returncode == 0
    assert project.resume(1).code == 0
    project.check_consistent(1)


@pytest.mark.parametrize(("said", "shipped"), [("true", True), ("false", False)])
def test_the_approval_example_ships_only_when_a_person_says_so(project: Project, said: str,
                                                                shipped: bool) -> None:
    shutil.copy(EXAMPLES / "approval.py", project.root / "approval.py")
    first = project.run("approval.py")
    assert first.code == 4 and first.view["status"] == "waiting"
    picture = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert "approve\\nwaits for a person:\\nShip this build to production? (true or…" \
        in picture
    assert project.cli("answer", "1", "approve", said).returncode == 0
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-800:]
    tasks = {t["id"] for t in resumed.view["tasks"]}
    assert tasks == {"build", "approve", "done", *(["Release.1/ship"] if shipped else [])}
    chosen = [e["production"] for e in resumed.journal("step") if e.get("op") == "expand"]
    assert chosen == (["ship"] if shipped else ["hold"])


# ---------------------------------------------------------------- loops
@pytest.mark.parametrize("n", [3, 100])
def test_a_loop_runs_until_a_step_stops_it(project: Project, n: int) -> None:
    shutil.copy(EXAMPLES / "loop.py", project.root / "loop.py")
    result = project.run("loop.py", env={**os.environ, "EXAMPLE_ITERATIONS": str(n)})
    assert result.code == 0, result.stderr[-800:]
    steps = ["Loop.1/step", *(f"Loop.1.{i}/step" for i in range(2, n + 1))]
    tasks = {t["id"]: t for t in result.view["tasks"]}
    assert set(tasks) == {"start", "finish", *steps}
    chain = ["start", *steps, "finish"]
    assert sorted(map(tuple, result.view["edges"])) == sorted(itertools.pairwise(chain))
    assert [tasks[s]["output"] for s in steps] == list(range(1, n + 1))
    assert tasks["finish"]["output"] == n


def test_a_loop_that_goes_past_its_bound_breaks_the_promise(project: Project) -> None:
    shutil.copy(EXAMPLES / "loop.py", project.root / "loop.py")
    result = project.run("loop.py", env={**os.environ, "EXAMPLE_ITERATIONS": "6",
                                         "EXAMPLE_BOUND": "5"})
    assert result.code == 3
    assert result.view["refusal"]["task"] == "Loop.1.5/step"
    assert result.view["refusal"]["reason"] == (
        "hole Loop.1.6 (Loop) may not become Loop(a, b) ::= [if depth <= 5] a -> step, "
        "Loop(step, b): its condition [if depth <= 5] is false (depth = 6)")
    assert sum(1 for t in result.view["tasks"] if t["kind"] == "step") == 5


def test_kill_9_in_the_middle_of_a_loop_then_resume_runs_each_round_once(
        project: Project) -> None:
    shutil.copy(EXAMPLES / "loop.py", project.root / "loop.py")
    env = {**os.environ, "EXAMPLE_ITERATIONS": "5"}
    killed = project.run("loop.py", env={**env, CRASH_BEFORE_COMMIT_ENV: "Loop.1.3/step"})
    assert killed.code == -signal.SIGKILL  # round 3 exited 0; its commit never happened
    resumed = project.resume(1, env=env)
    assert resumed.code == 0, resumed.stderr[-800:]
    tasks = {t["id"]: t for t in resumed.view["tasks"]}
    steps = ["Loop.1/step", *(f"Loop.1.{i}/step" for i in range(2, 6))]
    assert [tasks[s]["output"] for s in steps] == [1, 2, 3, 4, 5]
    assert [tasks[s]["attempts"] for s in steps] == [1, 1, 2, 1, 1]
    assert tasks["finish"]["output"] == 5
    project.check_consistent(1)


def test_kill_9_right_after_an_answer_then_resume_keeps_it_once(project: Project) -> None:
    project.write("wf.py", ASKED)
    run = start(project, "run", "wf.py", "--max-parallel", "2")
    wait_for(lambda: project.db.exists() and any(
        t["state"] == "waiting" for t in status(project)["tasks"]), "approve to wait")
    said = project.cli("answer", "1", "approve", "true", "--expand", "right")
    assert said.returncode == 0, said.stderr
    run.send_signal(signal.SIGKILL)  # slow still runs: it is lost and runs again
    run.communicate(timeout=30)
    (project.root / "slow-go").write_text("")
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-800:]
    answers = [e for e in json.loads(project.cli("history", "1", "--json").stdout)
               if e["kind"] == "attempt" and e["data"].get("outcome") == "answered"]
    assert len(answers) == 1
    tasks = {t["id"]: t for t in resumed.view["tasks"]}
    assert tasks["approve"]["output"] is True and "Pick.1/R" in tasks
    project.check_consistent(1)


# ---------------------------------------------------------------- cosmetics
STYLED = """
import os
from grammarflow import define

grammar = define("fetch -> report")

def fetch() -> None:
    from grammarflow import task
    task.style(color="#16a34a", label="fetched 3 rows")
    task.style(edge=("fetch", "report"), label="3 rows", style="bold")
    if os.environ.get("BAD_STYLE"):
        task.style(shape="star")

def report() -> None:
    pass
"""


def test_a_task_styles_itself_and_an_edge_and_a_bad_style_is_refused(project: Project) -> None:
    project.write("wf.py", STYLED)
    result = project.run()
    assert result.code == 0, result.stderr[-800:]
    dot = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert '"t:fetch" [label="fetched 3 rows\\n[fetch]"' in dot
    assert '"t:fetch" -> "t:report" [label="3 rows", style=bold];' in dot
    said = [e for e in json.loads(project.cli("history", "1", "--json").stdout)
            if e["kind"] == "step" and e["data"]["op"] == "style"]
    assert [e["data"] for e in said] == [
        {"op": "style", "task": "fetch", "attrs": {"color": "#16a34a",
                                                   "label": "fetched 3 rows"}, "by": "fetch"},
        {"op": "style", "edge": ["fetch", "report"], "attrs": {"label": "3 rows",
                                                               "style": "bold"}, "by": "fetch"}]
    project.db.unlink()
    broken = project.run(env={**os.environ, "BAD_STYLE": "1"})
    assert broken.code == 3
    assert broken.view["refusal"]["reason"].startswith("style of fetch: shape 'star' is not")
    dot = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert "fetched 3 rows" not in dot  # nothing of the refused attempt is kept


def test_a_cosmetic_promise_refuses_a_colour_outside_its_set(project: Project) -> None:
    project.write("wf.py", STYLED.replace('define("fetch -> report")',
                                          'define("fetch -> report", cosmetics=["colors from '
                                          'red, blue"])'))
    result = project.run()
    assert result.code == 3
    assert result.view["refusal"]["reason"] == (
        "style of fetch breaks the cosmetic promise 'colors from red, blue': color "
        "'#16a34a' is not among the promised red, blue")


def test_registered_styles_and_a_kill_9_before_a_styling_commit(project: Project) -> None:
    project.write("wf.py", STYLED.replace(
        'define("fetch -> report")',
        'define("fetch -> report", styles={"report": {"shape": "note"}, '
        '"fetch -> report": {"color": "red", "style": "dashed"}})'))
    killed = project.run(env={**os.environ, CRASH_BEFORE_COMMIT_ENV: "fetch"})
    assert killed.code == -signal.SIGKILL
    dot = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert '"t:fetch" -> "t:report" [color="red", style=dashed];' in dot  # registered
    assert "fetched 3 rows" not in dot  # the styles were never committed
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-800:]
    styles = [e for e in json.loads(project.cli("history", "1", "--json").stdout)
              if e["kind"] == "step" and e["data"]["op"] == "style"]
    assert len(styles) == 2  # once each, from the attempt that committed
    dot = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert '"t:fetch" -> "t:report" [color="red", label="3 rows", style=bold];' in dot
    assert "shape=note" in dot.split('"t:report" [', 1)[1].split("]", 1)[0]


def test_the_cosmetics_example_draws_its_styles_and_breaks_its_palette(
        project: Project) -> None:
    shutil.copy(EXAMPLES / "cosmetics.py", project.root / "cosmetics.py")
    result = project.run("cosmetics.py")
    assert result.code == 0, result.stderr[-800:]
    dot = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert '"t:fetch" -> "t:clean" [label="raw rows", style=dashed];' in dot
    assert '"t:clean" -> "t:report" [color="orange", label="4 clean rows"];' in dot
    assert '[label="fetched 6 rows\\n[fetch]\\n→ [6 items]", shape=box' in dot
    assert "shape=note" in dot.split('"t:report" [', 1)[1].split("]", 1)[0]
    broken = project.run("cosmetics.py", env={**os.environ, "EXAMPLE_OFF_PALETTE": "1"})
    assert broken.code == 3
    assert broken.view["refusal"]["reason"] == (
        "style of clean breaks the cosmetic promise 'colors from #16a34a, #dc2626, orange': "
        "color 'purple' is not among the promised #16a34a, #dc2626, orange")


def test_the_loop_example_paused_and_unpaused_from_a_second_process(project: Project) -> None:
    shutil.copy(EXAMPLES / "loop.py", project.root / "loop.py")
    run = subprocess.Popen(
        [sys.executable, "-m", "grammarflow", "run", "loop.py", "--json", "--db",
         str(project.db)], cwd=project.root, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # 12 rounds of 0.4 s: a pause slowed by a loaded machine still comes before the end
        env={**os.environ, "EXAMPLE_ITERATIONS": "12", "EXAMPLE_DELAY": "0.4"})
    with contextlib.ExitStack() as cleanup:  # a failed check leaves no paused run behind
        cleanup.callback(lambda: run.poll() is None and run.kill())
        wait_for(lambda: project.db.exists() and "Loop.1.2/step" in states(status(project)),
                 "the second round to be made")
        assert project.cli("pause", "1").returncode == 0
        paused_at_ = controls(project)[0][0]
        time.sleep(1.2)  # three rounds' time: paused, at most the running one finishes
        started = [t for t, s in states(status(project)).items()
                   if t.endswith("/step") and s != "pending"]
        assert len(started) < 12 and all(started_at(project, t) < paused_at_ for t in started)
        assert project.cli("unpause", "1").returncode == 0
        out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err[-800:]
    assert [t["output"] for t in json.loads(out)["tasks"]
            if t["kind"] == "step"] == list(range(1, 13))
