"""One orchestrator per run: the lease, through the real CLI (issue: nothing runs twice).

A run is claimed by a lease before anything runs. A second `resume` of a run whose
orchestrator lives refuses, naming it; an orchestrator killed with -9 is taken over;
one stopped with SIGSTOP is alive and is not; one whose lease was taken from it stops
at its next journal write and writes nothing more.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import time

from .conftest import Project
from .processes import (
    PID_FILE,
    alive,
    completions,
    finish,
    launch,
    marked,
    pids,
    reaped,
    wait_until,
)

WORKFLOW = """
from grammarflow import Kind, define
grammar = define("slow -> last, other")
kinds = {"slow": Kind("tasks/wait.py", args=("slow",)), "last": "tasks/quick.py",
         "other": Kind("tasks/wait.py", args=("other",))}
"""

# Writes "<name>-<attempt>": its pid and its grandchild's, then waits for "go-<name>".
# The grandchild forgets the task marker (env={}): only its process group ties it to
# the task.
WAIT = PID_FILE + """
import os, subprocess, sys, time
from pathlib import Path
from grammarflow import task
name = sys.argv[1]
child = subprocess.Popen(["sleep", "300"], env={}, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
write_pids(f"{name}-{task.context().attempt}", os.getpid(), child.pid)
go = Path(__file__).parent / f"go-{name}"
while not go.exists():
    time.sleep(0.02)
"""


def make(project: Project) -> None:
    project.write("wf.py", WORKFLOW)
    project.write("tasks/wait.py", WAIT)
    project.write("tasks/quick.py", "pass\n")
    project.write("tasks/go-other", "")  # only `slow` waits, unless a test removes this


def go(project: Project, name: str = "slow") -> None:
    (project.root / "tasks" / f"go-{name}").write_text("")


def test_a_second_resume_refuses_naming_the_owner_and_every_task_runs_once(
        project: Project) -> None:
    make(project)
    with reaped(project) as mine:
        crashed, _ = launch(project, mine, "slow-1", "run", "wf.py")
        crashed.kill()
        crashed.wait()
        first, (task_pid, child_pid) = launch(project, mine, "slow-2", "resume", "1")

        second = project.cli("resume", "1", timeout=30)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.pid}" in lines[0] and socket.gethostname() in lines[0]
        assert "heartbeat" in lines[0] and "resume" in lines[0]
        assert alive(task_pid) and alive(child_pid), "the refused resume touched the run"

        go(project)
        _, err = finish(first, 60, "the first resume")
        assert first.returncode == 0, err
    assert completions(project, 1) == {"slow": 1, "last": 1, "other": 1}
    project.check_consistent(1)
    status = project.cli("status", "1", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["status"] == "succeeded"
    again = project.cli("resume", "1")
    assert again.returncode == 2 and "nothing to resume" in again.stderr


def test_resume_takes_over_from_an_owner_killed_with_9_and_ends_its_task_trees(
        project: Project) -> None:
    make(project)
    with reaped(project) as mine:
        crashed, (orphan, grandchild) = launch(project, mine, "slow-1", "run", "wf.py")
        os.kill(crashed.pid, signal.SIGKILL)  # not reaped: a zombie, as dead as can be
        wait_until(lambda: not alive(crashed.pid), "the orchestrator to die")
        status = project.cli("status", "1")
        assert f"orchestrator pid {crashed.pid} on {socket.gethostname()} is gone" \
            in status.stdout, status.stdout
        assert "grammarflow resume 1" in status.stdout

        resumed, _ = launch(project, mine, "slow-2", "resume", "1")
        assert not alive(orphan), "the orphaned task still runs"
        assert not alive(grandchild), "the orphaned task's grandchild still runs"
        go(project)
        _, err = finish(resumed, 60, "the resume")
        assert resumed.returncode == 0, err
        crashed.wait()
    assert completions(project, 1) == {"slow": 1, "last": 1, "other": 1}
    project.check_consistent(1)


def test_an_owner_stopped_with_sigstop_lives_and_is_not_taken_over(project: Project) -> None:
    make(project)
    with reaped(project) as mine:
        owner, (task_pid, child_pid) = launch(project, mine, "slow-1", "run", "wf.py")
        os.kill(owner.pid, signal.SIGSTOP)
        try:
            refused = project.cli("resume", "1", timeout=30)
            assert refused.returncode == 2, refused.stderr
            assert f"pid {owner.pid}" in refused.stderr
            status = project.cli("status", "1")
            assert f"orchestrator pid {owner.pid} on {socket.gethostname()}," \
                in status.stdout, status.stdout
            assert "gone" not in status.stdout
            assert alive(task_pid) and alive(child_pid)
        finally:
            os.kill(owner.pid, signal.SIGCONT)
        go(project)
        _, err = finish(owner, 60, "the run")
        assert owner.returncode == 0, err
    assert completions(project, 1) == {"slow": 1, "last": 1, "other": 1}
    project.check_consistent(1)


def test_a_deposed_owner_stops_at_its_next_write_and_writes_nothing_more(
        project: Project) -> None:
    make(project)
    (project.root / "tasks" / "go-other").unlink()
    with reaped(project) as mine:
        owner, slow = launch(project, mine, "slow-1", "run", "wf.py", "--max-parallel", "2")
        other = pids(project.root / "tasks" / "other-1")  # other runs beside slow
        mine.add(*other)
        from grammarflow.journal.lease import Holder

        usurper = Holder.this_process()  # this test process: alive, on this host
        db = sqlite3.connect(project.db)
        with db:
            changed = db.execute(
                "UPDATE leases SET owner=?, pid=?, host=?, started=?, heartbeat=? "
                "WHERE run=1", (usurper.token, usurper.pid, usurper.host, usurper.started,
                               time.time())).rowcount
        assert changed == 1
        before = db.execute("SELECT COUNT(*) FROM journal WHERE run=1").fetchone()[0]
        db.close()

        go(project)  # slow ends: its completion is the orchestrator's next journal write
        _, err = finish(owner, 60, "the deposed run")
        assert owner.returncode == 2, err
        assert f"pid {usurper.pid} on {usurper.host}" in err, err
        db = sqlite3.connect(project.db)
        after = db.execute("SELECT COUNT(*) FROM journal WHERE run=1").fetchone()[0]
        owner_now = db.execute("SELECT owner FROM leases WHERE run=1").fetchone()[0]
        db.close()
        assert after == before, "the deposed orchestrator wrote to the journal"
        assert owner_now == usurper.token
        assert not any(alive(p) for p in slow + other), "its task processes still run"
        assert marked(project) == []


def test_run_holds_the_lease_while_it_runs_and_releases_it_at_the_end(
        project: Project) -> None:
    make(project)
    with reaped(project) as mine:
        owner, _ = launch(project, mine, "slow-1", "run", "wf.py")
        view = json.loads(project.cli("status", "1", "--json").stdout)
        assert view["orchestrator"]["pid"] == owner.pid
        assert view["orchestrator"]["host"] == socket.gethostname()
        assert view["orchestrator"]["alive"] is True
        go(project)
        finish(owner, 60, "the run")
        assert owner.returncode == 0
    view = json.loads(project.cli("status", "1", "--json").stdout)
    assert view["orchestrator"] is None
    assert "orchestrator" not in project.cli("status", "1").stdout
