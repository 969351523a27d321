"""Nothing a task started outlives it (issue 25.2): every descendant of an attempt — one
that left the task's process group and session (``setsid``), one double-forked away,
one whose environment was cleared, in the group or out of it — is gone when the
attempt ends (normally, by its timeout), when the run stops (SIGTERM, Ctrl-C), and
after ``kill -9`` of the orchestrator, before ``resume`` runs anything again (also
after an offline ``restart`` of the task or of one upstream of it). For script tasks,
function tasks forked from the zygote and function tasks spawned fresh.

Each descendant proves it is alive by appending to a file every 50 ms; each attempt
waits until all of them are up before it goes on, so every race here is decided by
what the test waits for, never by a sleep. Every task that starts writes down which
processes of ``t``'s first attempt it saw alive: none may ever be.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import Project
from .processes import (
    PID_FILE,
    Leftovers,
    alive,
    finish,
    pids,
    reaped,
    start,
    start_time,
    wait_until,
)

WORKFLOW = """
from grammarflow import Kind, define, task
grammar = define("up -> t -> after")
kinds = {{"up": "{up}", "t": Kind("{t}", timeout={timeout}, retries={retries}),
          "after": "{after}"}}

def up():
    import leave; leave.seen("up")

def t():
    import leave; leave.leave()

def after():
    import leave; leave.seen("after")
"""

# A descendant: writes down its pid, then beats (a byte every 50 ms) until killed.
BEAT = """
import os, sys, time
path = sys.argv[1]
with open(path + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.replace(path + ".tmp", path + ".pid")
while True:
    with open(path + ".beat", "a") as f:
        f.write(".")
    time.sleep(0.05)
"""

LEAVE = PID_FILE + """
import os, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).parent
QUIET = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def running(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b")", 1)[1].split()[0] != b"Z"


def seen(name):
    '''Write down the processes of t's first attempt alive as task `name` starts.'''
    from grammarflow import task
    first = HERE / "t-1"
    alive = [p for p in map(int, first.read_text().split()) if running(p)] \\
        if first.exists() else []
    write_pids(f"seen-{name}-{task.context().attempt}", *alive)


def beat(name, **how):
    subprocess.Popen([sys.executable, str(HERE / "beat.py"), str(HERE / name)], **QUIET, **how)


def double_fork(name):
    child = os.fork()
    if child == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, str(HERE / "beat.py"), str(HERE / name)])
        os._exit(0)
    os.waitpid(child, 0)


def leave():
    '''t: its first attempt leaves four processes behind, then ends or hangs.'''
    from grammarflow import task
    seen("t")
    if task.context().attempt > 1:
        return
    beat("setsid", start_new_session=True)
    beat("noenv", env={})  # in the task's group, but no marker in its environment
    beat("noenv-setsid", env={}, start_new_session=True)
    double_fork("daemon")
    names = ("setsid", "noenv", "noenv-setsid", "daemon")
    while not all((HERE / f"{n}.beat").exists() for n in names):
        time.sleep(0.01)
    write_pids("t-1", os.getpid(), *(int((HERE / f"{n}.pid").read_text()) for n in names))
    if (HERE / "hang").exists():
        time.sleep(600)
"""

NAMES = ("setsid", "noenv", "noenv-setsid", "daemon")


@pytest.fixture(params=["script", "zygote", "spawned"])
def style(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How the tasks run: scripts, functions forked from the zygote, functions spawned
    fresh (GRAMMARFLOW_NO_ZYGOTE, for `run` and `resume` alike)."""
    if request.param == "spawned":
        monkeypatch.setenv("GRAMMARFLOW_NO_ZYGOTE", "1")
    else:
        monkeypatch.delenv("GRAMMARFLOW_NO_ZYGOTE", raising=False)
    return str(request.param)


def make(project: Project, style: str, *, hang: bool, timeout: float | None = None,
         retries: int = 0) -> None:
    names = {name: f"{name}.py" if style == "script" else f":{name}"
             for name in ("up", "t", "after")}
    project.write("wf.py", WORKFLOW.format(timeout=timeout, retries=retries, **names))
    for name, call in (("up", 'leave.seen("up")'), ("t", "leave.leave()"),
                       ("after", 'leave.seen("after")')):
        project.write(f"{name}.py", f"import leave\n{call}\n")
    project.write("beat.py", BEAT)
    project.write("leave.py", LEAVE)
    if hang:
        project.write("hang", "")


