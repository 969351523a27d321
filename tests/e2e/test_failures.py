"""What a person reads when a run goes wrong (issue 11, points 2 and 3): a failed task
says why — its traceback's last frame and message, the exit status or signal, the
timeout it hit, its log — in `run`, `status` and `history`; a broken run says so on
status's first line, names the task whose change was refused, and prints the refusal
once."""

from __future__ import annotations

import json

from grammarflow.journal.status import refusal_at
from grammarflow.journal.store import Store

from .conftest import Project, run_on_a_terminal

FAILING = """
import os, signal, time
from grammarflow import Kind, define

grammar = define("A, B, C")
kinds = {"B": Kind(":B", timeout=0.5)}


def check(row):
    raise ValueError(f"cannot parse row {row}")


def A():
    print("reading rows")
    check(7)


def B():
    time.sleep(30)


def C():
    os.kill(os.getpid(), signal.SIGKILL)
"""

BROKEN = """
from grammarflow import define

grammar = define("A, B, X(A, B)", "X(a, b) ::= a -> N -> M -> b | a -> J -> K -> b")


def A():
    from grammarflow import task

    task.add(tasks={"rogue": "Rogue"}, edges=[("A", "rogue"), ("rogue", "B")])


def N(): ...
def M(): ...
def J(): ...
def K(): ...
def B(): ...
"""

REFUSAL = "no sequence of allowed productions yields exactly this change"


def test_a_failed_task_says_why_in_run_status_and_history(project: Project) -> None:
    wf = project.write("wf.py", FAILING)
    frame = f'File "{wf}", line 10, in check'
    assert wf.read_text().splitlines()[9].strip().startswith("raise ValueError")
    message = "ValueError: cannot parse row 7"
    timeout = "timed out after 0.5 s (kind B's timeout)"
    log = project.db.parent / "logs" / "run-1" / "A.1.log"

    run = project.cli("run", "wf.py", "--max-parallel", "3")
    assert run.returncode == 1, run.stderr
    failed_a = [line for line in run.stderr.splitlines() if "| failed A:" in line]
    assert len(failed_a) == 1 and message in failed_a[0] and str(log) in failed_a[0]
    assert log.is_file() and message in log.read_text()
    status = project.cli("status", "1")
    history = project.cli("history", "1")
    for text in (run.stdout, status.stdout, history.stdout):
        assert frame in text and message in text
        assert "exited with status 1" in text and timeout in text
        assert "killed by SIGKILL" in text
        assert f"log: {log}" in text
        assert "reading rows" not in text  # stdout is the log's, not the summary's
    assert status.stdout.splitlines()[0].startswith("run 1: FAILED — task ")
    assert status.stdout == run.stdout  # run ends with the status a person would ask for

    view = json.loads(project.cli("status", "1", "--json").stdout)
    assert next(iter(view)) == "verdict"
    assert sorted(view["verdict"]["tasks"]) == ["A", "B", "C"]
    a = next(t for t in view["tasks"] if t["id"] == "A")
    assert a["failure"]["stderr"][-2:] == ['    raise ValueError(f"cannot parse row {row}")',
                                          message]
    assert a["failure"]["log"] == str(log)
    b = next(t for t in view["tasks"] if t["id"] == "B")
    assert b["error"] == timeout and b["failure"]["log"] is None  # it wrote nothing


def test_a_broken_run_says_so_first_and_prints_the_refusal_once(project: Project) -> None:
    project.write("wf.py", BROKEN)
    run = project.cli("run", "wf.py")
    assert run.returncode == 3, run.stderr
    said = run.stdout + run.stderr
    assert said.count(REFUSAL) == 1, said
    assert said.count("needs 1 × M, 1 × N; the change has") == 1
    assert "| broken A: asked for a change the grammar does not allow" in run.stderr

    status = project.cli("status", "1").stdout.splitlines()
    assert status[0] == "run 1: BROKEN — task A asked for a change the grammar does not allow"
    assert status[1].startswith(f"  why:     {REFUSAL}")
    assert status[2] == "  hole:    X.1"
    assert status[3].startswith("  tried    X.1: X(a, b) ::= a -> N -> M -> b: ")
    assert status[4].startswith("  tried    X.1: X(a, b) ::= a -> J -> K -> b: ")
    assert status[5].startswith('  message: {"op": "add", "tasks": [{"name": "rogue"')
    assert "  refused  A (A)  its change was refused: nothing of it is in the graph" in status
    assert not any(line.startswith("  ready    A ") for line in status)
    assert sum(REFUSAL in line for line in status) == 1

    view = json.loads(project.cli("status", "1", "--json").stdout)
    assert next(iter(view)) == "verdict"
    assert view["verdict"]["line"] == status[0] and view["verdict"]["tasks"] == ["A"]
    assert view["refusal"]["task"] == "A" and view["refusal"]["hole"] == "X.1"
    assert [t["id"] for t in view["tasks"] if t["refused"]] == ["A"]
    assert project.cli("history", "1").stdout.count(REFUSAL) == 1
    seq = view["refusal"]["seq"]  # for a picture of the run as it stood after a step
    store = Store(project.db, readonly=True)
    assert refusal_at(store, 1, upto=seq - 1) is None
    found = refusal_at(store, 1, upto=seq)
    assert found is not None and found.task == "A" and found == refusal_at(store, 1)

    code, terminal = run_on_a_terminal(project, "run", "wf.py", timeout=30)
    assert code == 3 and terminal.count(REFUSAL) == 1, terminal
