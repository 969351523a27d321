"""The crash harness: kill -9 at journal commits of a 200-task dynamic run, and the n-th
journal write failing, for every n (issue: nothing runs twice, nothing is lost).

The run is fully dynamic: ``root`` grows 14 tasks through an open hole, each of which
grows 13 more (197 tasks), each a real process. Killed after the k-th journal commit
(``GRAMMARFLOW_TEST_CRASH_AFTER_APPENDS``), then resumed — sometimes killed again
during the resume itself — the run must end with the same graph as an uninterrupted
run, every task completed exactly once, a journal without gaps, an intact database.

In CI a seeded sample of commit points runs (sequential and ``--max-parallel 4``); with
``HYPOTHESIS_PROFILE=thorough`` every commit point does (tens of minutes: by hand, or
nightly).
"""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path
from typing import Any

import pytest

from grammarflow.journal.transactions import CRASH_ENV, FAIL_WRITES_ENV

from .conftest import Project, final_graph
from .test_crash import completions

THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"

DYNAMIC = """
from grammarflow import define
grammar = define("root, Dyn(root)", "Dyn(a; ) ::= *")
kinds = {"t": "tasks/t.py", "root": "tasks/t.py"}
"""

GROW = """
from grammarflow import task
ctx = task.context()
me = ctx.task
local = me.rsplit("/", 1)[-1]
depth = 0 if local == "root" else local.count("_")
width = {0: 14, 1: 13}.get(depth, 0)
if width:
    children = {f"{local}_{i}": "t" for i in range(width)}
    task.add(tasks=children, edges=[(me, c) for c in children])
"""


def dynamic(project: Project) -> None:
    project.write("wf.py", DYNAMIC)
    project.write("tasks/t.py", GROW)


def env(**extra: str) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("GRAMMARFLOW_TEST_")}
    e.update(extra)
    return e


_REFERENCE: dict[str, tuple[Any, int]] = {}


def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, int]:
    """The uninterrupted run's final graph, and a number of journal commits it surely
    makes: two per task at least (its start, its end)."""
    if "dynamic" not in _REFERENCE:
        ref = Project(tmp_path_factory.mktemp("reference"))
        dynamic(ref)
        result = ref.run(env=env())
        assert result.code == 0, result.stderr[-2000:]
        assert len(result.view["tasks"]) == 197
        _REFERENCE["dynamic"] = (final_graph(result.view), 2 * len(result.view["tasks"]))
    return _REFERENCE["dynamic"]


def finish(project: Project, expected: Any, kill_again: int | None = None) -> None:
    """Resume (maybe killed once more during the resume) to the end; check everything."""
    if kill_again is not None:
        again = project.resume(1, env=env(**{CRASH_ENV: str(kill_again)}))
        assert again.code in (0, -signal.SIGKILL), again.stderr[-1500:]
    status = project.cli("status", "1", "--json")
    assert status.returncode == 0, status.stderr
    if '"status": "succeeded"' not in status.stdout:
        result = project.resume(1, env=env())
        assert result.code == 0, (result.view.get("reason"), result.stderr[-1500:])
        view = result.view
    else:
        import json

        view = json.loads(status.stdout)
    assert final_graph(view) == expected
    done = completions(project, 1)
    assert set(done.values()) == {1} and len(done) == 197
    project.check_consistent(1)


def sample_points(commits: int, n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return sorted(rng.sample(range(1, commits + 1), min(n, commits)))


def kill_points() -> list[tuple[str, int]]:
    """(mode, index): index into the commit points, resolved once the count is known;
    thorough mode goes on past the surely-made commits until a run is not killed."""
    count = 500 if THOROUGH else 2
    return [(mode, i) for mode in ("sequential", "parallel") for i in range(count)]


@pytest.mark.parametrize("mode,index", kill_points())
def test_kill_9_at_a_commit_of_a_200_task_dynamic_run_then_resume(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, mode: str,
        index: int) -> None:
    expected, commits = reference(tmp_path_factory)
    k = index + 1 if THOROUGH else sample_points(
        commits, 2, seed=17 if mode == "sequential" else 29)[index]
    args = ("--max-parallel", "4") if mode == "parallel" else ()
    project = Project(tmp_path)
    dynamic(project)
    killed = project.run("wf.py", *args, env=env(**{CRASH_ENV: str(k)}))
    if THOROUGH and k > commits and killed.code == 0:
        return  # past the run's last commit: nothing left to kill at
    assert killed.code == -signal.SIGKILL, (k, killed.code, killed.stderr[-500:])
    finish(project, expected, kill_again=(k % 7) + 1 if index % 2 else None)


@pytest.mark.parametrize("broken", ["once", "from then on"])
def test_the_n_th_journal_write_failing_for_every_n(tmp_path: Path, broken: str) -> None:
    """Every write of a small run, failing in turn: the run stops with the reason, and
    once the disk is well again `resume` finishes it with nothing lost or doubled. A
    fault that lasts ("from then on") is tried at every other write in CI (every write
    in the thorough profile); a fault that passes, at every one."""
    small = Project(tmp_path / "reference")
    small.write("wf.py", SMALL)
    ok = small.run(env=env())
    assert ok.code == 0, ok.stderr[-1000:]
    expected = final_graph(ok.view)
    n = 0
    step = 2 if broken == "from then on" and not THOROUGH else 1
    while True:
        n += step
        project = Project(tmp_path / f"n{n}")
        project.write("wf.py", SMALL)
        hook = f"{n}+" if broken == "from then on" else str(n)
        result = project.run(env=env(**{FAIL_WRITES_ENV: hook}))
        if result.code == 0:
            break  # past the last write: the hook never fired
        assert result.code in (130, 74), (n, result.code, result.stderr[-800:])
        assert "Traceback" not in result.stderr
        assert "disk I/O error" in result.stderr or "disk I/O error" in str(result.view)
        listed = project.cli("runs", "--json")
        assert listed.returncode == 0, listed.stderr
        if listed.stdout.strip() in ("", "[]"):
            continue  # the run's first write failed: nothing to resume
        view = project.resume(1, env=env())
        assert view.code == 0, (n, view.view.get("reason"), view.stderr[-800:])
        assert final_graph(view.view) == expected, n
        assert set(completions(project, 1).values()) == {1}, n
        project.check_consistent(1)
    assert n > 10, f"only {n - step} writes"


SMALL = """
from grammarflow import define, repeat_parallel
grammar = define("A, B, Ms(A, B), end, X(B, end)", [
    *repeat_parallel("Ms", "M"),
    "X(a, b) ::= a -> L -> b | a -> R -> b",
])
def A():
    from grammarflow import task
    task.add(tasks={f"m{i}": "M" for i in range(3)},
             edges=[e for i in range(3) for e in (("A", f"m{i}"), (f"m{i}", "B"))])
def M(): pass
def B():
    from grammarflow import task
    task.expand("X.1", "2")
def L(): pass
def R(): pass
def end(): pass
"""
