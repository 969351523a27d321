"""Derivations, hole-free graphs and runs of a grammar, their choices drawn by Hypothesis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from hypothesis import strategies as st

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph
from grammarflow.core.simulate import Limits, derive, run

T = TypeVar("T")

__all__ = ["derivations", "finished_graphs", "partial_runs", "runs"]


class _DrawChooser:
    """A simulate.Chooser whose choices Hypothesis draws (and so can shrink)."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self._draw = draw

    def choose(self, options: Sequence[T]) -> T:
        return options[self._draw(st.integers(0, len(options) - 1))]  # type: ignore[no-any-return]

    def coin(self) -> bool:
        return bool(self._draw(st.booleans()))


def _limits(max_tasks: int, open_tasks: int, kinds: Sequence[str]) -> Limits:
    return Limits(max_tasks=max_tasks, max_open_growth=open_tasks, kinds=tuple(kinds))


@st.composite
def derivations(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30, *,
                open_tasks: int = 3, kinds: Sequence[str] = ()) -> Derivation:
    """Complete derivations: holes expanded in any order until none is left.

    An open hole grows up to ``open_tasks`` tasks (how many is drawn) of the kinds its
    constraints name, else of the grammar's kinds and ``kinds``; every growth is one
    the checker accepts (docs/testing.md)."""
    return derive(grammar, _DrawChooser(draw), _limits(max_tasks, open_tasks, kinds))


def finished_graphs(grammar: Grammar, max_tasks: int = 30, *, open_tasks: int = 3,
                    kinds: Sequence[str] = ()) -> st.SearchStrategy[Graph]:
    """Hole-free graphs in the grammar's language (no task has run yet); open holes
    grown as in :func:`derivations`.

    >>> from hypothesis import given
    >>> from grammarflow import define, repeat_parallel
    >>> grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    >>> @given(finished_graphs(grammar))
    ... def test_b_is_always_last(graph):
    ...     assert not graph.succ["B"]
    >>> test_b_is_always_last()
    """
    return derivations(grammar, max_tasks, open_tasks=open_tasks, kinds=kinds).map(
        lambda d: d.graph)


@st.composite
def runs(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30, *, open_tasks: int = 3,
         kinds: Sequence[str] = ()) -> Derivation:
    """Finished runs: every task done, in an order the scheduler could have chosen (open
    holes grown as in :func:`derivations`)."""
    return run(grammar, _DrawChooser(draw), _limits(max_tasks, open_tasks, kinds))


@st.composite
def partial_runs(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30, *,
                 open_tasks: int = 3, kinds: Sequence[str] = ()) -> Derivation:
    """A run stopped after a random number of its steps (replayed from its history)."""
    finished = draw(runs(grammar, max_tasks, open_tasks=open_tasks, kinds=kinds))
    cut = draw(st.integers(0, len(finished.history)))
    return Derivation.replay(grammar, finished.history[:cut])
