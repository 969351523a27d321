"""Hypothesis strategies over a workflow's grammar: property-test your workflow's shape.

>>> from hypothesis import given
>>> from grammarflow import define, repeat_parallel
>>> from grammarflow.testing import finished_graphs
>>> grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
>>> @given(finished_graphs(grammar))
... def test_b_is_always_last(graph):
...     assert not graph.succ["B"]
>>> test_b_is_always_last()

Strategies:

* :func:`finished_graphs` — hole-free graphs the grammar can produce (its language);
  :func:`derivations` gives the whole :class:`~grammarflow.grammar.Derivation`.
* :func:`runs` — finished runs through the scheduler's rules (tasks done in an order
  the orchestrator could choose, holes expanded by running tasks, defaults taken);
  :func:`partial_runs` stops them at a random point.
* :func:`message_runs` — runs in which tasks send random messages, legal and not:
  each :class:`Outcome` says what was sent, whether it was accepted, and the graph
  before and after. Use it to check that *no* message sequence breaks your invariant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import strategies as st

from grammarflow.derivation import Derivation
from grammarflow.errors import BrokenPromise
from grammarflow.grammar import Fragment, Grammar, TaskSpec
from grammarflow.graph import Graph, Hole, TaskState
from grammarflow.match import Added, Diff, add
from grammarflow.simulate import Limits, derive, run
from grammarflow.steps import (
    Applied,
    Expand,
    Grow,
    NarrowHole,
    NarrowType,
    Refine,
    SetState,
    Step,
)

T = TypeVar("T")

__all__ = [
    "Message",
    "MessageRun",
    "Outcome",
    "apply_message",
    "derivations",
    "finished_graphs",
    "message_runs",
    "partial_runs",
    "production_diff",
    "runs",
]


class _DrawChooser:
    """A simulate.Chooser whose choices Hypothesis draws (and so can shrink)."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self._draw = draw

    def choose(self, options: Sequence[T]) -> T:
        return options[self._draw(st.integers(0, len(options) - 1))]  # type: ignore[no-any-return]

    def coin(self) -> bool:
        return bool(self._draw(st.booleans()))


@st.composite
def derivations(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30) -> Derivation:
    """Complete derivations: holes expanded in any order until none is left."""
    return derive(grammar, _DrawChooser(draw), Limits(max_tasks=max_tasks))


def finished_graphs(grammar: Grammar, max_tasks: int = 30) -> st.SearchStrategy[Graph]:
    """Hole-free graphs in the grammar's language (no task has run yet)."""
    return derivations(grammar, max_tasks).map(lambda d: d.graph)


@st.composite
def runs(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30) -> Derivation:
    """Finished runs: every task done, in an order the scheduler could have chosen."""
    return run(grammar, _DrawChooser(draw), Limits(max_tasks=max_tasks))


@st.composite
def partial_runs(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30) -> Derivation:
    """A run stopped after a random number of its steps (replayed from its history)."""
    finished = draw(runs(grammar, max_tasks))
    cut = draw(st.integers(0, len(finished.history)))
    return Derivation.replay(grammar, finished.history[:cut])


# ====================================================================== messages
Message = Step | Diff


def apply_message(d: Derivation, message: Message) -> Added | Applied:
    """Apply what a task sent: a step, or a raw diff through the matcher."""
    if isinstance(message, Diff):
        return add(d, message)
    return d.apply(message)


@dataclass
class Outcome:
    """One message and what became of it."""

    message: Message
    result: Added | Applied | None
    error: BrokenPromise | None
    before: dict[str, Any]
    after: dict[str, Any]
    grammar_before: dict[str, Any]
    grammar_after: dict[str, Any]

    @property
    def accepted(self) -> bool:
        return self.error is None


@dataclass
class MessageRun:
    """A run with random messages; ``broken`` holds a due hole nobody expanded."""

    grammar: Grammar
    derivation: Derivation
    outcomes: list[Outcome] = field(default_factory=list)
    broken: BrokenPromise | None = None


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


@st.composite
def _two_step_diff(draw: st.DrawFn, d: Derivation, hole: Hole, production: str,
                   serial: int) -> Diff:
    """The diff of a production and, maybe, one applied to a hole it creates."""
    scratch = Derivation(d.grammar, Graph.from_json(d.graph.to_json()))
    try:
        first = scratch.apply(Expand(hole.id, production))
    except BrokenPromise:  # narrowed away: the plain diff, to be refused
        return production_diff(d, hole, production, prefix=f"m{serial}")
    children = [h for h in first.holes if not scratch.grammar.types[
        scratch.graph.holes[h].type].open]
    if children:
        child = scratch.graph.holes[draw(st.sampled_from(children))]
        names = [p.name for p in scratch.grammar.types[child.type].allowed()]
        scratch.apply(Expand(child.id, draw(st.sampled_from(names))))
    new = [t for t in scratch.graph.tasks.values() if t.id not in d.graph.tasks]
    rename = {t.id: f"m{serial}_{i}" for i, t in enumerate(new)}
    edges = tuple((rename.get(u, u), rename.get(v, v)) for u, v in scratch.graph.edges()
                  if not d.graph.has_edge(u, v) or u not in d.graph.tasks)
    return Diff(tuple(TaskSpec(rename[t.id], t.kind) for t in new), edges)


