"""Looking at real processes through /proc: who is alive, who carries a run's marker.

Shared by the end-to-end tests of leases, stopping and process trees. Linux only,
like the guarantees they check.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grammarflow import wire
from grammarflow.runtime.zygote import ENV_ZYGOTE

from .conftest import Project
from .test_crash import alive, completions

__all__ = ["PID_FILE", "Leftovers", "alive", "completions", "finish", "launch", "marked",
           "pids", "reaped", "start", "wait_until"]


def marked(project: Project) -> list[int]:
    """Live processes whose task marker names this project's database — or the marker
    of its zygote, which every attempt forked from it carries (grammarflow.runtime.zygote)."""
    needle = ((wire.ENV_TASK + "=").encode(), (ENV_ZYGOTE + "=").encode())
    db = str(project.db.resolve()).encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if any(v.startswith(needle) and db in v for v in environ.split(b"\0")) \
                and alive(int(name)):
            found.append(int(name))
    return found


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.02)


def pids(path: Path, timeout: float = 60) -> list[int]:
    """The pids a task wrote to ``path`` (written whole, by rename), once it exists."""
    wait_until(path.exists, f"{path.name} to appear", timeout)
    return [int(p) for p in path.read_text().split()]


def start(project: Project, command: str, *args: str) -> subprocess.Popen[str]:
    """`grammarflow COMMAND ARGS --db DB` in the background."""
    return subprocess.Popen([sys.executable, "-m", "grammarflow", command, *args,
                             "--db", str(project.db)], cwd=project.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_time(pid: int) -> bytes | None:
    """The process's start time (field 22 of /proc/<pid>/stat): tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[1].split()[19]


class Leftovers:
    """Processes a test started or saw, to kill at its end if they still run."""

    def __init__(self) -> None:
        self.seen: dict[int, bytes | None] = {}

    def add(self, *pids: int) -> None:
        for pid in pids:
            self.seen.setdefault(pid, start_time(pid))

    def kill(self) -> None:
        for pid, when in self.seen.items():
            if when is not None and start_time(pid) == when:  # the same process, not a reuse
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, signal.SIGKILL)


def launch(project: Project, leftovers: Leftovers, pid_file: str, command: str,
           *args: str) -> tuple[subprocess.Popen[str], list[int]]:
    """Start `grammarflow COMMAND ARGS`; return it once its task wrote ``pid_file``
    (in tasks/), with the pids written there. All of them go to ``leftovers``."""
    proc = start(project, command, *args)
    leftovers.add(proc.pid)
    written = pids(project.root / "tasks" / pid_file)
    leftovers.add(*written)
    return proc, written


def finish(proc: subprocess.Popen[str], bound: float, what: str) -> tuple[str, str]:
    """stdout and stderr of ``proc`` once it exited; fail the test after ``bound`` s."""
    try:
        return proc.communicate(timeout=bound)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(map(str, proc.args[3:5]))} still runs after {bound} s: "
                    f"{what}")


@contextlib.contextmanager
def reaped(project: Project) -> Iterator[Leftovers]:
    """Kill, at the end, whatever the test left running: the processes it added and
    every process carrying the project's marker. A test that fails (e.g. on code with
    the bug it reproduces) must not leave sleepers behind."""
    leftovers = Leftovers()
    try:
        yield leftovers
    finally:
        leftovers.add(*marked(project))
        leftovers.kill()


PID_FILE = """
def write_pids(name, *numbers):
    import os
    from pathlib import Path
    here = Path(__file__).parent
    tmp = here / (name + ".tmp")
    tmp.write_text(" ".join(str(n) for n in numbers))
    os.replace(tmp, here / name)
"""
