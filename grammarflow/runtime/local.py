"""Tasks as local Python subprocesses, each attempt in its own process group.

A task's process tree is the task. Each attempt starts in its own process group
(``process_group=0``: no ``preexec_fn``, which would cost a fork's worth of time a
spawn). When the task's main process exits, the orchestrator kills whatever is left of
its group (SIGKILL): a background child does not outlive its task, hold its pipes open,
or run beside its retry. Timeouts, stops, retries and ``resume`` (which kills the groups
of orphaned attempts, :meth:`LocalExecutor.kill_orphans`) all kill groups, never single
processes. A process that leaves the group (``setsid``) is out of reach (cgroups would
catch it; not used); the orchestrator stops reading its pipes after a short grace.
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
from grammarflow.runtime.executor import Launch, Streams, TaskProcess
from grammarflow.runtime.pipes import Pipes, exit_of
from grammarflow.store import process_started


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
        # orchestrator left running (kill_orphans): nothing is journaled at spawn.
        env[wire.ENV_TASK.encode()] = launch.context.encode()
        if hasattr(os, "pidfd_open"):  # Linux: the pipes read from the selector itself
            return _spawn(argv, env, launch.workflow.parent)
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            lambda: _TaskProtocol(loop), *argv, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
            cwd=launch.workflow.parent, process_group=0)
        return LocalProcess(transport, protocol)

    def kill_orphans(self, db_key: str, run_id: int, tasks: list[str]) -> list[int]:
        return kill_orphans(db_key, run_id, tasks)

    async def close(self) -> None:
        pass


def _spawn(argv: list[str], env: dict[bytes, bytes], cwd: Path) -> SpawnedProcess:
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
    """A running attempt spawned by :func:`_spawn`: the group's leader, its pipes."""

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


def kill_orphans(db_key: str, run_id: int, tasks: list[str]) -> list[int]:
    """Kill the attempts of this run's ``tasks`` that a dead orchestrator left running,
    each with its process group. Call it only while holding the run's lease.

    They are recognised by their environment: every task process carries a marker
    naming the database, the run and the task (``GRAMMARFLOW_TASK``), so a reused pid
    or another run's task is never killed by mistake; nor is one whose marker names
    an orchestrator that is alive. A process that leads its own group (a task started
    by this version) takes its group with it: also the grandchildren that dropped the
    marker. Linux only (``/proc``); elsewhere an orphan may finish on its own while its
    task runs again.
    """
    return kill_marked(*task_markers(db_key, run_id, tasks)) if tasks else []


def task_markers(db_key: str, run_id: int, tasks: list[str]) -> list[bytes]:
    """The starts of the markers of these tasks' attempts (their environment)."""
    return [(wire.ENV_TASK + "=" + json.dumps({"db": db_key, "run": str(run_id), "task": t})[:-1]
             + ",").encode() for t in tasks]


def kill_marked(*prefixes: bytes) -> list[int]:
    """Kill (with their process groups) the processes whose environment has a variable
    starting with one of ``prefixes`` — a JSON marker naming its orchestrator — unless
    that orchestrator is alive. Linux only (``/proc``)."""
    if not os.path.isdir("/proc"):
        return []
    killed = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        marker = next((var for var in environ.split(b"\0") if var.startswith(prefixes)),
                      None)
        if marker is None or _owner_lives(marker):
            continue
        pid = int(name)
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:  # not a group leader (started before groups, or a grandchild)
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


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


__all__ = ["LocalExecutor", "LocalProcess", "SpawnedProcess", "kill_marked", "kill_orphans",
           "task_markers", "use_pidfd_child_watcher"]
