"""Every attempt of a run started by the run's zygote (:mod:`grammarflow.runtime.zygote`).

One zygote per run, started at its first task: function tasks forked from it, the rest
spawned, all under child subreapers; ``Kind(zygote=False)`` and ``--no-zygote`` spawn
fresh. Why, and what it costs: docs/containers.md, "How tasks start".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from typing import Any

from grammarflow import wire
from grammarflow.runtime import reaper
from grammarflow.runtime.executor import Launch, Streams, TaskProcess
from grammarflow.runtime.local import LocalExecutor, kill_marked, run_marker
from grammarflow.runtime.pipes import Pipes
from grammarflow.runtime.zygote import ENV_ZYGOTE, MAX_PACKET

#: Set to 1 to spawn every task fresh (the same as ``--no-zygote``).
NO_ZYGOTE_ENV = "GRAMMARFLOW_NO_ZYGOTE"
#: Seconds the zygote has to exit once its socket is closed, before it is killed.
CLOSE_GRACE = 2.0


def forkable(launch: Launch) -> bool:
    """Whether ``launch`` is an attempt of a function task the zygote may fork."""
    return launch.command.zygote and ":" in launch.command.run


class ZygoteExecutor:
    """Every attempt started by the run's zygote: function tasks forked, the others
    spawned (all of them spawned with ``fork=False``: ``--no-zygote``)."""

    def __init__(self, python: str = sys.executable, fork: bool = True) -> None:
        self.python = python
        self.fork = fork
        self.local = LocalExecutor(python)  # where there are no subreapers
        self._zygote: _Zygote | None = None
        self._starting = asyncio.Lock()

    async def start(self, launch: Launch) -> TaskProcess:
        if not reaper.SUPPORTED:
            return await self.local.start(launch)
        async with self._starting:
            zygote = self._zygote
            if zygote is None or zygote.dead is not None:
                zygote = self._zygote = await _Zygote.start(self.python, launch)
            if self.fork and forkable(launch):
                return await zygote.fork(launch)
            return await zygote.spawn(launch, self.python)

    def kill_orphans(self, db_key: str, run_id: int) -> list[int]:
        """Every process of the run that a dead orchestrator left running — its zygote,
        the attempts it started and everything below them — found by their markers
        (one look through /proc)."""
        return kill_marked(run_marker(db_key, run_id), zygote_marker(db_key, run_id))

    async def close(self) -> None:
        if self._zygote is not None:
            await self._zygote.close()
            self._zygote = None


def zygote_marker(db_key: str, run_id: int) -> bytes:
    """The start of the marker of the run's zygote — which every attempt it forked
    carries too: it names the run and its orchestrator."""
    return f"{ENV_ZYGOTE}={json.dumps({'db': db_key, 'run': str(run_id)})[:-1]},".encode()


class _Zygote:
    """One zygote process and the socket to it."""

    def __init__(self, proc: asyncio.subprocess.Process, sock: socket.socket) -> None:
        self.proc = proc
        self.sock = sock
        self.dead: str | None = None  # why it can start no attempt any more
        self.started: asyncio.Future[int] | None = None  # the pid of the start asked for
        self.exits: dict[int, asyncio.Future[int]] = {}  # pid -> its exit status
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    @classmethod
    async def start(cls, python: str, launch: Launch) -> _Zygote:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        context = json.loads(launch.context)
        marker = json.dumps({"db": context["db"], "run": context["run"],
                             "owner": context.get("owner")})
        env = {k: v for k, v in os.environ.items() if k != wire.ENV_TASK}
        env[ENV_ZYGOTE] = marker
        try:
            proc = await asyncio.create_subprocess_exec(
                python, "-m", "grammarflow.runtime.zygote", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                env=env, cwd=launch.workflow.parent, process_group=0)
        finally:
            theirs.close()
        ours.setblocking(False)
        return cls(proc, ours)

    async def fork(self, launch: Launch) -> TaskProcess:
        """An attempt of a function task, forked from the zygote."""
        function = launch.command.function(launch.workflow.parent, launch.workflow)
        assert function is not None  # forkable() said so
        path, func = function
        return await self._ask({"file": str(path), "func": func,
                                "args": list(launch.command.args),
                                "cwd": str(launch.workflow.parent), "context": launch.context})

    async def spawn(self, launch: Launch, python: str) -> TaskProcess:
        """An attempt spawned by the zygote: the kind's command run with ``python``."""
        argv = launch.command.argv(python, launch.workflow.parent, launch.workflow)
        return await self._ask({"argv": argv, "cwd": str(launch.workflow.parent),
                                "context": launch.context})

    async def _ask(self, request: dict[str, Any]) -> TaskProcess:
        """Ask the zygote to start an attempt, with the three pipes to it."""
        if self.dead is not None:
            raise OSError(f"the zygote cannot start a task: {self.dead}")
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
        stdout_r, stdout_w = os.pipe2(os.O_CLOEXEC)
        stderr_r, stderr_w = os.pipe2(os.O_CLOEXEC)
        loop = asyncio.get_running_loop()
        self.started = loop.create_future()
        try:
            socket.send_fds(self.sock, [json.dumps(request).encode()],
                            [stdin_r, stdout_w, stderr_w])
        except OSError as e:
            for fd in (stdin_r, stdin_w, stdout_r, stdout_w, stderr_r, stderr_w):
                os.close(fd)
            self._died(f"its socket failed: {e}")
            raise
        finally:
            for fd in (stdin_r, stdout_w, stderr_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
        # our ends of the pipes are made ready while the zygote starts the attempt
        pipes = Pipes(stdin_w, stdout_r, stderr_r)
        try:
            pid = await self.started
        except BaseException:
            pipes.close()
            raise
        exit = self.exits[pid]  # perhaps done already: the zygote reports in order
        exit.add_done_callback(lambda _: self.exits.pop(pid, None))
        return _Forked(pid, exit, pipes)

    def _readable(self) -> None:
        while True:
            try:
                packet = self.sock.recv(MAX_PACKET)
            except BlockingIOError:
                return
            except OSError as e:
                self._died(f"its socket failed: {e}")
                return
            if not packet:  # it closes its socket only by exiting
                self._exited()
                self._died("it exited")
                return
            message: dict[str, Any] = json.loads(packet)
            if "pid" in message:
                pid = int(message["pid"])
                self.exits[pid] = asyncio.get_running_loop().create_future()
                if self.started is not None and not self.started.done():
                    self.started.set_result(pid)
            elif "error" in message:  # it could not start the attempt
                if self.started is not None and not self.started.done():
                    self.started.set_exception(OSError(str(message["error"])))
            elif "exit" in message:
                done = self.exits.get(int(message["exit"]))
                if done is not None and not done.done():
                    done.set_result(int(message["code"]))

    def _exited(self) -> None:
        """Wait until the exiting zygote has exited (not reaping it: asyncio does): its
        children are handed over by then. Stopped while it still was their parent, an
        attempt's group would be orphaned with a stopped member by its exit, and sent
        SIGHUP — ending its main process before :func:`~grammarflow.runtime.reaper.kill_trees`
        could read the children the attempt left."""
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT)

    def _died(self, why: str) -> None:
        if self.dead is not None:
            return
        self.dead = why
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        if self.started is not None and not self.started.done():
            self.started.set_exception(OSError(f"the zygote died: {why}"))
        # Nobody can tell how they end: end them, and all they started (each a subreaper:
        # everything it started is below it, whatever left its group or cleared its env).
        running = {pid: done for pid, done in self.exits.items() if not done.done()}
        reaper.kill_trees(running)
        for done in running.values():
            done.set_result(-signal.SIGKILL)

    async def close(self) -> None:
        self._died("the run ended")
        self.sock.close()  # end of file: the zygote exits
        try:
            await asyncio.wait_for(self.proc.wait(), CLOSE_GRACE)
        except TimeoutError:  # it and whatever it still holds
            reaper.kill_trees([self.proc.pid])
            await self.proc.wait()


class _Forked(Streams):
    """An attempt the zygote started: its pipes, and its exit as the zygote reports it
    (once nothing the attempt started runs any more)."""

    def __init__(self, pid: int, exit: asyncio.Future[int], pipes: Pipes) -> None:
        super().__init__(pipes.stdout, pipes.stderr)
        self.pid = pid
        self.exit = exit
        self.pipes = pipes
        exit.add_done_callback(lambda _: pipes.close_stdin())  # nobody reads it now

    def send(self, data: bytes) -> None:
        self.pipes.write(data)

    def kill(self) -> None:
        """Kill its group; the zygote then kills what left the group (and reports the
        exit). Once the exit is reported nothing of it runs: no pid of its is touched."""
        if self.exit.done():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    async def exited(self) -> int:
        return await asyncio.shield(self.exit)

    def release(self) -> None:
        self.pipes.close()


__all__ = ["NO_ZYGOTE_ENV", "ZygoteExecutor", "forkable", "zygote_marker"]
