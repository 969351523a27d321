"""Function tasks forked from the run's zygote (grammarflow/runtime/zygote.py), which starts the
others too: each attempt is still its own process, in its own group, sharing nothing
with the others; timeouts, kill -9 of the orchestrator and of the zygote itself, then
resume, keep their meaning.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from .conftest import Project
from .processes import alive, marked, pids, reaped, start, wait_until


@pytest.fixture(autouse=True)
def zygote_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the zygote: on, whatever the suite's environment says."""
    monkeypatch.delenv("GRAMMARFLOW_NO_ZYGOTE", raising=False)


# Each task writes down its pid, its parent's, its process group and what it saw of
# the module-level state the workflow file set up when it was imported.
SIBLINGS = """
import os, pathlib, random
from grammarflow import Kind, define

grammar = define("a -> b, a -> c, b -> d, c -> d")
kinds = {"c": Kind(":c", zygote=False)}
COUNTER = [0]

def note(name):
    COUNTER[0] += 1
    pathlib.Path(f"{name}.json").write_text(__import__("json").dumps({
        "pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0),
        "counter": COUNTER[0], "random": random.random(), "cwd": os.getcwd(),
        "argv": open("/proc/self/cmdline").read().split("\\0")}))

def a(): note("a")
def b(): note("b")
def c(): note("c")
def d(): note("d")
"""


def notes(project: Project) -> dict[str, dict[str, object]]:
    return {name: json.loads((project.root / f"{name}.json").read_text())
            for name in "abcd"}


def test_function_tasks_are_forked_from_one_zygote_and_share_nothing(project: Project) -> None:
    project.write("wf.py", SIBLINGS)
    result = project.run()
    assert result.code == 0, result.stderr[-800:]
    seen = notes(project)
    forked = [seen[t] for t in "abd"]
    zygote = forked[0]["ppid"]
    assert all(n["ppid"] == zygote for n in forked)  # one zygote for the run
    assert len({n["pid"] for n in seen.values()}) == 4  # a process each
    assert all(n["pgid"] == n["pid"] for n in seen.values())  # its own group each
    assert all(n["counter"] == 1 for n in seen.values())  # nothing shared between tasks
    assert len({n["random"] for n in seen.values()}) == 4  # reseeded in every child
    assert all(n["cwd"] == str(project.root) for n in seen.values())
    assert all("grammarflow.runtime.zygote" in n["argv"] for n in forked)  # a copy of it
    # Kind(zygote=False): spawned fresh — by the zygote too, but as a new program
    assert seen["c"]["ppid"] == zygote and "grammarflow.runtime.zygote" not in seen["c"]["argv"]
    assert not alive(int(zygote))  # the run ended: so did its zygote


def test_no_zygote_spawns_every_task(project: Project) -> None:
    project.write("wf.py", SIBLINGS)
    result = project.run("wf.py", "--no-zygote")
    assert result.code == 0, result.stderr[-800:]
    seen = notes(project)
    assert len({n["ppid"] for n in seen.values()}) == 1  # the zygote, for each
    assert not any("grammarflow.runtime.zygote" in n["argv"] for n in seen.values())  # none forked


TREE = """
import os, pathlib, subprocess, sys, time
from grammarflow import Kind, define, task

grammar = define("t -> after")
kinds = {"t": Kind(":t", timeout=TIMEOUT, retries=1)}

def t():
    n = task.context().attempt
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    tmp = pathlib.Path(f"t-{n}.tmp")
    tmp.write_text(f"{os.getpid()} {child.pid}")
    tmp.rename(f"t-{n}")
    if n == 1 or os.environ.get("HANG_ALWAYS"):
        time.sleep(600)

def after():
    pass
"""


def test_a_forked_task_that_times_out_dies_with_its_whole_group(project: Project) -> None:
    project.write("wf.py", TREE.replace("TIMEOUT", "1.5"))
    with reaped(project) as leftovers:
        run = start(project, "run", "wf.py", "--json")
        leftovers.add(run.pid)
        first = pids(project.root / "t-1")
        leftovers.add(*first)
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, err[-800:]
        leftovers.add(*pids(project.root / "t-2"))
        wait_until(lambda: not any(alive(p) for p in first), "attempt 1's tree to die", 10)
    view = json.loads(out)
    t = next(x for x in view["tasks"] if x["id"] == "t")
    assert t["attempts"] == 2


@pytest.mark.parametrize("victim", ["orchestrator", "zygote"])
def test_kill_9_of_the_orchestrator_or_the_zygote_then_resume(project: Project,
                                                               victim: str) -> None:
    project.write("wf.py", TREE.replace("TIMEOUT", "None"))
    with reaped(project) as leftovers:
        run = start(project, "run", "wf.py", "--json")
        leftovers.add(run.pid)
        task_pid, grandchild = pids(project.root / "t-1")
        leftovers.add(task_pid, grandchild)
        zygote = int(Path(f"/proc/{task_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        leftovers.add(zygote)
        if victim == "orchestrator":
            run.send_signal(signal.SIGKILL)
            run.communicate(timeout=30)
            # its socket closed, the zygote kills what it started, then exits
            for pid in (zygote, task_pid, grandchild):
                wait_until(lambda p=pid: not alive(p), f"pid {pid} to die", 10)
            resumed = project.resume(1)  # runs t again
            assert resumed.code == 0, resumed.stderr[-800:]
        else:
            os.kill(zygote, signal.SIGKILL)  # the attempt it forked is killed: a retry
            _out, err = run.communicate(timeout=60)
            assert run.returncode == 0, err[-800:]
        for pid in (zygote, task_pid, grandchild):
            wait_until(lambda p=pid: not alive(p), f"pid {pid} to die", 10)
        assert marked(project) == []
    view = json.loads(project.cli("status", "1", "--json").stdout)
    assert view["status"] == "succeeded"
    assert {t["id"]: t["attempts"] for t in view["tasks"]}["t"] == 2
    project.check_consistent(1)
