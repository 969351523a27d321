"""The journal's entries: one frozen class per kind, and their one encoding.

Every change of a run's state is one of these, journaled and then taken by
:class:`grammarflow.journal.state.RunState`; nothing else reads or writes an entry's
JSON (docs/architecture.md, "The journal and the store").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grammarflow.core.steps import Step, step_from_json, step_to_json
from grammarflow.errors import Refusal

#: The entry encoding this version writes and reads: a step's JSON plus who made it, an
#: attempt's ``event``, and so on, as each class below says. Journals of every earlier
#: grammarflow that reads schema version 2 are in it.
FORMAT = 1

#: Who asked for an operation: ``{"pid": ..., "host": ...}`` (or nothing known).
Asker = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class StepTaken:
    """An accepted step of the core; ``by``: the task whose change it is (None: the
    orchestrator's own, as a due hole's default)."""

    step: Step
    by: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    task: str
    attempt: int
    log: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptWaits:
    """A task whose value a person gives (``Kind(ask=...)``) waits for an answer."""

    task: str
    attempt: int
    question: str = ""


@dataclass(frozen=True, slots=True)
class AttemptEnded:
    """An attempt's end: ``outcome`` is succeeded, failed, abandoned or answered;
    ``reason`` says why it did not succeed (None when it did)."""

    task: str
    attempt: int
    outcome: str
    reason: str | None = None
    stderr_tail: str = ""
    log: str | None = None
    log_bytes: int | None = None  # None: a journal of a version that did not count
    log_error: str | None = None
    at: float | None = None
    by: Asker | None = None  # who answered a waiting task
    changes: int | None = None  # a success: how many steps its changes made


@dataclass(frozen=True, slots=True)
class AttemptLost:
    """An attempt that ran when its orchestrator died: it runs again."""

    task: str
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class AttemptRetried:
    """A failed task given another attempt when its run was resumed."""

    task: str
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class ChangeRefused:
    """The change that broke a promise: the run is broken from here on."""

    refusal: Refusal


@dataclass(frozen=True, slots=True)
class InternalError:
    """An error of grammarflow itself stopped the run (``resume`` goes on)."""

    error: str
    doing: str
    message: Any = None
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class ControlTaken:
    """``pause`` or ``unpause`` taken, or a request the run could not take (``ignored``:
    ``asked`` says what it was)."""

    op: str
    by: Asker | None = None
    asked: str | None = None


@dataclass(frozen=True, slots=True)
class RestartTaken:
    """A task restarted with everything after it: the steps of entries ``removed``
    (first, last) rolled back, ``restarted`` pending again, ``vanished`` gone."""

    task: str
    restarted: tuple[str, ...]
    vanished: tuple[str, ...]
    reopened: tuple[str, ...]
    joined: Mapping[str, str]  # a task restarted too -> why
    removed: tuple[tuple[int, int], ...]
    steps: int
    by: Asker | None = None

    def removed_seqs(self) -> set[int]:
        return {seq for first, last in self.removed for seq in range(first, last + 1)}


@dataclass(frozen=True, slots=True)
class UpgradeTaken:
    """The run goes on under another version of its workflow (`grammarflow upgrade`):
    ``workflow`` its JSON (the run's parameters kept), its journal re-derived under it
    with the ids of hole types ``renamed`` (old -> new) re-mapped; ``version`` and
    ``was`` name the versions (:attr:`grammarflow.workflow.definition.Workflow.version`)."""

    workflow: Mapping[str, Any]
    renamed: Mapping[str, str]
    version: str
    was: str
    by: Asker | None = None


@dataclass(frozen=True, slots=True)
class StatusChanged:
    status: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Other:
    """An entry of a kind this version does not know (a newer one wrote it): kept for
    `history`, no part of the run's state."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


JournalEntry = (StepTaken | AttemptStarted | AttemptWaits | AttemptEnded | AttemptLost
                | AttemptRetried | ChangeRefused | InternalError | ControlTaken | RestartTaken
                | UpgradeTaken | StatusChanged | Other)


def encode(entry: JournalEntry) -> tuple[str, dict[str, Any]]:
    """The journal's ``(kind, data)`` of an entry: the encoding every journal since
    schema version 2 holds (tests/fixtures keep some written by earlier versions).

    >>> from grammarflow.core.steps import SetState
    >>> from grammarflow.core.graph import TaskState
    >>> encode(StepTaken(SetState("A", TaskState.DONE), by="A"))
    ('step', {'op': 'state', 'task': 'A', 'state': 'done', 'by': 'A'})
    """
    match entry:
        case StepTaken(step, by):
            return "step", {**step_to_json(step), **({"by": by} if by is not None else {})}
        case AttemptStarted(task, attempt, log):
            return "attempt", {"event": "start", "task": task, "attempt": attempt, "log": log}
        case AttemptWaits(task, attempt, question):
            return "attempt", {"event": "wait", "task": task, "attempt": attempt,
                               "question": question}
        case AttemptEnded():
            return "attempt", _ended(entry)
        case AttemptLost(task, attempt, reason):
            return "attempt", {"event": "lost", "task": task, "attempt": attempt,
                               "reason": reason}
        case AttemptRetried(task, attempt, reason):
            return "attempt", {"event": "retry", "task": task, "attempt": attempt,
                               "reason": reason}
        case ChangeRefused(refusal):
            data = refusal.to_json()
            del data["seq"]  # the entry's own number
            return "refused", data
        case InternalError(error, doing, message, traceback):
            return "error", {"error": error, "while": doing, "message": message,
                             "traceback": traceback}
        case ControlTaken(op, by, asked):
            return "control", {"op": op, "by": by, **({"asked": asked} if asked else {})}
        case RestartTaken():
            return "restart", _restarted(entry)
        case UpgradeTaken(workflow, renamed, version, was, by):
            return "upgrade", {"workflow": dict(workflow), "renamed": dict(renamed),
                               "version": version, "was": was, "by": by}
        case StatusChanged(status, reason):
            return "status", {"status": status, "reason": reason}
        case Other(kind, data):
            return kind, dict(data)
    raise TypeError(f"not a journal entry: {entry!r}")


def _ended(e: AttemptEnded) -> dict[str, Any]:
    if e.outcome == "answered":
        return {"event": "end", "task": e.task, "attempt": e.attempt, "outcome": e.outcome,
                "reason": e.reason, "by": e.by, "at": e.at}
    return {"event": "end", "task": e.task, "attempt": e.attempt, "outcome": e.outcome,
            "reason": e.reason, "stderr_tail": e.stderr_tail, "log": e.log,
            "log_bytes": e.log_bytes, "log_error": e.log_error, "at": e.at,
            **({"changes": e.changes} if e.changes is not None else {})}


def _restarted(e: RestartTaken) -> dict[str, Any]:
    return {"task": e.task, "restarted": list(e.restarted), "vanished": list(e.vanished),
            "reopened": list(e.reopened), "joined": dict(e.joined),
            "removed": [list(r) for r in e.removed], "steps": e.steps, "by": e.by}


def decode(kind: str, data: Mapping[str, Any], seq: int | None = None) -> JournalEntry:
    """The entry a journal's ``(kind, data)`` records (``seq``: its number, which a
    refusal keeps).

    >>> decode("control", {"op": "pause", "by": {"pid": 7, "host": "h"}})
    ControlTaken(op='pause', by={'pid': 7, 'host': 'h'}, asked=None)
    """
    match kind:
        case "step":
            return StepTaken(step_from_json(data), data.get("by"))
        case "attempt":
            return _attempt(data)
        case "refused":
            return ChangeRefused(Refusal.from_json({**data, "seq": seq,
                                                    "starting": _starting(data)}))
        case "error":
            return InternalError(str(data.get("error")), str(data.get("while")),
                                 data.get("message"), str(data.get("traceback") or ""))
        case "control":
            return ControlTaken(data["op"], data.get("by"), data.get("asked"))
        case "restart":
            return RestartTaken(data["task"], tuple(data["restarted"]), tuple(data["vanished"]),
                             tuple(data.get("reopened", ())), dict(data.get("joined", {})),
                             tuple((int(a), int(b)) for a, b in data["removed"]),
                             int(data.get("steps", 0)), data.get("by"))
        case "status":
            return StatusChanged(data["status"], data.get("reason"))
        case "upgrade":
            return UpgradeTaken(data["workflow"], dict(data.get("renamed", {})),
                                str(data["version"]), str(data["was"]), data.get("by"))
    return Other(kind, data)


def _starting(data: Mapping[str, Any]) -> str | None:
    """The task whose start a refusal refused: its ``starting``; a journal of an
    earlier version kept it only in the message the orchestrator wrote then
    (``{"event": "start", "task": ...}``), read here, once, as the codec reads any
    older form."""
    if "starting" in data or data.get("task") is not None:
        return data.get("starting")
    message = data.get("message")
    if not isinstance(message, str) or not message.startswith('{"event": "start"'):
        return None
    try:
        task = json.loads(message).get("task")
    except (ValueError, AttributeError):
        return None
    return task if isinstance(task, str) else None


def _attempt(data: Mapping[str, Any]) -> JournalEntry:
    task, attempt = data["task"], data["attempt"]
    match data.get("event"):
        case "start":
            return AttemptStarted(task, attempt, data.get("log"))
        case "wait":
            return AttemptWaits(task, attempt, data.get("question") or "")
        case "lost":
            return AttemptLost(task, attempt, data.get("reason") or "")
        case "retry":
            return AttemptRetried(task, attempt, data.get("reason") or "")
        case "end":
            return AttemptEnded(task, attempt, data.get("outcome") or "", data.get("reason"),
                                data.get("stderr_tail") or "", data.get("log"),
                                data.get("log_bytes"), data.get("log_error"), data.get("at"),
                                data.get("by"), data.get("changes"))
    return Other("attempt", data)


__all__ = [
    "FORMAT",
    "AttemptEnded",
    "AttemptLost",
    "AttemptRetried",
    "AttemptStarted",
    "AttemptWaits",
    "ChangeRefused",
    "ControlTaken",
    "InternalError",
    "JournalEntry",
    "Other",
    "RestartTaken",
    "StatusChanged",
    "StepTaken",
    "UpgradeTaken",
    "decode",
    "encode",
]
