"""What a task may send, what became of it, and a run of such messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from grammarflow.core.derivation import Derivation
from grammarflow.core.formatting import pretty
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Hole
from grammarflow.core.match import Added, Diff, add
from grammarflow.core.productions import TaskSpec
from grammarflow.core.steps import Applied, Expand, Step
from grammarflow.errors import BrokenPromise

__all__ = ["TAGS", "Batch", "Message", "MessageRun", "Outcome", "Result", "apply_message",
           "production_diff"]


@dataclass(frozen=True, slots=True)
class Batch:
    """Several expansions sent as one message (``task.expand_all``): all or none."""

    steps: tuple[Expand, ...]


Message = Step | Diff | Batch
Result = Added | Applied | tuple[Applied, ...]

#: What a generated message may be built to exercise (:attr:`Outcome.tags`).
TAGS = (
    "expand",                   # a production named for a hole (or a wrong name, hole, attrs)
    "batch",                    # several legal expansions in one message
    "batch/one bad member",     # ... with one member that must be refused, anywhere in it
    "diff/one step",            # a raw diff one production application yields
    "diff/several steps",       # ... that needs several (nested or side by side)
    "diff/edge too many",       # such a diff with one more edge
    "diff/edge too few",        # ... with one edge less
    "diff/wrong kind first",    # ... with the first task of another kind
    "diff/wrong kind later",    # ... with a later task of another kind
    "diff/no hole there",       # a new task after a task, wherever a hole is or not
    "diff/open hole",           # what an open hole may grow, sent as a raw diff
    "grow",                     # a raw fragment through an open hole
    "refine/plain",             # an open hole replaced by tasks and edges
    "refine/holes",             # ... with holes of the grammar's types
    "refine/fresh types",       # ... with holes of fresh closed types
    "refine/fresh open type",   # ... with a hole of a fresh open type
    "refine/fresh everywhere type",  # ... with a hole of a fresh type attached everywhere
    "narrow type",              # productions removed from a hole type
    "narrow hole",              # ... from one hole
    "needs removed by type",    # a change that needs a production narrowed away by type
    "needs removed for hole",   # ... narrowed away for the hole
    "into started",             # an edge into (or a hole before) a task that has started
    "cycle/in one message",     # the message's own new tasks, edges and holes form a cycle
    "cycle/one step",           # an edge back along existing edges closes a cycle
    "cycle/several steps",      # ... along an edge an earlier message added anywhere
    "wrong step for the hole",  # grow or refine a closed hole, expand or narrow an open one
)


def apply_message(d: Derivation, message: Message) -> Result:
    """Apply what a task sent: a step, a batch of expansions, or a raw diff (searched
    within its step budget, never a deadline: a generated example must not depend on
    how busy the machine is)."""
    if isinstance(message, Diff):
        return add(d, message, deadline=None)  # its step budget alone: the same on any load
    if isinstance(message, Batch):
        return tuple(d.apply_batch(message.steps))
    return d.apply(message)


@dataclass
class Outcome:
    """One message and what became of it.

    ``tags`` say what the message was built to exercise (see :data:`TAGS`);
    ``illegal`` is True if it was built to break a promise (the checker must refuse
    it), ``legal`` if it was built to keep every promise (the checker must accept it);
    neither, if it may go either way.
    """

    message: Message
    result: Result | None
    error: BrokenPromise | None
    before: dict[str, Any] = field(repr=False)
    after: dict[str, Any] = field(repr=False)
    grammar_before: dict[str, Any] = field(repr=False)
    grammar_after: dict[str, Any] = field(repr=False)
    tags: tuple[str, ...] = ()
    illegal: bool = False
    legal: bool = False

    @property
    def accepted(self) -> bool:
        return self.error is None

    def steps(self) -> tuple[Step, ...]:
        """The steps an accepted message applied (a diff: those the checker found)."""
        if self.error is not None:
            return ()
        if isinstance(self.result, Added):
            return self.result.steps
        if isinstance(self.message, Batch):
            return self.message.steps
        if isinstance(self.message, Diff):
            return ()
        return (self.message,)


@dataclass
class MessageRun:
    """A run with random messages; ``broken`` holds a due hole nobody expanded."""

    grammar: Grammar
    derivation: Derivation
    outcomes: list[Outcome] = field(default_factory=list)
    broken: BrokenPromise | None = None

    def __repr__(self) -> str:
        """Short enough to read: what was sent and what became of it, the graph."""
        refused = sum(not o.accepted for o in self.outcomes)
        broken = f", broken: {self.broken.why}: {self.broken.reason}" if self.broken else ""
        sent = "; ".join(f"{o.message!r} -> {_said(o)}" for o in self.outcomes[:SHOWN])
        more = f" ... and {len(self.outcomes) - SHOWN} more" \
            if len(self.outcomes) > SHOWN else ""
        return (f"MessageRun({len(self.outcomes)} messages, {refused} refused{broken}; "
                f"sent: {sent}{more}; graph: {self.derivation.graph!r})")

    _repr_pretty_ = pretty


#: Messages a MessageRun's repr shows.
SHOWN = 20


def _said(o: Outcome) -> str:
    return "accepted" if o.error is None else f"refused ({o.error.why})"


def production_diff(d: Derivation, hole: Hole, production: str,
                    prefix: str = "n") -> Diff:
    """The raw diff that applying ``production`` to ``hole`` would add (new names)."""
    htype = d.grammar.types[hole.type]
    prod = htype.production(production)
    names = {t.local: f"{prefix}_{t.local}" for t in prod.fragment.tasks}
    binding = dict(zip(prod.params, hole.args, strict=True))

    def node(name: str) -> str:
        return binding.get(name) or names[name]

    edges = []
    for u, v in prod.fragment.edges:
        e = (node(u), node(v))
        if not (e[0] in d.graph.tasks and e[1] in d.graph.tasks and d.graph.has_edge(*e)):
            edges.append(e)
    tasks = tuple(TaskSpec(names[t.local], t.kind) for t in prod.fragment.tasks)
    return Diff(tasks, tuple(edges))
