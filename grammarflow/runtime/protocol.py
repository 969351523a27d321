"""The orchestrator's end of the task protocol: a task's lines read, its messages handled
under the orchestrator's mutex, its requests checked against the grammar and answered.

The protocol itself is :mod:`grammarflow.wire`'s; how one request travels:
docs/architecture.md, "The path of one change request".
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from grammarflow import wire
from grammarflow.core.match import Plan
from grammarflow.errors import BrokenPromise, Why
from grammarflow.journal.database import JournalWriteError
from grammarflow.journal.lease import LeaseLost
from grammarflow.runtime import messages
from grammarflow.runtime.attempt import Attempt, AttemptLog, read_stdout
from grammarflow.runtime.events import Event
from grammarflow.runtime.executor import TaskProcess
from grammarflow.runtime.outcome import MESSAGE_KEEP
from grammarflow.runtime.tentative import Apart

if TYPE_CHECKING:
    from grammarflow.runtime.orchestrator import Orchestrator

T = TypeVar("T")

#: Test hook: raise a bug of ours (RuntimeError) while handling a message with this op.
INTERNAL_ERROR_ENV = "GRAMMARFLOW_TEST_INTERNAL_ERROR_ON"


class TaskProtocol:
    """The messages of the orchestrator ``o``'s running attempts: each line of a task's
    stdout handled with ``o.mutex`` held, each request answered on its stdin."""

    def __init__(self, o: Orchestrator) -> None:
        self.o = o
        self._fault_op = os.environ.get(INTERNAL_ERROR_ENV)  # test hook

    async def read_stdout(self, attempt: Attempt, proc: TaskProcess, log: AttemptLog
                          ) -> None:
        """Read the attempt's stdout to its end: ordinary output to its log, each
        protocol line handled."""
        async def on_line(line: bytes) -> None:
            async with self.o.mutex:
                apart = self._on_line(attempt, line, log)
            if apart is not None:
                await self._search_apart(attempt, *apart)

        async def on_oversized(head: bytes) -> None:
            async with self.o.mutex:
                self.o.outcome.broke(BrokenPromise(
                    f"task {attempt.task} sent a message of more than {wire.MAX_LINE} bytes; "
                    "the largest message is 8 MiB", why=Why.MESSAGE, task=attempt.task),
                    {"size": f"> {wire.MAX_LINE} bytes",
                     "start": head.decode(errors="replace")}, attempt.task)

        try:
            await read_stdout(attempt, proc.stdout, log, on_line, on_oversized)
        except LeaseLost:
            raise
        except Exception as e:
            self.o.outcome.internal_fault(e, f"reading the output of task {attempt.task}")
            # Keep draining: a task blocked on a full pipe would never exit.
            while await proc.stdout.read(65536):
                continue

    def _on_line(self, attempt: Attempt, line: bytes, log: AttemptLog
                 ) -> tuple[dict[str, Any], Apart] | None:
        """Handle one line of a task's (the mutex held); a raw change too big to search
        meanwhile comes back to be searched apart (:meth:`_search_apart`)."""
        return self._guarded(attempt, line[:MESSAGE_KEEP].decode("utf-8", "replace"),
                             lambda: self._handle_line(attempt, line, log))

    def _guarded(self, attempt: Attempt, text: str, handle: Callable[[], T]) -> T | None:
        """``handle()``; a fault of ours while it handles a task's message ``text`` ends
        the run as such (not as the task's broken promise)."""
        try:
            return handle()
        except LeaseLost:
            raise  # not a bug: another orchestrator owns the run; this one stops
        except JournalWriteError as e:
            self.o.outcome.journal_failed(e)
        except Exception as e:  # a bug of ours, not the task's broken promise
            self.o.outcome.internal_fault(e, f"handling a message from task {attempt.task}",
                                          text)
        return None

    def _handle_line(self, attempt: Attempt, line: bytes, log: AttemptLog
                     ) -> tuple[dict[str, Any], Apart] | None:
        o = self.o
        if o.outcome.ending():
            self._refuse_while_ending(attempt, line)
            return None
        try:
            message = wire.decode_message(line)
        except wire.WireError as e:
            self._reply_error(attempt, None, str(e))
            o.outcome.broke(BrokenPromise(f"task {attempt.task} sent a malformed message: {e}",
                                          why=Why.MESSAGE, task=attempt.task),
                            {"raw": line[:MESSAGE_KEEP].decode("utf-8", "replace")},
                            attempt.task)
            return None
        op = message["op"]
        if op == self._fault_op:
            raise RuntimeError(f"test hook {INTERNAL_ERROR_ENV}: a bug while handling {op!r}")
        try:
            typed = messages.read(message)
        except BrokenPromise as e:
            self._reply_error(attempt, message["id"], str(e))
            o.outcome.broke(e, message, attempt.task)
            return None
        match typed:
            case messages.LogMessage(text):
                # JSON may carry lone surrogates (\ud800): keep them visible, as escapes
                log.write(b"[log] " + text.encode("utf-8", "backslashreplace") + b"\n")
                o.report(o, Event("log", attempt.task, text))
                return None
            case messages.ProgressMessage(done, total):
                attempt.progress = (done, total)
                o.report(o, Event("progress", attempt.task, data=message))
                return None
        return self._handle_request(attempt, message, typed)

    def _refuse_while_ending(self, attempt: Attempt, line: bytes) -> None:
        """The run is ending and the attempt is being killed: still answer a request,
        so that its task never waits for a reply that would not come."""
        try:
            message = wire.decode_message(line)
        except wire.WireError:
            return
        if message["op"] in wire.REQUESTS:
            self._reply_error(attempt, message["id"],
                              f"the run is ending ({self.o.outcome.status()[1]}); "
                              "this attempt is being stopped")

    def _handle_request(self, attempt: Attempt, message: dict[str, Any],
                        request: messages.Request) -> tuple[dict[str, Any], Apart] | None:
        o = self.o
        try:
            apart = o.tentative.apart(attempt.task, attempt.pending, request)
            if apart is not None:
                return message, apart
            result = o.tentative.request(attempt.task, attempt.pending, request,
                                         cancelled=o.outcome.ending)
        except BrokenPromise as e:
            self._reply_error(attempt, message["id"], str(e))
            o.outcome.broke(e, message, attempt.task)
            return None
        self._reply(attempt, {"id": message["id"], "ok": True, "result": result})
        return None

    async def _search_apart(self, attempt: Attempt, message: dict[str, Any],
                            apart: Apart) -> None:
        """Plan a big raw change in a worker thread, on the copy of the graph its task
        saw, with the mutex free: other tasks' messages and ends are served meanwhile
        (the asking task waits for its answer). Then, the mutex held again, apply it."""
        def stop() -> bool:
            return self.o.outcome.ending() or attempt.stopped

        found: Plan | BrokenPromise
        try:
            found = await asyncio.to_thread(apart.plan, stop)
        except BrokenPromise as e:
            found = e
        async with self.o.mutex:
            self._guarded(attempt, json.dumps(message)[:MESSAGE_KEEP],
                          lambda: self._finish_apart(attempt, message, apart, found))

    def _finish_apart(self, attempt: Attempt, message: dict[str, Any], apart: Apart,
                      found: Plan | BrokenPromise) -> None:
        o = self.o
        if o.running.get(attempt.task) is not attempt or attempt.stopped:
            return  # the attempt ended meanwhile: nobody waits for the answer
        if o.outcome.ending():
            self._reply_error(attempt, message["id"], f"the run is ending "
                              f"({o.outcome.status()[1]}); this attempt is being stopped")
            return
        try:
            result = o.tentative.finish_apart(apart, attempt.pending, found,
                                              o.outcome.ending)
        except BrokenPromise as e:
            self._reply_error(attempt, message["id"], str(e))
            o.outcome.broke(e, message, attempt.task)
            return
        self._reply(attempt, {"id": message["id"], "ok": True, "result": result})

    def _reply(self, attempt: Attempt, reply: dict[str, Any]) -> None:
        if attempt.proc is not None:
            attempt.proc.send(wire.encode_reply(reply))

    def _reply_error(self, attempt: Attempt, msg_id: int | None, error: str) -> None:
        self._reply(attempt, {"id": msg_id, "ok": False, "error": error})


__all__ = ["INTERNAL_ERROR_ENV", "TaskProtocol"]
