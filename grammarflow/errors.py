"""One exception hierarchy for grammarflow, rooted at :class:`GrammarflowError`.

Every error says what was expected and what came, and carries its evidence as
attributes so callers (the runtime, the journal) can record it without parsing text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class GrammarflowError(Exception):
    """Root of every error grammarflow raises on purpose."""


class NotationError(GrammarflowError):
    """The short notation `X(a,b) ::= a -> A -> b | ...` could not be parsed.

    ``text`` is the production (or fragment, guard, constraint) and ``position`` where in
    it; ``source`` is the whole text it was read from — several productions given at
    once, continuation lines and comments included — and ``offset`` the same place there,
    by which a workflow file's error is found on its line.
    """

    def __init__(self, text: str, position: int, expected: str, *,
                 source: str | None = None, offset: int | None = None) -> None:
        self.text = text
        self.position = position
        self.expected = expected
        self.source = text if source is None else source
        self.offset = position if offset is None else offset
        pointer = " " * position + "^"
        super().__init__(f"expected {expected} at column {position + 1}:\n  {text}\n  {pointer}")

    def within(self, source: str, offset: int) -> NotationError:
        """The same error, placed at ``offset`` of the ``source`` it was read from."""
        return NotationError(self.text, self.position, self.expected, source=source,
                             offset=offset)


class GrammarError(GrammarflowError):
    """The grammar itself is ill-formed: registration (or a refinement) is refused."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One production the checker tried for a hole, and why it did not match."""

    production: str
    reason: str

    def __str__(self) -> str:
        return f"{self.production}: {self.reason}"


ASKED = "asked for a change the grammar does not allow"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A broken promise as the journal keeps it (its ``refused`` entry, number ``seq``):
    who asked for the change (``task``; None: the orchestrator), why it was refused, the
    hole it was aimed at, every production tried, the message (truncated), and
    ``starting``: the task the orchestrator could not start (a constraint on its
    predecessors, decided then), if that is what broke.

    >>> Refusal("no production yields it", task="A").headline()
    'task A asked for a change the grammar does not allow'
    >>> Refusal("too few P before it", starting="Work.1/extra").headline()
    'the orchestrator could not start task Work.1/extra: its predecessors break a constraint'
    """

    reason: str
    task: str | None = None
    hole: str | None = None
    attempts: tuple[Attempt, ...] = ()
    message: str | None = None
    seq: int | None = None
    starting: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "task": self.task, "reason": self.reason, "hole": self.hole,
                "attempts": [{"production": a.production, "reason": a.reason}
                             for a in self.attempts],
                "message": self.message,
                **({"starting": self.starting} if self.starting is not None else {})}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Refusal:
        return cls(str(data.get("reason") or "a promise was broken"), data.get("task"),
                   data.get("hole"),
                   tuple(Attempt(str(a["production"]), str(a["reason"]))
                         for a in data.get("attempts") or ()),
                   data.get("message"), data.get("seq"), data.get("starting"))

    def headline(self) -> str:
        """Who broke the promise, in a few words (the reason says how)."""
        if self.task is not None:
            return f"task {self.task} {ASKED}"
        if self.starting is not None:
            return (f"the orchestrator could not start task {self.starting}: its "
                    "predecessors break a constraint")
        if self.hole is not None:
            return f"hole {self.hole} became due and could not be closed"
        return "the orchestrator could not keep a promise"


class BrokenPromise(GrammarflowError):
    """A requested change is not allowed by the grammar (or by the run-time invariants).

    The graph is left untouched. ``hole`` names the hole the change was aimed at (if
    any), ``attempts`` lists each production tried with the reason it did not match,
    and ``reason`` says in one line what was refused.

    >>> try:
    ...     raise BrokenPromise("no production of X yields that diff", hole="X.1")
    ... except BrokenPromise as e:
    ...     e.hole
    'X.1'
    """

    def __init__(
        self,
        reason: str,
        *,
        hole: str | None = None,
        attempts: tuple[Attempt, ...] = (),
    ) -> None:
        self.reason = reason
        self.hole = hole
        self.attempts = attempts
        lines = [reason]
        lines.extend(f"  tried {a}" for a in attempts)
        super().__init__("\n".join(lines))

    def to_json(self) -> dict[str, object]:
        return {
            "reason": self.reason,
            "hole": self.hole,
            "attempts": [{"production": a.production, "reason": a.reason} for a in self.attempts],
        }


class WorkflowFileError(GrammarflowError):
    """A workflow file could not be imported: a syntax error, an exception at import,
    or a misuse of ``define()``. Names the file and line a person should look at.

    >>> str(WorkflowFileError("flows/wf.py", 12, "invalid syntax"))
    'flows/wf.py, line 12: invalid syntax'
    """

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        where = file if line is None else f"{file}, line {line}"
        super().__init__(f"{where}: {reason}")


class KindError(GrammarError):
    """Kinds the grammar can create have no command that can start: one message each.

    >>> str(KindError(("kind 'A' has no command", "kind 'B' has no command")))
    "kind 'A' has no command\\nkind 'B' has no command"
    """

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
