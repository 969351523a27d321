"""Function tasks forked from a warm zygote instead of a fresh interpreter.

A function task (a kind run as ``:function`` or ``file.py:function``) spawned as its own
``python -m grammarflow.call`` pays an interpreter start and the import of its file —
and the workflow file imports grammarflow's core — at every attempt. The
:class:`ZygoteExecutor` starts one zygote per run (:mod:`grammarflow.zygote`, lazily, at
the first function task), which has imported the file once, and asks it to fork each
attempt: still a separate process, in its own process group, with its own stdin,
stdout and stderr (pipes made here and handed over with ``SCM_RIGHTS``), its own
environment and working directory, killed, timed out and resumed exactly like a spawned
one. Scripts and modules are spawned as before (:class:`~.local.LocalExecutor`).

``Kind(..., zygote=False)`` spawns a kind's attempts fresh (for code that is not
fork-safe: a file that starts threads or opens connections when imported);
``grammarflow run --no-zygote`` (or ``GRAMMARFLOW_NO_ZYGOTE=1``) every kind's.
If the zygote dies, the attempts it forked and that still run are killed (they fail
and are retried as their kinds allow) and the next function task starts a new one.
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
from grammarflow.runtime.executor import Launch, Streams, TaskProcess
from grammarflow.runtime.local import LocalExecutor, kill_marked, task_markers
from grammarflow.runtime.pipes import Pipes
from grammarflow.zygote import ENV_ZYGOTE, MAX_PACKET

#: Set to 1 to spawn every task fresh (the same as ``--no-zygote``).
NO_ZYGOTE_ENV = "GRAMMARFLOW_NO_ZYGOTE"
#: Seconds the zygote has to exit once its socket is closed, before it is killed.
CLOSE_GRACE = 2.0


def forkable(launch: Launch) -> bool:
    """Whether ``launch`` is an attempt of a function task the zygote may fork."""
    return launch.command.zygote and ":" in launch.command.run


class ZygoteExecutor:
    """Function tasks forked from the run's zygote; everything else spawned."""

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self.local = LocalExecutor(python)
        self._zygote: _Zygote | None = None
        self._starting = asyncio.Lock()

    async def start(self, launch: Launch) -> TaskProcess:
        if not forkable(launch):
            return await self.local.start(launch)
        async with self._starting:
            zygote = self._zygote
            if zygote is None or zygote.dead is not None:
                zygote = self._zygote = await _Zygote.start(self.python, launch)
            return await zygote.fork(launch)

    def kill_orphans(self, db_key: str, run_id: int, tasks: list[str]) -> list[int]:
        """Spawned attempts by their task's marker; a dead orchestrator's zygote and
        every attempt it forked by the zygote's."""
        return kill_marked(*task_markers(db_key, run_id, tasks),
                           zygote_marker(db_key, run_id))  # one look through /proc

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
        self.dead: str | None = None  # why it can fork no more
        self.forked: asyncio.Future[int] | None = None  # the pid of the fork asked for
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
                python, "-m", "grammarflow.zygote", str(theirs.fileno()),
                pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                env=env, cwd=launch.workflow.parent, process_group=0)
        finally:
            theirs.close()
        ours.setblocking(False)
        return cls(proc, ours)

    async def fork(self, launch: Launch) -> TaskProcess:
        if self.dead is not None:
            raise OSError(f"the zygote cannot fork: {self.dead}")
        function = launch.command.function(launch.workflow.parent, launch.workflow)
        assert function is not None  # forkable() said so
        path, func = function
        request = {"file": str(path), "func": func, "args": list(launch.command.args),
                   "cwd": str(launch.workflow.parent), "context": launch.context}
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
        stdout_r, stdout_w = os.pipe2(os.O_CLOEXEC)
        stderr_r, stderr_w = os.pipe2(os.O_CLOEXEC)
        loop = asyncio.get_running_loop()
        self.forked = loop.create_future()
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
        # our ends of the pipes are made ready while the zygote forks
        pipes = Pipes(stdin_w, stdout_r, stderr_r)
        try:
            pid = await self.forked
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
            if not packet:
                self._died("it exited")
                return
            message: dict[str, Any] = json.loads(packet)
            if "pid" in message:
                pid = int(message["pid"])
                self.exits[pid] = asyncio.get_running_loop().create_future()
                if self.forked is not None and not self.forked.done():
                    self.forked.set_result(pid)
            elif "exit" in message:
                done = self.exits.get(int(message["exit"]))
                if done is not None and not done.done():
                    done.set_result(int(message["code"]))

    def _died(self, why: str) -> None:
        if self.dead is not None:
            return
        self.dead = why
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        if self.forked is not None and not self.forked.done():
            self.forked.set_exception(OSError(f"the zygote died: {why}"))
        for pid, done in list(self.exits.items()):  # nobody can tell how they end: end them
            if not done.done():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                done.set_result(-signal.SIGKILL)

    async def close(self) -> None:
        self._died("the run ended")
        self.sock.close()  # end of file: the zygote exits
        try:
            await asyncio.wait_for(self.proc.wait(), CLOSE_GRACE)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


class _Forked(Streams):
    """An attempt the zygote forked: its pipes, and its exit as the zygote reports it."""

    def __init__(self, pid: int, exit: asyncio.Future[int], pipes: Pipes) -> None:
        super().__init__(pipes.stdout, pipes.stderr)
        self.pid = pid
        self.exit = exit
        self.pipes = pipes
        exit.add_done_callback(lambda _: pipes.close_stdin())  # nobody reads it now

    def send(self, data: bytes) -> None:
        self.pipes.write(data)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    async def exited(self) -> int:
        return await asyncio.shield(self.exit)

    def release(self) -> None:
        self.pipes.close()


__all__ = ["NO_ZYGOTE_ENV", "ZygoteExecutor", "forkable", "zygote_marker"]