def run_until_t_left(project: Project, leftovers: Leftovers
                     ) -> tuple[subprocess.Popen[str], list[int], dict[int, bytes | None]]:
    """`grammarflow run` in the background, once t's first attempt has left all its
    descendants running: the run, the attempt's processes (its main process first), and
    when each started (a pid taken later by another process is not it)."""
    run = start(project, "run", "wf.py", "--json")
    leftovers.add(run.pid)
    first = pids(project.root / "t-1")
    leftovers.add(*first)
    return run, first, {p: start_time(p) for p in first}


def assert_all_gone(project: Project, processes: list[int], started: dict[int, bytes | None]
                    ) -> None:
    """None of ``processes`` runs (a pid taken since by another process is not it), and
    no descendant's beat grows any more."""
    running = [p for p in processes if alive(p) and start_time(p) == started[p]]
    assert running == [], f"still running: {running} of {processes}"
    beats = {n: (project.root / f"{n}.beat").stat().st_size for n in NAMES}
    time.sleep(0.3)  # not a race: a window in which a live descendant would beat 6 times
    assert {n: (project.root / f"{n}.beat").stat().st_size for n in NAMES} == beats


def assert_never_seen(project: Project) -> None:
    """No task that started after t's first attempt saw any of its processes alive."""
    seen = sorted(p.name for p in project.root.glob("seen-*"))
    assert seen, "no task started after t's first attempt"
    for name in seen:
        assert pids(project.root / name) == [], f"{name}: alive beside a later task"


def test_nothing_outlives_a_task_that_ends(project: Project, style: str) -> None:
    make(project, style, hang=False)
    with reaped(project) as leftovers:
        run, first, when = run_until_t_left(project, leftovers)
        _, err = finish(run, 60, "its tasks ended")
        assert run.returncode == 0, err[-800:]
        assert_all_gone(project, first, when)
    assert_never_seen(project)


def test_nothing_outlives_a_task_that_times_out(project: Project, style: str) -> None:
    make(project, style, hang=True, timeout=1.5, retries=1)
    with reaped(project) as leftovers:
        run, first, when = run_until_t_left(project, leftovers)
        _, err = finish(run, 60, "its task timed out and ran again")
        assert run.returncode == 0, err[-800:]
        assert_all_gone(project, first, when)
    assert pids(project.root / "seen-t-2") == []  # the retry began with all of them gone
    assert_never_seen(project)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_nothing_outlives_a_run_stopped_by_a_signal(project: Project, style: str,
                                                    sig: signal.Signals) -> None:
    make(project, style, hang=True)
    with reaped(project) as leftovers:
        run, first, when = run_until_t_left(project, leftovers)
        run.send_signal(sig)
        _, err = finish(run, 60, f"{sig.name} stops the run")
        assert run.returncode == 130, err[-800:]
        assert_all_gone(project, first, when)


def parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def kill_9(run: subprocess.Popen[str], first: list[int], when: dict[int, bytes | None],
           zygote: str) -> None:
    """kill -9 of the orchestrator while t's first attempt runs. Its zygote (the
    parent of t's main process) kills the attempt and all it started at once —
    unless, ``zygote="killed"``, it is stopped first and killed too, which leaves all
    of them running (`resume` must find them)."""
    keeper = parent(first[0])
    if zygote == "killed":
        os.kill(keeper, signal.SIGSTOP)
    run.send_signal(signal.SIGKILL)
    finish(run, 30, "kill -9")
    if zygote == "killed":
        os.kill(keeper, signal.SIGKILL)
        wait_until(lambda: not alive(keeper), "the zygote to die", 10)
        assert all(alive(p) for p in first), "killed along with the orchestrator"
    else:
        wait_until(lambda: not any(alive(p) and start_time(p) == when[p] for p in first),
                   "the zygote to kill the attempt its orchestrator left", 10)


@pytest.mark.parametrize("zygote", ["alive", "killed"])
@pytest.mark.parametrize("restart", [None, "t"])
def test_nothing_of_an_attempt_lost_with_its_orchestrator_runs_beside_its_rerun(
        project: Project, style: str, restart: str | None, zygote: str) -> None:
    """kill -9 of the orchestrator (and of its zygote) while t runs; then, offline
    (under the lease), a restart of t or none; then resume."""
    lost_then_resumed(project, style, restart, zygote)


@pytest.mark.parametrize("zygote", ["alive", "killed"])
def test_nothing_of_an_attempt_lost_runs_beside_a_restart_of_a_task_before_it(
        project: Project, zygote: str) -> None:
    """The same with a restart of `up`, which t comes after: it runs again first."""
    lost_then_resumed(project, "script", "up", zygote)
    assert pids(project.root / "seen-up-2") == []


