"""Tasks on a real Dask LocalCluster of 2 worker processes (`--dask local:2`;
docs/cluster.md): a dynamic example ends with the graph the local executor gives, every
task's process a child of a Dask worker; a worker killed mid-task fails that attempt,
which runs again elsewhere, the killed one gone with its worker; `--max-parallel` holds
across the cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import Project, final_graph
from .processes import reaped
from .test_operations import wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: Every task says which process started it (its parent: a Dask worker, through setpriv).
WHERE = """
import os
from pathlib import Path
from grammarflow import Kind, define

grammar = define("start -> slow -> end")
kinds = {"slow": Kind(":slow", retries=1)}


def _here(name: str) -> None:
    parent = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\\0", b" ")
    Path(f"{name}.where").write_bytes(parent)


def start() -> None:
    _here("start")


def slow() -> None:
    first = not Path("slow-1.pids").exists()
    Path("slow-1.pids" if first else "slow-2.pids").write_text(f"{os.getpid()} {os.getppid()}")
    _here("slow")
    if first and os.environ.get("SLOW_WAITS"):
        import time
        while not Path("never").exists():  # until its worker is killed
            time.sleep(0.05)


def end() -> None:
    _here("end")
"""

#: Six tasks that each note when they began and ended.
FAN = """
import os, time
from pathlib import Path
from grammarflow import define

grammar = define("root -> w0, root -> w1, root -> w2, root -> w3, root -> w4, root -> w5")

def root() -> None: ...

def _work(name: str) -> None:
    began = time.time()
    time.sleep(0.4)
    Path(f"{name}.span").write_text(f"{began} {time.time()}")
""" + "".join(f"\ndef w{i}() -> None:\n    _work('w{i}')\n" for i in range(6))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_dynamic_example_on_the_cluster_ends_as_it_does_here(project: Project) -> None:
    shutil.copy(EXAMPLES / "dynamic.py", project.root / "dynamic.py")
    here = project.run("dynamic.py")
    assert here.code == 0, here.stderr[-800:]
    # one task at a time both ways: what it grows depends on what already ran
    there = project.run("dynamic.py", "--dask", "local:2")
    assert there.code == 0, there.stderr[-800:]
    assert final_graph(there.view) == final_graph(here.view)
    project.check_consistent(2)


def test_every_task_runs_on_a_worker_and_one_killed_mid_task_is_run_again(
        project: Project) -> None:
    project.write("wf.py", WHERE)
    with reaped(project) as mine:
        run = subprocess.Popen(
            [sys.executable, "-m", "grammarflow", "run", "wf.py", "--dask", "local:2",
             "--max-parallel", "2", "--json", "--db", str(project.db)], cwd=project.root,
            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "SLOW_WAITS": "1"})
        mine.add(run.pid)
        wait_for(lambda: (project.root / "slow-1.pids").exists(), "slow to start",
                 timeout=60)
        pid, worker = map(int, (project.root / "slow-1.pids").read_text().split())
        assert b"distributed" in Path(f"/proc/{worker}/cmdline").read_bytes() or b"spawn_main" \
            in Path(f"/proc/{worker}/cmdline").read_bytes()
        os.kill(worker, signal.SIGKILL)  # the worker dies mid-task
        out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err[-1500:]
    view = json.loads(out)
    slow = next(t for t in view["tasks"] if t["id"] == "slow")
    assert slow["attempts"] == 2 and view["status"] == "succeeded"
    lost = [e for e in project.run_journal(1, "attempt")
            if e.get("task") == "slow" and e.get("event") == "end" and e.get("attempt") == 1]
    assert "the Dask worker running it" in lost[0]["reason"] and "left the cluster" in \
        lost[0]["reason"]
    wait_for(lambda: not alive(pid), "the killed attempt's process to be gone", timeout=10)
    for name in ("start", "slow", "end"):  # each started by a Dask worker process
        assert b"spawn_main" in (project.root / f"{name}.where").read_bytes()


def test_max_parallel_holds_across_the_cluster(project: Project) -> None:
    project.write("wf.py", FAN)
    done = project.run("wf.py", "--dask", "local:2", "--max-parallel", "2")
    assert done.code == 0, done.stderr[-800:]
    spans = [tuple(map(float, (project.root / f"w{i}.span").read_text().split()))
             for i in range(6)]
    most = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert most == 2  # two at once, never three: the cluster has 16 threads to offer


def test_a_cluster_that_cannot_be_reached_fails_the_task_and_says_why(
        project: Project) -> None:
    project.write("wf.py", "from grammarflow import define\ngrammar = define('a')\n"
                           "def a() -> None: ...\n")
    t0 = time.monotonic()
    done = project.run("wf.py", "--dask", "tcp://127.0.0.1:9")
    assert done.code == 1, done.stderr
    reason = done.view["tasks"][0]["failure"]["reason"]
    assert "the Dask cluster at tcp://127.0.0.1:9 cannot be reached" in reason
    assert time.monotonic() - t0 < 60
    bad = project.cli("run", "wf.py", "--dask", "local:0")
    assert bad.returncode == 2 and "expected local:N" in bad.stderr



#: A task that waits for the file go-<attempt> (and says it started, with its pid).
GATED = """
import json, os, time
from pathlib import Path
from grammarflow import define, task

grammar = define("a -> b")

def a() -> None:
    attempt = task.context().attempt
    Path(f"a-{attempt}.pid").write_text(str(os.getpid()))
    while not Path(f"go-{attempt}").exists():
        time.sleep(0.05)

def b() -> None: ...
"""


def workers_of(project: Project) -> list[int]:
    """The processes that carry the run's local-cluster marker (its Dask workers)."""
    from grammarflow.runtime.dask_executor import worker_marker

    marker = worker_marker(str(project.db.resolve()), 1)
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if any(v.startswith(marker) for v in environ.split(b"\0")):
                found.append(int(entry.name))
    return found


def test_a_killed_orchestrator_s_cluster_and_tasks_are_ended_when_the_run_resumes(
        project: Project) -> None:
    project.write("wf.py", GATED)
    with reaped(project) as mine:
        run = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py",
                                "--dask", "local:2", "--json", "--db", str(project.db)],
                               cwd=project.root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        mine.add(run.pid)
        wait_for(lambda: (project.root / "a-1.pid").exists(), "a to start", timeout=60)
        task = int((project.root / "a-1.pid").read_text())
        workers = workers_of(project)
        assert workers  # the worker processes of its local cluster
        mine.add(*workers, task)
        run.send_signal(signal.SIGKILL)  # the orchestrator dies; its cluster lives on
        run.wait(timeout=30)
        assert alive(task)
        (project.root / "go-2").write_text("")  # the next attempt may end
        resumed = project.resume(1, "--dask", "local:2")
    assert resumed.code == 0, resumed.stderr[-800:]
    assert not alive(task) and not any(alive(w) for w in workers)
    attempts = {t["id"]: t["attempts"] for t in resumed.view["tasks"]}
    assert attempts == {"a": 2, "b": 1}
