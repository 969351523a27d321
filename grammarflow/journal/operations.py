"""Operations on a run from another process: pause and unpause, answer a waiting task,
restart a task and everything after it, upgrade the run to a new version of its workflow.

Asked of the run's orchestrator through the store's ``controls`` table while it lives,
journaled under the run's lease by the asking process when nobody runs the run; either
way decided against the run as it is in the transaction that journals it
(docs/operations.md).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from grammarflow.core.answers import answer_steps, apply_answer
from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import TaskState
from grammarflow.core.rollback import Rollback, plan_restart
from grammarflow.core.upgrade import BUDGET
from grammarflow.errors import BrokenPromise, GrammarflowError
from grammarflow.journal.database import JournalWriteError
from grammarflow.journal.entries import (
    Asker,
    AttemptEnded,
    ControlTaken,
    RestartTaken,
    StepTaken,
)
from grammarflow.journal.lease import Holder, Lease, LeaseHeld
from grammarflow.journal.requests import WITHDRAWN
from grammarflow.journal.state import fold_run, fold_with_steps, paused_at, seq_ranges
from grammarflow.journal.store import Store
from grammarflow.journal.upgrading import UpgradePlan, plan_upgrade
from grammarflow.workflow.definition import Workflow
from grammarflow.workflow.reading import read_workflow

#: Seconds an operation waits for a living orchestrator to take the request (then it is
#: withdrawn: nothing changed).
TAKE_WITHIN = 15.0

#: What an operation a finished run no longer takes would have done.
_NOTHING = {"pause": "there is nothing to pause", "unpause": "there is nothing to unpause",
            "answer": "no task of it waits for an answer", "restart": "nothing restarts",
            "upgrade": "there is nothing to upgrade"}

#: Test hook: the process asking for an operation stops itself (SIGSTOP) once it has
#: looked at the run, before it acts on it — a test changes the run meanwhile (ends it,
#: kills its orchestrator), then lets it go on (SIGCONT): a race made deterministic.
STOP_BEFORE_ACTING_ENV = "GRAMMARFLOW_TEST_STOP_BEFORE_ACTING"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Done:
    """What an operation did: its journal entry, and who took it."""

    seq: int
    by_orchestrator: int | None  # its pid, if a living orchestrator took it
    already: bool = False  # nothing to do: the run was so already
    cancelled: int = 0  # requests of the opposite operation not taken yet, cancelled


def _refuse_if_ended(store: Store, run_id: int, op: str) -> None:
    """A GrammarflowError if the run, as the store has it now (inside a
    :meth:`~grammarflow.journal.store.Store.transaction`: as it is when that commits), takes no
    ``op`` any more: a broken run takes none (a broken promise is final), a succeeded
    one none but a restart (which opens it again)."""
    status = store.run(run_id, start=False).status
    if status == "broken":
        raise GrammarflowError(
            f"run {run_id} is broken: {_NOTHING[op]} — a broken promise is final "
            f"(`grammarflow status {run_id}` says why); start a new run")
    if status == "succeeded" and op != "restart":
        raise GrammarflowError(f"run {run_id} succeeded: {_NOTHING[op]}")


def set_paused(store: Store, run_id: int, paused: bool) -> Done:
    """Pause (or unpause) run ``run_id``: journaled by its orchestrator if it lives,
    else by this process under the run's lease. Requests of the opposite operation that
    its orchestrator has not taken yet are cancelled: the later word holds."""
    op, other = ("pause", "unpause") if paused else ("unpause", "pause")
    _refuse_if_ended(store, run_id, op)
    data = {"by": who()}
    moot = (f"the {other} of run {run_id} was cancelled by a later {op} before its "
            "orchestrator took it: nothing changed")

    def decide(act: Callable[[], T]) -> Done | T:
        with store.transaction(run_id):
            _refuse_if_ended(store, run_id, op)
            cancelled = store.requests.cancel_asked(run_id, [other], moot)
            if paused_at(store, run_id) == paused:
                return Done(store.last_seq(run_id), None, already=True, cancelled=cancelled)
            return act()

    def here() -> Done:
        return decide(lambda: Done(store.take(run_id, None, ControlTaken(op, data["by"])),
                                   None))
    return _perform(store, run_id, op, here,
                    lambda: decide(lambda: store.requests.ask(run_id, op, data)))


def answer(store: Store, run_id: int, task: str, value: Any, expand: str | None = None
           ) -> Done:
    """Answer task ``task`` of run ``run_id``, which waits for a person: ``value`` is its
    output (checked against its kind's type), ``expand`` (``PRODUCTION`` or
    ``HOLE=PRODUCTION``) a choice for a hole after it. Taken by the run's orchestrator if
    it lives, else journaled here (then `resume` continues the run)."""
    _refuse_if_ended(store, run_id, "answer")
    data = {"by": who(), "task": task, "value": value, "expand": expand}

    def here() -> Done:
        _refuse_if_ended(store, run_id, "answer")
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
        return _journal(store, run_id, "answer", lambda: store.take_many(
            run_id, None, [*(StepTaken(s, task) for s in steps), end])[-1])
    return _perform(store, run_id, "answer", here, lambda: _ask(store, run_id, "answer", data))


def restart(store: Store, run_id: int, task: str) -> Restarted:
    """Restart task ``task`` of run ``run_id`` and every task after it: what they did is
    rolled back (:mod:`grammarflow.core.rollback`) and they run again. Taken by the run's
    orchestrator if it lives (it refuses while one of them runs), else journaled here
    (then `resume` runs them)."""
    _refuse_if_ended(store, run_id, "restart")
    by = who()

    made: list[RestartTaken] = []

    def here() -> Done:
        # One read of the journal, one replay (the rollback's); the state it leaves is
        # kept as a snapshot, so `resume` folds from it and replays nothing again.
        _refuse_if_ended(store, run_id, "restart")
        state, journal = fold_with_steps(store, run_id)
        rb = plan_restart(state.d, journal, state.workflow.grammar, task, running=set())
        entry = restart_entry(task, rb, by)
        said = (f"task {task} restarted ({len(rb.restarted)} task(s) back to pending): "
                f"`grammarflow resume {run_id}` runs them again")

        def write() -> int:
            seq = store.take_many(run_id, None, [entry], status=("restarted", said))[0]
            store.put_snapshot(run_id, seq, state.restarted(rb.derivation, entry, seq)
                               .snapshot())
            return seq
        made.append(entry)
        return _journal(store, run_id, "restart", write)
    done = _perform(store, run_id, "restart", here,
                    lambda: _ask(store, run_id, "restart", {"by": by, "task": task}))
    if done.by_orchestrator is None:
        return Restarted(done.seq, None, made[-1])
    record = next(e for e in store.restarts(run_id, done.seq) if e.seq == done.seq).record
    assert isinstance(record, RestartTaken)
    return Restarted(done.seq, done.by_orchestrator, record)


def restart_preview(store: Store, run_id: int, task: str) -> RestartTaken:
    """What :func:`restart` would do now, planned as it plans it and journaled by
    nobody: the tasks it sends back, those that vanish, the holes it reopens. A
    GrammarflowError says why it would be refused (no such task, not started, one of
    them running, the run ended)."""
    _refuse_if_ended(store, run_id, "restart")
    state, journal = fold_with_steps(store, run_id)
    g = state.d.graph
    running = {t for t in g.tasks if g.state[t] is TaskState.RUNNING} - set(state.waiting)
    rb = plan_restart(state.d, journal, state.workflow.grammar, task, running=running)
    return restart_entry(task, rb, who())


class UpgradeRefused(GrammarflowError):
    """The upgrade is refused (unsafe, stuck or undecided): ``plan`` says why, and what
    it would have changed."""

    def __init__(self, plan: UpgradePlan) -> None:
        super().__init__(f"upgrade refused ({plan.verdict.verdict}): {plan.verdict.reason}")
        self.plan = plan


def upgrade_plan(store: Store, run_id: int, new: Workflow, *,
                 renames: Mapping[str, str] | None = None, budget: int = BUDGET
                 ) -> UpgradePlan:
    """What :func:`upgrade` would do now, planned from the journal as it is and
    journaled by nobody (``--dry-run``; it reads the store, and writes nothing). The
    tasks of a run that an orchestrator runs now count as running."""
    _refuse_if_ended(store, run_id, "upgrade")
    state, journal = fold_with_steps(store, run_id)
    lease = store.lease(run_id)
    running: set[str] = set()
    if lease is not None and lease.alive():
        g = state.d.graph
        running = {t for t, st in g.state.items() if st is TaskState.RUNNING} - set(
            state.waiting)
    return plan_upgrade(state, journal, new, running=running, renames=renames,
                        budget=budget)


def upgrade(store: Store, run_id: int, new: Workflow, *,
            renames: Mapping[str, str] | None = None, budget: int = BUDGET) -> Done:
    """Upgrade run ``run_id`` to workflow ``new`` (read from its file) if that is safe
    (:mod:`grammarflow.journal.upgrading`): its ``upgrade`` entry journaled, with a
    snapshot of its state under the new version, in one transaction — by its
    orchestrator between two steps if it lives, else here under the run's lease (then
    `resume` goes on under the new version). UpgradeRefused says why not."""
    _refuse_if_ended(store, run_id, "upgrade")
    by = who()

    def here() -> Done:
        _refuse_if_ended(store, run_id, "upgrade")
        state, journal = fold_with_steps(store, run_id)
        plan = plan_upgrade(state, journal, new, renames=renames, budget=budget)
        if plan.already:
            return Done(store.last_seq(run_id), None, already=True)
        if not plan.accepted or plan.after is None:
            raise UpgradeRefused(plan)
        after = plan.after

        def write() -> int:
            seq = store.take_many(run_id, None, [plan.entry(by)])[0]
            after.seq = seq
            store.put_snapshot(run_id, seq, after.snapshot())
            return seq
        return _journal(store, run_id, "upgrade", write)
    asked = {"by": by, "path": str(new.path), "version": new.version,
             "renames": dict(renames or {}), "budget": budget}
    return _perform(store, run_id, "upgrade", here,
                    lambda: _ask(store, run_id, "upgrade", asked))


@dataclass(frozen=True, slots=True)
class Restarted:
    """What a restart did: its journal entry (as :func:`restart_entry` made it)."""

    seq: int
    by_orchestrator: int | None
    entry: RestartTaken




def restart_entry(task: str, rb: Rollback, by: Asker) -> RestartTaken:
    """The journal entry of a restart: what it restarted, removed and reopened."""
    return RestartTaken(task, tuple(rb.restarted), tuple(rb.vanished), tuple(rb.reopened),
                        dict(rb.joined), tuple((a, b) for a, b in seq_ranges(rb.removed)),
                        len(rb.removed), by)






def output_checker(workflow: Workflow, d: Derivation) -> Callable[[str, Any], Any]:
    """Checks an output against its task's kind's declared type (pydantic)."""
    return lambda task, value: workflow.checked_output(task, d.graph.tasks[task].kind, value)


def answered(task: str, attempt: int, by: Asker) -> AttemptEnded:
    """The attempt entry that ends a waiting task's wait."""
    return AttemptEnded(task, attempt, "answered", at=time.time(), by=by)


