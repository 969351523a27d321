"""What a task gives and takes, as steps of a derivation: its output (once, while it
runs, of a kind that declares one), its inputs bound from its predecessors' outputs,
and edges that join data of like types (:mod:`grammarflow.core.dataflow`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from grammarflow.core.dataflow import BindingError, bind, edge_problem
from grammarflow.core.graph import JSON, TaskState
from grammarflow.core.steps import Applied, Output
from grammarflow.errors import BrokenPromise, Why

if TYPE_CHECKING:  # annotations only: the derivation calls these, passing itself
    from grammarflow.core.derivation import Derivation


def inputs(d: Derivation, task: str) -> dict[str, JSON]:
    """The values of a task's inputs (its predecessors done); BrokenPromise if one
    cannot be bound (decided when the task would start: the orchestrator could not
    start it)."""
    sig = d.grammar.data.get(d.graph.tasks[task].kind)
    if sig is None:
        return {}
    try:
        return bind(d.graph, task, sig)
    except BindingError as e:
        raise BrokenPromise(f"the orchestrator could not start task {task}: {e}",
                            why=Why.INPUTS, task=task) from None


def output(d: Derivation, step: Output) -> Applied:
    g = d.graph
    if step.task not in g.tasks:
        raise BrokenPromise(f"no task {step.task!r} in the graph", why=Why.UNKNOWN_TASK,
                            task=step.task)
    if g.state[step.task] is not TaskState.RUNNING:
        raise BrokenPromise(f"task {step.task} is {g.state[step.task].value}: only a "
                            "running task gives its output", why=Why.OUTPUT,
                            task=step.task)
    kind = g.tasks[step.task].kind
    sig = d.grammar.data.get(kind)
    if sig is not None and sig.output is None:
        raise BrokenPromise(f"task {step.task} gave an output, and kind {kind} declares "
                            "none (declare its type to give one)", why=Why.OUTPUT,
                            task=step.task)
    g.set_output(step.task, step.value)
    return Applied(step)


def check_data_edges(d: Derivation, edges: Iterable[tuple[str, str]]) -> None:
    data = d.grammar.data
    for u, v in edges:
        why = edge_problem(d.graph, data, u, v)
        if why is not None:
            raise BrokenPromise(why, why=Why.INPUTS, edge=(u, v))



__all__ = ["check_data_edges", "inputs", "output"]
