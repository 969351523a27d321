"""A finished run stays finished (issue 25.1), through the real CLI.

An operation (pause, unpause, answer, restart) is decided against the run as it is when
it is journaled, in the same transaction: one that races the end of the run is refused,
never journaled after it; a request never outlives the orchestrator it was asked of,
and a later unpause cancels a pause not taken yet. The races are made deterministic
with the asker's stop hook (``GRAMMARFLOW_TEST_STOP_BEFORE_ACTING``: it stops itself
once it has looked at the run) and SIGSTOP of the orchestrator, never with sleeps.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from grammarflow.journal.operations import STOP_BEFORE_ACTING_ENV
from grammarflow.journal.store import Store

from .conftest import Project
from .processes import Leftovers, finish, reaped, wait_until
from .test_operations import WORKFLOW as WAITS  # A runs until the test lets it (a-go)

# B breaks the promise once the test lets it (b-go); approve waits for a person.
BREAKS = """
import pathlib, time
from grammarflow import Kind, define, task

grammar = define("A -> B, approve")
kinds = {"approve": Kind(ask="ship it?", output=bool)}

def A() -> None:
    pass

def B() -> None:
    pathlib.Path("b-started").write_text("")
    while not pathlib.Path("b-go").exists():
        time.sleep(0.02)
    task.expand("nowhere", "1")
"""


def start(project: Project, *args: str, env: dict[str, str] | None = None
          ) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "grammarflow", *args,
                             "--db", str(project.db)], cwd=project.root, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def running(project: Project, leftovers: Leftovers, started: str, *args: str
            ) -> subprocess.Popen[str]:
    """`grammarflow run wf.py ARGS`, once a task of it wrote ``started``."""
    run = start(project, "run", "wf.py", *args)
    leftovers.add(run.pid)
    wait_until(lambda: (project.root / started).exists(), f"{started} to appear")
    return run


def stopped(pid: int) -> bool:
    """The process is stopped (SIGSTOP): state T in /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()[0] == b"T"


def stopped_before_acting(project: Project, leftovers: Leftovers, *args: str
                          ) -> subprocess.Popen[str]:
    """`grammarflow ARGS` started with the stop hook, once it has looked at the run and
    stopped itself."""
    asker = start(project, *args, env={**os.environ, STOP_BEFORE_ACTING_ENV: "1"})
    leftovers.add(asker.pid)
    wait_until(lambda: stopped(asker.pid), f"`{' '.join(args)}` to stop before acting")
    return asker


def entries(project: Project) -> list[dict[str, Any]]:
    return json.loads(project.cli("history", "1", "--json").stdout)  # type: ignore[no-any-return]


def pending_requests(project: Project) -> int:
    db = sqlite3.connect(f"file:{project.db}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT count(*) FROM controls WHERE taken IS NULL"
                              ).fetchone()[0])
    finally:
        db.close()


def state_of(project: Project, task: str) -> str | None:
    """The task's state as `status` shows it (None before the run is there)."""
    shown = project.cli("status", "1", "--json")
    if shown.returncode != 0:
        return None
    return next((t["state"] for t in json.loads(shown.stdout)["tasks"] if t["id"] == task),
                None)


def ends_with_its_status(project: Project, status: str) -> None:
    """Nothing was journaled after the run's final status."""
    last = entries(project)[-1]
    assert (last["kind"], last["data"]["status"]) == ("status", status), last
    assert Store(project.db, readonly=True).run(1).status == status


# ---------------------------------------------------------------- racing the break
RACERS = {"restart": ("restart", "1", "A"), "pause": ("pause", "1"),
          "answer": ("answer", "1", "approve", "true"),
          "upgrade": ("upgrade", "1", "wf2.py")}
#: A version of BREAKS its runs may be upgraded to: one more task, on its own.
BREAKS_V2 = BREAKS.replace('"A -> B, approve"', '"A -> B, approve, C"') + """
def C() -> None:
    pass
"""


