"""The seam between the orchestrator and what runs a task: one protocol, several ways.

An :class:`Executor` starts one attempt from a :class:`Launch` and hands back a
:class:`TaskProcess`; the executors (zygote, local, container, in-process):
docs/architecture.md, "Executors and the zygote".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from grammarflow.workflow.definition import Kind


@dataclass(frozen=True, slots=True)
class Launch:
    """One attempt to start: which task, how its kind runs, and its context (the JSON
    the task SDK reads as ``task.context()``: run, task, kind, attrs, attempt, holes,
    after, before)."""

    task: str
    kind: str
    command: Kind
    context: str
    workflow: Path  # the workflow file; commands are relative to its directory


class TaskProcess(Protocol):
    """A started attempt, as the orchestrator sees it."""

    @property
    def stdout(self) -> asyncio.StreamReader: ...

    @property
    def stderr(self) -> asyncio.StreamReader: ...

    def send(self, data: bytes) -> None:
        """Write to the task's stdin (a reply line); a no-op once it is gone."""

    def kill(self) -> None:
        """End the attempt now: its main process and everything it started."""

    async def exited(self) -> int:
        """Wait for the main process (not its pipes); its exit status (negative: killed
        by that signal). Cancelling the wait leaves the process alone."""

    def release(self) -> None:
        """Give up the pipes (the orchestrator stopped reading them)."""


class Streams:
    """The task's stdout and stderr, as an executor hands them to the orchestrator."""

    def __init__(self, stdout: asyncio.StreamReader, stderr: asyncio.StreamReader) -> None:
        self._stdout = stdout
        self._stderr = stderr

    @property
    def stdout(self) -> asyncio.StreamReader:
        return self._stdout

    @property
    def stderr(self) -> asyncio.StreamReader:
        return self._stderr


class Executor(Protocol):
    """Starts attempts; cleans up after a dead orchestrator's."""

    async def start(self, launch: Launch) -> TaskProcess:
        """Start one attempt (``OSError``: it could not be started)."""

    def kill_orphans(self, db_key: str, run_id: int) -> list[int]:
        """At ``resume``, holding the run's lease, before anything runs again: end every
        process of the run that a dead orchestrator left running, with everything they
        started. Returns what was killed (pids, or nothing)."""

    async def close(self) -> None:
        """The run is over: give back what the executor holds (a zygote, say)."""


__all__ = ["Executor", "Launch", "Streams", "TaskProcess"]
