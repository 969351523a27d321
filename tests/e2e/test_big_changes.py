"""A task that sends a huge raw change: accepted, or refused within the deadline, and
Ctrl-C still stops the run while the change is being explained (it is planned in a
worker thread, with a deadline and a cancellation the orchestrator sets)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from grammarflow.errors import GrammarflowError
from grammarflow.store import Store

from .conftest import Project

MAP = """
from grammarflow import define, repeat_parallel
grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
def A():
    from grammarflow import task
    n = int(__import__("os").environ["FAN"])
    task.add(tasks={f"m{i}": "M" for i in range(n)},
             edges=[e for i in range(n) for e in (("A", f"m{i}"), (f"m{i}", "B"))])
def M(): pass
def B(): pass
kinds = {"M": "tasks/nothing.py"}
"""

# Each P comes with an X that has no edge to the hole's parameters, so the search must
# try every unplaced X for every P: quadratic, far beyond any deadline at this size.
SLOW = """
from grammarflow import define
grammar = define("A, B, Xs(A, B)",
                 "Xs(a, b) ::= [default] nothing | a -> P -> b, X, Xs(a, b)")
def A():
    from grammarflow import task
    n = 20000
    tasks = {**{f"p{i}": "P" for i in range(n)}, **{f"x{i}": "X" for i in range(n)}}
    task.add(tasks=tasks,
             edges=[e for i in range(n) for e in (("A", f"p{i}"), (f"p{i}", "B"))])
def B(): pass
def P(): pass
def X(): pass
"""


def running(status: str) -> bool:
    return bool(json.loads(status)["tasks"][0]["state"] == "running")


def a_succeeded(project: Project) -> bool:
    """Whether task A's attempt has ended successfully, its change committed with it."""
    if not project.db.exists():
        return False
    try:
        store = Store(project.db, readonly=True)
        return any(e.data.get("event") == "end" and e.data["task"] == "A"
                   and e.data["outcome"] == "succeeded" for e in store.entries(1, ["attempt"]))
    except GrammarflowError:  # not created yet
        return False


def test_a_raw_change_of_100000_tasks_is_accepted(project: Project) -> None:
    project.write("wf.py", MAP)
    project.write("tasks/nothing.py", "")
    start = time.monotonic()
    # A only adds; the Ms are not run (B stays behind them): the run is interrupted by
    # the test once A's change is committed.
    # The search deadline is lifted: this test is about accepting a big change, not
    # about how fast a loaded machine explains it (the deadline has its own test).
    # Output goes to files: a pipe nobody reads would stall the run once it is full.
    out = (project.root / "run.out").open("wb")
    err_file = project.root / "run.err"
    proc = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py", "--json",
                             "--max-parallel", "1", "--db", str(project.db)],
                            cwd=project.root,
                            env={**os.environ, "FAN": "100000",
                                 "GRAMMARFLOW_RAW_CHANGE_DEADLINE": "120"},
                            stdout=out, stderr=err_file.open("wb"))
    deadline = time.monotonic() + 240
    committed = False
    while time.monotonic() < deadline and not committed:
        time.sleep(0.5)
        committed = a_succeeded(project)  # read the journal: `status` would fold 100,000 tasks
        if proc.poll() is not None:
            break
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    out.close()
    assert committed, err_file.read_text()[-2000:]
    view = json.loads(project.cli("status", "1", "--json").stdout)
    assert sum(1 for t in view["tasks"] if t["kind"] == "M") == 100_000
    assert view["refused"] == []
    assert time.monotonic() - start < 240


def test_a_change_too_costly_to_explain_is_refused_after_the_deadline(
        project: Project) -> None:
    project.write("wf.py", SLOW)
    start = time.monotonic()
    result = project.run(env={**os.environ, "GRAMMARFLOW_RAW_CHANGE_DEADLINE": "3"})
    took = time.monotonic() - start
    assert result.code == 3, result.stderr[-1500:]
    refused = result.journal("refused")[0]
    assert "could not be explained" in refused["reason"] and "3" in refused["reason"]
    assert "expand" in refused["reason"]
    assert took < 60, f"took {took:.0f} s"  # the deadline, not the search, ended it
    assert sorted(t["id"] for t in result.view["tasks"]) == ["A", "B"]


def test_ctrl_c_stops_a_run_while_a_huge_change_is_being_explained(
        project: Project) -> None:
    project.write("wf.py", SLOW)
    proc = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py", "--json",
                             "--db", str(project.db)], cwd=project.root,
                            env={**os.environ, "GRAMMARFLOW_RAW_CHANGE_DEADLINE": "600"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait until A has sent its change: A is running and its message is in
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.3)
        status = project.cli("status", "1", "--json")
        if status.returncode == 0 and running(status.stdout):
            break
    time.sleep(3)  # A builds and sends 40,000 tasks: well inside the search by now
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    stopped = time.monotonic() - sent
    assert proc.returncode == 130, err.decode()[-1500:]
    assert stopped < 30, f"Ctrl-C took {stopped:.0f} s to stop the run (search: 600 s)"
    view = json.loads(out)
    assert view["status"] == "interrupted"