@pytest.mark.parametrize("op", list(RACERS))
def test_an_operation_that_races_the_break_is_refused_and_the_run_stays_broken(
        project: Project, op: str) -> None:
    project.write("wf.py", BREAKS)
    project.write("wf2.py", BREAKS_V2)
    with reaped(project) as mine:
        run = running(project, mine, "b-started", "--max-parallel", "2")
        asker = stopped_before_acting(project, mine, *RACERS[op])  # it saw the run running
        (project.root / "b-go").write_text("")  # B breaks the promise: the run ends
        finish(run, 60, "the broken run to end")
        assert run.returncode == 3
        asker.send_signal(signal.SIGCONT)
        out, err = finish(asker, 60, f"{op} to answer")
    assert asker.returncode == 2, (out, err)
    assert err.startswith("error: run 1 is broken: ") and err.count("\n") == 1, err
    assert "a broken promise is final" in err
    ends_with_its_status(project, "broken")
    for later in (["unpause", "1"], ["resume", "1"], ["pause", "1"], ["restart", "1", "A"],
                  ["answer", "1", "approve", "true"], ["upgrade", "1", "wf2.py"]):
        refused = project.cli(*later)
        assert refused.returncode == 2, (later, refused.stdout)
        assert refused.stderr.startswith("error: run 1 is broken: "), (later, refused.stderr)
    ends_with_its_status(project, "broken")


# ---------------------------------------------------------------- racing the end
def test_a_pause_that_races_the_end_of_a_run_is_refused(project: Project) -> None:
    project.write("wf.py", WAITS)
    with reaped(project) as mine:
        run = running(project, mine, "a-started")
        asker = stopped_before_acting(project, mine, "pause", "1")
        (project.root / "a-go").write_text("")
        finish(run, 60, "the run to end")
        assert run.returncode == 0
        asker.send_signal(signal.SIGCONT)
        out, err = finish(asker, 60, "pause to answer")
    assert (asker.returncode, err) == (2, "error: run 1 succeeded: there is nothing to "
                                          "pause\n"), out
    ends_with_its_status(project, "succeeded")
    picture = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert "PAUSED" not in picture


def test_a_pause_taken_before_the_last_task_ended_is_not_shown_on_the_finished_run(
        project: Project) -> None:
    project.write("wf.py", WAITS.replace('"A -> B -> C"', '"A"'))
    with reaped(project) as mine:
        run = running(project, mine, "a-started")
        paused = project.cli("pause", "1")
        assert paused.returncode == 0 and "paused by its orchestrator" in paused.stdout
        (project.root / "a-go").write_text("")  # nothing is left to start: it ends
        finish(run, 60, "the run to end")
    assert run.returncode == 0
    picture = project.cli("render", "1", "--format", "dot", "-o", "-").stdout
    assert "PAUSED" not in picture
    view = json.loads(project.cli("status", "1", "--json").stdout)
    assert (view["status"], view["paused"]) == ("succeeded", False)
    unpaused = project.cli("unpause", "1")
    assert unpaused.stderr == "error: run 1 succeeded: there is nothing to unpause\n"


# ---------------------------------------------------------------- a request's life
def test_a_pause_asked_of_an_orchestrator_that_died_is_gone_with_it(project: Project) -> None:
    project.write("wf.py", WAITS)
    with reaped(project) as mine:
        run = running(project, mine, "a-started")
        run.send_signal(signal.SIGSTOP)  # alive: the pause is asked of it, not taken
        asker = start(project, "pause", "1")
        mine.add(asker.pid)
        wait_until(lambda: pending_requests(project) == 1, "the pause to be asked")
        asker.kill()  # it gave up waiting
        asker.wait()
        run.kill()
        run.wait()
        unpaused = project.cli("unpause", "1")
        assert (unpaused.returncode, unpaused.stdout) == (0, "run 1 is not paused\n")
        (project.root / "a-started").unlink()
        resumed = start(project, "resume", "1", "--json")
        mine.add(resumed.pid)
        # A runs again; an orchestrator that would take the dead one's pause has by now
        wait_until(lambda: (project.root / "a-started").exists()
                   and pending_requests(project) == 0, "A to run again, nothing asked")
        (project.root / "a-go").write_text("")
        out, err = finish(resumed, 60, "the resumed run to end (it waits paused)")
    assert resumed.returncode == 0, err[-800:]
    assert json.loads(out)["status"] == "succeeded"
    assert [e for e in entries(project) if e["kind"] == "control"] == []
    assert pending_requests(project) == 0
    project.check_consistent(1)


