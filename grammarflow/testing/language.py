"""Derivations, hole-free graphs and runs of a grammar, their choices drawn by Hypothesis."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from hypothesis import note
from hypothesis import strategies as st

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph
from grammarflow.core.simulate import Limits, derive, run, unknown_data
from grammarflow.core.steps import Output, Step

T = TypeVar("T")

__all__ = ["derivations", "finished_graphs", "partial_runs", "replay", "runs"]


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
    the checker accepts (docs/testing.md). A failing example prints as the steps that
    rebuild it (:func:`replay`), with its graph in the notation's words."""
    return _told(derive(grammar, _DrawChooser(draw), _limits(max_tasks, open_tasks, kinds)))


def _told(d: Derivation) -> Derivation:
    note(f"its graph: {d.graph.notation(most=None)}")
    return d


@st.composite
def finished_graphs(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30, *,
                    open_tasks: int = 3, kinds: Sequence[str] = ()) -> Graph:
    """Hole-free graphs in the grammar's language (no task has run yet); open holes
    grown as in :func:`derivations`.

    >>> from hypothesis import given
    >>> from grammarflow import define, repeat_parallel
    >>> grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    >>> @given(finished_graphs(grammar))
    ... def test_b_is_always_last(graph):
    ...     assert not graph.succ["B"]
    >>> test_b_is_always_last()

    A failing example prints as the graph in the notation's words, and the steps that
    make it as :func:`replay` code.
    """
    d = derive(grammar, _DrawChooser(draw), _limits(max_tasks, open_tasks, kinds))
    note(f"made by: {d!r}")
    return d.graph


@st.composite
def runs(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30, *, open_tasks: int = 3,
         kinds: Sequence[str] = (),
         outputs: Mapping[str, st.SearchStrategy[Any]] | None = None) -> Derivation:
    """Finished runs: every task done, in an order the scheduler could have chosen (open
    holes grown as in :func:`derivations`). ``outputs``: a strategy for the output of
    each kind named (say ``{"find": st.lists(st.text(), max_size=5)}``); a task of it
    gives one drawn as it starts, and the guards that read it are decided by it — a map
    over it makes exactly one copy per element. Other guards may hold or not."""
    given = outputs or {}

    def gives(d: Derivation, task: str) -> None:
        strategy = given.get(d.graph.tasks[task].kind)
        if strategy is not None:
            d.apply(Output(task, draw(strategy)))

    return _told(run(grammar, _DrawChooser(draw), _limits(max_tasks, open_tasks, kinds),
                     gives=gives if given else None))


@st.composite
def partial_runs(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30, *,
                 open_tasks: int = 3, kinds: Sequence[str] = ()) -> Derivation:
    """A run stopped after a random number of its steps (replayed from its history)."""
    finished = draw(runs(grammar, max_tasks, open_tasks=open_tasks, kinds=kinds))
    cut = draw(st.integers(0, len(finished.history)))
    return _told(Derivation.replay(grammar, finished.history[:cut]))


def replay(grammar: Grammar, steps: Sequence[Step]) -> Derivation:
    """The derivation (or run) ``steps`` make from ``grammar``'s start, as the strategies
    made it: a failing example prints as ``replay(grammar, [...])``, to paste into
    ``@example``. Raises BrokenPromise if a step is refused.

    >>> from grammarflow import Expand, define, repeat_parallel
    >>> grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    >>> d = replay(grammar, [Expand("Ms.1", "2"), Expand("Ms.1/Ms_more.1", "1")])
    >>> d
    replay(grammar, [Expand('Ms.1', '2'), Expand('Ms.1/Ms_more.1', '1')])
    >>> d.graph
    Graph('A -> Ms.1/M:M, Ms.1/M -> B')
    """
    d = unknown_data(grammar.derivation())
    for step in steps:
        d.apply(step)
    return d
