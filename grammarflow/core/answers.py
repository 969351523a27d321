"""A person's answer to a waiting task, planned: its output, a choice for a hole after
it, the task done — checked and applied as one (docs/operations.md, "Waiting for a
person"). The journal's side is :mod:`grammarflow.journal.operations`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import TaskState
from grammarflow.core.steps import Expand, Output, SetState, Step
from grammarflow.errors import BrokenPromise, GrammarflowError


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


__all__ = ["answer_steps", "apply_answer"]
