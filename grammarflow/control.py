"""Operations on a run from another process: pause and unpause, answer a waiting task,
restart a task and everything after it.

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

import difflib
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grammarflow.derivation import Derivation
from grammarflow.errors import BrokenPromise, GrammarflowError
from grammarflow.fold import fold_run, journaled_steps, paused_at, seq_ranges
from grammarflow.grammar import Grammar
from grammarflow.graph import TaskState
from grammarflow.rollback import Journaled, Rollback, rollback
from grammarflow.steps import Expand, Output, Refine, SetState, Step, step_entry
from grammarflow.store import Holder, JournalWriteError, LeaseHeld, Store
from grammarflow.workflow import Workflow, read_workflow

#: Seconds `pause` waits for a living orchestrator to take the request.
TAKE_WITHIN = 15.0

FINAL = ("succeeded", "broken")

#: Test hook: the process asking for an operation stops itself (SIGSTOP) once it has
#: looked at the run, before it acts on it — a test changes the run meanwhile (ends it,
#: kills its orchestrator), then lets it go on (SIGCONT): a race made deterministic.
STOP_BEFORE_ACTING_ENV = "GRAMMARFLOW_TEST_STOP_BEFORE_ACTING"


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
    _stop_if_asked()
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
        return store.take_many(run_id, None, [*(("step", step_entry(s, task)) for s in steps),
                                              ("attempt", end)])[-1]
    _stop_if_asked()
    return _perform(store, run_id, "answer", data, here)


def restart(store: Store, run_id: int, task: str) -> Restarted:
    """Restart task ``task`` of run ``run_id`` and every task after it: what they did is
    rolled back (:mod:`grammarflow.rollback`) and they run again. Taken by the run's
    orchestrator if it lives (it refuses while one of them runs), else journaled here
    (then `resume` runs them)."""
    row = store.run(run_id)
    if row.status == "broken":
        raise GrammarflowError(f"run {run_id} is broken: nothing restarts — a broken promise "
                               "is final (`grammarflow status` says why); start a new run")
    by = who()

    def here() -> int:
        state = fold_run(store, run_id)
        rb = plan_restart(state.d, journaled_steps(store, run_id), state.workflow.grammar,
                          task, running=set())
        said = (f"task {task} restarted ({len(rb.restarted)} task(s) back to pending): "
                f"`grammarflow resume {run_id}` runs them again")
        return store.take_many(run_id, None, [("restart", restart_entry(task, rb, by))],
                               status=("restarted", said))[0]
    _stop_if_asked()
    done = _perform(store, run_id, "restart", {"by": by, "task": task}, here)
    entry = next(e for e in store.restarts(run_id, done.seq) if e.seq == done.seq)
    return Restarted(done.seq, done.by_orchestrator, entry.data)


@dataclass(frozen=True, slots=True)
class Restarted:
    """What a restart did: its journal entry (as :func:`restart_entry` made it)."""

    seq: int
    by_orchestrator: int | None
    entry: dict[str, Any]


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


def restart_entry(task: str, rb: Rollback, by: dict[str, Any]) -> dict[str, Any]:
    """The journal entry of a restart: what it restarted, removed and reopened."""
    return {"task": task, "restarted": list(rb.restarted), "vanished": list(rb.vanished),
            "reopened": list(rb.reopened), "joined": rb.joined,
            "removed": seq_ranges(rb.removed), "steps": len(rb.removed), "by": by}


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


def _stop_if_asked() -> None:
    """The test hook STOP_BEFORE_ACTING_ENV."""
    if os.environ.get(STOP_BEFORE_ACTING_ENV):
        os.kill(os.getpid(), signal.SIGSTOP)


def _perform(store: Store, run_id: int, op: str, data: dict[str, Any],
             here: Callable[[], int]) -> Done:
    """Ask the living orchestrator (and wait until it has taken the request), or, when
    nobody runs the run, do it ``here`` under the run's lease."""
    lease = store.lease(run_id)
    if lease is None or not lease.alive():
        holder = Holder.this_process()
        try:
            store.acquire(run_id, holder)
        except LeaseHeld as e:
            lease = e.lease  # an orchestrator took the run meanwhile: ask it instead
        else:
            try:
                return Done(here(), None)
            except JournalWriteError as e:
                raise GrammarflowError(f"the {op} of run {run_id} could not be journaled, "
                                       f"so nothing changed: {e}") from None
            finally:
                store.release(run_id)
    asked = lease  # the living orchestrator asked (only a lease holder can take it)
    request = store.ask(run_id, op, data)
    deadline = time.monotonic() + TAKE_WITHIN
    while time.monotonic() < deadline:
        outcome = store.taken(request)
        if outcome is not None:
            seq, refused = outcome
            if refused is not None:
                raise GrammarflowError(refused)
            # it may have finished the run since (and let the lease go): it took it
            owner = store.lease(run_id) or asked
            return Done(seq, owner.holder.pid if owner is not None else None)
        lease = store.lease(run_id)
        if (lease is None or not lease.alive()) and store.withdraw(request):
            # its orchestrator ended before taking it: nobody runs the run now
            return _perform(store, run_id, op, data, here)
        time.sleep(0.05)
    current = store.lease(run_id)
    whom = f"pid {current.holder.pid}" if current is not None else "its orchestrator"
    raise GrammarflowError(
        f"asked run {run_id}'s orchestrator ({whom}) to {op}, and it has not taken the "
        f"request within {TAKE_WITHIN:g} s; it will when it can (the request stays)")


__all__ = [
    "STOP_BEFORE_ACTING_ENV",
    "TAKE_WITHIN",
    "Done",
    "Restarted",
    "answer",
    "answer_steps",
    "answered",
    "apply_answer",
    "output_checker",
    "plan_restart",
    "restart",
    "restart_entry",
    "set_paused",
    "who",
]
