"""Operations on a run from another process: pause and unpause, answer a waiting task.

The control channel is the run's SQLite database, the one place every `grammarflow`
command already shares. If the run's orchestrator lives (it holds the run's lease), the
operation is *asked* through the ``controls`` table and the orchestrator, which looks
every :data:`~grammarflow.runtime.orchestrator.CONTROL_POLL` seconds, journals it and
acts (:meth:`~grammarflow.store.Store.take`); the asking process waits until it is taken.
If nobody runs the run, the asking process takes the lease itself, journals the
operation and gives the lease back: the next `resume` folds it like any entry. Either
way the journal holds it, once, in order with everything else: a journal of record,
not a flag beside it.

A socket would need a listening orchestrator and a discovery file; the table needs
nothing the database does not already give (locking, durability, the lease), and works
the same for an orchestrator on another host sharing the file.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from grammarflow.derivation import Derivation
from grammarflow.errors import BrokenPromise, GrammarflowError
from grammarflow.fold import fold_run, paused_at
from grammarflow.graph import TaskState
from grammarflow.steps import Expand, Output, SetState, Step, step_to_json
from grammarflow.store import Holder, LeaseHeld, Store
from grammarflow.workflow import Workflow, read_workflow

#: Seconds `pause` waits for a living orchestrator to take the request.
TAKE_WITHIN = 15.0

FINAL = ("succeeded", "broken")


@dataclass(frozen=True, slots=True)
class Done:
    """What an operation did: its journal entry, and who took it."""

    seq: int
    by_orchestrator: int | None  # its pid, if a living orchestrator took it
    already: bool = False  # nothing to do: the run was so already


def set_paused(store: Store, run_id: int, paused: bool) -> Done:
    """Pause (or unpause) run ``run_id``: journaled by its orchestrator if it lives,
    else by this process under the run's lease."""
    op = "pause" if paused else "unpause"
    row = store.run(run_id)
    if row.status in FINAL:
        raise GrammarflowError(f"run {run_id} {row.status}: there is nothing to {op}")
    if paused_at(store, run_id) == paused:
        return Done(store.last_seq(run_id), None, already=True)
    by = who()
    return _perform(store, run_id, op, {"by": by},
                    lambda: store.take(run_id, None, "control", {"op": op, "by": by}))


def answer(store: Store, run_id: int, task: str, value: Any, expand: str | None = None
           ) -> Done:
    """Answer task ``task`` of run ``run_id``, which waits for a person: ``value`` is its
    output (checked against its kind's type), ``expand`` (``PRODUCTION`` or
    ``HOLE=PRODUCTION``) a choice for a hole after it. Taken by the run's orchestrator if
    it lives, else journaled here (then `resume` continues the run)."""
    row = store.run(run_id)
    if row.status in FINAL:
        raise GrammarflowError(f"run {run_id} {row.status}: no task of it waits for an answer")
    data = {"by": who(), "task": task, "value": value, "expand": expand}

    def here() -> int:
        state = fold_run(store, run_id)
        workflow = state.workflow
        if workflow.grammar.data:
            workflow = workflow.with_types_of(read_workflow(workflow.path))
        try:
            steps = answer_steps(state.d, state.waiting, output_checker(workflow, state.d),
                                 task, value, expand)
        except BrokenPromise as e:  # a value not of its type: the person tries again
            raise GrammarflowError(f"the answer to task {task} is refused: {e.reason}") \
                from None
        apply_answer(state.d, task, steps)
        end = answered(task, state.attempts.get(task, 1), data["by"])
        return store.take_many(run_id, None, [*(("step", step_to_json(s)) for s in steps),
                                              ("attempt", end)])[-1]
    return _perform(store, run_id, "answer", data, here)


def answer_steps(d: Derivation, waiting: Mapping[str, str],
                 check_output: Callable[[str, Any], Any], task: str, value: Any,
                 expand: str | None) -> list[Step]:
    """The steps an answer makes (its output, a choice, the task done); a
    GrammarflowError (or BrokenPromise, for a value not of its type) says why an answer
    cannot be taken. :func:`apply_answer` applies them."""
    if task not in waiting:
        state = d.graph.state.get(task)
        what = "no such task" if state is None else f"it is {state.value}"
        waits = ", ".join(sorted(waiting)) or "none"
        raise GrammarflowError(f"task {task} does not wait for an answer ({what}); tasks "
                               f"that wait: {waits}")
    steps: list[Step] = [Output(task, check_output(task, value))]
    if expand:
        hole, _, production = expand.rpartition("=")
        if not hole:
            after = sorted(h for h in d.graph.holes_at(task) if task in d.graph.holes[h].after)
            if len(after) != 1:
                raise GrammarflowError(
                    f"--expand {expand}: task {task} has {len(after)} holes after it "
                    f"({', '.join(after) or 'none'}); name one: --expand HOLE={production}")
            hole = after[0]
        steps.append(Expand(hole, production))
    steps.append(SetState(task, TaskState.DONE))
    return steps


def apply_answer(d: Derivation, task: str, steps: list[Step]) -> None:
    """Apply an answer's steps, all or none; a GrammarflowError says why not."""
    try:
        d.apply_batch(steps)
    except BrokenPromise as e:
        raise GrammarflowError(f"the answer to task {task} is refused: {e.reason}") from None


def output_checker(workflow: Workflow, d: Derivation) -> Callable[[str, Any], Any]:
    """Checks an output against its task's kind's declared type (pydantic)."""
    return lambda task, value: workflow.checked_output(task, d.graph.tasks[task].kind, value)


def answered(task: str, attempt: int, by: dict[str, Any]) -> dict[str, Any]:
    """The attempt entry that ends a waiting task's wait."""
    return {"event": "end", "task": task, "attempt": attempt, "outcome": "answered",
            "reason": None, "by": by, "at": time.time()}


def who() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _perform(store: Store, run_id: int, op: str, data: dict[str, Any],
             here: Callable[[], int]) -> Done:
    """Ask the living orchestrator (and wait until it has taken the request), or, when
    nobody runs the run, do it ``here`` under the run's lease."""
    lease = store.lease(run_id)
    if lease is None or not lease.alive():
        holder = Holder.this_process()
        try:
            store.acquire(run_id, holder)
        except LeaseHeld:
            pass  # an orchestrator took the run meanwhile: ask it instead
        else:
            try:
                return Done(here(), None)
            finally:
                store.release(run_id)
    request = store.ask(run_id, op, data)
    deadline = time.monotonic() + TAKE_WITHIN
    while time.monotonic() < deadline:
        outcome = store.taken(request)
        if outcome is not None:
            seq, refused = outcome
            if refused is not None:
                raise GrammarflowError(refused)
            owner = store.lease(run_id)
            return Done(seq, owner.holder.pid if owner is not None else None)
        time.sleep(0.05)
    owner = store.lease(run_id)
    whom = f"pid {owner.holder.pid}" if owner is not None else "its orchestrator"
    raise GrammarflowError(
        f"asked run {run_id}'s orchestrator ({whom}) to {op}, and it has not taken the "
        f"request within {TAKE_WITHIN:g} s; it will when it can (the request stays)")


__all__ = [
    "TAKE_WITHIN",
    "Done",
    "answer",
    "answer_steps",
    "answered",
    "apply_answer",
    "output_checker",
    "set_paused",
    "who",
]