def who() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _stop_if_asked() -> None:
    """The test hook STOP_BEFORE_ACTING_ENV."""
    if os.environ.get(STOP_BEFORE_ACTING_ENV):
        os.kill(os.getpid(), signal.SIGSTOP)


def _journal(store: Store, run_id: int, op: str, write: Callable[[], int]) -> Done:
    """Journal an operation planned under the run's lease (nothing else journals the run
    meanwhile), decided against the run's status in the transaction that journals it."""
    with store.transaction(run_id):
        _refuse_if_ended(store, run_id, op)
        return Done(write(), None)


def _ask(store: Store, run_id: int, op: str, data: dict[str, Any]) -> int:
    """Ask the run's orchestrator, unless the run has ended (decided in the transaction
    that asks)."""
    with store.transaction(run_id):
        _refuse_if_ended(store, run_id, op)
        return store.requests.ask(run_id, op, data)


def _perform(store: Store, run_id: int, op: str, here: Callable[[], Done],
             ask: Callable[[], Done | int]) -> Done:
    """Do it ``here``, under the run's lease, when nobody runs the run; else ``ask`` its
    living orchestrator and wait until it has taken the request. Each decides in the
    transaction that journals (or asks). A request withdrawn before it was taken — its
    orchestrator ended, died or gave the run up first — is decided again, against the
    run as it is then."""
    _stop_if_asked()
    while True:
        lease = store.lease(run_id)
        if lease is None or not lease.alive():
            done = _here(store, run_id, op, here)
            if done is not None:
                return done
            continue  # an orchestrator took the run meanwhile: ask it
        asked = ask()
        if isinstance(asked, Done):
            return asked
        done = _wait(store, run_id, op, asked, lease)
        if done is not None:
            return done


