"""Attempts of a run's tasks: the ready ones started, oldest first, up to --max-parallel;
each run to its end, within its timeout; its end journaled — its changes committed, or
dropped — with the starts it allows, in one transaction.

Scheduling, retries and timeouts: docs/operations.md; atomic attempts, process trees:
docs/troubleshooting.md, "When things go wrong".
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from grammarflow import wire
from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import TaskState
from grammarflow.core.steps import Output, SetState
from grammarflow.errors import BrokenPromise, GrammarflowError, Why
from grammarflow.journal.entries import AttemptEnded, AttemptStarted, AttemptWaits, StepTaken
from grammarflow.runtime.attempt import Attempt, AttemptLog, read_stderr
from grammarflow.runtime.events import Event
from grammarflow.runtime.executor import Launch, TaskProcess

if TYPE_CHECKING:
    from grammarflow.runtime.orchestrator import Orchestrator

#: Test hook: SIGKILL the orchestrator after this task exited 0, before its commit.
CRASH_BEFORE_COMMIT_ENV = "GRAMMARFLOW_TEST_CRASH_BEFORE_COMMIT_OF"

#: Seconds an attempt's pipes are read after its main process exited and its tree was
#: killed; only a process that left the tree can keep them open longer.
PIPE_GRACE = 1.0


class Scheduler:
    """The attempts of the orchestrator ``o``'s tasks (``o.running``: those under way),
    each a task of ``group`` while ``o.run()`` runs."""

    def __init__(self, o: Orchestrator) -> None:
        self.o = o
        self.group: asyncio.TaskGroup | None = None  # the attempts' (while run() runs)
        self._log_dir = str(o.options.logs / f"run-{o.run_id}")  # str: joined per attempt
        #: Tasks waiting out their kind's retry delay: when each may start again
        #: (time.monotonic; not journaled: a resumed run retries at once).
        self.not_before: dict[str, float] = {}

    def start_ready(self) -> None:
        """Begin attempts of ready tasks, oldest first, up to --max-parallel: their
        starts journaled in one transaction, each process started after it commits."""
        o = self.o
        if len(o.running) >= o.max_parallel or o.state.paused:
            return
        o.tentative.settle()
        with o.store.batch(o.run_id):
            for task in o.d.graph.ready_oldest_first():
                if len(o.running) >= o.max_parallel or o.outcome.stopping():
                    break
                if self.not_before and self._waits(task):
                    continue
                attempt = self._begin(task)
                if attempt is not None:
                    assert self.group is not None, "attempts begin only inside run()"
                    self.group.create_task(self._run(attempt))

    def retrying(self) -> bool:
        """Does a task wait out its retry delay (the run is not over while one does)?"""
        return bool(self.not_before) and not self.o.outcome.stopping()

    def _waits(self, task: str) -> bool:
        when = self.not_before.get(task)
        if when is None:
            return False
        if when > time.monotonic():
            return True
        del self.not_before[task]
        return False

    # ================================================================ the start
    def _begin(self, task: str) -> Attempt | None:
        o = self.o
        kind_name = o.d.graph.tasks[task].kind
        try:
            kind = o.workflow.kind(kind_name)
        except GrammarflowError as e:
            o.outcome.failed = f"task {task}: {e}"
            return None
        number = o.state.attempts.get(task, 0) + 1
        if kind.ask is not None:
            self._wait_for_person(task, number, kind.ask)
            return None
        safe = task.replace("/", "__")
        log_path = f"{self._log_dir}/{safe}.{number}.log"
        try:
            o.journal_steps([SetState(task, TaskState.RUNNING)],
                            extra=[AttemptStarted(task, number, log_path)])
        except BrokenPromise as e:  # a constraint on its predecessors, decided now
            o.outcome.broke(e, {"event": "start", "task": task})
            return None
        attempt = Attempt(task, number, kind, log_path)
        # Its context now, while the graph holds only what is committed (no running
        # task's tentative changes): what it is told of its neighbourhood stays true.
        attempt.launch = self._launch(attempt)
        o.running[task] = attempt
        o.report(o, Event("started", task, f"attempt {number}"))
        return attempt

    def _wait_for_person(self, task: str, number: int, question: str) -> None:
        """A task whose value comes from a person: marked started (running, in the
        graph: no edge may enter it now) and waiting; no process."""
        o = self.o
        try:
            o.journal_steps([SetState(task, TaskState.RUNNING)],
                            extra=[AttemptWaits(task, number, question)])
        except BrokenPromise as e:  # a constraint on its predecessors, decided now
            o.outcome.broke(e, {"event": "start", "task": task})
            return
        o.report(o, Event("waiting", task, question))

    def _launch(self, attempt: Attempt) -> Launch | None:
        o = self.o
        task = o.d.graph.tasks[attempt.task]
        too_large = wire.attrs_problem(task.id, dict(task.attrs))
        if too_large is not None:  # exec would fail with E2BIG ("Argument list too long")
            attempt.failure = f"could not start: {too_large}"
            return None
        # db, run and task come first: `resume` finds an orphan by that prefix.
        context = json.dumps({"db": o.db_key, "run": str(o.run_id), "task": task.id,
                              "kind": task.kind, "attrs": dict(task.attrs),
                              "attempt": attempt.number, "owner": o.owner,
                              "holes": _holes_after(o.d, task.id),
                              **_neighbours(o.d, task.id), **_inputs(o.d, task.id),
                              **({"params": o.workflow.params} if o.workflow.params else {})})
        return Launch(task.id, task.kind, attempt.kind, context, o.workflow.path)

    # ================================================================ the run
    async def _run(self, attempt: Attempt) -> None:
        o = self.o
        try:
            await self._start_and_wait(attempt)
        except OSError as e:
            attempt.failure = f"could not start: {e}"
        o.running.pop(attempt.task)
        async with o.mutex:  # the batch's commit (each part is guarded inside)
            o.outcome.guarded(lambda: self._after(attempt),
                              f"journaling the end of attempt {attempt.number} of task "
                              f"{attempt.task}")
        o.wake.set()

    async def _start_and_wait(self, attempt: Attempt) -> None:
        launch = attempt.launch
        if attempt.stopped or launch is None:  # the run is ending, or it cannot start
            return
        log = AttemptLog(attempt.log_path, lambda why: self._log_lost(attempt, why))
        try:
            proc = await self.o.executor.start(launch)
            attempt.proc = proc
            loop = asyncio.get_running_loop()  # two tasks: half the cost of a gather
            readers = (loop.create_task(self.o.protocol.read_stdout(attempt, proc, log)),
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
                # a process lost with the machine that ran it says so (a Dask worker)
                attempt.failure = getattr(proc, "lost", None) or exit_reason(code)
        finally:
            log.close()
            attempt.logged = log.written

    async def _wait_main(self, attempt: Attempt, proc: TaskProcess) -> int:
        """Wait for the attempt's main process (not its pipes), within its timeout."""
        try:
            async with asyncio.timeout(attempt.kind.timeout):
                return await proc.exited()
        except TimeoutError:
            kind = self.o.d.graph.tasks[attempt.task].kind
            attempt.kill(f"timed out after {attempt.kind.timeout:g} s "
                         f"(kind {kind}'s timeout)")
            return await proc.exited()

    def _log_lost(self, attempt: Attempt, why: str) -> None:
        attempt.log_error = why
        self.o.report(self.o, Event("warning", attempt.task, why))

    # ================================================================ the end
    def _after(self, attempt: Attempt) -> None:
        """Journal the attempt's end and the starts of the tasks it made ready, in one
        transaction (a group commit: one per task, not two)."""
        o = self.o
        with o.store.batch(o.run_id):
            o.outcome.guarded(lambda: self._end(attempt),
                              f"ending attempt {attempt.number} of task {attempt.task}")
            if not o.outcome.ending():
                o.outcome.guarded(o.snapshot, "taking a snapshot of the run")
            if not o.outcome.stopping():
                o.outcome.guarded(self.start_ready)

    def _end(self, attempt: Attempt) -> None:
        o = self.o
        if o.outcome.journal_error is not None:
            return  # journaled as running: `resume` runs it again
        if o.outcome.ending():
            self._abandon(attempt)
        elif attempt.failure is None:
            self._commit(attempt)
        else:
            self._fail(attempt)
        if not o.outcome.stopping():
            o.close_due()

    def _commit(self, attempt: Attempt) -> None:
        """The attempt succeeded: its changes and its completion, in one transaction."""
        o = self.o
        if os.environ.get(CRASH_BEFORE_COMMIT_ENV) == attempt.task:  # test hook
            os.kill(os.getpid(), signal.SIGKILL)
        missing = self._missing_output(attempt)
        if missing is not None:
            o.outcome.broke(missing, None, attempt.task)
            return
        try:
            steps = o.tentative.commit(attempt.task, attempt.pending)
        except BrokenPromise as e:
            o.outcome.broke(e, None, attempt.task)
            return
        done = SetState(attempt.task, TaskState.DONE)
        o.d.apply(done)
        end = dataclasses.replace(self._attempt_end(attempt, "succeeded"), changes=len(steps))
        o.record([*(StepTaken(s, attempt.task) for s in [*steps, done]), end])
        o.report(o, Event("done", attempt.task))

    def _missing_output(self, attempt: Attempt) -> BrokenPromise | None:
        """A task of a kind that declares an output type finished without giving one."""
        d = self.o.d
        kind = d.graph.tasks[attempt.task].kind
        sig = d.grammar.data.get(kind)
        if sig is None or sig.output is None:
            return None
        if any(isinstance(s, Output) and s.task == attempt.task for s in attempt.pending):
            return None
        return BrokenPromise(
            f"task {attempt.task} finished without giving its output, and kind {kind} "
            f"declares one ({sig.output_text}): return it (a function task) or call "
            "task.output(value) (a script)", why=Why.OUTPUT, task=attempt.task)

    def _fail(self, attempt: Attempt) -> None:
        o = self.o
        self._drop_changes(attempt)
        retry = attempt.number <= attempt.kind.retries
        state = TaskState.PENDING if retry else TaskState.FAILED
        o.journal_steps([SetState(attempt.task, state)],
                        extra=[self._attempt_end(attempt, "failed")])
        failure = o.state.failures[attempt.task].to_json()
        if retry:
            delay = attempt.kind.delay_before(attempt.number + 1)
            if delay > 0:
                self.not_before[attempt.task] = time.monotonic() + delay
                asyncio.get_running_loop().call_later(delay, o.wake.set)
                failure = {**failure, "retry_in": delay}
            o.report(o, Event("retry", attempt.task, attempt.failure or "", failure))
            return
        if o.outcome.failed is None:  # the first failure is the cause; others may follow from it
            o.outcome.failed = (f"task {attempt.task} failed after {attempt.number} "
                                f"attempt(s): {attempt.failure}")
        o.report(o, Event("failed", attempt.task, attempt.failure or "", failure))

    def _abandon(self, attempt: Attempt) -> None:
        """The run is stopping: the attempt's changes vanish; the task may run again."""
        self._drop_changes(attempt)
        self.o.journal_steps([SetState(attempt.task, TaskState.PENDING)],
                             extra=[self._attempt_end(attempt, "abandoned")])

    def _drop_changes(self, attempt: Attempt) -> None:
        self.o.tentative.drop(attempt.task)
        attempt.pending.clear()

    def _attempt_end(self, attempt: Attempt, outcome: str) -> AttemptEnded:
        return AttemptEnded(attempt.task, attempt.number, outcome, attempt.failure,
                            attempt.tail.decode("utf-8", "replace"), attempt.log_path,
                            attempt.logged, attempt.log_error, time.time())


