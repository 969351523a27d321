"""Stopping never hangs: every stop path ends every attempt and answers every request.

A broken promise while another attempt is being spawned, a task failure while other
attempts still send requests, and SIGINT / SIGTERM / SIGHUP to `grammarflow run` with
task trees running: each ends the run promptly with its exit code, and leaves no
process of the run alive. The bounds below are generous (the bugs were "forever").
"""

from __future__ import annotations

import json
import signal

import pytest

from .conftest import Project
from .processes import PID_FILE, alive, finish, launch, marked, reaped, start, wait_until

POLL_JOURNAL = """
import json, os, sqlite3, time
def wait_in_journal(clause):
    db = sqlite3.connect(f"file:{json.loads(os.environ['GRAMMARFLOW_TASK'])['db']}?mode=ro",
                         uri=True)
    while not db.execute("SELECT 1 FROM journal WHERE " + clause).fetchone():
        pass  # no sleep: the point is to act within the orchestrator's next few steps
"""

BREAK_WHILE_SPAWNING = """
from grammarflow import define
grammar = define("A, " + ", ".join(f"C -> B{i}:B" for i in range(6)) + ", end, X(A, end)",
                 "X(a, b) ::= a -> b")
kinds = {"A": "tasks/a.py", "B": "tasks/b.py", "C": "tasks/c.py", "end": "tasks/c.py"}
"""

# A breaks the promise the moment C's completion is journaled: while the orchestrator
# starts the six Bs that C's end made ready (one spawn after another, each a few event
# loop turns) and then every B asks for a change. C lets the Bs start only once A is
# watching. Six Bs rather than one make the moment wide: on the code before the fix,
# with one B the run hung in about three runs of four here (14/20, 16/20, 17/20,
# 21/30); with six, in 60 of 60.
A_BREAKS = POLL_JOURNAL + """
from pathlib import Path
from grammarflow import task, wire
out = task._chan().out  # connect first, so that nothing is left to do but write
refused = wire.encode_message({"op": "expand", "id": 1, "hole": "X.1",
                               "production": "no such production"})
(Path(__file__).parent / "a-watching").write_text("")
wait_in_journal("kind='step' AND data LIKE '%\\"task\\": \\"C\\", \\"state\\": \\"done\\"%'")
out.write(refused)
task._chan().inp.readline()
"""

C_WAITS = """
import time
from pathlib import Path
while not (Path(__file__).parent / "a-watching").exists():
    time.sleep(0.01)
"""

B_ASKS = """
import time
from grammarflow import task
try:
    task.expand("X.1", "1")
except task.Refused:
    raise SystemExit(1)
time.sleep(300)
"""


def test_a_broken_promise_while_another_attempt_is_spawned_ends_the_run(
        project: Project) -> None:
    project.write("wf.py", BREAK_WHILE_SPAWNING)
    project.write("tasks/a.py", A_BREAKS)
    project.write("tasks/b.py", B_ASKS)
    project.write("tasks/c.py", C_WAITS)
    with reaped(project) as leftovers:
        run = start(project, "run", "wf.py", "--max-parallel", "7", "--json")
        leftovers.add(run.pid)
        out, err = finish(run, 30, "the promise broke long ago")
        assert run.returncode == 3, err
        assert json.loads(out)["status"] == "broken"
        assert marked(project) == []
    project.check_consistent(1)


FAIL_WHILE_ASKING = """
from grammarflow import define
grammar = define("A, B, end, X(B, end)", "X(a, b) ::= [default] a -> b | a -> M -> b")
kinds = {"A": "tasks/a.py", "B": "tasks/b.py", "M": "tasks/m.py", "end": "tasks/m.py"}
"""

# B asks for a change only after A's failure is journaled: the run is stopping, B is not
# killed (running attempts of a failed run finish), so its request must get a reply.
B_ASKS_AFTER_A_FAILED = POLL_JOURNAL + """
from grammarflow import task
wait_in_journal("kind='attempt' AND data LIKE '%\\"outcome\\": \\"failed\\"%'")
task.expand("X.1", "2")
"""


def test_a_task_failure_still_answers_the_requests_of_running_attempts(
        project: Project) -> None:
    project.write("wf.py", FAIL_WHILE_ASKING)
    project.write("tasks/a.py", "raise SystemExit(1)\n")
    project.write("tasks/b.py", B_ASKS_AFTER_A_FAILED)
    project.write("tasks/m.py", "pass\n")
    with reaped(project) as leftovers:
        run = start(project, "run", "wf.py", "--max-parallel", "2", "--json")
        leftovers.add(run.pid)
        out, err = finish(run, 60, "a running attempt waits for a reply")
        assert run.returncode == 1, err
        view = json.loads(out)
        states = {t["id"]: t["state"] for t in view["tasks"]}
        assert states["A"] == "failed"
        assert states["B"] == "done"  # it finished, and its change was kept
        assert [t for t in view["tasks"] if t["kind"] == "M"] != []
        assert marked(project) == []
    project.check_consistent(1)


TREE = """
from grammarflow import define
grammar = define("first -> tree -> last")
kinds = {"first": "tasks/quick.py", "tree": "tasks/tree.py", "last": "tasks/quick.py"}
"""

# A task with a tree below it: a `sleep` (with the marker) and a Python child that
# forgets the marker and starts a grandchild of its own.
TREE_TASK = PID_FILE + """
import os, subprocess, sys, time
from grammarflow import task
if task.context().attempt == 1:
    sleeper = subprocess.Popen(["sleep", "300"])
    child = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; "
         "g = subprocess.Popen(['sleep', '300']); print(g.pid, flush=True); time.sleep(300)"],
        env={}, stdout=subprocess.PIPE, text=True)
    grandchild = int(child.stdout.readline())
    write_pids("tree", os.getpid(), sleeper.pid, child.pid, grandchild)
    time.sleep(300)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_run_ends_every_process_of_the_task_tree(project: Project,
                                                              sig: signal.Signals) -> None:
    project.write("wf.py", TREE)
    project.write("tasks/quick.py", "pass\n")
    project.write("tasks/tree.py", TREE_TASK)
    with reaped(project) as leftovers:
        run, tree = launch(project, leftovers, "tree", "run", "wf.py")
        run.send_signal(sig)
        _, err = finish(run, 30, f"{sig.name} came long ago")
        assert run.returncode == 130, err
        wait_until(lambda: not any(alive(p) for p in tree), "the task tree to end", 10)
        assert marked(project) == []
    status = project.cli("status", "1", "--json")
    assert json.loads(status.stdout)["status"] == "interrupted"
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr
    assert [t["state"] for t in resumed.view["tasks"]] == ["done"] * 3
    project.check_consistent(1)
