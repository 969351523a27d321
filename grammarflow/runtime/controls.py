"""Operations other processes ask of a running orchestrator (pause, unpause, answer,
restart, upgrade), taken from the store's requests: each journaled and acted on, or
refused.

What each does to a run: docs/operations.md.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grammarflow.core.answers import answer_steps, apply_answer
from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import TaskState
from grammarflow.core.rollback import plan_restart
from grammarflow.core.steps import Step
from grammarflow.core.upgrade import BUDGET
from grammarflow.errors import BrokenPromise, GrammarflowError
from grammarflow.journal.entries import ControlTaken, StepTaken
from grammarflow.journal.state import journaled_steps
from grammarflow.journal.upgrading import plan_upgrade
from grammarflow.runtime.events import Event
from grammarflow.workflow.reading import read_workflow

if TYPE_CHECKING:
    from grammarflow.runtime.orchestrator import Orchestrator

#: Seconds between two looks at the control table (`grammarflow pause` from elsewhere).
CONTROL_POLL = 0.2


class Controls:
    """The requests of other processes to the orchestrator ``o``, taken one at a time
    with ``o.mutex`` held."""

    def __init__(self, o: Orchestrator) -> None:
        self.o = o

    async def watch(self) -> None:
        """Take the operations other processes ask for (`pause`, `unpause`) from the
        store's control table: journal each and act on it."""
        o = self.o
        while True:
            await asyncio.sleep(CONTROL_POLL)
            if o.outcome.ending():
                continue
            try:
                asked = o.store.requests.asked(o.run_id)
            except GrammarflowError:  # the database busy a moment: look again soon
                continue
            for request, op, data in asked:
                async with o.mutex:
                    o.outcome.guarded(functools.partial(self._take, request, op, data),
                                      f"taking the request to {op}")

    def _take(self, request: int, op: str, data: dict[str, Any]) -> None:
        o = self.o
        if o.outcome.ending():  # it ends the run: the end withdraws the request (finish_run)
            return
        if op == "answer":
            self._take_answer(request, data)
            return
        if op == "restart":
            self._take_restart(request, data)
            return
        if op == "upgrade":
            self._take_upgrade(request, data)
            return
        if op not in ("pause", "unpause"):
            o.take_request(request, [ControlTaken("ignored", data.get("by"), op)])
            return
        o.take_request(request, [ControlTaken(op, data.get("by"))])
        paused = o.state.paused
        said = ("paused: running tasks finish, no new one starts" if paused
                else "unpaused: tasks start again")
        o.report(o, Event("paused" if paused else "unpaused", detail=said))
        o.wake.set()

    def _take_answer(self, request: int, data: dict[str, Any]) -> None:
        """A person's answer to a waiting task: checked (its value against the kind's
        type, its choice against the grammar), then applied and journaled with the
        request taken, all at once; or refused with the reason, nothing changed."""
        from grammarflow.journal.operations import answered

        o = self.o
        task = data.get("task", "")
        o.tentative.settle()
        try:
            steps = answer_steps(o.d, o.state.waiting, o.check_output, task,
                                 data.get("value"), data.get("expand"))
            apply_answer(o.d, task, steps)
        except (GrammarflowError, BrokenPromise) as e:
            reason = e.reason if isinstance(e, BrokenPromise) else str(e)
            if not reason.startswith("the answer to"):
                reason = f"the answer to task {task} is refused: {reason}"
            o.store.requests.refuse(request, reason)
            return
        end = answered(task, o.state.attempts.get(task, 1), data.get("by") or {})
        o.take_request(request, [*(StepTaken(s, task) for s in steps), end])
        o.report(o, Event("answered", task, json.dumps(data.get("value"))[:80]))
        o.close_due()
        o.wake.set()

    def _take_restart(self, request: int, data: dict[str, Any]) -> None:
        """Restart a task and everything after it (:func:`grammarflow.journal.operations.restart`):
        refused while one of them runs, or while a running task's changes build on
        what it rolls back; else journaled, and the run goes on from the rolled-back
        graph."""
        from grammarflow.journal.operations import restart_entry

        o = self.o
        task = data.get("task", "")
        o.tentative.settle()
        try:
            rb = plan_restart(o.d, journaled_steps(o.store, o.run_id),
                              o.workflow.grammar, task, set(o.running))
            rb.derivation.workflow_kinds = o.d.workflow_kinds
            for other, attempt in o.running.items():
                _still_applies(rb.derivation, other, attempt.pending)
        except GrammarflowError as e:
            o.store.requests.refuse(request, str(e))
            return
        o.take_restart(request, restart_entry(task, rb, data.get("by") or {}), rb.derivation)
        self._failure_after_restart()
        o.report(o, Event("restarted", task, f"{len(rb.restarted)} task(s) run again"
                          f", {len(rb.removed)} step(s) rolled back"))
        o.close_due()
        o.wake.set()

    def _take_upgrade(self, request: int, data: dict[str, Any]) -> None:
        """Go on under a new version of the workflow, between two steps
        (:func:`grammarflow.journal.operations.upgrade`): planned against the committed
        run; refused if unsafe, if a running task's kind changes, or if a running task's
        accepted changes do not apply under it; else journaled, and the run goes on
        from the re-derived graph."""
        o = self.o
        o.tentative.settle()
        try:
            new = read_workflow(Path(data.get("path", "")))
            if new.version != data.get("version"):
                raise GrammarflowError(f"{new.path.name} changed since the upgrade was asked "
                                       f"(version {new.version}, not {data.get('version')}); "
                                       "ask again")
            plan = plan_upgrade(o.state, journaled_steps(o.store, o.run_id), new,
                                running=set(o.running), renames=data.get("renames"),
                                budget=int(data.get("budget") or BUDGET))
            if plan.already:
                raise GrammarflowError(plan.verdict.reason)
            if not plan.accepted or plan.after is None:
                raise GrammarflowError(f"upgrade refused ({plan.verdict.verdict}): "
                                       f"{plan.verdict.reason}")
            for other, attempt in o.running.items():
                _still_applies(plan.after.d, other, attempt.pending, "the new version")
        except GrammarflowError as e:
            o.store.requests.refuse(request, str(e))
            return
        o.take_upgrade(request, plan.entry(data.get("by") or {}), plan.after, plan.new)
        o.report(o, Event("upgraded", detail=f"version {plan.old.version} -> "
                          f"{plan.new.version} ({plan.new.path.name})"))
        o.close_due()
        o.wake.set()

    def _failure_after_restart(self) -> None:
        """The run stops starting tasks (and ends ``failed``) only while one of its tasks
        is failed: a restart of the failed ones lets the run go on."""
        o = self.o
        failed = next((t for t, s in o.d.graph.state.items() if s is TaskState.FAILED),
                      None)
        if failed is None:
            o.outcome.failed = None
        elif failed in o.state.failures:
            failure = o.state.failures[failed]
            o.outcome.failed = (f"task {failed} failed after {failure.attempt} attempt(s): "
                                f"{failure.reason}")


def _still_applies(d: Derivation, task: str, pending: Sequence[Step],
                   what: str = "what the restart rolls back") -> None:
    """A running task's accepted changes apply to ``d`` (else a GrammarflowError)."""
    d.speculate()
    try:
        d.apply_batch(pending)
    except BrokenPromise as e:
        raise GrammarflowError(
            f"task {task} is running and its changes do not apply under {what} "
            f"({e.reason}); wait until it ends") from None
    finally:
        d.discard()


__all__ = ["CONTROL_POLL", "Controls"]