# ==================================================================== a task's context
def _holes_after(d: Derivation, task_id: str) -> dict[str, str]:
    """The holes that come after a task (it may expand them): id -> type."""
    g = d.graph
    holes = {h: g.holes[h].type for h in sorted(g.holes_at(task_id))
             if task_id in g.holes[h].after}
    holes.update((h, g.holes[h].type) for h in g.everywhere_holes())
    return holes


def _neighbours(d: Derivation, task_id: str) -> dict[str, dict[str, str]]:
    """The tasks it runs right after and right before (id -> kind, oldest first),
    each only if it fits the environment (else the task SDK asks with ``find``)."""
    g = d.graph
    sides = {"after": g.kinds_in_order(g.pred[task_id]),
             "before": g.kinds_in_order(g.succ[task_id])}
    return {side: tasks for side, tasks in sides.items() if _fits(tasks)}


def _inputs(d: Derivation, task_id: str) -> dict[str, Any]:
    """The values of the task's inputs, if it declares some (and they fit the
    environment; else the task SDK asks for them with ``inputs``)."""
    if d.graph.tasks[task_id].kind not in d.grammar.data:
        return {}
    values = d.inputs(task_id)
    if len(json.dumps(values)) > wire.MAX_INPUTS:
        return {"inputs_by_request": True}
    return {"inputs": values}


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


__all__ = ["CRASH_BEFORE_COMMIT_ENV", "PIPE_GRACE", "Scheduler", "exit_reason"]
