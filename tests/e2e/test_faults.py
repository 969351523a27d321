"""Resource faults are clear and lose nothing (issue "Nothing runs twice, nothing hangs,
nothing is lost", point 5), and grammarflow's own bugs are reported as such.

Every fault is real: SQLite really returns SQLITE_FULL (``PRAGMA max_page_count``
through a test hook) or SQLITE_BUSY (another process holds the write lock), the log
really gets ENOSPC (its path is a symlink to /dev/full), the database really is
random bytes, cut in half, or read-only (its modes deny writes, and the CLI runs
without the capability that lets root write anyway).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from grammarflow.journal.database import MAX_PAGES_ENV
from grammarflow.runtime import INTERNAL_ERROR_ENV

from .conftest import Project, Result

WORKFLOW = """
from grammarflow import Kind, define
grammar = define("start, end, X(start, end)",
                 "X(a, b) ::= a -> A -> b, a -> B -> b, a -> C -> b | [default] a -> D -> b")
kinds = {"start": Kind("tasks/start.py", timeout=120), "A": "tasks/ok.py",
         "B": "tasks/ok.py", "C": "tasks/ok.py", "D": "tasks/ok.py", "end": "tasks/ok.py"}
"""

#: The first task expands X.1 into A, B, C with ~90 KiB of attrs in all: committing it
#: needs many more pages than the few small writes before it.
BIG_EXPANSION = """
from grammarflow import task
task.expand("X.1", "1", attrs={k: {"data": k * 30_000} for k in "ABC"})
"""

FINAL = ["A", "B", "C", "end", "start"]


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def task_ids(view: dict[str, object]) -> list[str]:
    tasks = view["tasks"]
    assert isinstance(tasks, list)
    return sorted(t["id"].rsplit("/", 1)[-1] for t in tasks)


def ran_once_each(project: Project, run: int, tasks: list[str]) -> None:
    starts = [a["task"].rsplit("/", 1)[-1] for a in project.run_journal(run, "attempt")
              if a["event"] == "start"]
    for t in tasks:
        assert starts.count(t) == 1, (t, starts)


# ============================================================ the journal's disk is full
def test_a_full_journal_interrupts_the_run_with_the_reason_and_resume_finishes_it(
        project: Project) -> None:
    project.write("wf.py", WORKFLOW)
    project.write("tasks/start.py", BIG_EXPANSION)
    project.write("tasks/ok.py", "pass\n")
    full = project.run(env=env(**{MAX_PAGES_ENV: "20"}))
    assert full.code == 130, full.stderr[-3000:]
    assert "Traceback" not in full.stderr
    view = full.view
    assert view["status"] == "interrupted"
    assert "the journal could not be written" in view["reason"]
    assert "disk is full" in view["reason"] and str(project.db) in view["reason"]
    assert "grammarflow resume 1" in view["reason"]
    project.check_consistent(1)
    # nothing of the failed commit is in the journal: start still shows running
    assert {t["id"]: t["state"] for t in view["tasks"]} == {"start": "running",
                                                            "end": "pending"}
    # space returns: resume finishes the run; every task after the fault runs once
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-3000:]
    assert task_ids(resumed.view) == FINAL
    assert all(t["state"] == "done" for t in resumed.view["tasks"])
    ran_once_each(project, 1, ["A", "B", "C", "end"])
    project.check_consistent(1)


HOLDER = """
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")  # the write lock, held until the test says
open("locked", "w").close()
while not os.path.exists("release"):
    time.sleep(0.05)
db.execute("ROLLBACK")
db.close()
open("released", "w").close()
"""

# Asks the test for the lock to be taken (by a process of the test's: nothing the task
# started outlives it), and goes on once it is.
LOCKING_START = """
import os, time
from grammarflow import task
if not os.path.exists("release"):
    open("want-lock", "w").close()
    while not os.path.exists("locked"):
        time.sleep(0.05)
