"""Tasks as coroutines inside the orchestrator's process, speaking the same protocol.

For tests of workflows and of the orchestrator itself: each attempt runs ``async def
task(io: TaskIO) -> int | None``, chosen by its kind, whose requests go through the
real orchestrator as JSON lines, minus the cost of starting processes.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from grammarflow import wire
from grammarflow.runtime.executor import Launch, Streams

TaskFunction = Callable[["TaskIO"], Awaitable[int | None]]


class Refused(Exception):
    """The orchestrator refused a request (as ``grammarflow.task.Refused``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def nothing(io: TaskIO) -> None:
    """A task that does nothing and succeeds: the default for kinds not given."""
    return None


class TaskIO:
    """A coroutine task's side of the protocol."""

    def __init__(self, context: dict[str, Any], stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader) -> None:
        self.context = context
        self._stdout = stdout
        self._stderr = stderr
        self._next_id = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}

    @property
    def task(self) -> str:
        return str(self.context["task"])

    @property
    def holes(self) -> dict[str, str]:
        """The holes after this task when it started (id -> type)."""
        return dict(self.context.get("holes", {}))

    async def after(self) -> dict[str, str]:
        """The tasks this one runs right after (id -> kind, oldest first): from its
        context, or asked for (as the SDK does) if they did not fit there."""
        if "after" in self.context:
            return dict(self.context["after"])
        return await self.find(before=self.task)

    async def before(self) -> dict[str, str]:
        """The tasks this one runs right before (id -> kind, oldest first)."""
        if "before" in self.context:
            return dict(self.context["before"])
        return await self.find(after=self.task)

    async def find(self, kind: str | None = None, *, after: str | None = None,
                   before: str | None = None) -> dict[str, str]:
        """The ``find`` request: tasks of ``kind`` right after ``after`` and right
        before ``before`` (each optional), as this task sees the graph; id -> kind."""
        query = {"kind": kind, "after": after, "before": before}
        result = await self.request("find", **{k: v for k, v in query.items() if v is not None})
        return dict(result["tasks"])

    async def request(self, op: str, **fields: Any) -> Any:
        """Send one request and wait for its reply; :class:`Refused` if refused."""
        self._next_id += 1
        msg_id = self._next_id
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[msg_id] = reply
        self.send({"op": op, **fields, "id": msg_id})
        answer = await reply
        if not answer.get("ok"):
            raise Refused(str(answer.get("error")))
        return answer.get("result")

    def send(self, message: dict[str, Any]) -> None:
        """A protocol line as the SDK writes it (also for one-way log/progress)."""
        self._stdout.feed_data(wire.encode_message(message))

    def write_raw(self, data: bytes) -> None:
        """Bytes on stdout as they are: ordinary output, or a hand-made bad message."""
        self._stdout.feed_data(data)

    def print(self, text: str) -> None:
        self._stderr.feed_data(text.encode("utf-8", "backslashreplace") + b"\n")

    def _replied(self, line: bytes) -> None:
        reply = json.loads(line)
        waiting = self._waiting.pop(reply.get("id"), None) if reply.get("id") else None
        if waiting is not None and not waiting.done():
            waiting.set_result(reply)
        elif reply.get("id") is None:  # a reply to a malformed message: no one waits by id
            for future in self._waiting.values():
                if not future.done():
                    future.set_result(reply)
            self._waiting.clear()


class InProcessExecutor:
    """Run each attempt as the coroutine of its kind (``functions[kind]``; kinds not
    given do nothing and succeed). Killing an attempt cancels its coroutine (exit status
    -9); an exception it raises is its failure (exit status 1, the traceback on stderr).

    >>> async def fan_out(io):
    ...     await io.request("add", tasks=[{"name": "m", "kind": "M"}],
    ...                      edges=[["A", "m"], ["m", "B"]])
    >>> executor = InProcessExecutor({"A": fan_out})
    """

    def __init__(self, functions: Mapping[str, TaskFunction] | None = None, *,
                 record: bool = True) -> None:
        self.functions = dict(functions or {})
        self.record = record  # False: keep no attempt (a benchmark of 100k tasks)
        self.started: list[InProcessTask] = []  # every attempt, in start order

    async def start(self, launch: Launch) -> InProcessTask:
        function = self.functions.get(launch.kind, nothing)
        task = InProcessTask(launch, function)
        if self.record:
            self.started.append(task)
        return task

    def kill_orphans(self, db_key: str, run_id: int) -> list[int]:
        return []  # its coroutines died with the orchestrator that ran them

    async def close(self) -> None:
        pass


class InProcessTask(Streams):
    """One attempt: its coroutine and the streams between it and the orchestrator."""

    def __init__(self, launch: Launch, function: TaskFunction) -> None:
        loop = asyncio.get_running_loop()
        super().__init__(asyncio.StreamReader(limit=2 ** 16, loop=loop),
                         asyncio.StreamReader(limit=2 ** 16, loop=loop))
        self.launch = launch
        self.io = TaskIO(json.loads(launch.context), self._stdout, self._stderr)
        self._inbox = bytearray()
        self._runner = loop.create_task(self._run(function))
        self.code: int | None = None

    async def _run(self, function: TaskFunction) -> int:
        try:
            result = await function(self.io)
            code = result if isinstance(result, int) else 0
        except asyncio.CancelledError:
            code = -9
        except Exception as e:
            self.io.print("".join(traceback.format_exception(e)).rstrip("\n"))
            code = 1
        self.code = code
        self._stdout.feed_eof()
        self._stderr.feed_eof()
        return code

    def send(self, data: bytes) -> None:
        if self._runner.done():
            return
        self._inbox += data
        while (end := self._inbox.find(b"\n")) >= 0:
            line = bytes(self._inbox[:end])
            del self._inbox[:end + 1]
            self.io._replied(line)

    def kill(self) -> None:
        self._runner.cancel()

    async def exited(self) -> int:
        return await asyncio.shield(self._runner)

    def release(self) -> None:
        return None


__all__ = ["InProcessExecutor", "InProcessTask", "Refused", "TaskFunction", "TaskIO",
           "nothing"]