@st.composite
def _mutated(draw: st.DrawFn, d: Derivation, diff: Diff) -> Diff:
    """A diff changed in one small way: usually no longer a production's."""
    tasks, edges = list(diff.tasks), list(diff.edges)
    nodes = [t.local for t in tasks] + sorted(d.graph.tasks)
    how = draw(st.sampled_from(["drop_edge", "extra_edge", "kind", "extra_task"]))
    if how == "drop_edge" and edges:
        edges.pop(draw(st.integers(0, len(edges) - 1)))
    elif how == "extra_edge" and len(nodes) >= 2:
        u, v = draw(st.lists(st.sampled_from(nodes), min_size=2, max_size=2, unique=True))
        edges.append((u, v))
    elif how == "kind" and tasks:
        i = draw(st.integers(0, len(tasks) - 1))
        tasks[i] = TaskSpec(tasks[i].local, tasks[i].kind + "x")
    else:
        tasks.append(TaskSpec("extra", "Extra"))
        if nodes:
            edges.append((draw(st.sampled_from(nodes)), "extra"))
    return Diff(tuple(tasks), tuple(edges))


@st.composite
def _message(draw: st.DrawFn, d: Derivation, serial: int) -> Message:
    g = d.graph
    holes = sorted(g.holes)
    closed = [h for h in holes if not d.grammar.types[g.holes[h].type].open]
    opened = [h for h in holes if d.grammar.types[g.holes[h].type].open]
    kinds = ["bogus"]
    if closed:
        kinds += ["expand", "expand", "diff", "diff", "diff2", "diff2", "mutated", "mutated",
                  "narrow_type", "narrow_hole"]
    if opened:
        kinds += ["grow", "grow", "refine"]
    kind = draw(st.sampled_from(kinds))
    if kind == "bogus":
        return Expand(draw(st.sampled_from(["nope", "X.99", "../etc"])), "1")
    if kind != "bogus" and not closed and kind not in ("grow", "refine"):
        return Expand(draw(st.sampled_from(holes)) if holes else "nope", "1")
    if kind in ("grow", "refine"):
        return _open_message(draw, d, draw(st.sampled_from(opened)), kind, serial)
    hole = g.holes[draw(st.sampled_from(closed))]
    htype = d.grammar.types[hole.type]
    names = [p.name for p in htype.productions]
    if kind == "narrow_type":
        return NarrowType(hole.type, tuple(draw(st.lists(st.sampled_from(names), max_size=2,
                                                          unique=True))))
    if kind == "narrow_hole":
        return NarrowHole(hole.id, tuple(draw(st.lists(st.sampled_from(names), max_size=1))))
    name = draw(st.sampled_from(names))
    if kind == "expand":
        return Expand(hole.id, name)
    if kind == "diff2":
        return draw(_two_step_diff(d, hole, name, serial))
    diff = production_diff(d, hole, name, prefix=f"m{serial}")
    if kind == "mutated":
        return draw(_mutated(d, diff))
    return diff


def _open_message(draw: Callable[[st.SearchStrategy[Any]], Any], d: Derivation,
                  hole_id: str, kind: str, serial: int) -> Message:
    hole = d.graph.holes[hole_id]
    tasks = sorted(d.graph.tasks)
    name = f"g{serial}"
    sources = tasks if hole.everywhere else list(hole.after)
    targets = tasks if hole.everywhere else list(hole.before)
    edges: list[tuple[str, str]] = []
    if sources and draw(st.booleans()):
        edges.append((draw(st.sampled_from(sources)), name))
    if targets and draw(st.booleans()):
        edges.append((name, draw(st.sampled_from(targets))))
    fragment = Fragment(tasks=(TaskSpec(name, draw(st.sampled_from(["G", "H"]))),),
                        edges=tuple(edges))
    if kind == "grow":
        return Grow(hole_id, fragment)
    return Refine(hole_id, fragment if draw(st.booleans()) else Fragment())


@st.composite
def message_runs(draw: st.DrawFn, grammar: Grammar, max_messages: int = 12,
                 max_tasks: int = 30) -> MessageRun:
    """A run in which tasks send random messages (legal and not) between scheduling steps.

    The run goes on until every task is done, a due hole breaks the promise, or
    ``max_messages`` have been sent (then the remaining tasks just run, taking defaults).
    """
    d = grammar.derivation()
    out = MessageRun(grammar, d)
    try:
        d.close_due()
    except BrokenPromise as e:
        out.broken = e
        return out
    sent = 0
    while True:
        running = [t for t, s in d.graph.state.items() if s is TaskState.RUNNING]
        ready = list(d.graph.ready())
        actions = []
        if ready:
            actions.append("start")
        if running:
            actions.append("finish")
            if sent < max_messages and len(d.graph.tasks) < max_tasks and d.graph.holes:
                actions += ["message", "message", "message"]
        if not actions:
            return out
        action = draw(st.sampled_from(actions))
        if action == "start":
            d.apply(SetState(draw(st.sampled_from(ready)), TaskState.RUNNING))
        elif action == "finish":
            d.apply(SetState(draw(st.sampled_from(running)), TaskState.DONE))
            try:
                d.close_due()
            except BrokenPromise as e:
                out.broken = e
                return out
        else:
            sent += 1
            out.outcomes.append(_send(d, draw(_message(d, sent))))


def _send(d: Derivation, message: Message) -> Outcome:
    before, grammar_before = d.graph.to_json(), d.grammar.to_json()
    try:
        result: Added | Applied | None = apply_message(d, message)
        error = None
    except BrokenPromise as e:
        result, error = None, e
    return Outcome(message, result, error, before, d.graph.to_json(), grammar_before,
                   d.grammar.to_json())
