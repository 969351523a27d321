"""Random derivations and simulated runs of a grammar, through the core alone.

No processes and no I/O: a *run* here is the scheduler's rules applied to a
:class:`~grammarflow.core.grammar.Derivation` — tasks start when ready, each task, while
it runs, may expand the holes that will be due when it ends, and due holes take
their defaults. Tasks give no outputs: a guard that reads one may hold or not (any
guarded production may be taken), and typed inputs are not bound. Choices come from
a :class:`Chooser`: ``random.Random`` for the CLI's example runs, Hypothesis for
:mod:`grammarflow.testing`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Hole, TaskState
from grammarflow.core.growing import Chooser, Growth, step_open
from grammarflow.core.productions import HoleType
from grammarflow.core.steps import Applied, Expand, SetState, Step
from grammarflow.core.wellformed import finishing_depth
from grammarflow.errors import BrokenPromise, Why

T = TypeVar("T")


@dataclass
class RandomChooser:
    """Choices from a seeded ``random.Random``: the same seed, the same run."""

    rng: random.Random = field(default_factory=random.Random)

    def choose(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def coin(self) -> bool:
        return self.rng.random() < 0.5


@dataclass
class Limits:
    """When the simulation stops growing the graph and takes the shortest way to finish."""

    max_tasks: int = 40
    #: Tasks an open hole grows at most (how many it grows is chosen, 0 to this).
    max_open_growth: int = 3
    #: Kinds an open hole whose constraints name none may grow (with the grammar's).
    kinds: tuple[str, ...] = ()
    #: Steps (of the whole derivation) after which every choice takes the shortest way
    #: to finish: productions that only re-create holes would otherwise go on forever.
    max_steps: int = 400


def is_big(d: Derivation, limits: Limits) -> bool:
    """Has the derivation grown enough that it should now finish?"""
    return len(d.graph.tasks) >= limits.max_tasks or len(d.history) >= limits.max_steps


def expand_choice(d: Derivation, hole: Hole, chooser: Chooser, limits: Limits) -> Expand | None:
    """Choose a production for a closed hole: any while small, a finishing one when big."""
    htype = d.grammar.types[hole.type]
    allowed = list(htype.allowed(hole.allowed))
    if not allowed:
        return None
    if is_big(d, limits):
        depth = finishing_depth(d.grammar.types)
        names = {p.name for p in allowed}
        best = [p for p in allowed
                if all(h.type in depth for h in p.fragment.holes)]
        best.sort(key=lambda p: sum(depth[h.type][0] for h in p.fragment.holes))
        if best and best[0].name in names:
            return Expand(hole.id, best[0].name)
    return Expand(hole.id, chooser.choose(allowed).name)


def _growth(grammar: Grammar, limits: Limits) -> Growth:
    """Open holes grow kinds the grammar knows, and those the limits name."""
    return Growth(tuple(dict.fromkeys([*sorted(grammar.kinds()), *limits.kinds])),
                  limits.max_open_growth)


def derive(grammar: Grammar, chooser: Chooser, limits: Limits | None = None) -> Derivation:
    """Expand holes (in chosen order, with chosen productions) until none is left."""
    return finish(unknown_data(grammar.derivation()), chooser, limits)


def unknown_data(d: Derivation) -> Derivation:
    """A derivation that has no outputs to read: guards that read one may hold, and
    inputs are not bound (the signatures' edge types are still checked)."""
    d.data_known = False
    return d


def finish(d: Derivation, chooser: Chooser, limits: Limits | None = None) -> Derivation:
    """Continue a derivation (in place) until no hole is left; returns it."""
    limits = limits or Limits()
    growth = _growth(d.grammar, limits)
    while d.graph.holes:
        hole = d.graph.holes[chooser.choose(sorted(d.graph.holes))]
        _step(d, hole, chooser, limits, growth)
    return d


def _step(d: Derivation, hole: Hole, chooser: Chooser, limits: Limits,
          growth: Growth) -> None:
    htype: HoleType = d.grammar.types[hole.type]
    if htype.open:
        step_open(d, hole, chooser, growth, is_big(d, limits))
        return
    step = expand_choice(d, hole, chooser, limits)
    if step is None:
        raise BrokenPromise(f"hole {hole.id} ({hole.type}) has no production left: "
                            "narrowing took every one, so it can never finish",
                            why=Why.NO_PRODUCTION_LEFT, hole=hole.id)
    try:
        d.apply(step)
    except BrokenPromise as e:
        if not d.limits.scopes_of(hole.id) and e.why is not Why.GUARD:
            raise
        # Refused by its scope — a constraint, given what the hole is glued to, or a
        # hole it would make that could never finish there — or by a guard that reads
        # an output given (runs with outputs): a run takes another one (one finishes:
        # a step that would have stranded the hole was refused; one guard holds).
        others = [p.name for p in htype.allowed(hole.allowed) if p.name != step.production]
        while others:
            name = others.pop(chooser.choose(list(range(len(others)))))
            with contextlib.suppress(BrokenPromise):
                d.apply(Expand(hole.id, name))
                return
        raise


def run(grammar: Grammar, chooser: Chooser, limits: Limits | None = None,
        gives: Callable[[Derivation, str], object] | None = None) -> Derivation:
    """Run the workflow's scheduler through the core: one task at a time, to the end.

    Each task, while it runs, expands every hole that is due when it ends (so no hole
    ever needs a default it does not have) and, by chance, some others it is attached
    to; then it is done and due holes take their defaults. ``gives(d, task)``: what a
    task does first, once it runs (say, give its output: guards that read it are then
    decided by it).
    """
    return run_from(unknown_data(grammar.derivation()), chooser, limits, gives=gives)


#: Told each step of a simulated run, with the task that made it (None: the scheduler).
Journal = Callable[[Step, str | None], None]


def run_from(d: Derivation, chooser: Chooser, limits: Limits | None = None,
             journal: Journal | None = None, tasks: int | None = None,
             also: Callable[[Derivation, str], object] | None = None,
             gives: Callable[[Derivation, str], object] | None = None) -> Derivation:
    """Continue a run (as :func:`run`) from derivation ``d``, in place; returns it.
    ``journal(step, by)`` is told every step as the orchestrator journals it — a task's
    changes and its completion by the task, its start and the defaults of due holes by
    the scheduler; ``tasks``: stop after that many tasks have run (a partial run);
    ``also(d, task)``: more that a running task does (say, narrow a promise)."""
    limits = limits or Limits()
    growth = _growth(d.grammar, limits)
    tell = journal or _untold
    start = len(d.history)

    def told(by: str | None) -> None:
        nonlocal start
        for step in d.history[start:]:
            tell(step, by)
        start = len(d.history)

    close_due_holes(d)
    told(None)
    ran = 0
    while tasks is None or ran < tasks:
        ready = d.graph.ready_in_order()
        if not ready:
            break
        task = chooser.choose(ready)
        d.apply(SetState(task, TaskState.RUNNING))
        told(None)
        if gives is not None:
            gives(d, task)
        _work(d, task, chooser, limits, growth)
        if also is not None:
            also(d, task)
        d.apply(SetState(task, TaskState.DONE))
        told(task)
        close_due_holes(d)
        told(None)
        ran += 1
    return d


def _untold(step: Step, by: str | None) -> None:
    pass


def close_due_holes(d: Derivation) -> list[Applied]:
    """Close due holes with their defaults until none is due (may raise), in the order
    of their ids: the graph keeps due holes (and ready tasks) in an order that follows
    set iteration, which changes between processes; a simulation must not."""
    out: list[Applied] = []
    while True:
        due = sorted(d.graph.due())
        if not due:
            return out
        out.append(d.close(due[0]))


def _work(d: Derivation, task: str, chooser: Chooser, limits: Limits,
          growth: Growth) -> None:
    """What the running ``task`` changes: every hole due when it ends (those its
    expansions create too), and by chance a few others."""
    by_chance = 0
    while True:
        must = due_when_done(d, task)
        may = [d.graph.holes[h] for h in sorted(d.graph.holes_at(task))
               if task in d.graph.holes[h].after]
        may += [d.graph.holes[h] for h in d.graph.everywhere_holes()]
        if must:
            hole = must[0]
        elif may and by_chance < limits.max_tasks and chooser.coin():
            hole = chooser.choose(may)
            by_chance += 1
        else:
            return
        _step(d, hole, chooser, limits, growth)


def due_when_done(d: Derivation, task: str) -> list[Hole]:
    """The holes (not attached everywhere) due once the running ``task`` is done: every
    task they come after, but ``task``, is done. Those due already are among them."""
    g = d.graph
    due = []
    for hid in dict.fromkeys([*sorted(g.holes_at(task)), *sorted(g.due())]):
        hole = g.holes[hid]
        if not hole.everywhere and all(g.state[a] is TaskState.DONE
                                       for a in hole.after if a != task):
            due.append(hole)
    return due


__all__ = [
    "Chooser",
    "Journal",
    "Limits",
    "RandomChooser",
    "close_due_holes",
    "derive",
    "due_when_done",
    "expand_choice",
    "finish",
    "is_big",
    "run",
    "run_from",
    "unknown_data",
]
