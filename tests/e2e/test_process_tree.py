"""A task's whole process tree is the task: it ends with its attempt.

Grandchildren die when the task's main process exits, when it times out, and before
it is retried; a grandchild holding the task's pipes neither slows an attempt nor
makes it "timed out", also one that left the group (setsid). (Every way a descendant
can try to get away: tests/e2e/test_descendants.py.)
"""

from __future__ import annotations

import contextlib
import json

from .conftest import Project
from .processes import PID_FILE, alive, finish, pids, reaped, start, wait_until

ONE = """
from grammarflow import Kind, define
grammar = define("t -> after")
kinds = {{"t": Kind("tasks/t.py", timeout={timeout}, retries={retries}),
          "after": "tasks/after.py"}}
"""

# `after` records whether the grandchildren of `t` were gone by the time it started.
AFTER = PID_FILE + """
import os
from pathlib import Path
here = Path(__file__).parent
def running(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b")", 1)[1].split()[0] != b"Z"
survivors = [p for name in ("t-1", "t-2") if (here / name).exists()
             for p in map(int, (here / name).read_text().split()[1:]) if running(p)]
write_pids("survivors", *survivors)
"""


def project_with(project: Project, body: str, *, timeout: float | None = None,
                 retries: int = 0) -> None:
    project.write("wf.py", ONE.format(timeout=timeout, retries=retries))
    project.write("tasks/t.py", PID_FILE + "import os, subprocess, sys, time\n"
                  "from grammarflow import task\nn = task.context().attempt\n" + body)
    project.write("tasks/after.py", AFTER)


def run_to_end(project: Project, bound: float = 60, patience: float = 10
               ) -> tuple[int, dict[str, object], str, list[int]]:
    """Run; return the exit code, the view, stderr, and the processes the task wrote
    down that still run (given ``patience`` s to end) after `grammarflow run` exited."""
    with reaped(project) as leftovers:
        run = start(project, "run", "wf.py", "--json")
        leftovers.add(run.pid)
        out, err = finish(run, bound, "its task ended long ago")
        tree = [p for name in ("t-1", "t-2") if (project.root / "tasks" / name).exists()
                for p in pids(project.root / "tasks" / name)]
        leftovers.add(*tree)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not any(alive(p) for p in tree), "the tree to end", patience)
        survivors = [p for p in tree if alive(p)]
        return run.returncode, json.loads(out) if out else {}, err, survivors


def attempt_ends(project: Project) -> list[dict[str, object]]:
    from grammarflow.journal.store import Store

    return [e.data for e in Store(project.db, readonly=True).entries(1, ["attempt"])
            if e.data["event"] == "end"]


def test_a_grandchild_holding_stderr_does_not_make_a_quick_task_slow_or_timed_out(
        project: Project) -> None:
    project_with(project, """
child = subprocess.Popen(["sleep", "40"])  # inherits stdout (now stderr) and stderr
write_pids(f"t-{n}", os.getpid(), child.pid)
""", timeout=20)
    code, _, err, survivors = run_to_end(project, bound=35)
    assert code == 0, err
    assert [e["outcome"] for e in attempt_ends(project)] == ["succeeded", "succeeded"]
    assert attempt_ends(project)[0]["reason"] is None
    assert pids(project.root / "tasks" / "survivors") == []
    assert survivors == []


def test_a_timeout_ends_the_whole_tree(project: Project) -> None:
    project_with(project, """
child = subprocess.Popen(["sleep", "300"])
quiet = subprocess.Popen(["sleep", "300"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
write_pids(f"t-{n}", os.getpid(), child.pid, quiet.pid)
time.sleep(300)
""", timeout=2)
    code, view, err, survivors = run_to_end(project)
    assert code == 1, err
    assert "timed out after 2" in str(view["reason"])
    assert survivors == []


def test_a_retry_starts_only_after_the_failed_attempts_tree_is_gone(
        project: Project) -> None:
    project_with(project, """
quiet = subprocess.Popen(["sleep", "300"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
write_pids(f"t-{n}", os.getpid(), quiet.pid)
if n == 1:
    raise SystemExit(1)
""", retries=1)
    code, _, err, survivors = run_to_end(project)
    assert code == 0, err
    assert [e["outcome"] for e in attempt_ends(project)] == ["failed", "succeeded",
                                                            "succeeded"]
    assert pids(project.root / "tasks" / "survivors") == []
    assert survivors == []


def test_a_process_that_left_the_group_holding_the_pipes_dies_with_its_attempt(
        project: Project) -> None:
    project_with(project, """
escaped = subprocess.Popen(["sleep", "300"], start_new_session=True)
write_pids(f"t-{n}", os.getpid(), escaped.pid)
""", timeout=20)
    code, _, err, survivors = run_to_end(project, bound=35, patience=0)
    assert survivors == []  # gone before `run` returned: no patience given
    assert pids(project.root / "tasks" / "survivors") == []  # gone before `after` began
    assert code == 0, err
    assert [e["outcome"] for e in attempt_ends(project)] == ["succeeded", "succeeded"]
    assert attempt_ends(project)[0]["reason"] is None
