"""Runs in which tasks send random messages, legal and not, between scheduling steps."""

from __future__ import annotations

from hypothesis import strategies as st

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import TaskState
from grammarflow.core.simulate import close_due_holes, due_when_done
from grammarflow.core.steps import Expand, Grow, Refine, SetState
from grammarflow.errors import BrokenPromise
from grammarflow.testing.author import write
from grammarflow.testing.messages import MessageRun, Outcome, Result, apply_message
from grammarflow.testing.writer import Draft, Memory, Writer

__all__ = ["message_runs"]

_MESSAGE_WEIGHT = 12


@st.composite
def message_runs(draw: st.DrawFn, grammar: Grammar, max_messages: int = 32,
                 max_tasks: int = 30) -> MessageRun:
    """A run in which tasks send random messages (legal and not) between scheduling steps.

    The run goes on until every task is done, a due hole breaks the promise, or
    ``max_messages`` have been sent (then the remaining tasks just run, taking defaults).
    Every kind of message in :data:`TAGS` is written where the graph allows it.
    """
    d = grammar.derivation()
    out = MessageRun(grammar, d)
    memory = Memory()
    try:
        close_due_holes(d)
    except BrokenPromise as e:
        out.broken = e
        return out
    sent = 0
    careless = draw(st.integers(0, 3)) == 0  # its tasks never expand a hole due as they end
    while True:
        running = [t for t, s in d.graph.state.items() if s is TaskState.RUNNING]
        ready = d.graph.ready_in_order()
        actions = []
        if running and sent < max_messages and len(d.graph.tasks) < max_tasks \
                and d.graph.holes:
            # messages while holes are left (where the graph can change), and first:
            # Hypothesis leans to the first option
            actions += ["message"] * _MESSAGE_WEIGHT
        if ready:
            actions.append("start")
        if running:
            actions.append("finish")
        if not actions:
            return out
        action = draw(st.sampled_from(actions))
        if action == "start":
            try:  # a constraint on the task's predecessors is decided now
                d.apply(SetState(draw(st.sampled_from(ready)), TaskState.RUNNING))
            except BrokenPromise as e:
                out.broken = e
                return out
        elif action == "finish":
            task = draw(st.sampled_from(running))
            if not careless:
                _keep_promises(draw, d, task, out)
            d.apply(SetState(task, TaskState.DONE))
            try:
                close_due_holes(d)
            except BrokenPromise as e:
                out.broken = e
                return out
        else:
            sent += 1
            wide_holes = set(d.graph.everywhere_holes())
            outcome = _send(d, write(Writer(draw, d, memory)))
            _remember(memory, outcome, wide_holes)
            out.outcomes.append(outcome)


def _remember(memory: Memory, outcome: Outcome, wide_holes: set[str]) -> None:
    for step in outcome.steps():
        if isinstance(step, Grow):
            memory.grown.setdefault(step.hole, []).extend(step.fragment.locals)
        if isinstance(step, Grow | Refine) and step.hole in wide_holes:
            memory.wide |= {(u, v) for u, v in outcome.after["edges"]} - {
                (u, v) for u, v in outcome.before["edges"]}


def _keep_promises(draw: st.DrawFn, d: Derivation, task: str, out: MessageRun) -> None:
    """A task about to end expands the holes that will then be due and have no default
    (else the promise breaks: now and then it forgets, and in a careless run it is not
    called at all), and maybe some that have one."""
    if draw(st.integers(0, 3)) == 0:
        return
    for _ in range(20):
        due = [h for h in due_when_done(d, task) if not d.grammar.types[h.type].open]
        need = [h for h in due if d.grammar.types[h.type].default not in
                {p.name for p in d.grammar.types[h.type].allowed(h.allowed)}]
        if need:
            pool = need
        elif due and draw(st.integers(0, 1)) == 0:
            pool = due
        else:
            return
        hole = draw(st.sampled_from(pool))
        names = [p.name for p in d.grammar.types[hole.type].allowed(hole.allowed)]
        if not names:  # nothing left to choose: the promise breaks when the task ends
            return
        step = Expand(hole.id, draw(st.sampled_from(names)))
        out.outcomes.append(_send(d, Draft(step, ("expand",), legal=True)))


def _send(d: Derivation, draft: Draft) -> Outcome:
    before, grammar_before = d.graph.to_json(), d.grammar.to_json()
    try:
        result: Result | None = apply_message(d, draft.message)
        error = None
    except BrokenPromise as e:
        result, error = None, e
    # Built to keep the grammar's promises, a message may still break a constraint
    # (the writers do not read them): "legal" only where none is in force.
    legal = draft.legal and not d.limits
    return Outcome(draft.message, result, error, before, d.graph.to_json(), grammar_before,
                   d.grammar.to_json(), draft.tags, draft.illegal, legal)
