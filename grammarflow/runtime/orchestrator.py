"""The orchestrator: runs a workflow's tasks, enforcing its grammar; journals everything.

Its loop, its start and resume, and the one way it changes the run's state (journal an
entry, then note it); the attempts are :mod:`.scheduling`'s, the task protocol
:mod:`.protocol`'s, other processes' requests :mod:`.controls`', how the run stops
:mod:`.outcome`'s. How one change request travels through it: docs/architecture.md.
Scheduling, pausing, restarts: docs/operations.md; atomic attempts, broken promises,
crash recovery, faults, the lease, process trees and stopping: docs/troubleshooting.md,
"When things go wrong".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import TaskState
from grammarflow.core.steps import SetState, Step
from grammarflow.errors import BrokenPromise, GrammarflowError, Refusal
from grammarflow.journal.database import JournalWriteError
from grammarflow.journal.entries import (
    AttemptLost,
    AttemptRetried,
    ChangeRefused,
    JournalEntry,
    RestartTaken,
    StepTaken,
    UpgradeTaken,
)
from grammarflow.journal.lease import HEARTBEAT_EVERY, Holder, LeaseLost
from grammarflow.journal.state import (
    SNAPSHOT_EVERY,
    RunState,
    fold_run,
    gc_paused,
    snapshot_due,
)
from grammarflow.journal.store import Store
from grammarflow.runtime.attempt import Attempt
from grammarflow.runtime.container import ContainerExecutor, with_containers
from grammarflow.runtime.controls import Controls
from grammarflow.runtime.events import Event, Reporter, no_report
from grammarflow.runtime.executor import Executor
from grammarflow.runtime.local import use_pidfd_child_watcher
from grammarflow.runtime.outcome import Outcome
from grammarflow.runtime.protocol import TaskProtocol
from grammarflow.runtime.scheduling import Scheduler
from grammarflow.runtime.tentative import Tentative
from grammarflow.runtime.zygote_executor import NO_ZYGOTE_ENV, ZygoteExecutor
from grammarflow.workflow.definition import Workflow
from grammarflow.workflow.reading import read_workflow

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

#: Journal entries since the last snapshot after which a run that ends takes one (fewer
#: where ``GRAMMARFLOW_SNAPSHOT_EVERY`` asks for snapshots more often than that).
FINAL_SNAPSHOT_AFTER = min(1000, SNAPSHOT_EVERY)

#: The signals that interrupt a run (exit 130; `resume` continues it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class JournalLost(GrammarflowError):
    """A journal write failed and then so did recording the run's status: the database
    still says ``running``. Nothing journaled is lost; ``resume`` continues the run."""


#: Seconds between two writes of what running tasks report of their progress.
PROGRESS_EVERY = 0.5


@dataclass
class Options:
    #: How many tasks run at once; None: what the workflow says, else one at a time.
    max_parallel: int | None = None
    logs: Path = Path(".grammarflow/logs")
    python: str = sys.executable
    #: Fork function tasks from a warm zygote (:mod:`grammarflow.runtime.zygote_executor`);
    #: False (``--no-zygote``, ``GRAMMARFLOW_NO_ZYGOTE=1``): spawn every task fresh.
    zygote: bool = field(default_factory=lambda: os.environ.get(NO_ZYGOTE_ENV, "")
                         not in ("1", "true", "yes"))
    #: The container engine of container kinds (``--engine``); None: podman, else docker.
    engine: str | None = None
    #: Run the tasks on this Dask cluster (``--dask``: a scheduler's address, or
    #: ``local:N``); None: on this machine.
    dask: str | None = None


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
        self.tentative = Tentative(derivation, self.check_output)
        self.options = options
        #: How many tasks run at once: as told, else as the workflow says, else one.
        self.max_parallel: int = options.max_parallel or workflow.max_parallel or 1
        self.report = report
        self.db_key = str(store.path.resolve())
        self.executor: Executor = executor or with_containers(
            self._executor(options), workflow.kinds.values(), options.engine)
        #: The run's state (attempts, failures, the refusal, pause, waiting tasks): changed
        #: only by what is journaled (:meth:`record`); its graph is the committed one.
        self.state = RunState(workflow, derivation)
        self.last_snapshot = 0  # the journal entry the newest snapshot is as of
        self.running: dict[str, Attempt] = {}
        self.wake = asyncio.Event()
        self.mutex = asyncio.Lock()  # held while the derivation is read for or changed
        #: Why the run stops (a broken promise, a failed task, a signal, a fault).
        self.outcome = Outcome(self)
        #: Its tasks' attempts: started, run, ended.
        self.scheduler = Scheduler(self)
        #: The messages of its running tasks, answered.
        self.protocol = TaskProtocol(self)
        #: The requests of other processes (pause, unpause, answer, restart).
        self.controls = Controls(self)

    def _executor(self, options: Options) -> Executor:
        """Where tasks run: on a Dask cluster (``--dask``), else this machine's zygote."""
        if options.dask is not None:
            from grammarflow.runtime.dask_executor import DaskExecutor

            return DaskExecutor(options.dask, {"db": self.db_key, "run": str(self.run_id),
                                               "owner": self.owner})
        return ZygoteExecutor(options.python, fork=options.zygote)

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
            o.journal_steps([SetState(task, TaskState.PENDING)], extra=[AttemptLost(
                task, state.attempts.get(task, 0),
                "the orchestrator stopped while this attempt ran; it will run again")])
        # A resumed failed run gives its failed tasks another attempt.
        for task in [t for t, s in d.graph.state.items() if s is TaskState.FAILED]:
            o.journal_steps([SetState(task, TaskState.PENDING)], extra=[AttemptRetried(
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
                loop.add_signal_handler(sig, self.outcome.interrupt, sig)
        try:
            async with self.mutex:
                self.outcome.guarded(self.close_due)
            async with asyncio.TaskGroup() as tg:
                beat = tg.create_task(self._heartbeat())
                watch = tg.create_task(self.controls.watch())
                shown = tg.create_task(self._progress_shown())
                if self.state.paused:
                    self.report(self, Event("paused", detail="the run is paused: no task "
                                            "starts until `grammarflow unpause "
                                            f"{self.run_id}`"))
                self.scheduler.group = tg
                while True:
                    if not self.outcome.stopping():
                        async with self.mutex:
                            self.outcome.guarded(self.scheduler.start_ready)
                    if not (self.running or self._held_by_pause()
                            or self.scheduler.retrying()):
                        break
                    await self.wake.wait()
                    self.wake.clear()
                beat.cancel()
                watch.cancel()
                shown.cancel()
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
        status, reason = self.outcome.status()
        if self.outcome.journal_error is None and self.outcome.internal_error is None:
            # only a cache (readers fold the journal without it): the status is what matters
            with contextlib.suppress(JournalWriteError):
                self.snapshot(final=True)
        try:
            self.store.finish_run(self.run_id, status, reason)
        except JournalWriteError as e:
            why = "the journal could not be written" if self.outcome.journal_error else status
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

    async def _progress_shown(self) -> None:
        """What running tasks report of their progress, written for the pages
        (`grammarflow serve`) at most every PROGRESS_EVERY seconds, and only when a task
        reported something new: a hint, not the journal (a failed write is dropped)."""
        shown: dict[str, tuple[float, float | None]] = {}
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            now = {t: a.progress for t, a in self.running.items() if a.progress is not None}
            new = {t: p for t, p in now.items() if shown.get(t) != p}
            if new:
                with contextlib.suppress(JournalWriteError):
                    self.store.put_progress(self.run_id, new)
                shown = now

    def _held_by_pause(self) -> bool:
        """Paused with work left to start: wait for `unpause` (or a signal)."""
        return (self.state.paused and not self.outcome.stopping()
                and any(st is TaskState.PENDING for st in self.d.graph.state.values()))

    def check_output(self, task: str, value: Any) -> Any:
        """A task's output as it will be journaled: validated against its kind's declared
        type (pydantic), or BrokenPromise with the path to what is wrong."""
        return self.workflow.checked_output(task, self.d.graph.tasks[task].kind, value)

    # ================================================================ the journal
    def journal_steps(self, steps: list[Step], extra: Sequence[JournalEntry] = ()) -> None:
        """Apply steps to the committed graph and journal them (one transaction)."""
        self.tentative.apply_committed(steps)
        self.record([*(StepTaken(s) for s in steps), *extra])

    def record(self, entries: Sequence[JournalEntry]) -> list[int]:
        """Journal entries (one transaction), then note them in the run's state: the one
        way the orchestrator changes it (a step's graph was changed by the core, which
        checked it, before)."""
        seqs = self.store.append_many(self.run_id, entries)
        for entry in entries:
            self.state.note(entry)
        return seqs

    def take_request(self, request: int, entries: Sequence[JournalEntry]) -> None:
        """:meth:`record`, marking the request that asked for it taken (one transaction)."""
        self.store.take_many(self.run_id, request, entries)
        for entry in entries:
            self.state.note(entry)

    def take_restart(self, request: int, entry: RestartTaken, derivation: Derivation
                     ) -> None:
        """:meth:`take_request` of a restart; the run goes on from ``derivation``, its
        graph rolled back."""
        self.take_request(request, [entry])
        self.tentative.d = self.state.d = derivation

    def take_upgrade(self, request: int, entry: UpgradeTaken, after: RunState,
                     workflow: Workflow) -> None:
        """:meth:`take_request` of an upgrade; the run goes on under ``workflow``, from
        ``after`` (its journal re-derived there). A kind the new version runs in a
        container gets the engine the old one did not need."""
        self.take_request(request, [entry])
        self.workflow = workflow
        self.state = after
        self.tentative.d = after.d
        if not isinstance(self.executor, ContainerExecutor):
            self.executor = with_containers(self.executor, workflow.kinds.values(),
                                            self.options.engine)

    def record_refusal(self, refusal: Refusal) -> Refusal:
        """Journal a broken promise's refusal, then note it with its entry's number."""
        seq = self.store.append(self.run_id, ChangeRefused(refusal))
        refusal = dataclasses.replace(refusal, seq=seq)
        self.state.note(ChangeRefused(refusal))
        return refusal

    def close_due(self) -> None:
        """Due holes take their defaults (each journaled); a hole without one breaks."""
        self.tentative.settle()
        while not self.outcome.ending():
            hole = next(self.d.graph.due(), None)
            if hole is None:
                return
            try:
                applied = self.d.close(hole)
            except BrokenPromise as e:
                self.outcome.broke(e, {"event": "due", "hole": hole})
                return
            self.record([StepTaken(applied.step)])

    def snapshot(self, final: bool = False) -> None:
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


__all__ = ["EXIT_BROKEN_PROMISE", "EXIT_INTERNAL_ERROR", "EXIT_INTERRUPTED",
           "EXIT_JOURNAL_LOST", "EXIT_SUCCEEDED", "EXIT_TASK_FAILED", "EXIT_USAGE",
           "EXIT_WAITING", "FINAL_SNAPSHOT_AFTER", "STATUS_EXIT", "STOP_SIGNALS",
           "JournalLost", "Options", "Orchestrator"]
