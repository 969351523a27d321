"""The orchestrator: runs a workflow's tasks, enforcing its grammar; journals everything.

How one change request travels through it: docs/architecture.md. Scheduling, pausing,
restarts: docs/operations.md; atomic attempts, broken promises, crash recovery, faults,
the lease, process trees and stopping: docs/troubleshooting.md, "When things go wrong".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from grammarflow import wire
from grammarflow.core.constraints import TooFewNeighbours
from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import TaskState
from grammarflow.core.match import Plan
from grammarflow.core.steps import Output, SetState, Step
from grammarflow.errors import ASKED, BrokenPromise, GrammarflowError, Refusal
from grammarflow.journal.database import JournalWriteError
from grammarflow.journal.entries import (
    AttemptEnded,
    AttemptLost,
    AttemptRetried,
    AttemptStarted,
    AttemptWaits,
    ChangeRefused,
    ControlTaken,
    InternalError,
    JournalEntry,
    StepTaken,
)
from grammarflow.journal.lease import HEARTBEAT_EVERY, Holder, LeaseLost
from grammarflow.journal.state import (
    SNAPSHOT_EVERY,
    RunState,
    fold_run,
    gc_paused,
    journaled_steps,
    made_by,
    snapshot_due,
)
from grammarflow.journal.store import Store
from grammarflow.runtime.attempt import Attempt, AttemptLog, read_stderr, read_stdout
from grammarflow.runtime.container import with_containers
from grammarflow.runtime.executor import Executor, Launch, TaskProcess
from grammarflow.runtime.local import use_pidfd_child_watcher
from grammarflow.runtime.tentative import Apart, Tentative
from grammarflow.runtime.zygote_executor import NO_ZYGOTE_ENV, ZygoteExecutor
from grammarflow.workflow.definition import Workflow, read_workflow

T = TypeVar("T")

EXIT_SUCCEEDED = 0
EXIT_TASK_FAILED = 1
EXIT_USAGE = 2
EXIT_BROKEN_PROMISE = 3
EXIT_WAITING = 4  # stopped: nothing can run until a person answers a waiting task
EXIT_INTERRUPTED = 130
EXIT_INTERNAL_ERROR = 70  # EX_SOFTWARE
EXIT_JOURNAL_LOST = 74  # EX_IOERR: not even the run's status could be journaled

STATUS_EXIT = {"succeeded": EXIT_SUCCEEDED, "failed": EXIT_TASK_FAILED,
               "broken": EXIT_BROKEN_PROMISE, "error": EXIT_INTERNAL_ERROR,
               "interrupted": EXIT_INTERRUPTED, "waiting": EXIT_WAITING}

#: Test hook: SIGKILL the orchestrator after this task exited 0, before its commit.
CRASH_BEFORE_COMMIT_ENV = "GRAMMARFLOW_TEST_CRASH_BEFORE_COMMIT_OF"
#: Test hook: raise a bug of ours (RuntimeError) while handling a message with this op.
INTERNAL_ERROR_ENV = "GRAMMARFLOW_TEST_INTERNAL_ERROR_ON"

#: Journal entries since the last snapshot after which a run that ends takes one (fewer
#: where ``GRAMMARFLOW_SNAPSHOT_EVERY`` asks for snapshots more often than that).
FINAL_SNAPSHOT_AFTER = min(1000, SNAPSHOT_EVERY)

#: How much of a refused message the journal keeps.
MESSAGE_KEEP = 64 * 1024

#: Seconds an attempt's pipes are read after its main process exited and its tree was
#: killed; only a process that left the tree can keep them open longer.
PIPE_GRACE = 1.0

#: Seconds between two looks at the control table (`grammarflow pause` from elsewhere).
CONTROL_POLL = 0.2

#: The signals that interrupt a run (exit 130; `resume` continues it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class JournalLost(GrammarflowError):
    """A journal write failed and then so did recording the run's status: the database
    still says ``running``. Nothing journaled is lost; ``resume`` continues the run."""


@dataclass
class Options:
    max_parallel: int = 1
    logs: Path = Path(".grammarflow/logs")
    python: str = sys.executable
    #: Fork function tasks from a warm zygote (:mod:`grammarflow.runtime.zygote_executor`);
    #: False (``--no-zygote``, ``GRAMMARFLOW_NO_ZYGOTE=1``): spawn every task fresh.
    zygote: bool = field(default_factory=lambda: os.environ.get(NO_ZYGOTE_ENV, "")
                         not in ("1", "true", "yes"))
    #: The container engine of container kinds (``--engine``); None: podman, else docker.
    engine: str | None = None


@dataclass
class Event:
    """What the progress display hears about."""

    kind: str  # started | done | failed | retry | broken | progress | log | warning |
    #            paused | unpaused | waiting | answered | finished
    task: str | None = None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


Reporter = Callable[["Orchestrator", Event], None]


def no_report(orchestrator: Orchestrator, event: Event) -> None:
    return None


class Orchestrator:
    """One run of one workflow, journaled in a :class:`~grammarflow.journal.store.Store`."""

    def __init__(self, store: Store, run_id: int, workflow: Workflow, derivation: Derivation,
                 options: Options, report: Reporter = no_report,
                 holder: Holder | None = None, executor: Executor | None = None) -> None:
        self.store = store
        self.holder = holder or Holder.this_process()
        # In every task's marker: `resume` spares the processes of a live orchestrator.
        self.owner = {"token": self.holder.token, "pid": self.holder.pid,
                      "started": self.holder.started}
        self.run_id = run_id
        self.workflow = workflow
        derivation.workflow_kinds = frozenset(workflow.kinds)
        self.tentative = Tentative(derivation, self._check_output)
        self.options = options
        self._log_dir = str(options.logs / f"run-{run_id}")  # str: joined per attempt
        self.report = report
        self.executor: Executor = executor or with_containers(
            ZygoteExecutor(options.python, fork=options.zygote),
            workflow.kinds.values(), options.engine)
        #: The run's state (attempts, failures, the refusal, pause, waiting tasks): changed
        #: only by what is journaled (:meth:`_record`); its graph is the committed one.
        self.state = RunState(workflow, derivation)
        self.last_snapshot = 0  # the journal entry the newest snapshot is as of
        self.running: dict[str, Attempt] = {}
        self.broken: BrokenPromise | None = None
        self.failed: str | None = None
        self.interrupted: str | None = None  # the name of the signal
        self.internal_error: str | None = None  # a bug of ours stopped the run
        self.journal_error: str | None = None  # the journal cannot be written
        self._fault_op = os.environ.get(INTERNAL_ERROR_ENV)  # test hook
        self.wake = asyncio.Event()
        self.mutex = asyncio.Lock()  # held while the derivation is read for or changed
        self._tg: asyncio.TaskGroup | None = None  # the attempts' (while run() runs)
        self.db_key = str(store.path.resolve())

    @property
    def d(self) -> Derivation:
        """The committed derivation (plus, at times, one running task's changes)."""
        return self.tentative.d

    # ================================================================ start and resume
    @classmethod
    def start(cls, store: Store, workflow: Workflow, options: Options,
              report: Reporter = no_report, executor: Executor | None = None
              ) -> Orchestrator:
        """A new run of ``workflow``, created with its lease (one transaction)."""
        holder = Holder.this_process()
        run_id = store.create_owned_run(workflow.to_json(), holder)
        return cls(store, run_id, workflow, workflow.grammar.derivation(), options, report,
                   holder, executor)

    @classmethod
    def resume(cls, store: Store, run_id: int, options: Options,
               report: Reporter = no_report, executor: Executor | None = None
               ) -> Orchestrator:
        """Take the run's lease (``LeaseHeld`` if its orchestrator lives), then fold the
        journal, kill orphaned attempts and set their tasks back to pending."""
        store.run(run_id)  # no such run: say so before touching leases
        holder = Holder.this_process()
        store.acquire(run_id, holder)
        try:
            return cls._resume_owned(store, run_id, options, report, holder, executor)
        except BaseException:
            store.release(run_id)
            raise

    @classmethod
    def _resume_owned(cls, store: Store, run_id: int, options: Options, report: Reporter,
                      holder: Holder, executor: Executor | None) -> Orchestrator:
        row = store.run(run_id)
        if row.status == "succeeded":
            raise GrammarflowError(f"run {run_id} succeeded: nothing to resume")
        if row.status == "broken":
            raise GrammarflowError(
                f"run {run_id} is broken: nothing to resume — a broken promise is final, "
                f"its refusal is journaled (`grammarflow status {run_id}` says why); "
                "fix the workflow and start a new run")
        state = fold_run(store, run_id)
        d = state.d
        workflow = state.workflow
        if workflow.grammar.data:  # the Python types, to validate outputs, are in its file
            workflow = workflow.with_types_of(read_workflow(workflow.path))
        o = cls(store, run_id, workflow, d, options, report, holder, executor)
        o.state = state
        cached = store.snapshot(run_id)
        o.last_snapshot = cached[0] if cached is not None else 0
        # The lease is ours (never before): end whatever the dead orchestrator left
        # running — of any task, also one a restart set back to pending meanwhile —
        # before anything of the run runs again.
        o.executor.kill_orphans(o.db_key, run_id)
        lost = [t for t, s in d.graph.state.items()
                if s is TaskState.RUNNING and t not in state.waiting]  # a wait runs nothing
        for task in lost:
            o._journal_steps([SetState(task, TaskState.PENDING)], extra=[AttemptLost(
                task, state.attempts.get(task, 0),
                "the orchestrator stopped while this attempt ran; it will run again")])
        # A resumed failed run gives its failed tasks another attempt.
        for task in [t for t, s in d.graph.state.items() if s is TaskState.FAILED]:
            o._journal_steps([SetState(task, TaskState.PENDING)], extra=[AttemptRetried(
                task, state.attempts.get(task, 0),
                "the run was resumed: the failed task runs again")])
        if row.status != "running":
            store.set_status(run_id, "running", f"resumed (was {row.status})")
        return o

    # ================================================================ the loop
    async def run(self) -> str:
        """Run to the end; returns the final status (see :data:`STATUS_EXIT`).

        Raises :class:`~grammarflow.journal.lease.LeaseLost` if another orchestrator took the
        run: this one's attempts are killed by then, and it wrote nothing more."""
        use_pidfd_child_watcher()
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._interrupt, sig)
        try:
            async with self.mutex:
                self._guarded(self._close_due)
            async with asyncio.TaskGroup() as tg:
                beat = tg.create_task(self._heartbeat())
                watch = tg.create_task(self._watch_controls())
                if self.state.paused:
                    self.report(self, Event("paused", detail="the run is paused: no task "
                                            "starts until `grammarflow unpause "
                                            f"{self.run_id}`"))
                self._tg = tg
                while True:
                    if not self._stopping():
                        async with self.mutex:
                            self._guarded(self._start_ready)
                    if not self.running and not self._held_by_pause():
                        break
                    await self.wake.wait()
                    self.wake.clear()
                beat.cancel()
                watch.cancel()
        except* LeaseLost as deposed:
            # The TaskGroup cancelled every attempt, and each killed its tree on the way.
            raise deposed.exceptions[0] from None
        finally:
            for sig in STOP_SIGNALS:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)
            await self.executor.close()
        return self._finish()

    def _finish(self) -> str:
        status, reason = self._outcome()
        if self.journal_error is None and self.internal_error is None:
            # only a cache (readers fold the journal without it): the status is what matters
            with contextlib.suppress(JournalWriteError):
                self._snapshot(final=True)
        try:
            self.store.finish_run(self.run_id, status, reason)
        except JournalWriteError as e:
            why = "the journal could not be written" if self.journal_error else status
            lost = JournalLost(
                f"run {self.run_id} stopped ({why}) and its status could not be recorded: "
                f"{e}; the database still says 'running'. Nothing journaled is lost: once "
                f"that is fixed, `grammarflow resume {self.run_id}` continues the run")
            self.report(self, Event("finished", detail="its status could not be recorded",
                                    data={"status": "running"}))
            raise lost from e
        self.report(self, Event("finished", detail=status,
                                data={"status": status, "reason": reason}))
        return status

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            self.store.heartbeat(self.run_id)

    def _held_by_pause(self) -> bool:
        """Paused with work left to start: wait for `unpause` (or a signal)."""
        return (self.state.paused and not self._stopping()
                and any(st is TaskState.PENDING for st in self.d.graph.state.values()))

    async def _watch_controls(self) -> None:
        """Take the operations other processes ask for (`pause`, `unpause`) from the
        store's control table: journal each and act on it."""
        while True:
            await asyncio.sleep(CONTROL_POLL)
            if self._ending():
                continue
            try:
                asked = self.store.requests.asked(self.run_id)
            except GrammarflowError:  # the database busy a moment: look again soon
                continue
            for request, op, data in asked:
                async with self.mutex:
                    self._guarded(functools.partial(self._take, request, op, data),
                                  f"taking the request to {op}")

    def _take(self, request: int, op: str, data: dict[str, Any]) -> None:
        if self._ending():  # it ends the run: the end withdraws the request (finish_run)
            return
        if op == "answer":
            self._take_answer(request, data)
            return
        if op == "restart":
            self._take_restart(request, data)
            return
        if op not in ("pause", "unpause"):
            self._take_request(request, [ControlTaken("ignored", data.get("by"), op)])
            return
        self._take_request(request, [ControlTaken(op, data.get("by"))])
        paused = self.state.paused
        said = ("paused: running tasks finish, no new one starts" if paused
                else "unpaused: tasks start again")
        self.report(self, Event("paused" if paused else "unpaused", detail=said))
        self.wake.set()

    def _take_answer(self, request: int, data: dict[str, Any]) -> None:
        """A person's answer to a waiting task: checked (its value against the kind's
        type, its choice against the grammar), then applied and journaled with the
        request taken, all at once; or refused with the reason, nothing changed."""
        from grammarflow.journal.operations import answer_steps, answered, apply_answer

        task = data.get("task", "")
        self.tentative.settle()
        try:
            steps = answer_steps(self.d, self.state.waiting, self._check_output, task,
                                 data.get("value"), data.get("expand"))
            apply_answer(self.d, task, steps)
        except (GrammarflowError, BrokenPromise) as e:
            reason = e.reason if isinstance(e, BrokenPromise) else str(e)
            if not reason.startswith("the answer to"):
                reason = f"the answer to task {task} is refused: {reason}"
            self.store.requests.refuse(request, reason)
            return
        end = answered(task, self.state.attempts.get(task, 1), data.get("by") or {})
        self._take_request(request, [*(StepTaken(s, task) for s in steps), end])
        self.report(self, Event("answered", task, json.dumps(data.get("value"))[:80]))
        self._close_due()
        self.wake.set()

    def _take_restart(self, request: int, data: dict[str, Any]) -> None:
        """Restart a task and everything after it (:func:`grammarflow.journal.operations.restart`):
        refused while one of them runs, or while a running task's changes build on
        what it rolls back; else journaled, and the run goes on from the rolled-back
        graph."""
        from grammarflow.journal.operations import plan_restart, restart_entry

        task = data.get("task", "")
        self.tentative.settle()
        try:
            rb = plan_restart(self.d, journaled_steps(self.store, self.run_id),
                              self.workflow.grammar, task, set(self.running))
            rb.derivation.workflow_kinds = self.d.workflow_kinds
            for other, attempt in self.running.items():
                _still_applies(rb.derivation, other, attempt.pending)
        except GrammarflowError as e:
            self.store.requests.refuse(request, str(e))
            return
        self._take_request(request, [restart_entry(task, rb, data.get("by") or {})])
        self.tentative.d = self.state.d = rb.derivation
        self._failure_after_restart()
        self.report(self, Event("restarted", task, f"{len(rb.restarted)} task(s) run again"
                                f", {len(rb.removed)} step(s) rolled back"))
        self._close_due()
        self.wake.set()

    def _failure_after_restart(self) -> None:
        """The run stops starting tasks (and ends ``failed``) only while one of its tasks
        is failed: a restart of the failed ones lets the run go on."""
        failed = next((t for t, s in self.d.graph.state.items() if s is TaskState.FAILED),
                      None)
        if failed is None:
            self.failed = None
        elif failed in self.state.failures:
            failure = self.state.failures[failed]
            self.failed = (f"task {failed} failed after {failure.attempt} attempt(s): "
                           f"{failure.reason}")

    def _stopping(self) -> bool:
        """No new attempt starts (the run is ending, or a task failed)."""
        return self._ending() or self.failed is not None

    def _ending(self) -> bool:
        """Every running attempt is being killed: a broken promise, a signal, a journal
        that cannot be written or a bug of ours."""
        return (self.broken is not None or self.interrupted is not None
                or self.internal_error is not None or self.journal_error is not None)

    def _outcome(self) -> tuple[str, str | None]:
        if self.internal_error is not None:
            return "error", (f"{self.internal_error}; `grammarflow resume {self.run_id}` "
                             "continues the run")
        if self.journal_error is not None:
            return "interrupted", (f"the journal could not be written: {self.journal_error}; "
                                   f"once that is fixed, `grammarflow resume {self.run_id}` "
                                   "continues the run (nothing journaled is lost)")
        if self.broken is not None:
            return "broken", f"broken promise: {self.broken.reason}"
        if self.interrupted is not None:
            return "interrupted", (f"interrupted ({self.interrupted}); "
                                   "`grammarflow resume` continues the run")
        if self.failed is not None:
            return "failed", self.failed
        g = self.d.graph
        if all(s is TaskState.DONE for s in g.state.values()) and not g.holes:
            return "succeeded", None
        waiting = self.state.waiting
        if waiting:
            first = next(iter(waiting))
            more = f" (and {len(waiting) - 1} more)" if len(waiting) > 1 else ""
            return "waiting", (f"task {first}{more} waits for an answer: `grammarflow answer "
                               f"{self.run_id} {first} VALUE`, then `grammarflow resume "
                               f"{self.run_id}`")
        stuck = sorted(t for t, s in g.state.items() if s is not TaskState.DONE)
        return "failed", f"no task can start: {stuck[:5]} wait on {sorted(g.holes)[:5]}"

    def _interrupt(self, sig: signal.Signals) -> None:
        if self.interrupted is None:
            self.interrupted = sig.name
        for attempt in self.running.values():
            self._kill(attempt, f"interrupted ({sig.name})")
        self.wake.set()

    def _start_ready(self) -> None:
        """Begin attempts of ready tasks, oldest first, up to --max-parallel: their
        starts journaled in one transaction, each process started after it commits."""
        if len(self.running) >= self.options.max_parallel or self.state.paused:
            return
        self.tentative.settle()
        with self.store.batch(self.run_id):
            for task in self.d.graph.ready_oldest_first():
                if len(self.running) >= self.options.max_parallel or self._stopping():
                    break
                attempt = self._begin_attempt(task)
                if attempt is not None:
                    assert self._tg is not None, "attempts begin only inside run()"
                    self._tg.create_task(self._run_attempt(attempt))

    # ================================================================ journal helpers
    def _journal_steps(self, steps: list[Step], extra: Sequence[JournalEntry] = ()) -> None:
        """Apply steps to the committed graph and journal them (one transaction)."""
        self.tentative.apply_committed(steps)
        self._record([*(StepTaken(s) for s in steps), *extra])

    def _record(self, entries: Sequence[JournalEntry]) -> list[int]:
        """Journal entries (one transaction), then note them in the run's state: the one
        way the orchestrator changes it (a step's graph was changed by the core, which
        checked it, before)."""
        seqs = self.store.append_many(self.run_id, entries)
        for entry in entries:
            self.state.note(entry)
        return seqs

    def _take_request(self, request: int, entries: Sequence[JournalEntry]) -> None:
        """:meth:`_record`, marking the request that asked for it taken (one transaction)."""
        self.store.take_many(self.run_id, request, entries)
        for entry in entries:
            self.state.note(entry)

    def _close_due(self) -> None:
        """Due holes take their defaults (each journaled); a hole without one breaks."""
        self.tentative.settle()
        while not self._ending():
            hole = next(self.d.graph.due(), None)
            if hole is None:
                return
            try:
                applied = self.d.close(hole)
            except BrokenPromise as e:
                self._break(e, {"event": "due", "hole": hole})
                return
            self._record([StepTaken(applied.step)])

    def _break(self, error: BrokenPromise, message: dict[str, Any] | None,
               task: str | None = None) -> None:
        if self._ending():
            return
        if task is None and isinstance(error, TooFewNeighbours):
            # Judged by the orchestrator, later than the change that broke it: name it.
            maker = made_by(journaled_steps(self.store, self.run_id), error.task)
            error = TooFewNeighbours(f"{error.reason}; {maker}", hole=error.hole or "",
                                     task=error.task)
        self.tentative.settle()
        for attempt in self.running.values():  # first: nothing may keep them running
            self._kill(attempt, "the workflow broke a promise")
        text = json.dumps(message)[:MESSAGE_KEEP] if message is not None else None
        refusal = Refusal(error.reason, task, error.hole, error.attempts, text)
        try:
            seq = self.store.append(self.run_id, ChangeRefused(refusal))
        except JournalWriteError as e:
            # Not recorded, so not broken: `resume` runs the task again, which refuses
            # again (and is recorded then) if the refusal was its own doing.
            self._journal_failed(e)
            return
        self.broken = error
        refusal = dataclasses.replace(refusal, seq=seq)
        self.state.note(ChangeRefused(refusal))
        # Only who broke it: the reason is printed once, by the run's summary.
        self.report(self, Event("broken", task,
                                ASKED if task is not None else refusal.headline(),
                                data=refusal.to_json()))
        self.wake.set()

    def _snapshot(self, final: bool = False) -> None:
        """Cache the committed state when it is due (:mod:`grammarflow.journal.state`); at the end
        of a run, whenever the journal grew by FINAL_SNAPSHOT_AFTER since the last one
        (reading the run then costs its state, not a tail of up to SNAPSHOT_EVERY)."""
        seq = self.store.last_seq(self.run_id)
        grown = seq - self.last_snapshot
        g = self.d.graph
        if not (snapshot_due(self.last_snapshot, seq, len(g.tasks) + len(g.holes))
                or (final and grown >= FINAL_SNAPSHOT_AFTER)):
            return
        self.tentative.settle()
        self.state.seq = seq
        with gc_paused():  # its many new objects would make the collector scan the run
            self.store.put_snapshot(self.run_id, seq, self.state.snapshot())
        self.last_snapshot = seq

    # ================================================================ faults of our own
    def _guarded(self, action: Callable[[], None], doing: str = "scheduling tasks") -> None:
        """Run one step of the orchestrator's own work; its faults stop the run cleanly."""
        try:
            action()
        except JournalWriteError as e:
            self._journal_failed(e)
        except Exception as e:  # a bug of ours: recorded as such, never as the task's
            self._internal_fault(e, doing)

    def _journal_failed(self, error: JournalWriteError) -> None:
        """Stop: kill what runs and journal nothing more (what is there stays a consistent
        prefix of the run; tasks it shows running run again on `resume`)."""
        if self.journal_error is None:
            self.journal_error = str(error)
        self.tentative.settle()
        for attempt in self.running.values():
            self._kill(attempt, "the journal could not be written")
        self.wake.set()

    def _internal_fault(self, error: Exception, doing: str, message: str | None = None
                        ) -> None:
        """A bug of grammarflow: stop the run with status ``error``, the traceback
        journaled and printed; the tasks are not to blame and run again on `resume`."""
        if self.internal_error is not None:
            return
        self.internal_error = (f"internal error of grammarflow while {doing}: {error!r} "
                               "(a bug: please report it with the traceback)")
        text = "".join(traceback.format_exception(error))
        print(f"grammarflow: {self.internal_error}\n{text}", file=sys.stderr, flush=True)
        self.tentative.settle()
        for attempt in self.running.values():
            self._kill(attempt, "stopped by an internal error of grammarflow")
        self.wake.set()
        try:
            self.store.append(self.run_id, InternalError(repr(error), doing, message, text))
        except JournalWriteError as e:
            self._journal_failed(e)

    # ================================================================ attempts
    def _begin_attempt(self, task: str) -> Attempt | None:
        kind_name = self.d.graph.tasks[task].kind
        try:
            kind = self.workflow.kind(kind_name)
        except GrammarflowError as e:
            self.failed = f"task {task}: {e}"
            return None
        number = self.state.attempts.get(task, 0) + 1
        if kind.ask is not None:
            self._wait_for_person(task, number, kind.ask)
            return None
        safe = task.replace("/", "__")
        log_path = f"{self._log_dir}/{safe}.{number}.log"
        try:
            self._journal_steps([SetState(task, TaskState.RUNNING)],
                                extra=[AttemptStarted(task, number, log_path)])
        except BrokenPromise as e:  # a constraint on its predecessors, decided now
            self._break(e, {"event": "start", "task": task})
            return None
        attempt = Attempt(task, number, kind, log_path)
        # Its context now, while the graph holds only what is committed (no running
        # task's tentative changes): what it is told of its neighbourhood stays true.
        attempt.launch = self._launch(attempt)
        self.running[task] = attempt
        self.report(self, Event("started", task, f"attempt {number}"))
        return attempt

    def _wait_for_person(self, task: str, number: int, question: str) -> None:
        """A task whose value comes from a person: marked started (running, in the
        graph: no edge may enter it now) and waiting; no process."""
        try:
            self._journal_steps([SetState(task, TaskState.RUNNING)],
                                extra=[AttemptWaits(task, number, question)])
        except BrokenPromise as e:  # a constraint on its predecessors, decided now
            self._break(e, {"event": "start", "task": task})
            return
        self.report(self, Event("waiting", task, question))

    async def _run_attempt(self, attempt: Attempt) -> None:
        try:
            await self._start_and_wait(attempt)
        except OSError as e:
            attempt.failure = f"could not start: {e}"
        self.running.pop(attempt.task)
        async with self.mutex:  # the batch's commit (each part is guarded inside)
            self._guarded(lambda: self._after_attempt(attempt),
                          f"journaling the end of attempt {attempt.number} of task "
                          f"{attempt.task}")
        self.wake.set()

    def _after_attempt(self, attempt: Attempt) -> None:
        """Journal the attempt's end and the starts of the tasks it made ready, in one
        transaction (a group commit: one per task, not two)."""
        with self.store.batch(self.run_id):
            self._guarded(lambda: self._end_attempt(attempt),
                          f"ending attempt {attempt.number} of task {attempt.task}")
            if not self._ending():
                self._guarded(self._snapshot, "taking a snapshot of the run")
            if not self._stopping():
                self._guarded(self._start_ready)

    def _end_attempt(self, attempt: Attempt) -> None:
        if self.journal_error is not None:
            return  # journaled as running: `resume` runs it again
        if self._ending():
            self._abandon(attempt)
        elif attempt.failure is None:
            self._commit(attempt)
        else:
            self._fail(attempt)
        if not self._stopping():
            self._close_due()

    def _launch(self, attempt: Attempt) -> Launch | None:
        task = self.d.graph.tasks[attempt.task]
        too_large = wire.attrs_problem(task.id, dict(task.attrs))
        if too_large is not None:  # exec would fail with E2BIG ("Argument list too long")
            attempt.failure = f"could not start: {too_large}"
            return None
        # db, run and task come first: `resume` finds an orphan by that prefix.
        context = json.dumps({"db": self.db_key, "run": str(self.run_id), "task": task.id,
                              "kind": task.kind, "attrs": dict(task.attrs),
                              "attempt": attempt.number, "owner": self.owner,
                              "holes": self._holes_after(task.id),
                              **self._neighbours(task.id), **self._inputs(task.id)})
        return Launch(task.id, task.kind, attempt.kind, context, self.workflow.path)

    async def _start_and_wait(self, attempt: Attempt) -> None:
        launch = attempt.launch
        if attempt.stopped or launch is None:  # the run is ending, or it cannot start
            return
        log = AttemptLog(attempt.log_path, lambda why: self._log_lost(attempt, why))
        try:
            proc = await self.executor.start(launch)
            attempt.proc = proc
            loop = asyncio.get_running_loop()  # two tasks: half the cost of a gather
            readers = (loop.create_task(self._read_stdout(attempt, proc, log)),
                       loop.create_task(read_stderr(attempt, proc.stderr, log)))
            try:
                if attempt.stopped:  # the run began to end while it was being started
                    proc.kill()
                code = await self._wait_main(attempt, proc)
                proc.kill()  # the rule: the main process gone, its tree goes
                if not all(r.done() for r in readers):
                    await asyncio.wait(readers, timeout=PIPE_GRACE,
                                       return_when=asyncio.FIRST_EXCEPTION)
                for reader in readers:
                    if reader.done():
                        reader.result()  # raise what a reader raised (e.g. LeaseLost)
            finally:
                proc.kill()  # also when cancelled (the TaskGroup is aborting)
                if not all(r.done() for r in readers):  # pipes held outside the tree
                    for reader in readers:
                        reader.cancel()
                    proc.release()
            if code != 0 and attempt.failure is None:
                attempt.failure = exit_reason(code)
        finally:
            log.close()
            attempt.logged = log.written

    def _holes_after(self, task_id: str) -> dict[str, str]:
        """The holes that come after a task (it may expand them): id -> type."""
        g = self.d.graph
        holes = {h: g.holes[h].type for h in sorted(g.holes_at(task_id))
                 if task_id in g.holes[h].after}
        holes.update((h, g.holes[h].type) for h in g.everywhere_holes())
        return holes

    def _neighbours(self, task_id: str) -> dict[str, dict[str, str]]:
        """The tasks it runs right after and right before (id -> kind, oldest first),
        each only if it fits the environment (else the task SDK asks with ``find``)."""
        g = self.d.graph
        sides = {"after": g.kinds_in_order(g.pred[task_id]),
                 "before": g.kinds_in_order(g.succ[task_id])}
        return {side: tasks for side, tasks in sides.items() if _fits(tasks)}

    def _inputs(self, task_id: str) -> dict[str, Any]:
        """The values of the task's inputs, if it declares some (and they fit the
        environment; else the task SDK asks for them with ``inputs``)."""
        if self.d.graph.tasks[task_id].kind not in self.d.grammar.data:
            return {}
        values = self.d.inputs(task_id)
        if len(json.dumps(values)) > wire.MAX_INPUTS:
            return {"inputs_by_request": True}
        return {"inputs": values}

    def _check_output(self, task: str, value: Any) -> Any:
        """A task's output as it will be journaled: validated against its kind's declared
        type (pydantic), or BrokenPromise with the path to what is wrong."""
        return self.workflow.checked_output(task, self.d.graph.tasks[task].kind, value)

    def _missing_output(self, attempt: Attempt) -> BrokenPromise | None:
        """A task of a kind that declares an output type finished without giving one."""
        kind = self.d.graph.tasks[attempt.task].kind
        sig = self.d.grammar.data.get(kind)
        if sig is None or sig.output is None:
            return None
        if any(isinstance(s, Output) and s.task == attempt.task for s in attempt.pending):
            return None
        return BrokenPromise(
            f"task {attempt.task} finished without giving its output, and kind {kind} "
            f"declares one ({sig.output_text}): return it (a function task) or call "
            "task.output(value) (a script)")

    def _log_lost(self, attempt: Attempt, why: str) -> None:
        attempt.log_error = why
        self.report(self, Event("warning", attempt.task, why))

    async def _wait_main(self, attempt: Attempt, proc: TaskProcess) -> int:
        """Wait for the attempt's main process (not its pipes), within its timeout."""
        try:
            async with asyncio.timeout(attempt.kind.timeout):
                return await proc.exited()
        except TimeoutError:
            kind = self.d.graph.tasks[attempt.task].kind
            self._kill(attempt, f"timed out after {attempt.kind.timeout:g} s "
                                f"(kind {kind}'s timeout)")
            return await proc.exited()

    def _kill(self, attempt: Attempt, why: str) -> None:
        """End the attempt: kill its tree (at once, or as soon as its start returns)."""
        if attempt.failure is None:
            attempt.failure = why
        attempt.stopped = True
        if attempt.proc is not None:
            attempt.proc.kill()

    # ================================================================ messages
    async def _read_stdout(self, attempt: Attempt, proc: TaskProcess, log: AttemptLog
                           ) -> None:
        async def on_line(line: bytes) -> None:
            async with self.mutex:
                apart = self._on_line(attempt, line, log)
            if apart is not None:
                await self._search_apart(attempt, *apart)

        async def on_oversized(head: bytes) -> None:
            async with self.mutex:
                self._break(BrokenPromise(
                    f"task {attempt.task} sent a message of more than {wire.MAX_LINE} bytes; "
                    "the largest message is 8 MiB"),
                    {"size": f"> {wire.MAX_LINE} bytes",
                     "start": head.decode(errors="replace")}, attempt.task)

        try:
            await read_stdout(attempt, proc.stdout, log, on_line, on_oversized)
        except LeaseLost:
            raise
        except Exception as e:
            self._internal_fault(e, f"reading the output of task {attempt.task}")
            # Keep draining: a task blocked on a full pipe would never exit.
            while await proc.stdout.read(65536):
                continue

    def _on_line(self, attempt: Attempt, line: bytes, log: AttemptLog
                 ) -> tuple[dict[str, Any], Apart] | None:
        """Handle one line of a task's (the mutex held); a raw change too big to search
        meanwhile comes back to be searched apart (:meth:`_search_apart`)."""
        return self._guarded_message(attempt, line[:MESSAGE_KEEP].decode("utf-8", "replace"),
                                     lambda: self._handle_line(attempt, line, log))

    def _guarded_message(self, attempt: Attempt, text: str, handle: Callable[[], T]
                         ) -> T | None:
        """``handle()``; a fault of ours while it handles a task's message ``text`` ends
        the run as such (not as the task's broken promise)."""
        try:
            return handle()
        except LeaseLost:
            raise  # not a bug: another orchestrator owns the run; this one stops
        except JournalWriteError as e:
            self._journal_failed(e)
        except Exception as e:  # a bug of ours, not the task's broken promise
            self._internal_fault(e, f"handling a message from task {attempt.task}", text)
        return None

    def _handle_line(self, attempt: Attempt, line: bytes, log: AttemptLog
                     ) -> tuple[dict[str, Any], Apart] | None:
        if self._ending():
            self._refuse_while_ending(attempt, line)
            return None
        try:
            message = wire.decode_message(line)
        except wire.WireError as e:
            self._reply_error(attempt, None, str(e))
            self._break(BrokenPromise(f"task {attempt.task} sent a malformed message: {e}"),
                        {"raw": line[:MESSAGE_KEEP].decode("utf-8", "replace")}, attempt.task)
            return None
        op = message["op"]
        if op == self._fault_op:
            raise RuntimeError(f"test hook {INTERNAL_ERROR_ENV}: a bug while handling {op!r}")
        if op == "log":
            # JSON may carry lone surrogates (\ud800): keep them visible, as escapes
            text = message["msg"].encode("utf-8", "backslashreplace")
            log.write(b"[log] " + text + b"\n")
            self.report(self, Event("log", attempt.task, message["msg"]))
            return None
        if op == "progress":
            attempt.progress = (message.get("done") or 0, message.get("total"))
            self.report(self, Event("progress", attempt.task, data=message))
            return None
        return self._handle_request(attempt, message)

    def _refuse_while_ending(self, attempt: Attempt, line: bytes) -> None:
        """The run is ending and the attempt is being killed: still answer a request,
        so that its task never waits for a reply that would not come."""
        try:
            message = wire.decode_message(line)
        except wire.WireError:
            return
        if message["op"] in wire.REQUESTS:
            self._reply_error(attempt, message["id"],
                              f"the run is ending ({self._outcome()[1]}); "
                              "this attempt is being stopped")

    def _handle_request(self, attempt: Attempt, message: dict[str, Any]
                        ) -> tuple[dict[str, Any], Apart] | None:
        try:
            apart = self.tentative.apart(attempt.task, attempt.pending, message)
            if apart is not None:
                return message, apart
            result = self.tentative.request(attempt.task, attempt.pending, message,
                                            cancelled=self._ending)
        except BrokenPromise as e:
            self._reply_error(attempt, message["id"], str(e))
            self._break(e, message, attempt.task)
            return None
        self._reply(attempt, {"id": message["id"], "ok": True, "result": result})
        return None

    async def _search_apart(self, attempt: Attempt, message: dict[str, Any],
                            apart: Apart) -> None:
        """Plan a big raw change in a worker thread, on the copy of the graph its task
        saw, with the mutex free: other tasks' messages and ends are served meanwhile
        (the asking task waits for its answer). Then, the mutex held again, apply it."""
        def stop() -> bool:
            return self._ending() or attempt.stopped

        found: Plan | BrokenPromise
        try:
            found = await asyncio.to_thread(apart.plan, stop)
        except BrokenPromise as e:
            found = e
        async with self.mutex:
            self._guarded_message(attempt, json.dumps(message)[:MESSAGE_KEEP],
                                  lambda: self._finish_apart(attempt, message, apart, found))

    def _finish_apart(self, attempt: Attempt, message: dict[str, Any], apart: Apart,
                      found: Plan | BrokenPromise) -> None:
        if self.running.get(attempt.task) is not attempt or attempt.stopped:
            return  # the attempt ended meanwhile: nobody waits for the answer
        if self._ending():
            self._reply_error(attempt, message["id"], f"the run is ending "
                              f"({self._outcome()[1]}); this attempt is being stopped")
            return
        try:
            result = self.tentative.finish_apart(apart, attempt.pending, found, self._ending)
        except BrokenPromise as e:
            self._reply_error(attempt, message["id"], str(e))
            self._break(e, message, attempt.task)
            return
        self._reply(attempt, {"id": message["id"], "ok": True, "result": result})

    def _reply(self, attempt: Attempt, reply: dict[str, Any]) -> None:
        if attempt.proc is not None:
            attempt.proc.send(wire.encode_reply(reply))

    def _reply_error(self, attempt: Attempt, msg_id: int | None, error: str) -> None:
        self._reply(attempt, {"id": msg_id, "ok": False, "error": error})

    # ================================================================ outcomes
    def _commit(self, attempt: Attempt) -> None:
        """The attempt succeeded: its changes and its completion, in one transaction."""
        if os.environ.get(CRASH_BEFORE_COMMIT_ENV) == attempt.task:  # test hook
            os.kill(os.getpid(), signal.SIGKILL)
        missing = self._missing_output(attempt)
        if missing is not None:
            self._break(missing, None, attempt.task)
            return
        try:
            steps = self.tentative.commit(attempt.task, attempt.pending)
        except BrokenPromise as e:
            self._break(e, None, attempt.task)
            return
        done = SetState(attempt.task, TaskState.DONE)
        self.d.apply(done)
        end = dataclasses.replace(self._attempt_end(attempt, "succeeded"), changes=len(steps))
        self._record([*(StepTaken(s, attempt.task) for s in [*steps, done]), end])
        self.report(self, Event("done", attempt.task))

    def _fail(self, attempt: Attempt) -> None:
        self._drop_changes(attempt)
        retry = attempt.number <= attempt.kind.retries
        state = TaskState.PENDING if retry else TaskState.FAILED
        self._journal_steps([SetState(attempt.task, state)],
                            extra=[self._attempt_end(attempt, "failed")])
        failure = self.state.failures[attempt.task].to_json()
        if retry:
            self.report(self, Event("retry", attempt.task, attempt.failure or "", failure))
            return
        if self.failed is None:  # the first failure is the cause; others may follow from it
            self.failed = (f"task {attempt.task} failed after {attempt.number} attempt(s): "
                           f"{attempt.failure}")
        self.report(self, Event("failed", attempt.task, attempt.failure or "", failure))

    def _abandon(self, attempt: Attempt) -> None:
        """The run is stopping: the attempt's changes vanish; the task may run again."""
        self._drop_changes(attempt)
        self._journal_steps([SetState(attempt.task, TaskState.PENDING)],
                            extra=[self._attempt_end(attempt, "abandoned")])

    def _drop_changes(self, attempt: Attempt) -> None:
        self.tentative.drop(attempt.task)
        attempt.pending.clear()

    def _attempt_end(self, attempt: Attempt, outcome: str) -> AttemptEnded:
        return AttemptEnded(attempt.task, attempt.number, outcome, attempt.failure,
                            attempt.tail.decode("utf-8", "replace"), attempt.log_path,
                            attempt.logged, attempt.log_error, time.time())


def _still_applies(d: Derivation, task: str, pending: Sequence[Step]) -> None:
    """A running task's accepted changes apply to ``d`` (else a GrammarflowError)."""
    d.speculate()
    try:
        d.apply_batch(pending)
    except BrokenPromise as e:
        raise GrammarflowError(
            f"task {task} is running and its changes build on what the restart rolls "
            f"back ({e.reason}); wait until it ends") from None
    finally:
        d.discard()


def _fits(tasks: dict[str, str]) -> bool:
    """Whether ``{id: kind}`` fits a task's context (wire.MAX_NEIGHBOURS bytes of JSON);
    encoded only when it might not: a character is at most 12 bytes of JSON (a
    surrogate pair of \\uXXXX), an entry adds 8 (quotes, ": ", ", "), the braces 2."""
    if 2 + 8 * len(tasks) + 12 * sum(len(t) + len(k) for t, k in tasks.items()) <= \
            wire.MAX_NEIGHBOURS:
        return True
    return len(json.dumps(tasks)) <= wire.MAX_NEIGHBOURS


def exit_reason(code: int) -> str:
    """Why a process that exited with ``code`` failed (negative: killed by a signal)."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with status {code}"
