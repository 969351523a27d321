"""One exception hierarchy for grammarflow, rooted at :class:`GrammarflowError`.

Every error says what was expected and what came, and carries its evidence as
attributes so callers (the runtime, the journal) can record it without parsing text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
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


class Why(StrEnum):
    """What a refused change would have broken: the category of a :class:`BrokenPromise`,
    kept in the journal with its evidence (docs/troubleshooting.md lists them)."""

    CONSTRAINT = "constraint"  # a constraint of a hole's scope
    GUARD = "guard"  # a guard or condition does not hold, or cannot be read
    DUE_WITHOUT_DEFAULT = "due without default"  # a due hole nobody expanded
    NO_PRODUCTION_LEFT = "no production left"  # narrowing took every production
    NO_WAY_TO_FINISH = "no way to finish"  # a hole would be left that nothing closes
    NARROWED_AWAY = "narrowed away"  # the production was removed by a narrowing
    CYCLE = "cycle"
    STARTED = "started"  # a new predecessor for a task that started
    WIDENS = "widens"  # a refinement would widen an open hole's promise
    TYPE_EXISTS = "type exists"  # a refinement's "fresh" type exists already
    NOT_DECLARED = "not declared"  # no such hole type
    ILL_FORMED = "ill-formed"  # a refinement's types make an ill-formed grammar
    OUTSIDE_THE_ATTACHMENT = "outside the attachment"  # beyond what the hole is glued to
    HOLE_ARGUMENTS = "hole arguments"  # a hole with the wrong number of arguments
    NO_SUCH_HOLE = "no such hole"
    NO_SUCH_PRODUCTION = "no such production"
    ATTRS = "attrs"  # attributes for tasks the production does not make
    WRONG_STEP = "wrong step for the hole"  # a production for an open hole, or the reverse
    NO_HOLE_TAKES_IT = "no hole takes it"  # a raw change where no hole is attached
    NARROWING_REMOVED_IT = "a narrowing removed it"  # the one production that fits is gone
    EDGE_NO_HOLE_CAN_MAKE = "an edge no hole can make"
    NO_PRODUCTION_YIELDS_IT = "no production yields it"  # a raw change no plan explains
    SEARCH_BUDGET = "search budget"  # a raw change the search could not decide in time
    UNKNOWN_TASK = "unknown task"
    UNKNOWN_NAME = "unknown name"  # a constraint names neither a parameter nor a kind
    NAME_OR_ID = "name or id"  # a name used twice, or not a valid name
    INPUTS = "inputs"  # a task's inputs cannot be bound, or an edge joins unlike data
    OUTPUT = "output"  # an output missing, given twice, undeclared, or of the wrong type
    LOOKS = "looks"  # a style outside the palette's promises
    MESSAGE = "message"  # a task's message that is not a request at all


class GrammarError(GrammarflowError):
    """The grammar itself is ill-formed: registration (or a refinement) is refused.
    ``why`` says how, for a refinement refused at run time."""

    def __init__(self, *args: object, why: Why = Why.ILL_FORMED) -> None:
        super().__init__(*args)
        self.why = why


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
    predecessors, decided then), if that is what broke; and the refusal's category
    (``why``; None in a journal written before it was kept) with its evidence: the task,
    edge and constraint it names (``about``, ``edge``, ``constraint``).

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
    why: Why | None = None
    about: str | None = None
    edge: tuple[str, str] | None = None
    constraint: str | None = None

    @classmethod
    def of(cls, error: BrokenPromise, task: str | None = None, message: str | None = None,
           starting: str | None = None) -> Refusal:
        """The refusal of ``error``, a change of ``task`` (None: of the orchestrator)."""
        return cls(error.reason, task, error.hole, error.attempts, message,
                   starting=starting, why=error.why, about=error.task, edge=error.edge,
                   constraint=error.constraint)

    def to_json(self) -> dict[str, Any]:
        evidence = {"why": None if self.why is None else self.why.value,
                    "about": self.about, "edge": None if self.edge is None else list(self.edge),
                    "constraint": self.constraint, "starting": self.starting}
        return {"seq": self.seq, "task": self.task, "reason": self.reason, "hole": self.hole,
                "attempts": [{"production": a.production, "reason": a.reason}
                             for a in self.attempts],
                "message": self.message,
                **{k: v for k, v in evidence.items() if v is not None}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Refusal:
        why, edge = data.get("why"), data.get("edge")
        reason = data.get("reason")
        return cls("a promise was broken" if reason is None else str(reason), data.get("task"),
                   data.get("hole"),
                   tuple(Attempt(str(a["production"]), str(a["reason"]))
                         for a in data.get("attempts") or ()),
                   data.get("message"), data.get("seq"), data.get("starting"),
                   None if why is None else Why(why), data.get("about"),
                   None if edge is None else (str(edge[0]), str(edge[1])),
                   data.get("constraint"))

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

    The graph is left untouched. ``why`` is the category of what it would break, and
    the evidence: ``hole`` the hole the change was aimed at, ``task``, ``edge`` and
    ``constraint`` what it names, ``attempts`` each production tried with the reason it
    did not match; ``reason`` says it in one line, made from them where it is raised.

    >>> try:
    ...     raise BrokenPromise("X.1 may not become that", why=Why.GUARD, hole="X.1")
    ... except BrokenPromise as e:
    ...     e.why, e.hole
    (<Why.GUARD: 'guard'>, 'X.1')
    """

    def __init__(
        self,
        reason: str,
        *,
        why: Why,
        hole: str | None = None,
        attempts: tuple[Attempt, ...] = (),
        task: str | None = None,
        edge: tuple[str, str] | None = None,
        constraint: str | None = None,
    ) -> None:
        self.reason = reason
        self.why = why
        self.hole = hole
        self.attempts = attempts
        self.task = task
        self.edge = edge
        self.constraint = constraint
        lines = [reason]
        lines.extend(f"  tried {a}" for a in attempts)
        super().__init__("\n".join(lines))

    def again(self, reason: str) -> BrokenPromise:
        """The same refusal (category and evidence) said as ``reason``."""
        return BrokenPromise(reason, why=self.why, hole=self.hole, attempts=self.attempts,
                             task=self.task, edge=self.edge, constraint=self.constraint)

    def to_json(self) -> dict[str, object]:
        return {
            "reason": self.reason,
            "why": self.why.value,
            "hole": self.hole,
            "attempts": [{"production": a.production, "reason": a.reason} for a in self.attempts],
            **({"task": self.task} if self.task is not None else {}),
            **({"edge": list(self.edge)} if self.edge is not None else {}),
            **({"constraint": self.constraint} if self.constraint is not None else {}),
        }


def why_of(error: GrammarflowError, otherwise: Why) -> Why:
    """The category an ill-formed part of a change carries, else ``otherwise``."""
    return error.why if isinstance(error, GrammarError) else otherwise


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


__all__ = [
    "ASKED",
    "Attempt",
    "BrokenPromise",
    "GrammarError",
    "GrammarflowError",
    "KindError",
    "NotationError",
    "Refusal",
    "Why",
    "WorkflowFileError",
    "why_of",
]
