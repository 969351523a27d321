"""Interruption (Ctrl-C / SIGTERM) and the progress display (issue 3, points 1 and 7)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import Project, run_on_a_terminal

SLOW = """
from grammarflow import define
grammar = define("first -> slow -> last")
kinds = {"first": "tasks/quick.py", "slow": "tasks/slow.py", "last": "tasks/quick.py"}
"""

SLOW_TASK = """
import os, time
from grammarflow import task
if task.context().attempt == 1:
    open(os.path.join(os.path.dirname(__file__), "started"), "w").write("x")
    for i in range(600):
        task.progress(i, 600)
        time.sleep(0.05)
"""


def start(project: Project, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py",
                             "--db", str(project.db), *extra], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_exits_130_and_resumes_to_the_end(project: Project,
                                                            sig: signal.Signals) -> None:
    project.write("wf.py", SLOW)
    project.write("tasks/quick.py", "pass\n")
    project.write("tasks/slow.py", SLOW_TASK)
    proc = start(project)
    wait_for(project.root / "tasks" / "started")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    status = project.cli("status", "1", "--json")
    assert '"status": "interrupted"' in status.stdout
    assert "slow" in status.stdout
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr
    assert [t["state"] for t in resumed.view["tasks"]] == ["done"] * 3
    project.check_consistent(1)


def test_progress_is_plain_lines_when_not_a_terminal(project: Project) -> None:
    project.write("wf.py", 'from grammarflow import define\ngrammar = define("a -> b")\n'
                           'kinds = {"a": "t.py", "b": "t.py"}\n')
    project.write("t.py", "pass\n")
    proc = project.cli("run", "wf.py")
    assert proc.returncode == 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("[run 1]")]
    assert lines[-1] == "[run 1] 2/2 done, 0 hole(s) open | finished: succeeded"
    assert any("started a" in line for line in lines)
    assert proc.stdout.startswith("run 1: succeeded\n")


def test_progress_is_a_live_line_on_a_terminal(project: Project) -> None:
    project.write("wf.py", SLOW)
    project.write("tasks/quick.py", "pass\n")
    project.write("tasks/slow.py", SLOW_TASK.replace("range(600)", "range(30)"))
    code, text = run_on_a_terminal(project, "run", "wf.py", timeout=30)
    assert code == 0
    assert "tasks done" in text and "hole(s) open" in text
    assert "slow 1" in text or "slow 2" in text  # the running task with its progress
