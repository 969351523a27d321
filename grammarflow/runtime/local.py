"""Tasks as local Python subprocesses of the orchestrator, each in its own process group.

Used where there are no child subreapers (not Linux); on Linux the run's zygote starts
every task (:mod:`.zygote_executor`) and only the helpers at the end of this module (the
pipes' child watcher, the markers by which ``resume`` finds what a dead orchestrator left
running) are used from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from grammarflow import wire
from grammarflow.journal.lease import process_started
from grammarflow.runtime import reaper
from grammarflow.runtime.executor import Launch, Streams, TaskProcess
from grammarflow.runtime.pipes import Pipes, exit_of


class LocalExecutor:
    """Start each attempt as ``python ...`` (the kind's command) in a process group.

    ``python`` is the interpreter tasks run with (the orchestrator's own by default).
    """

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        # Built once: subprocess would decode and re-encode os.environ at every spawn.
        self.base_env = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()
                         if k != wire.ENV_TASK}

    async def start(self, launch: Launch) -> TaskProcess:
        argv = launch.command.argv(self.python, launch.workflow.parent, launch.workflow)
        env = dict(self.base_env)
        # The context is also the marker by which `resume` finds a process a crashed
        # orchestrator left running (kill_marked): nothing is journaled at spawn.
        env[wire.ENV_TASK.encode()] = launch.context.encode()
        if hasattr(os, "pidfd_open"):  # Linux: the pipes read from the selector itself
            return spawn(argv, env, launch.workflow.parent)
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            lambda: _TaskProtocol(loop), *argv, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
            cwd=launch.workflow.parent, process_group=0)
        return LocalProcess(transport, protocol)

    def kill_orphans(self, db_key: str, run_id: int) -> list[int]:
        return kill_marked(run_marker(db_key, run_id))

    async def close(self) -> None:
        pass


def spawn(argv: list[str], env: dict[bytes, bytes], cwd: Path) -> SpawnedProcess:
    """Start ``argv`` in a process group of its own, with three pipes (:mod:`.pipes`:
    half the CPU of asyncio's subprocess transport, ``bench/spawn.py``)."""
    ends = [os.pipe2(os.O_CLOEXEC) for _ in range(3)]  # (read, write) each
    try:
        popen = subprocess.Popen(argv, stdin=ends[0][0], stdout=ends[1][1],
                                 stderr=ends[2][1], env=env, cwd=cwd, process_group=0)
    except BaseException:
        for r, w in ends:
            os.close(r)
            os.close(w)
        raise
    for fd in (ends[0][0], ends[1][1], ends[2][1]):  # the child's ends
        os.close(fd)
    return SpawnedProcess(popen, Pipes(ends[0][1], ends[1][0], ends[2][0]))


class SpawnedProcess(Streams):
    """A running attempt spawned by :func:`spawn`: the group's leader, its pipes."""

    def __init__(self, popen: subprocess.Popen[bytes], pipes: Pipes) -> None:
        super().__init__(pipes.stdout, pipes.stderr)
        self.pid = popen.pid
        self.pipes = pipes
        self.exit = exit_of(popen.pid, popen.wait)
        self.exit.add_done_callback(lambda _: pipes.close_stdin())  # nobody reads it now

    def send(self, data: bytes) -> None:
        self.pipes.write(data)

    def kill(self) -> None:
        _kill_group(self.pid)

    async def exited(self) -> int:
        return await asyncio.shield(self.exit)

    def release(self) -> None:
        self.pipes.close()


class LocalProcess(Streams):
    """A running attempt started through asyncio's subprocess transport (where there
    are no pidfds): the group's leader and the pipes to it."""

    def __init__(self, transport: asyncio.SubprocessTransport, protocol: _TaskProtocol
                 ) -> None:
        assert protocol.stdout is not None and protocol.stderr is not None
        super().__init__(protocol.stdout, protocol.stderr)
        self.transport = transport
        self.protocol = protocol
        self.pid = transport.get_pid()

    def send(self, data: bytes) -> None:
        stdin = self.transport.get_pipe_transport(0)
        if stdin is None or stdin.is_closing():
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            stdin.write(data)  # type: ignore[attr-defined]

    def kill(self) -> None:
        _kill_group(self.pid)

    async def exited(self) -> int:
        await asyncio.shield(self.protocol.exited)
        code = self.transport.get_returncode()
        assert code is not None
        return code

    def release(self) -> None:
        self.transport.close()


class _TaskProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The streams of asyncio's subprocess protocol, plus ``exited``: resolved when the
    main process exits. (``Process.wait()`` waits for the pipes to close as well, which
    a grandchild holding them can put off forever.)"""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2 ** 16, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)


def _kill_group(pgid: int) -> None:
    """SIGKILL a task's process group; also after its leader was reaped, which is safe:
    Linux does not reuse a pid while a group of that id has members, and an attempt's
    group is killed for the last time at most PIPE_GRACE after its leader exited, far
    too soon for the pid to come round again as another group's."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def use_pidfd_child_watcher() -> None:
    """Wait for task processes with pidfds in the event loop (Linux, Python < 3.12).

    asyncio's default on 3.11 starts a thread per child process to wait for it; that
    cost ~2 ms a task here once a run had a few hundred tasks behind it. Python 3.12+
    uses pidfds by itself.
    """
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        policy = asyncio.get_event_loop_policy()
        if isinstance(getattr(policy, "_watcher", None), asyncio.PidfdChildWatcher):
            return
        watcher = asyncio.PidfdChildWatcher()
        watcher.attach_loop(asyncio.get_running_loop())
        asyncio.set_child_watcher(watcher)


def run_marker(db_key: str, run_id: int) -> bytes:
    """The start of the marker (the environment variable holding the task's context,
    ``GRAMMARFLOW_TASK``) of every task process of run ``run_id``: the context names the
    database and the run first."""
    return (wire.ENV_TASK + "=" + json.dumps({"db": db_key, "run": str(run_id)})[:-1]
            + ",").encode()


def kill_marked(*prefixes: bytes) -> list[int]:
    """Kill the processes whose environment has a variable starting with one of
    ``prefixes`` — a JSON marker naming its orchestrator — unless that orchestrator is
    alive, each with everything below it (:func:`grammarflow.runtime.reaper.kill_trees`: also
    what left their groups or cleared their environment). Call it only while holding
    the run's lease. Linux only (``/proc``); returns the pids killed."""
    if not os.path.isdir("/proc"):
        return []
    found = []
    for pid, environ in reaper.each_process("environ"):
        marker = next((var for var in environ.split(b"\0") if var.startswith(prefixes)),
                      None)
        if marker is not None and pid != os.getpid() and not _owner_lives(marker):
            found.append(pid)
    leaders = [pid for pid in found if _leads_group(pid)]
    killed = reaper.kill_trees(found)
    for pid in leaders:  # a task of an earlier grammarflow: no subreaper, but its group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    return killed


def _leads_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        return False


def _owner_lives(marker: bytes) -> bool:
    """Whether the orchestrator named in a task's marker is alive (old markers: no)."""
    try:
        owner = json.loads(marker.split(b"=", 1)[1]).get("owner")
    except ValueError:
        return False
    if not isinstance(owner, dict):
        return False
    started = process_started(int(owner["pid"]))
    return started is not None and started == owner["started"]


__all__ = ["LocalExecutor", "LocalProcess", "SpawnedProcess", "kill_marked", "run_marker",
           "spawn", "use_pidfd_child_watcher"]