task.expand("X.1", "2")
"""


def test_a_journal_that_cannot_even_record_the_status_says_so_and_stays_resumable(
        project: Project) -> None:
    """Another process holds the database's write lock past the busy timeout: the
    task's commit fails, and so does marking the run interrupted."""
    project.write("wf.py", WORKFLOW)
    project.write("tasks/start.py", LOCKING_START)
    project.write("tasks/ok.py", "pass\n")
    project.write("holder.py", HOLDER)
    try:
        run = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py", "--json",
                                "--db", str(project.db)], cwd=project.root,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(project.root / "want-lock")
        subprocess.Popen([sys.executable, "holder.py", str(project.db)], cwd=project.root,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
        out, err = run.communicate(timeout=120)
        lost = Result(run.returncode, json.loads(out) if out else {}, err, project.db)
        assert lost.code == 74, lost.stderr[-3000:]
        assert "Traceback" not in lost.stderr
        errors = [line for line in lost.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1, lost.stderr
        assert str(project.db) in errors[0] and "locked" in errors[0]
        assert "still says 'running'" in errors[0] and "grammarflow resume 1" in errors[0]
        assert lost.view["error"] == errors[0].removeprefix("error: ")  # --json: on stdout
        assert lost.view["run"] == 1
    finally:
        (project.root / "release").write_text("go")
        wait_for(project.root / "released")
    runs = project.cli("runs", "--json")
    assert [r["status"] for r in json.loads(runs.stdout)] == ["running"]
    project.check_consistent(1)
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-3000:]
    assert task_ids(resumed.view) == ["D", "end", "start"]
    project.check_consistent(1)


# ============================================================ the logs' disk is full
def test_a_log_on_a_full_disk_loses_output_not_the_task(project: Project) -> None:
    assert Path("/dev/full").exists(), "this test needs Linux's /dev/full (ENOSPC)"
    project.write("wf.py", WORKFLOW)
    project.write("tasks/start.py", """
        import sys
        from grammarflow import task
        sys.stdout.write("x" * 1000 + "\\n")
        sys.stdout.flush()
        sys.stdout.write("y" * 1_000_000 + "\\n")  # far more than a pipe holds
        sys.stderr.write("z" * 1_000_000 + "\\n")
        task.log("still here")
        task.expand("X.1", "2")
    """)
    project.write("tasks/ok.py", "pass\n")
    log = project.db.parent / "logs" / "run-1" / "start.1.log"
    log.parent.mkdir(parents=True)
    log.symlink_to("/dev/full")
    result = project.run()
    assert result.code == 0, result.stderr[-3000:]
    assert task_ids(result.view) == ["D", "end", "start"]
    end = next(a for a in result.journal("attempt")
               if a["event"] == "end" and a["task"] == "start")
    assert end["outcome"] == "succeeded"
    assert "No space left on device" in end["log_error"]
    assert str(log) in end["log_error"] and "output from then on is lost" in end["log_error"]
    assert end["stderr_tail"].endswith("z" * 100 + "\n")  # the journal still has the tail
    project.check_consistent(1)


def test_a_lost_log_is_reported_on_the_terminal(project: Project) -> None:
    project.write("wf.py", WORKFLOW)
    project.write("tasks/start.py", "print('hello')\n")
    project.write("tasks/ok.py", "pass\n")
    log = project.db.parent / "logs" / "run-1" / "start.1.log"
    log.parent.mkdir(parents=True)
    log.symlink_to("/dev/full")
    proc = project.cli("run", "wf.py")
    assert proc.returncode == 0, proc.stderr
    assert f"warning start: could not write the log {str(log)!r}" in proc.stderr


# ============================================================ a bad database
def garbage(path: Path) -> None:
    path.write_bytes(random.Random(5).randbytes(64 * 1024))


def a_real_database(project: Project) -> None:
    """A finished run with a journal of ~100 KiB (attrs spill into overflow pages)."""
    project.write("wf.py", WORKFLOW)
    project.write("tasks/start.py", BIG_EXPANSION)
    project.write("tasks/ok.py", "pass\n")
    assert project.run().code == 0


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 64 * 1024
    path.write_bytes(data[:len(data) // 2])


COMMANDS = [["runs"], ["status", "1"], ["history", "1"], ["history", "1", "--html", "h.html"],
            ["render", "1", "-o", "r.svg"], ["resume", "1"], ["run", "wf.py"]]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], db: Path,
                          says: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert str(db) in lines[0] and says in lines[0], lines[0]


@pytest.mark.parametrize("fault, says", [(garbage, "is not a grammarflow database"),
                                         (cut_in_half, "is truncated")],
                         ids=["garbage", "truncated"])
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_on_a_bad_database_says_so_in_one_line(
        project: Project, command: list[str], fault: object, says: str) -> None:
    a_real_database(project)
    assert callable(fault)
    fault(project.db)
    assert_one_line_error(project.cli(*command), project.db, says)
    as_json = project.cli(*command, "--json")
    assert_one_line_error(as_json, project.db, says)
    assert json.loads(as_json.stdout) == {"error": as_json.stderr.strip()[len("error: "):]}


# ------------------------------------------------------------ a read-only copy
@pytest.fixture
def read_only_copy(project: Project, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Path]:
    """A finished run's project copied and made read-only: every file 0444, every
    directory 0555, all owned by whoever runs the tests."""
    a_real_database(project)
    copy = tmp_path_factory.mktemp("read-only") / "p"
    shutil.copytree(project.root, copy)
    try:
        for sub in [copy, *copy.rglob("*")]:
            sub.chmod(0o555 if sub.is_dir() else 0o444)
        yield copy
    finally:
        for sub in [copy, *copy.rglob("*")]:
            if sub.is_dir():
                sub.chmod(0o755)


#: Root writes anything through CAP_DAC_OVERRIDE; without it, root is an ordinary owner
#: whom 0444 and 0555 deny writes. Not another user: the interpreter and the checkout
#: (``.venv`` included) may live under a private directory that only root can reach.
AS_AN_OWNER = ["--inh-caps=-dac_override", "--bounding-set=-dac_override"]


def as_reader(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user who may read the copy but not write it: the tests' own user,
    or root without the capability that lets it write what its modes forbid."""
    cmd = [sys.executable, "-m", "grammarflow", *args, "--db", str(copy / "state" / "gf.db")]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv is not None, "as root, this test needs setpriv (util-linux)"
        cmd = [setpriv, *AS_AN_OWNER, *cmd]
    return subprocess.run(cmd, cwd=copy, capture_output=True, text=True, timeout=120)


def test_a_read_only_copy_reads_and_refuses_writes_in_one_line(read_only_copy: Path) -> None:
    db = read_only_copy / "state" / "gf.db"
    assert not Path(f"{db}-wal").exists()  # closed cleanly: WAL would need a new -shm
    probe = as_reader(read_only_copy, "run", "wf.py")
    assert_one_line_error(probe, db, "is read-only here")
    assert_one_line_error(as_reader(read_only_copy, "resume", "1"), db, "is read-only here")
    runs = as_reader(read_only_copy, "runs", "--json")
    assert runs.returncode == 0, runs.stderr
    assert [r["status"] for r in json.loads(runs.stdout)] == ["succeeded"]
    status = as_reader(read_only_copy, "status", "1", "--json")
    assert status.returncode == 0, status.stderr
    assert task_ids(json.loads(status.stdout)) == FINAL
    history = as_reader(read_only_copy, "history", "1", "--json")
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)[-1]["data"]["status"] == "succeeded"
    render = as_reader(read_only_copy, "render", "1", "-o", "-")
    assert render.returncode == 0, render.stderr
    assert "<svg" in render.stdout and "X.1/A" in render.stdout
    assert not list(db.parent.glob("gf.db-*"))  # nothing was written beside it


def test_a_read_only_copy_whose_wal_holds_changes_is_refused_not_misread(
        read_only_copy: Path) -> None:
    """Reading it as immutable would silently miss the changes in its -wal file."""
    db = read_only_copy / "state" / "gf.db"
    state = db.parent
    state.chmod(0o755)
    db.chmod(0o644)
    # a writer that dies without closing leaves its -wal (and -shm) behind
    subprocess.run([sys.executable, "-c", f"""
import os, sqlite3
db = sqlite3.connect({str(db)!r}, isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("UPDATE runs SET reason='changed after the copy'")
os._exit(0)
"""], check=True)
    assert Path(f"{db}-wal").stat().st_size > 0
    Path(f"{db}-shm").unlink()  # copied without it
    state.chmod(0o555)
    proc = as_reader(read_only_copy, "runs")
    assert_one_line_error(proc, db, "its write-ahead log")
    assert "holds changes" in proc.stderr


# ============================================================ a bug of ours
def test_an_internal_error_is_reported_as_ours_and_the_run_resumes(project: Project) -> None:
    project.write("wf.py", WORKFLOW)
    project.write("tasks/start.py", """
        from grammarflow import task
        task.log("about to expand")
        task.expand("X.1", "2")
    """)
    project.write("tasks/ok.py", "pass\n")
    failed = project.run(env=env(**{INTERNAL_ERROR_ENV: "log"}))
    assert failed.code == 70, failed.stderr[-3000:]
    view = failed.view
    assert view["status"] == "error"
    assert view["reason"].startswith("internal error of grammarflow while handling a "
                                     "message from task start: RuntimeError(")
    assert "broken promise" not in view["reason"] and view["refused"] == []
    assert "grammarflow resume 1" in view["reason"]
    errors = failed.journal("error")
    assert len(errors) == 1 and "Traceback" in errors[0]["traceback"]
    assert "about to expand" in errors[0]["message"]
    assert "Traceback" in failed.stderr  # printed for the bug report
    project.check_consistent(1)
    resumed = project.resume(1)
    assert resumed.code == 0, resumed.stderr[-3000:]
    assert task_ids(resumed.view) == ["D", "end", "start"]
