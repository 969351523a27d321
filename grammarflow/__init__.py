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
    "Graph": "grammarflow.graph",
    "Task": "grammarflow.graph",
    "Hole": "grammarflow.graph",
    "Role": "grammarflow.graph",
    "TaskState": "grammarflow.graph",
    "Grammar": "grammarflow.grammar",
    "HoleType": "grammarflow.grammar",
    "Production": "grammarflow.grammar",
    "Fragment": "grammarflow.grammar",
    "TaskSpec": "grammarflow.grammar",
    "HoleSpec": "grammarflow.grammar",
    "Derivation": "grammarflow.derivation",
    "Applied": "grammarflow.steps",
    "Expand": "grammarflow.steps",
    "Grow": "grammarflow.steps",
    "Refine": "grammarflow.steps",
    "NarrowType": "grammarflow.steps",
    "NarrowHole": "grammarflow.steps",
    "Constrain": "grammarflow.steps",
    "SetState": "grammarflow.steps",
    "Output": "grammarflow.steps",
    "All": "grammarflow.gather",
    "Item": "grammarflow.gather",
    "Guard": "grammarflow.guards",
    "Signature": "grammarflow.data",
    "hole_type": "grammarflow.grammar",
    "open_type": "grammarflow.grammar",
    "define": "grammarflow.notation",
    "parse_types": "grammarflow.notation",
    "parse_fragment": "grammarflow.notation",
    "format_fragment": "grammarflow.notation",
    "Diff": "grammarflow.match",
    "Added": "grammarflow.match",
    "add": "grammarflow.match",
    "Kind": "grammarflow.workflow",
    "Workflow": "grammarflow.workflow",
    "choice": "grammarflow.shapes",
    "optional_edge": "grammarflow.shapes",
    "repeat_parallel": "grammarflow.shapes",
    "map_over": "grammarflow.shapes",
    "repeat_series": "grammarflow.shapes",
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
    "Role",
    "SetState",
    "Signature",
    "Task",
    "TaskSpec",
    "TaskState",
    "Workflow",
    "add",
    "choice",
    "define",
    "format_fragment",
    "hole_type",
    "map_over",
    "open_type",
    "optional_edge",
    "parse_fragment",
    "parse_types",
    "repeat_parallel",
    "repeat_series",
]


#: True in a task process (set by grammarflow.call and the zygote before they import a
#: workflow file): the grammar's building blocks are stand-ins (grammarflow.standin).
TASK_PROCESS = False

#: What stays real in a task process: the input markers and the exceptions.
_REAL_IN_TASKS = frozenset({"All", "Item", "GrammarflowError", "BrokenPromise",
                            "GrammarError", "NotationError"})


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'grammarflow' has no attribute {name!r}")
    if TASK_PROCESS and name not in _REAL_IN_TASKS:
        from grammarflow.standin import StandIn

        return StandIn(name)  # not cached: a process that leaves task mode gets the real one
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from grammarflow.data import Signature
    from grammarflow.datatypes import All, Item
    from grammarflow.derivation import Derivation
    from grammarflow.errors import (
        Attempt,
        BrokenPromise,
        GrammarError,
        GrammarflowError,
        NotationError,
    )
    from grammarflow.grammar import (
        Fragment,
        Grammar,
        HoleSpec,
        HoleType,
        Production,
        TaskSpec,
        hole_type,
        open_type,
    )
    from grammarflow.graph import Graph, Hole, Role, Task, TaskState
    from grammarflow.guards import Guard
    from grammarflow.match import Added, Diff, add
    from grammarflow.notation import define, format_fragment, parse_fragment, parse_types
    from grammarflow.shapes import (
        choice,
        map_over,
        optional_edge,
        repeat_parallel,
        repeat_series,
    )
    from grammarflow.steps import (
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
    from grammarflow.workflow import Kind, Workflow
