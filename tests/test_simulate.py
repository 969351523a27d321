"""Simulated runs (grammarflow.core.simulate) finish on every well-formed grammar."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

import pytest
from hypothesis import given

from grammarflow import BrokenPromise, Derivation, Graph, define
from grammarflow.core.simulate import Limits, RandomChooser, derive, finish, run
from grammarflow.testing import runs

# A running task's expansion creates a hole that is due at once (T1 comes after a0,
# which is done already) but is not attached to the running task, and T1 has no
# default: the running task itself must expand it before it ends.
DUE_ELSEWHERE = define("s, u, H(s, u)", [
    "H(a0, a1) ::= a0 -> N, a1 -> N, T1(a0)",
    "T1(a) ::= a -> M | nothing",
])

T = TypeVar("T")

# A production that only re-creates its hole: a run must still end.
LOOP = define("s, e, L(s, e)", ["L(a, b) ::= L(a, b) | a -> M -> b"])


def test_a_due_hole_made_by_the_running_task_is_expanded_by_it() -> None:
    for seed in range(100):
        d = run(DUE_ELSEWHERE, RandomChooser(random.Random(seed)))
        assert d.is_finished()
        assert [t.kind for t in d.graph.tasks.values()].count("N") == 1


@given(runs(DUE_ELSEWHERE))
def test_the_runs_strategy_finishes_where_a_hole_is_due_elsewhere(d: Derivation) -> None:
    assert d.is_finished()


class FirstChoice:
    """A chooser that always takes the first option (and heads for recursion)."""

    def choose(self, options: Sequence[T]) -> T:
        return options[0]

    def coin(self) -> bool:
        return False


@pytest.mark.timeout(60)
def test_productions_that_only_recreate_holes_end_after_max_steps() -> None:
    limits = Limits(max_steps=30)
    done = run(LOOP, FirstChoice(), limits)
    assert done.is_finished() and len(done.history) <= 30 + 6  # + M's expansion, states
    assert not derive(LOOP, FirstChoice(), limits).graph.holes


@pytest.mark.timeout(60)
def test_finishing_a_hole_with_no_production_left_says_so() -> None:
    """A hole narrowed to nothing (built directly: narrowing refuses it, or should)
    cannot finish; finish() must say so, not loop."""
    grammar = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b")
    data = grammar.derivation().graph.to_json()
    data["holes"][0]["allowed"] = []
    d = Derivation(grammar, Graph.from_json(data))
    with pytest.raises(BrokenPromise, match="no production left"):
        finish(d, RandomChooser(random.Random(0)))