def _here(store: Store, run_id: int, op: str, here: Callable[[], Done]) -> Done | None:
    """``here()`` under the run's lease; None if an orchestrator holds the lease."""
    try:
        store.acquire(run_id, Holder.this_process())
    except LeaseHeld:
        return None
    try:
        return here()
    except JournalWriteError as e:
        raise GrammarflowError(f"the {op} of run {run_id} could not be journaled, so "
                               f"nothing changed: {e}") from None
    finally:
        store.release(run_id)


def _wait(store: Store, run_id: int, op: str, request: int, asked: Lease) -> Done | None:
    """Wait until the orchestrator holding lease ``asked`` takes ``request``; None if it
    was withdrawn (then the asker decides again). A request nobody waits for is
    withdrawn: given up after TAKE_WITHIN seconds, or on Ctrl-C."""
    deadline = time.monotonic() + TAKE_WITHIN
    try:
        while time.monotonic() < deadline:
            outcome = store.requests.taken(request)
            if outcome is not None:
                return _outcome(outcome, asked)
            lease = store.lease(run_id)
            if (lease is None or not lease.alive()) and store.requests.withdraw(request):
                return None  # its orchestrator died before taking it (kill -9)
            time.sleep(0.05)
    except BaseException as stopped:  # Ctrl-C while waiting: the request goes with us
        try:
            store.requests.withdraw(request)
        except GrammarflowError as e:
            raise GrammarflowError(
                f"stopped while waiting, and the request could not be withdrawn ({e}): "
                f"the orchestrator of run {run_id} may still take it") from stopped
        raise
    if not store.requests.withdraw(request):  # taken (or refused) at the last moment
        outcome = store.requests.taken(request)
        assert outcome is not None
        return _outcome(outcome, asked)
    raise GrammarflowError(
        f"asked run {run_id}'s orchestrator (pid {asked.holder.pid}) to {op}, and it did "
        f"not take the request within {TAKE_WITHIN:g} s (is it stopped?); the request is "
        "withdrawn: nothing changed")


def _outcome(outcome: tuple[int, str | None], asked: Lease) -> Done | None:
    seq, reply = outcome
    if seq == WITHDRAWN:
        return None
    if reply is not None:
        raise GrammarflowError(reply)
    return Done(seq, asked.holder.pid)  # none but the orchestrator asked can take it


__all__ = [
    "STOP_BEFORE_ACTING_ENV",
    "TAKE_WITHIN",
    "Done",
    "Restarted",
    "UpgradeRefused",
    "answer",
    "answer_steps",
    "answered",
    "apply_answer",
    "output_checker",
    "plan_restart",
    "restart",
    "restart_entry",
    "restart_preview",
    "set_paused",
    "upgrade",
    "upgrade_plan",
    "who",
]
