"""Restarting a task and everything after it: which journaled steps are rolled back.

A restart removes subtrees of the derivation and replays the rest through the same
checks (proofs/12-restart.md; the rules: docs/operations.md, "Restarting a task").
Pure: :func:`rollback` takes the journaled steps (with who made each) and the graph;
the store's side is :mod:`grammarflow.journal.operations`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph, TaskState
from grammarflow.core.steps import Expand, Refine, SetState, Step
from grammarflow.errors import GrammarflowError


@dataclass(frozen=True, slots=True)
class Journaled:
    """A step as the journal holds it: its entry, the step, and who made it — the task
    whose commit (or answer) it belongs to, or None for the orchestrator's own."""

    seq: int
    step: Step
    by: str | None = None


@dataclass
class Rollback:
    """What a restart removes, and the derivation the kept steps replay to."""

    derivation: Derivation  # the kept steps, replayed from the start graph
    removed: tuple[int, ...]  # the journal entries (steps) rolled back, in order
    restarted: tuple[str, ...]  # tasks back to pending (still in the graph)
    vanished: tuple[str, ...]  # tasks made by a removed step: gone
    reopened: tuple[str, ...]  # holes expanded by a removed step: open again
    joined: dict[str, str]  # task -> why it restarts too (its change built on R's)


def downstream(graph: Graph, tasks: Iterable[str]) -> set[str]:
    """``tasks`` and every task that runs after one of them (:meth:`Graph.downstream`)."""
    return graph.downstream(tasks)


def rollback(grammar: Grammar, journal: Sequence[Journaled], now: Graph,
             tasks: Iterable[str]) -> Rollback:
    """Restart ``tasks`` (and every task after them in ``now``, the graph the journal
    folds to): the steps removed and the derivation of the kept ones."""
    restart = downstream(now, tasks)
    joined: dict[str, str] = {}
    while True:
        d, removed, joins = _replay(grammar, journal, restart)
        if joins is None:
            break
        task, why = joins
        joined[task] = why
        restart |= downstream(now, [task])
    g = d.graph
    return Rollback(
        derivation=d,
        removed=tuple(removed),
        restarted=tuple(t for t in g.tasks if t in restart),
        vanished=tuple(t for t in now.tasks if t not in g.tasks),
        reopened=tuple(h for h in g.holes if h not in now.holes),
        joined=joined)


def _replay(grammar: Grammar, journal: Sequence[Journaled], restart: set[str]
            ) -> tuple[Derivation, list[int], tuple[str, str] | None]:
    """Replay the journal without what ``restart`` rolls back. Returns the derivation,
    the removed entries, and — if a kept task's step no longer applies — that task and
    why (then the replay stopped there)."""
    d = grammar.derivation()
    removed: list[int] = []
    for j in journal:
        if _rolled_back(d, j, restart):
            removed.append(j.seq)
            continue
        try:
            d.apply(j.step)
        except GrammarflowError as e:
            if j.by is not None:
                return d, removed, (j.by, f"its step at entry {j.seq} built on what the "
                                    f"restart removes: {e}")
            removed.append(j.seq)  # an orchestrator's decision that no longer holds
    return d, removed, None


def _rolled_back(d: Derivation, j: Journaled, restart: set[str]) -> bool:
    """Whether rule 1, 2 or 3 (docs/operations.md, "Restarting a task") removes ``j``
    (before it is tried: a step of a task that no longer exists may still apply, and must not)."""
    owner = j.by if j.by is not None else (j.step.task if isinstance(j.step, SetState)
                                           else None)
    if owner is not None:
        return owner in restart or owner not in d.graph.tasks
    if isinstance(j.step, Expand | Refine):  # the orchestrator closed a due hole
        return not d.graph.is_due(j.step.hole)
    return False


def plan_restart(d: Derivation, journal: Sequence[Journaled], grammar: Grammar, task: str,
                 running: set[str]) -> Rollback:
    """The rollback that restarts ``task`` in the run folded to ``d`` (``journal``: its
    steps, ``grammar``: as registered); a GrammarflowError says why it cannot be —
    no such task, not started, or one of the tasks it restarts is ``running``."""
    g = d.graph
    if task not in g.tasks:
        near = difflib.get_close_matches(task, list(g.tasks), n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise GrammarflowError(f"no task {task!r} in the run{hint}")
    if g.state[task] is TaskState.PENDING:
        raise GrammarflowError(f"task {task} has not started: nothing to restart (it runs "
                               "when its turn comes)")
    unattributed = next((j for j in journal if j.by is None and not isinstance(
        j.step, SetState | Expand | Refine)), None)
    if unattributed is not None:
        raise GrammarflowError(
            f"this run was journaled by an earlier grammarflow, which did not record which "
            f"task made each change (entry {unattributed.seq}): it cannot be restarted")
    rb = rollback(grammar, journal, g, [task])
    busy = sorted(set(rb.restarted + rb.vanished) & running)
    if busy:
        raise GrammarflowError(
            f"cannot restart task {task} now: {', '.join(busy)} "
            f"{'is' if len(busy) == 1 else 'are'} running, and a restart rolls back what "
            f"{'it does' if len(busy) == 1 else 'they do'}; wait until "
            f"{'it ends' if len(busy) == 1 else 'they end'}, or stop the run (Ctrl-C) and "
            "restart it then")
    return rb


__all__ = ["Journaled", "Rollback", "downstream", "plan_restart", "rollback"]
