"""Where running tasks' changes meet the grammar: the committed derivation plus each
running task's tentative changes.

A task's requests are checked at once against the committed graph plus its own accepted
changes, and kept only when it succeeds (:meth:`Tentative.commit`): docs/architecture.md,
"The path of one change request".
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from grammarflow.core.derivation import Derivation
from grammarflow.core.lint import near, open_types
from grammarflow.core.match import Diff, Plan, plan
from grammarflow.core.steps import Output, Step
from grammarflow.errors import BrokenPromise, Why
from grammarflow.runtime.messages import (
    AddRequest,
    ConstrainRequest,
    ExpandRequest,
    FindRequest,
    InputsRequest,
    NarrowRequest,
    OutputRequest,
    RefineRequest,
    Request,
    StyleRequest,
)

#: A raw change with more elements than this is planned apart (:meth:`Tentative.apart`):
#: on a copy of the graph, in a worker thread, while signals (Ctrl-C) and other tasks
#: (their messages, their ends) are served.
OFFLOAD_ABOVE = 2_000

#: Seconds a raw change may take to explain before it is refused as too costly
#: (``GRAMMARFLOW_RAW_CHANGE_DEADLINE`` sets another).
RAW_CHANGE_DEADLINE = float(os.environ.get("GRAMMARFLOW_RAW_CHANGE_DEADLINE", "5"))


@dataclass(frozen=True, slots=True)
class Apart:
    """A raw change planned apart: ``task``'s ``diff``, and a copy of the graph it saw
    when it sent it (``derivation``), which nothing else touches."""

    task: str
    diff: Diff
    derivation: Derivation

    def plan(self, cancelled: Callable[[], bool]) -> Plan:
        """The steps behind the change, or :class:`BrokenPromise` (any thread)."""
        return plan(self.derivation, self.diff, deadline=RAW_CHANGE_DEADLINE,
                    cancelled=cancelled, sender=self.task)


class Tentative:
    """The committed derivation, plus the tentative changes of one running task."""

    def __init__(self, derivation: Derivation,
                 check_output: Callable[[str, Any], Any] | None = None) -> None:
        self.d = derivation
        self.owner: str | None = None  # whose changes the graph holds tentatively
        #: ``check_output(task, value)``: the value as journaled, or BrokenPromise (the
        #: orchestrator validates it against the kind's declared type)
        self.check_output = check_output or (lambda task, value: value)

    def settle(self) -> None:
        """Set aside the tentative changes before the committed graph changes."""
        if self.owner is not None:
            self.d.discard()
            self.owner = None

    def apply_committed(self, steps: Sequence[Step]) -> None:
        """Steps of the orchestrator's own (states, defaults), applied to the committed
        graph all or none."""
        self.settle()
        self.d.apply_batch(steps)

    def enter(self, task: str, pending: Sequence[Step]) -> None:
        """Make the graph hold ``task``'s pending changes (rebuilt if set aside)."""
        if self.owner == task:
            return
        self.settle()
        self.d.speculate()
        self.owner = task
        try:
            for step in pending:
                self.d.apply(step)
        except BrokenPromise as e:
            self.settle()
            raise e.again(f"task {task}'s earlier changes no longer apply after another "
                          f"task's: {e.reason}") from None

    def request(self, task: str, pending: list[Step], request: Request,
                cancelled: Callable[[], bool]) -> Any:
        """Check and apply one request of ``task`` tentatively; its new steps are added
        to ``pending``. Raises :class:`BrokenPromise` (nothing applied) if refused."""
        self.enter(task, pending)
        start = len(self.d.history)
        result = self._apply(request, cancelled)
        pending.extend(self.d.history[start:])
        return result

    def apart(self, task: str, pending: Sequence[Step], request: Request) -> Apart | None:
        """A raw change too big to search while everything else waits: its diff and a
        copy of the graph ``task`` sees, to plan in a worker thread (then
        :meth:`finish_apart`); None for any other request, which :meth:`request` takes."""
        if not isinstance(request, AddRequest):
            return None
        diff = request.diff
        if len(diff.tasks) + len(diff.edges) <= OFFLOAD_ABOVE:
            return None
        self.enter(task, pending)
        return Apart(task, diff, self.d.copy())

    def finish_apart(self, apart: Apart, pending: list[Step], found: Plan | BrokenPromise,
                     cancelled: Callable[[], bool]) -> dict[str, Any]:
        """Apply ``found``, the plan made apart (or why there is none), to the graph the
        task sees now; its steps are added to ``pending``. Each step is checked again as
        it is applied: if what other tasks did meanwhile took what the plan builds on,
        the change is searched again, on the graph as it is now. Raises
        :class:`BrokenPromise` (nothing applied) if refused."""
        kinds = [t.kind for t in apart.diff.tasks]
        if isinstance(found, BrokenPromise):
            raise _with_kinds_meant(found, kinds, self._kinds())
        self.enter(apart.task, pending)
        start = len(self.d.history)
        try:
            try:
                added = found.apply_to(self.d)
            except BrokenPromise:
                added = plan(self.d, apart.diff, deadline=RAW_CHANGE_DEADLINE,
                             cancelled=cancelled, sender=apart.task).apply()
        except BrokenPromise as e:
            raise _with_kinds_meant(e, kinds, self._kinds()) from None
        pending.extend(self.d.history[start:])
        return {"ids": dict(added.ids), "holes": list(added.holes)}

    def commit(self, task: str, pending: Sequence[Step]) -> list[Step]:
        """``task`` succeeded: its pending steps become permanent; returns them."""
        if self.owner == task:
            self.owner = None
            return self.d.keep()
        self.settle()
        try:
            self.d.apply_batch(pending)
        except BrokenPromise as e:
            raise e.again(f"task {task} succeeded, but its changes no longer apply after "
                          f"another task's: {e.reason}") from None
        return list(pending)

    def drop(self, task: str) -> None:
        """``task``'s attempt ended without success: its tentative changes vanish."""
        if self.owner == task:
            self.settle()

    # ---------------------------------------------------------------- requests
    def _apply(self, r: Request, cancelled: Callable[[], bool]) -> Any:
        match r:
            case ExpandRequest(_, steps, batch):
                applied = self.d.apply_batch(list(steps))
                results = [{"tasks": dict(a.tasks), "holes": list(a.holes)} for a in applied]
                return results if batch else results[0]
            case AddRequest(_, diff):
                try:
                    return self._add(diff, cancelled)
                except BrokenPromise as e:
                    raise _with_kinds_meant(e, [t.kind for t in diff.tasks], self._kinds()) \
                        from None
            case NarrowRequest(_, step) | ConstrainRequest(_, step) | StyleRequest(_, step):
                self.d.apply(step)
                return {}
            case RefineRequest(_, step):
                refined = self.d.apply(step)
                return {"tasks": dict(refined.tasks), "holes": list(refined.holes)}
            case FindRequest(_, kind, after, before):
                return {"tasks": self._find(kind, after, before)}
            case OutputRequest(_, value):
                assert self.owner is not None
                checked = self.check_output(self.owner, value)
                self.d.apply(Output(self.owner, checked))
                return {"value": checked}
            case InputsRequest():
                assert self.owner is not None
                return {"inputs": self.d.inputs(self.owner)}
        raise TypeError(f"not a request: {r!r}")

    def _add(self, diff: Diff, cancelled: Callable[[], bool]) -> dict[str, Any]:
        added = plan(self.d, diff, deadline=RAW_CHANGE_DEADLINE, cancelled=cancelled,
                     sender=self.owner).apply()
        return {"ids": dict(added.ids), "holes": list(added.holes)}


    def _find(self, kind: str | None, after: str | None, before: str | None
              ) -> dict[str, str]:
        """``{id: kind}`` of the tasks of ``kind`` that run right after ``after`` and
        right before ``before`` (each optional), oldest first."""
        g = self.d.graph
        for task in (after, before):
            if task is not None and task not in g.tasks:
                raise BrokenPromise(
                    f"find: no task {task!r} in the graph this task sees (the committed "
                    "tasks and its own new ones)", why=Why.UNKNOWN_TASK, task=task)
        found: Iterable[str] = g.tasks
        if after is not None:
            found = g.succ[after]
        if before is not None:
            found = g.pred[before] if after is None else g.succ[after] & g.pred[before]
        if kind is not None:
            found = [t for t in found if g.tasks[t].kind == kind]
            if not found and not open_types(self.d.grammar):
                known = self._kinds()
                if kind not in known:  # no task is, nor ever will be: a misspelling
                    meant = near(kind, known)
                    hint = f"; did you mean {' or '.join(meant)}?" if meant else ""
                    raise BrokenPromise(f"find: no task is of kind {kind!r}, and no hole can "
                                        f"make one (the kinds: {', '.join(sorted(known))})"
                                        f"{hint}", why=Why.NOT_DECLARED)
        return g.kinds_in_order(found)

    def _kinds(self) -> set[str]:
        """The kinds of the tasks in the graph and of those its grammar can make."""
        g = self.d.graph
        return self.d.grammar.kinds() | {task.kind for task in g.tasks.values()}


def _with_kinds_meant(refused: BrokenPromise, kinds: Iterable[str], known: set[str]
                      ) -> BrokenPromise:
    """A refused change's refusal, saying which kind each of its kinds that no task is
    nor can be may misspell (none: as it was)."""
    meant = {k: near(k, known, most=1) for k in dict.fromkeys(kinds) if k not in known}
    hints = [f"{m[0]}, not {k}" for k, m in meant.items() if m]
    if not hints:
        return refused
    return refused.again(f"{refused.reason}; did you mean kind {'; '.join(hints)}?")


__all__ = ["OFFLOAD_ABOVE", "RAW_CHANGE_DEADLINE", "Apart", "Tentative"]