def lost_then_resumed(project: Project, style: str, restart: str | None, zygote: str
                      ) -> None:
    make(project, style, hang=True)
    with reaped(project) as leftovers:
        run, first, when = run_until_t_left(project, leftovers)
        leftovers.add(parent(first[0]))
        kill_9(run, first, when, zygote)
        (project.root / "hang").unlink()
        if restart is not None:
            done = project.cli("restart", "1", restart)
            assert done.returncode == 0, done.stderr
        resumed = project.resume(1)
        assert resumed.code == 0, resumed.stderr[-800:]
        assert_all_gone(project, first, when)
    assert pids(project.root / "seen-t-2") == []  # the re-run began with all of them gone
    assert_never_seen(project)
    project.check_consistent(1)


@pytest.mark.parametrize("style", ["script", "zygote"])
def test_nothing_outlives_a_task_whose_zygote_died(project: Project, style: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of the zygote alone while t runs: the orchestrator kills the attempts it
    had started, with all they started, and t runs again (spawned or forked)."""
    monkeypatch.delenv("GRAMMARFLOW_NO_ZYGOTE", raising=False)
    make(project, style, hang=True, retries=1)
    with reaped(project) as leftovers:
        run, first, when = run_until_t_left(project, leftovers)
        zygote = parent(first[0])
        leftovers.add(zygote)
        (project.root / "hang").unlink()
        os.kill(zygote, signal.SIGKILL)
        _, err = finish(run, 60, "t ran again")
        assert run.returncode == 0, err[-800:]
        assert_all_gone(project, first, when)
    assert pids(project.root / "seen-t-2") == []
    assert_never_seen(project)


def test_a_descendant_of_a_task_beats_while_its_task_runs(project: Project) -> None:
    """The witness works: while t hangs, all four of its descendants beat."""
    make(project, "script", hang=True)
    with reaped(project) as leftovers:
        run, first, _ = run_until_t_left(project, leftovers)
        assert all(alive(p) for p in first)
        sizes = {n: (project.root / f"{n}.beat").stat().st_size for n in NAMES}
        time.sleep(0.3)  # six beats each
        assert all((project.root / f"{n}.beat").stat().st_size > sizes[n] for n in NAMES)
        run.send_signal(signal.SIGKILL)
        finish(run, 30, "kill -9")


# Tasks side by side: `a` starts a daemon (a double fork: orphaned at once) and uses
# it until `c` — which starts only once `b` has ended — has started; `b` waits until
# the daemon is up. What `b` left is killed at its end; what `a` started is not.
SIDE_BY_SIDE = """
import os, sys, time
from pathlib import Path
from grammarflow import define
grammar = define("a, b -> c")
HERE = Path(__file__).parent

def running(pid):
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_bytes()
    except OSError:
        return False
    return stat.rsplit(b")", 1)[1].split()[0] != b"Z"

def wait_for(name):
    while not (HERE / name).exists():
        time.sleep(0.01)

def a():
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, str(HERE / "beat.py"),
                                      str(HERE / "daemon")])
        os._exit(0)
    os.waitpid(middle, 0)
    wait_for("daemon.beat")
    daemon = int((HERE / "daemon.pid").read_text())
    (HERE / "a-ready").write_text("")
    wait_for("c-started")
    (HERE / "a-saw").write_text(f"{daemon} {running(daemon)}")

def b():
    wait_for("a-ready")

def c():
    (HERE / "c-started").write_text("")
"""


@pytest.mark.parametrize("style", ["zygote", "spawned"])
def test_what_a_running_task_started_outlives_the_end_of_a_task_beside_it(
        project: Project, style: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each attempt's main process is a subreaper: an orphan of a running task stays
    below it, so the end of another task does not take it."""
    if style == "spawned":
        monkeypatch.setenv("GRAMMARFLOW_NO_ZYGOTE", "1")
    else:
        monkeypatch.delenv("GRAMMARFLOW_NO_ZYGOTE", raising=False)
    project.write("wf.py", SIDE_BY_SIDE)
    project.write("beat.py", BEAT)
    with reaped(project) as leftovers:
        run = start(project, "run", "wf.py", "--json", "--max-parallel", "2")
        leftovers.add(run.pid)
        leftovers.add(*pids(project.root / "daemon.pid"))
        _, err = finish(run, 60, "a, b and c ended")
        assert run.returncode == 0, err[-800:]
        daemon, seen_alive = (project.root / "a-saw").read_text().split()
        assert seen_alive == "True"  # b's end, and c's start, came and went
        assert not alive(int(daemon))  # a's end took it
