"""How a run stops, and the status it ends with: a broken promise, a failed task, a
signal, a journal that cannot be written, or a fault of grammarflow's own.

What each means for the run and what to do: docs/troubleshooting.md, "When things go
wrong".
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from grammarflow.core.graph import TaskState
from grammarflow.core.scopes import TooFewNeighbours
from grammarflow.errors import ASKED, BrokenPromise, Refusal
from grammarflow.journal.database import JournalWriteError
from grammarflow.journal.entries import InternalError
from grammarflow.journal.state import journaled_steps, made_by
from grammarflow.runtime.events import Event

if TYPE_CHECKING:
    from grammarflow.runtime.orchestrator import Orchestrator

#: How much of a refused message the journal keeps.
MESSAGE_KEEP = 64 * 1024


class Outcome:
    """Why the orchestrator ``o``'s run stops, as it learns it, and stopping it: every
    cause but a failed task kills what runs at once (:meth:`ending`); a failed task
    only stops new attempts from starting (:meth:`stopping`)."""

    def __init__(self, o: Orchestrator) -> None:
        self.o = o
        self.broken: BrokenPromise | None = None
        self.failed: str | None = None
        self.interrupted: str | None = None  # the name of the signal
        self.internal_error: str | None = None  # a bug of ours stopped the run
        self.journal_error: str | None = None  # the journal cannot be written

    def stopping(self) -> bool:
        """No new attempt starts (the run is ending, or a task failed)."""
        return self.ending() or self.failed is not None

    def ending(self) -> bool:
        """Every running attempt is being killed: a broken promise, a signal, a journal
        that cannot be written or a bug of ours."""
        return (self.broken is not None or self.interrupted is not None
                or self.internal_error is not None or self.journal_error is not None)

    def status(self) -> tuple[str, str | None]:
        """The status the run ends with (see ``STATUS_EXIT``), and why in words."""
        run_id = self.o.run_id
        if self.internal_error is not None:
            return "error", (f"{self.internal_error}; `grammarflow resume {run_id}` "
                             "continues the run")
        if self.journal_error is not None:
            return "interrupted", (f"the journal could not be written: {self.journal_error}; "
                                   f"once that is fixed, `grammarflow resume {run_id}` "
                                   "continues the run (nothing journaled is lost)")
        if self.broken is not None:
            return "broken", f"broken promise: {self.broken.reason}"
        if self.interrupted is not None:
            return "interrupted", (f"interrupted ({self.interrupted}); "
                                   "`grammarflow resume` continues the run")
        if self.failed is not None:
            return "failed", self.failed
        g = self.o.d.graph
        if all(s is TaskState.DONE for s in g.state.values()) and not g.holes:
            return "succeeded", None
        waiting = self.o.state.waiting
        if waiting:
            first = next(iter(waiting))
            more = f" (and {len(waiting) - 1} more)" if len(waiting) > 1 else ""
            return "waiting", (f"task {first}{more} waits for an answer: `grammarflow answer "
                               f"{run_id} {first} VALUE`, then `grammarflow resume "
                               f"{run_id}`")
        stuck = sorted(t for t, s in g.state.items() if s is not TaskState.DONE)
        return "failed", f"no task can start: {stuck[:5]} wait on {sorted(g.holes)[:5]}"

    def interrupt(self, sig: signal.Signals) -> None:
        if self.interrupted is None:
            self.interrupted = sig.name
        for attempt in self.o.running.values():
            attempt.kill(f"interrupted ({sig.name})")
        self.o.wake.set()

    def broke(self, error: BrokenPromise, message: dict[str, Any] | None,
              task: str | None = None) -> None:
        """The workflow broke a promise (the change ``message`` of ``task``, or none):
        what runs is killed, the refusal journaled, and the run ends ``broken``."""
        o = self.o
        if self.ending():
            return
        if task is None and isinstance(error, TooFewNeighbours):
            # Judged by the orchestrator, later than the change that broke it: name it.
            maker = made_by(journaled_steps(o.store, o.run_id), error.task)
            error = TooFewNeighbours(f"{error.reason}; {maker}", hole=error.hole or "",
                                     task=error.task, constraint=error.constraint or "")
        o.tentative.settle()
        for attempt in o.running.values():  # first: nothing may keep them running
            attempt.kill("the workflow broke a promise")
        text = json.dumps(message)[:MESSAGE_KEEP] if message is not None else None
        starting = message.get("task") if message and message.get("event") == "start" else None
        refusal = Refusal.of(error, task, text, starting)
        try:
            refusal = o.record_refusal(refusal)
        except JournalWriteError as e:
            # Not recorded, so not broken: `resume` runs the task again, which refuses
            # again (and is recorded then) if the refusal was its own doing.
            self.journal_failed(e)
            return
        self.broken = error
        # Only who broke it: the reason is printed once, by the run's summary.
        o.report(o, Event("broken", task, ASKED if task is not None else refusal.headline(),
                          data=refusal.to_json()))
        o.wake.set()

    # ---------------------------------------------------------------- faults of our own
    def guarded(self, action: Callable[[], None], doing: str = "scheduling tasks") -> None:
        """Run one step of the orchestrator's own work; its faults stop the run cleanly."""
        try:
            action()
        except JournalWriteError as e:
            self.journal_failed(e)
        except Exception as e:  # a bug of ours: recorded as such, never as the task's
            self.internal_fault(e, doing)

    def journal_failed(self, error: JournalWriteError) -> None:
        """Stop: kill what runs and journal nothing more (what is there stays a consistent
        prefix of the run; tasks it shows running run again on `resume`)."""
        if self.journal_error is None:
            self.journal_error = str(error)
        self.o.tentative.settle()
        for attempt in self.o.running.values():
            attempt.kill("the journal could not be written")
        self.o.wake.set()

    def internal_fault(self, error: Exception, doing: str, message: str | None = None
                       ) -> None:
        """A bug of grammarflow: stop the run with status ``error``, the traceback
        journaled and printed; the tasks are not to blame and run again on `resume`."""
        o = self.o
        if self.internal_error is not None:
            return
        self.internal_error = (f"internal error of grammarflow while {doing}: {error!r} "
                               "(a bug: please report it with the traceback)")
        text = "".join(traceback.format_exception(error))
        print(f"grammarflow: {self.internal_error}\n{text}", file=sys.stderr, flush=True)
        o.tentative.settle()
        for attempt in o.running.values():
            attempt.kill("stopped by an internal error of grammarflow")
        o.wake.set()
        try:
            o.store.append(o.run_id, InternalError(repr(error), doing, message, text))
        except JournalWriteError as e:
            self.journal_failed(e)


__all__ = ["MESSAGE_KEEP", "Outcome"]
