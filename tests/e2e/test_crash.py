"""kill -9 of the orchestrator at any moment, then `grammarflow resume` (issue 3, point 5).

A workflow of a fan-out (A makes four Ms), a branch (B chooses), and an end. The run
is killed after every k-th journal commit, and at seeded random times; each time
`resume` must finish it with the same final graph as an uninterrupted run, every task
completed exactly once, a journal without gaps and an intact database.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grammarflow.journal.transactions import CRASH_ENV

from .conftest import Project, final_graph

WORKFLOW = """
from grammarflow import define, repeat_parallel
grammar = define("A, B, Ms(A, B), end, X(B, end)", [
    *repeat_parallel("Ms", "M"),
    "X(a, b) ::= a -> L -> b | a -> R -> b",
])
kinds = {"A": "tasks/a.py", "M": "tasks/m.py", "B": "tasks/b.py",
         "L": "tasks/m.py", "R": "tasks/m.py", "end": "tasks/m.py"}
"""

TASK_A = """
from grammarflow import task
task.add(tasks={f"m{i}": "M" for i in range(6)},
         edges=[e for i in range(6) for e in (("A", f"m{i}"), (f"m{i}", "B"))])
"""

TASK_B = """
import os
from grammarflow import task
task.expand("X.1", "2")
with open(os.path.join(os.path.dirname(__file__), "..", "b-ran"), "a") as f:
    f.write("x\\n")
"""


def make(project: Project) -> None:
    project.write("wf.py", WORKFLOW)
    project.write("tasks/a.py", TASK_A)
    project.write("tasks/b.py", TASK_B)
    project.write("tasks/m.py", "pass\n")


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items()
         if k not in (CRASH_ENV, "GRAMMARFLOW_TEST_CRASH_BEFORE_COMMIT_OF")}
    e.update(extra)
    return e


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a reaper)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b")", 1)[1].split()[0] != b"Z"


def completions(project: Project, run_id: int) -> dict[str, int]:
    from grammarflow.journal.store import Store

    done: dict[str, int] = {}
    for e in Store(project.db, readonly=True).entries(run_id, ["step"]):
        if e.data["op"] == "state" and e.data["state"] == "done":
            done[e.data["task"]] = done.get(e.data["task"], 0) + 1
    return done


def reference(tmp_path: Path) -> tuple[object, int]:
    ref = Project(tmp_path / "reference")
    make(ref)
    result = ref.run(env=env())
    assert result.code == 0, result.stderr
    return final_graph(result.view), len(result.journal())


def resume_until_done(project: Project, run_id: int) -> dict[str, object]:
    """Resume; a run killed after its last commit has already succeeded."""
    status = json.loads(project.cli("status", str(run_id), "--json").stdout)
    if status["status"] == "succeeded":
        return status  # type: ignore[no-any-return]
    result = project.resume(run_id, env=env())
    assert result.code == 0, (result.view.get("reason"), result.stderr[-1500:])
    return result.view


def test_kill_9_at_every_journal_commit_then_resume(tmp_path: Path) -> None:
    expected, _ = reference(tmp_path)
    k = 0
    while True:  # kill after the 1st, 2nd, ... commit, until a run outlives every point
        k += 1
        project = Project(tmp_path / f"kill-{k}")
        make(project)
        killed = project.run(env=env(**{CRASH_ENV: str(k)}))
        if killed.code == 0:
            break
        assert killed.code == -signal.SIGKILL, (k, killed.code, killed.stderr[-500:])
        view = resume_until_done(project, 1)
        assert final_graph(view) == expected, f"kill point {k}"
        assert set(completions(project, 1).values()) == {1}, f"kill point {k}"
        project.check_consistent(1)
    assert k - 1 >= 20, f"only {k - 1} kill points"


@pytest.mark.parametrize("first,second", [(3, 2), (8, 5), (14, 1)])
def test_kill_9_again_during_recovery(tmp_path: Path, first: int, second: int) -> None:
    expected, _ = reference(tmp_path)
    project = Project(tmp_path / "p")
    make(project)
    assert project.run(env=env(**{CRASH_ENV: str(first)})).code == -signal.SIGKILL
    again = project.resume(1, env=env(**{CRASH_ENV: str(second)}))
    assert again.code == -signal.SIGKILL
    view = resume_until_done(project, 1)
    assert final_graph(view) == expected
    assert set(completions(project, 1).values()) == {1}
    project.check_consistent(1)


@pytest.mark.parametrize("seed", range(5))
def test_kill_9_at_seeded_random_times(tmp_path: Path, seed: int) -> None:
    expected, _ = reference(tmp_path)
    project = Project(tmp_path / "p")
    make(project)
    proc = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py", "--json",
                             "--db", str(project.db)], cwd=project.root, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(random.Random(seed).uniform(0.05, 0.6))
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    if not project.db.exists():
        return  # killed before the database existed: nothing to resume
    listed = project.cli("runs", "--json")
    assert listed.returncode == 0, listed.stderr  # even a database killed while created
    runs = json.loads(listed.stdout)
    if not runs:
        return  # killed before the run was created: nothing to resume
    if runs[0]["status"] == "succeeded":
        view = json.loads(project.cli("status", "1", "--json").stdout)
    else:
        view = resume_until_done(project, 1)
    assert final_graph(view) == expected
    assert set(completions(project, 1).values()) == {1}
    project.check_consistent(1)


def test_a_task_that_succeeded_just_before_the_crash_runs_again_once_recorded(
        tmp_path: Path) -> None:
    """The at-least-once boundary: B exited 0, the orchestrator died before journaling it.

    After resume B has run twice (its side effect happened twice: the documented
    at-least-once), its completion and its expansion are recorded exactly once."""
    expected, _ = reference(tmp_path)
    project = Project(tmp_path / "p")
    make(project)
    crashed = project.run(env=env(GRAMMARFLOW_TEST_CRASH_BEFORE_COMMIT_OF="B"))
    assert crashed.code == -signal.SIGKILL
    assert (project.root / "b-ran").read_text().count("x") == 1
    view = resume_until_done(project, 1)
    assert (project.root / "b-ran").read_text().count("x") == 2
    assert final_graph(view) == expected
    assert completions(project, 1)["B"] == 1
    from grammarflow.journal.store import Store
    expands = [e.data for e in Store(project.db, readonly=True).entries(1, ["step"])
               if e.data["op"] == "expand" and e.data["hole"] == "X.1"]
    assert len(expands) == 1


def test_a_task_process_the_crashed_orchestrator_left_running_is_stopped_and_runs_again(
        tmp_path: Path) -> None:
    project = Project(tmp_path / "p")
    project.write("wf.py", """
        from grammarflow import define
        grammar = define("slow")
        kinds = {"slow": "tasks/slow.py"}
    """)
    project.write("tasks/slow.py", """
        import os, time
        from grammarflow import task
        if task.context().attempt == 1:
            open(os.path.join(os.path.dirname(__file__), "pid"), "w").write(str(os.getpid()))
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py", "--json",
                             "--db", str(project.db)], cwd=project.root, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pid_file = project.root / "tasks" / "pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # let the orchestrator journal the pid
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    orphan = int(pid_file.read_text())
    deadline = time.monotonic() + 10  # its zygote, seeing the orchestrator gone, kills it
    while alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(orphan), "the orphaned task process still runs"
    view = resume_until_done(project, 1)
    assert view["status"] == "succeeded"
    lost = [a for a in project.run_journal(1, "attempt") if a["event"] == "lost"]
    assert lost and "will run again" in lost[0]["reason"]