def test_a_later_unpause_cancels_a_pause_its_orchestrator_has_not_taken(
        project: Project) -> None:
    project.write("wf.py", WAITS)
    with reaped(project) as mine:
        run = running(project, mine, "a-started", "--json")
        run.send_signal(signal.SIGSTOP)
        pauser = start(project, "pause", "1")
        mine.add(pauser.pid)
        wait_until(lambda: pending_requests(project) == 1, "the pause to be asked")
        unpaused = project.cli("unpause", "1")
        assert unpaused.returncode == 0, unpaused.stderr
        assert unpaused.stdout == ("run 1 is not paused (the pause asked before it, which "
                                   "its orchestrator had not taken, is cancelled)\n")
        out, err = finish(pauser, 60, "the cancelled pause to say so")
        assert pauser.returncode == 2
        assert err == ("error: the pause of run 1 was cancelled by a later unpause before "
                       "its orchestrator took it: nothing changed\n")
        run.send_signal(signal.SIGCONT)
        (project.root / "a-go").write_text("")
        out, err = finish(run, 60, "the run to end (it waits paused)")
    assert run.returncode == 0, err[-800:]
    assert json.loads(out)["status"] == "succeeded"
    assert [e for e in entries(project) if e["kind"] == "control"] == []
    assert (project.root / "b-ran").exists()


# ---------------------------------------------------------------- restart of a failure
FAILS_ONCE = """
import pathlib, time
from grammarflow import define, task

grammar = define("F -> G, S")

def F() -> None:
    if task.context().attempt == 1:
        raise SystemExit("F fails its first attempt")

def G() -> None:
    pass

def S() -> None:
    while not pathlib.Path("s-go").exists():
        time.sleep(0.02)
"""


def test_a_failed_task_restarted_through_the_living_orchestrator_runs_again(
        project: Project) -> None:
    project.write("wf.py", FAILS_ONCE)
    with reaped(project) as mine:
        run = start(project, "run", "wf.py", "--max-parallel", "2", "--json")
        mine.add(run.pid)
        wait_until(lambda: state_of(project, "F") == "failed", "F to fail")
        said = project.cli("restart", "1", "F")
        assert said.returncode == 0, said.stderr
        assert "its orchestrator (pid " in said.stdout
        (project.root / "s-go").write_text("")
        out, err = finish(run, 60, "the run to end")
    assert run.returncode == 0, err[-800:]
    view = json.loads(out)
    assert view["status"] == "succeeded"
    assert {t["id"]: (t["state"], t["attempts"]) for t in view["tasks"]} == {
        "F": ("done", 2), "G": ("done", 1), "S": ("done", 1)}
    project.check_consistent(1)


