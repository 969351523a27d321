"""grammarflow: workflows whose shape is a graph grammar.

The public API, re-exported lazily: ``import grammarflow.task`` (inside every task
process) must not pay for the core, the store or the renderer.

>>> from grammarflow import define
>>> g = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")
>>> print(g)
start: start, end, X(start, end)
X(a, b) ::= a -> A -> b | a -> B -> b
"""

from __future__ import annotations

import importlib

# Not `from typing import TYPE_CHECKING`: every task process imports this package,
# and `typing` alone costs it ~5 ms. Type checkers read this constant the same way.
TYPE_CHECKING = False

__version__ = "0.1.0"

_EXPORTS = {
    "GrammarflowError": "grammarflow.errors",
    "BrokenPromise": "grammarflow.errors",
    "GrammarError": "grammarflow.errors",
    "NotationError": "grammarflow.errors",
    "Attempt": "grammarflow.errors",
    "Graph": "grammarflow.core.graph",
    "Task": "grammarflow.core.graph",
    "Hole": "grammarflow.core.graph",
    "Role": "grammarflow.core.graph",
    "TaskState": "grammarflow.core.graph",
    "Grammar": "grammarflow.core.grammar",
    "HoleType": "grammarflow.core.productions",
    "Production": "grammarflow.core.productions",
    "Fragment": "grammarflow.core.productions",
    "TaskSpec": "grammarflow.core.productions",
    "HoleSpec": "grammarflow.core.productions",
    "Derivation": "grammarflow.core.derivation",
    "Applied": "grammarflow.core.steps",
    "Expand": "grammarflow.core.steps",
    "Grow": "grammarflow.core.steps",
    "Refine": "grammarflow.core.steps",
    "NarrowType": "grammarflow.core.steps",
    "NarrowHole": "grammarflow.core.steps",
    "Constrain": "grammarflow.core.steps",
    "SetState": "grammarflow.core.steps",
    "Output": "grammarflow.core.steps",
    "All": "grammarflow.gather",
    "Item": "grammarflow.gather",
    "Guard": "grammarflow.core.guards",
    "Signature": "grammarflow.core.dataflow",
    "hole_type": "grammarflow.core.productions",
    "open_type": "grammarflow.core.productions",
    "define": "grammarflow.core.notation",
    "parse_types": "grammarflow.core.notation",
    "parse_fragment": "grammarflow.core.notation",
    "format_fragment": "grammarflow.core.formatting",
    "Diff": "grammarflow.core.match",
    "Added": "grammarflow.core.match",
    "add": "grammarflow.core.match",
    "Kind": "grammarflow.workflow.definition",
    "Workflow": "grammarflow.workflow.definition",
    "choice": "grammarflow.core.shapes",
    "optional_edge": "grammarflow.core.shapes",
    "repeat_parallel": "grammarflow.core.shapes",
    "map_over": "grammarflow.core.shapes",
    "repeat_series": "grammarflow.core.shapes",
    "Why": "grammarflow.errors",
    "Refusal": "grammarflow.errors",
    "load_workflow": "grammarflow.workflow.checking",
    "Run": "grammarflow.running",
    "run": "grammarflow.running",
    "run_async": "grammarflow.running",
    "open_run": "grammarflow.running",
}

__all__ = [
    "Added",
    "All",
    "Applied",
    "Attempt",
    "BrokenPromise",
    "Constrain",
    "Derivation",
    "Diff",
    "Expand",
    "Fragment",
    "Grammar",
    "GrammarError",
    "GrammarflowError",
    "Graph",
    "Grow",
    "Guard",
    "Hole",
    "HoleSpec",
    "HoleType",
    "Item",
    "Kind",
    "NarrowHole",
    "NarrowType",
    "NotationError",
    "Output",
    "Production",
    "Refine",
    "Refusal",
    "Role",
    "Run",
    "SetState",
    "Signature",
    "Task",
    "TaskSpec",
    "TaskState",
    "Why",
    "Workflow",
    "add",
    "choice",
    "define",
    "format_fragment",
    "hole_type",
    "load_workflow",
    "map_over",
    "open_run",
    "open_type",
    "optional_edge",
    "parse_fragment",
    "parse_types",
    "repeat_parallel",
    "repeat_series",
    "run",
    "run_async",
]


#: True in a task process (set by grammarflow.workflow.call and the zygote before they import a
#: workflow file): the grammar's building blocks are stand-ins (grammarflow.workflow.standin).
TASK_PROCESS = False

#: What stays real in a task process: the input markers and the exceptions.
_REAL_IN_TASKS = frozenset({"All", "Item", "GrammarflowError", "BrokenPromise",
                            "GrammarError", "NotationError"})


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'grammarflow' has no attribute {name!r}")
    if TASK_PROCESS and name not in _REAL_IN_TASKS:
        from grammarflow.workflow.standin import StandIn

        return StandIn(name)  # not cached: a process that leaves task mode gets the real one
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])


if TYPE_CHECKING:
    from grammarflow.core.dataflow import Signature
    from grammarflow.core.derivation import Derivation
    from grammarflow.core.formatting import format_fragment
    from grammarflow.core.grammar import Grammar
    from grammarflow.core.graph import Graph, Hole, Role, Task, TaskState
    from grammarflow.core.guards import Guard
    from grammarflow.core.match import Added, Diff, add
    from grammarflow.core.notation import define, parse_fragment, parse_types
    from grammarflow.core.productions import (
        Fragment,
        HoleSpec,
        HoleType,
        Production,
        TaskSpec,
        hole_type,
        open_type,
    )
    from grammarflow.core.shapes import (
        choice,
        map_over,
        optional_edge,
        repeat_parallel,
        repeat_series,
    )
    from grammarflow.core.steps import (
        Applied,
        Constrain,
        Expand,
        Grow,
        NarrowHole,
        NarrowType,
        Output,
        Refine,
        SetState,
    )
    from grammarflow.errors import (
        Attempt,
        BrokenPromise,
        GrammarError,
        GrammarflowError,
        NotationError,
        Refusal,
        Why,
    )
    from grammarflow.gather import All, Item
    from grammarflow.running import Run, open_run, run, run_async
    from grammarflow.workflow.checking import load_workflow
    from grammarflow.workflow.definition import Kind, Workflow
