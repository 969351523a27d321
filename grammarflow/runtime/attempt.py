"""One attempt of one task: its record, its log, and the framing of its output.

A task's stdout carries protocol lines (``wire.PREFIX`` then JSON) among ordinary
output; :func:`read_stdout` splits it into lines with no length limit on ordinary output,
hands each protocol line to the orchestrator, and refuses (without holding it in
memory) a protocol line longer than :data:`~grammarflow.wire.MAX_LINE`. stderr goes to
the log, its tail kept for the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grammarflow import wire
from grammarflow.core.steps import Step
from grammarflow.runtime.executor import Launch, TaskProcess
from grammarflow.workflow.definition import Kind

#: How much of a task's stderr the journal keeps.
STDERR_TAIL = 4 * 1024


@dataclass
class Attempt:
    task: str
    number: int
    kind: Kind
    log_path: str
    pending: list[Step] = field(default_factory=list)  # its accepted, uncommitted steps
    proc: TaskProcess | None = None
    failure: str | None = None
    progress: tuple[float, float | None] | None = None
    tail: bytearray = field(default_factory=bytearray)
    stopped: bool = False  # the run ended this attempt (its tree is, or will be, killed)
    log_error: str | None = None  # the log could not be written: output was lost
    logged: int = 0  # bytes written to its log (0: the task wrote nothing; no file)
    told: list[Any] = field(default_factory=list)  # results of its accepted requests
    launch: Launch | None = None  # what to start (None: it cannot start; see failure)

    def kill(self, why: str) -> None:
        """End the attempt: kill its tree (at once, or as soon as its start returns)."""
        if self.failure is None:
            self.failure = why
        self.stopped = True
        if self.proc is not None:
            self.proc.kill()


class AttemptLog:
    """An attempt's log file, created only when the task writes something.

    A log that cannot be written (disk full, I/O error) loses output, never the task:
    the first failure is reported through ``lost`` and later output is dropped, while
    the pipes are still drained (a reader that stopped would leave the task blocked).
    """

    def __init__(self, path: str, lost: Callable[[str], None]) -> None:
        self.path = path
        self.lost = lost
        self.file: Any = None
        self.written = 0
        self.failed = False

    def write(self, data: bytes) -> None:
        if self.failed:
            return
        try:
            if self.file is None:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self.file = open(self.path, "wb")  # noqa: SIM115 (closed by close())
            self.file.write(data)
        except OSError as e:
            self._fail(e)
            return
        self.written += len(data)

    def close(self) -> None:
        if self.file is None:
            return
        try:
            self.file.close()
        except OSError as e:  # the buffered tail could not be flushed
            self._fail(e)

    def _fail(self, error: OSError) -> None:
        self.failed = True
        if self.file is not None:
            with contextlib.suppress(OSError):  # closing flushes, which fails again
                self.file.close()
        self.lost(f"could not write the log {str(self.path)!r} ({error.strerror or error}): "
                  f"output from then on is lost (the log keeps at most its first "
                  f"{self.written} bytes)")


async def read_stderr(attempt: Attempt, stream: asyncio.StreamReader, log: AttemptLog
                      ) -> None:
    while chunk := await stream.read(65536):
        log.write(chunk)
        attempt.tail += chunk
        del attempt.tail[:-STDERR_TAIL]


async def read_stdout(attempt: Attempt, stream: asyncio.StreamReader, log: AttemptLog,
                      on_line: Callable[[bytes], Awaitable[None]],
                      on_oversized: Callable[[bytes], Awaitable[None]]) -> None:
    """Split stdout into lines: protocol lines go to ``on_line``, ordinary output to the
    log; a protocol line over MAX_LINE is dropped as it streams, ``on_oversized`` told
    its first bytes."""
    buf = bytearray()
    oversized = False
    while chunk := await stream.read(65536):
        buf += chunk
        while True:
            end = buf.find(b"\n")
            if end < 0:
                break
            line = bytes(buf[:end])
            del buf[:end + 1]
            if oversized:
                oversized = False
                continue
            if line.startswith(wire.PREFIX_BYTES):
                await on_line(line)
            else:
                log.write(line + b"\n")  # ordinary output
        if buf.startswith(wire.PREFIX_BYTES) and len(buf) > wire.MAX_LINE and not oversized:
            oversized = True
            await on_oversized(bytes(buf[:200]))
        if oversized:
            buf.clear()
        elif not buf.startswith(wire.PREFIX_BYTES[:len(buf)]) and len(buf) > 65536:
            log.write(bytes(buf))  # a long ordinary line: pass it through as output
            buf.clear()
    if buf and not oversized:
        if buf.startswith(wire.PREFIX_BYTES):
            attempt.failure = attempt.failure or (
                f"exited in the middle of a message ({len(buf)} bytes, no newline)")
        else:
            log.write(bytes(buf))


__all__ = ["STDERR_TAIL", "Attempt", "AttemptLog", "read_stderr", "read_stdout"]