# ---------------------------------------------------------------- nothing that is not ours
def another_programs_database(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO users VALUES (1, 'ada')")
    db.commit()
    db.close()


def look_alike_tables(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, status TEXT)")
    db.execute("CREATE TABLE journal (seq INTEGER, data TEXT)")
    db.execute("CREATE TABLE meta (name TEXT)")
    db.commit()
    db.close()


def an_empty_file(path: Path) -> None:
    path.write_bytes(b"")


NOT_OURS = {"another program's": another_programs_database, "look-alike": look_alike_tables,
            "empty": an_empty_file}
WRITERS = [["resume", "1"], ["pause", "1"], ["unpause", "1"], ["answer", "1", "A", "true"],
           ["restart", "1", "A"]]


def files_in(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` (and below) with the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("make", list(NOT_OURS))
@pytest.mark.parametrize("command", WRITERS, ids=[c[0] for c in WRITERS])
def test_no_command_but_run_writes_to_a_file_that_is_not_a_journal(
        project: Project, command: list[str], make: str) -> None:
    project.db.parent.mkdir(parents=True)
    NOT_OURS[make](project.db)
    before = files_in(project.db.parent)
    refused = project.cli(*command)
    assert refused.returncode == 2, refused.stdout
    assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1
    says = "holds no runs yet" if make == "empty" else "is not a grammarflow journal"
    assert refused.stderr.startswith("error: ") and says in refused.stderr, refused.stderr
    assert files_in(project.db.parent) == before  # byte-identical, and nothing beside it


@pytest.mark.parametrize("command", WRITERS, ids=[c[0] for c in WRITERS])
def test_no_command_but_run_creates_a_journal_or_its_folder(project: Project,
                                                             command: list[str]) -> None:
    refused = project.cli(*command)
    assert refused.returncode == 2
    assert refused.stderr == (f"error: no database at {str(project.db)!r}: `grammarflow run` "
                              "creates it; give another with --db\n")
    assert not project.db.parent.exists()


@pytest.mark.parametrize("make", ["another program's", "look-alike"])
def test_run_refuses_to_write_into_another_programs_database(project: Project,
                                                             make: str) -> None:
    project.write("wf.py", WAITS)
    project.db.parent.mkdir(parents=True)
    NOT_OURS[make](project.db)
    before = files_in(project.db.parent)
    refused = project.cli("run", "wf.py")
    assert refused.returncode == 2 and "is not a grammarflow journal" in refused.stderr
    assert files_in(project.db.parent) == before
    assert not (project.root / "a-started").exists()


def test_run_makes_a_journal_of_an_empty_file(project: Project) -> None:
    project.write("wf.py", WAITS)
    (project.root / "a-go").write_text("")
    project.db.parent.mkdir(parents=True)
    project.db.write_bytes(b"")
    assert project.run().code == 0


# ---------------------------------------------------------------- run ids
RUN_ID_COMMANDS = [["resume"], ["pause"], ["unpause"], ["status"], ["history"],
                   ["answer", "-", "A", "true"], ["restart", "-", "A"]]


@pytest.mark.parametrize("run_id", [str(2 ** 63), str(2 ** 64), "-1", "0", "one"])
@pytest.mark.parametrize("command", RUN_ID_COMMANDS, ids=[c[0] for c in RUN_ID_COMMANDS])
def test_a_run_id_sqlite_cannot_hold_is_a_usage_error(project: Project, command: list[str],
                                                      run_id: str) -> None:
    Store(project.db).create_run({"path": "wf.py"})  # a journal: the id is looked up in it
    name, *rest = command
    args = [name, "--db", str(project.db), "--json", "--",
            *([run_id] if not rest else [run_id, *rest[1:]])]
    said = subprocess.run([sys.executable, "-m", "grammarflow", *args], cwd=project.root,
                          capture_output=True, text=True, timeout=60)
    assert said.returncode == 2 and "Traceback" not in said.stderr, said.stderr
    error = json.loads(said.stdout)["error"]
    assert error.startswith("Invalid value for 'RUN_ID': ") and run_id in error, error


@pytest.mark.parametrize("run_id", [str(2 ** 63), "-1", "²"])
def test_render_of_a_run_id_sqlite_cannot_hold_says_so(project: Project, run_id: str) -> None:
    Store(project.db).create_run({"path": "wf.py"})
    said = subprocess.run([sys.executable, "-m", "grammarflow", "render", "--db",
                           str(project.db), "--", run_id], cwd=project.root,
                          capture_output=True, text=True, timeout=60)
    assert said.returncode == 2 and "Traceback" not in said.stderr
    assert said.stderr == (f"error: {run_id!r} is neither a workflow file nor a run id (a "
                           f"whole number from 1 to {2 ** 63 - 1})\n")
