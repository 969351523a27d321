"""The worker's end of an attempt run on a Dask cluster: the task's process, started on
the worker, its pipes relayed on Dask's own primitives (docs/cluster.md).

:func:`run_attempt` is what the orchestrator submits. It takes the attempt's lock
(``distributed.Lock``) first: a copy Dask rescheduled after the worker holding it died
finds it taken and never starts, so no attempt runs twice side by side. What the process
writes goes to the orchestrator as structured events of the run's topic
(``Worker.log_event``: pushed to the subscribed client, no request a message):
``started``, ``out``, ``err``, ``exit``. What the orchestrator replies comes on the
attempt's queue (a ``distributed.Queue``, made when the process first writes): ``in``,
``kill``. Its process group is killed once it exited (its tree goes with it), and it
dies with its worker (``PR_SET_PDEATHSIG``, set by ``setpriv``). Stdlib and Dask only.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: Seconds a copy of an attempt tries to take the attempt's lock (the first, alone, takes
#: it at once).
GATE_WITHIN = 2.0
#: Bytes read from a pipe at most per event.
CHUNK = 1 << 16
#: What stands for the worker's own interpreter in an attempt's command line.
PYTHON = "<python>"
#: Linux's prctl option: a signal sent to the process when its parent thread dies.
_PR_SET_PDEATHSIG = 1


def inbox_name(attempt: str) -> str:
    """The queue on which the orchestrator speaks to an attempt."""
    return f"grammarflow-{attempt}"


def run_attempt(attempt: str, topic: str, argv: Sequence[str], env: Mapping[str, str],
                cwd: str) -> int:
    """Run one attempt's process here, relayed; its exit status (negative: a signal;
    -1: a copy of an attempt that already ran, not started)."""
    from distributed import Lock, get_client, get_worker

    worker = get_worker()
    client = get_client()  # the worker's: its relay threads use it too

    def say(*words: Any) -> None:
        worker.log_event(topic, [attempt, *words])

    gate = Lock(f"grammarflow-{attempt}-gate")
    if not gate.acquire(timeout=GATE_WITHIN):  # held by a copy that ran: not again
        return -1
    try:
        argv = [sys.executable if a == PYTHON else a for a in argv]  # the worker's python
        return _Relay(attempt, say, client).run(argv, env, cwd, worker.address)
    finally:
        with contextlib.suppress(Exception):
            gate.release()


class _Relay:
    """One process and its pipes, relayed."""

    def __init__(self, attempt: str, say: Callable[..., None], client: Any) -> None:
        self.attempt = attempt
        self.say = say
        self.client = client
        self.inbox: Any = None  # the orchestrator's queue, once the process wrote
        self.feeder: threading.Thread | None = None
        self.made = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, argv: list[str], env: Mapping[str, str], cwd: str, where: str) -> int:
        # setpriv sets the death signal and execs the task (a fork that runs a Python
        # function in the child, as preexec_fn does, would cost the worker far more)
        setpriv = shutil.which("setpriv")
        proc = self.proc = subprocess.Popen(
            [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
            env={**os.environ, **env}, start_new_session=True,
            preexec_fn=None if setpriv else _die_with_parent)
        self.say("started", where, proc.pid)
        readers = [threading.Thread(target=self._relay, args=(pipe, tag), daemon=True)
                   for pipe, tag in ((proc.stdout, "out"), (proc.stderr, "err"))]
        for r in readers:
            r.start()
        code = proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # the main process gone, its tree goes
        for r in readers:  # what it wrote before it exited, all of it, before "exit"
            r.join(timeout=5)
        self.say("exit", code)
        if self.inbox is not None:
            with contextlib.suppress(Exception):
                self.inbox.put(("end",))  # the feeder waits for a word: this one ends it
            if self.feeder is not None:
                self.feeder.join(timeout=5)
            with contextlib.suppress(Exception):
                self.inbox.close()
        return code

    def _relay(self, pipe: Any, tag: str) -> None:
        fd = pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, CHUNK)
            except OSError:
                return
            if not chunk:
                return
            if tag == "out":
                self._listen()  # a request may follow: its reply needs the queue first
            self.say(tag, chunk)

    def _listen(self) -> None:
        with self.made:
            if self.inbox is not None:
                return
            from distributed import Queue

            self.inbox = Queue(inbox_name(self.attempt), client=self.client)  # made now
            self.feeder = threading.Thread(target=self._feed, daemon=True)
            self.feeder.start()

    def _feed(self) -> None:
        """The orchestrator's words to the process, until the attempt ends."""
        proc = self.proc
        assert proc is not None
        while True:
            try:
                word = self.inbox.get()
            except Exception:  # the queue is gone, or the cluster
                return
            if word[0] == "in" and proc.stdin is not None:
                with contextlib.suppress(OSError, ValueError):
                    proc.stdin.write(word[1])
                    proc.stdin.flush()
            elif word[0] == "kill":
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            elif word[0] == "end":
                return


def kill_group(pid: int) -> bool:
    """Kill process group ``pid`` here (the orchestrator's ``kill`` of an attempt that
    never wrote, through ``Client.run``)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _die_with_parent() -> None:
    """In the child: SIGKILL when the worker that started it dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


__all__ = ["CHUNK", "GATE_WITHIN", "PYTHON", "inbox_name", "kill_group", "run_attempt"]
