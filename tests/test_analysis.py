"""The analysis (grammarflow/core/analysis.py, proofs/13-analysis.md) against runs:
every finished run keeps within its bounds, uses no production it calls unusable, and
the fewest (and, where bounded, the most) tasks are reached by a run built from its
witness choices."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st
from strategies import grammars, mixed_grammars

from grammarflow import define, repeat_parallel
from grammarflow.core.analysis import ANY_KIND, analyze, analyze_graph, witness
from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.productions import Fragment
from grammarflow.core.steps import Expand, Refine
from grammarflow.errors import GrammarflowError
from grammarflow.testing import derivations


def used(grammar: Grammar, d: Derivation) -> set[tuple[str, str]]:
    """(type, production) of every expansion the derivation made."""
    again = grammar.derivation()
    found = set()
    for step in d.history:
        if isinstance(step, Expand):
            found.add((again.graph.holes[step.hole].type, step.production))
        again.apply(step)
    return found


@given(st.data())
def test_every_finished_run_keeps_within_the_bounds(data: st.DataObject) -> None:
    grammar = data.draw(mixed_grammars(constrained=True))
    a = analyze(grammar)
    d = data.draw(derivations(grammar))
    tasks = len(d.graph.tasks)
    assert a.finishable
    assert a.tasks.min <= tasks <= (math.inf if a.tasks.max is None else a.tasks.max)
    counts = Counter(t.kind for t in d.graph.tasks.values())
    for kind, bounds in a.kinds.items():
        if kind != ANY_KIND:
            assert bounds.min <= counts[kind] <= (bounds.max if bounds.max is not None
                                                  else math.inf), kind
    for kind in counts:
        assert kind in a.kinds or ANY_KIND in a.kinds, kind
        assert kind not in a.never
    assert not used(grammar, d) & set(a.unused)
    chain = longest_path(d)
    assert a.chain is None or chain <= a.chain
    event(f"tasks {a.tasks}")
    event("the longest chain reached" if chain == a.chain else "a shorter chain")


def longest_path(d: Derivation) -> int:
    """The most tasks on one path of the derivation's graph."""
    import networkx as nx

    g = d.graph.to_networkx()
    return len(nx.dag_longest_path(g)) if g.number_of_nodes() else 0


def built(grammar: Grammar, choices: dict[str, str]) -> Derivation:
    """A run that takes ``choices[T]`` for every hole of type T, an open hole as nothing."""
    d = grammar.derivation()
    while d.graph.holes:
        hole = d.graph.holes[min(d.graph.holes)]
        t = grammar.types[hole.type]
        if t.open:
            d.apply(Refine(hole.id, Fragment()))
            continue
        p = t.production(choices[hole.type])
        d.apply(Expand(hole.id, p.name, guard=p.guard.label() if p.guard else None))
        assert len(d.graph.tasks) < 10_000, "a witness that never ends"
    return d


@given(grammars())
def test_the_fewest_tasks_are_reached(grammar: Grammar) -> None:
    a = analyze(grammar)
    assume(a.finishable)
    try:
        d = built(grammar, witness(grammar))
    except GrammarflowError as e:  # a guard that reads data no task gave: not decided
        assume(False)
        raise AssertionError from e
    assert len(d.graph.tasks) == a.tasks.min


@given(grammars(allow_open=False))
def test_the_most_tasks_are_reached_where_bounded(grammar: Grammar) -> None:
    a = analyze(grammar)
    assume(a.finishable and a.tasks.max is not None)
    try:
        d = built(grammar, witness(grammar, most=True))
    except GrammarflowError as e:
        assume(False)
        raise AssertionError from e
    assert len(d.graph.tasks) == a.tasks.max


# ---------------------------------------------------------------- by hand
def test_a_map_is_unbounded_by_its_repetition() -> None:
    a = analyze(define("A, B, Ms(A, B)", repeat_parallel("Ms", "M")))
    assert (a.tasks.min, a.tasks.max) == (2, None)
    assert a.unbounded_by == ("Ms_more",)
    assert (a.kinds["M"].min, a.kinds["M"].max) == (0, None)


def test_a_recursion_that_adds_nothing_does_not_pump() -> None:
    a = analyze(define("s, e, X(s, e)", "X(a, b) ::= X(a, b) | a -> A -> b"))
    # X ::= X repeats without adding a task: the most is still one A
    assert (a.tasks.min, a.tasks.max) == (3, 3) and a.unbounded_by == ()
    g = define("s, e, X(s, e)", ["X(a, b) ::= a -> A -> b | a -> B -> b, X(a, b)"])
    assert analyze(g).tasks.max is None and analyze(g).unbounded_by == ("X",)


def test_an_open_hole_counts_what_its_constraints_allow() -> None:
    g = define("plan, Steps(plan)", "Steps(p;) ::= * where only step; at most 5 step")
    a = analyze(g)
    assert (a.tasks.min, a.tasks.max) == (1, 6)
    assert (a.kinds["step"].min, a.kinds["step"].max) == (0, 5)
    assert ANY_KIND not in a.kinds and a.unbounded_by == ()
    free = analyze(define("start, Any(*)", "Any(*) ::= *"))
    assert free.tasks.max is None and ANY_KIND in free.kinds and free.unbounded_by == ("Any",)


def test_productions_no_run_can_use_and_holes_that_can_stick() -> None:
    g = define("s, e, X(s, e)", ["X(a, b) ::= [default] a -> A -> b | a -> B -> b",
                                 "Z(a, b) ::= a -> C -> b"])
    a = analyze(g)
    assert a.unused == (("Z", "1"),)  # no hole of Z is ever made
    assert a.never == ("C",) and a.stuck == ()
    stuck = analyze(define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b"))
    assert stuck.stuck == ("X",)  # due with no default: the run breaks there


def test_a_run_as_it_stands_has_fewer_futures() -> None:
    g = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    d = g.derivation()
    step = d.apply(Expand("Ms.1", "2"))
    d.apply(Expand(step.holes[0], "2"))
    now = analyze_graph(g, d.graph)
    assert now.tasks.min == 4 and now.tasks.max is None
    d.apply(Expand(d.graph.holes[next(iter(d.graph.holes))].id, "1"))
    done = analyze_graph(g, d.graph)
    assert (done.tasks.min, done.tasks.max) == (4, 4) and done.unbounded_by == ()


@pytest.mark.parametrize("grammar", [define("a -> b", [])])
def test_a_static_workflow_is_exactly_its_tasks(grammar: Grammar) -> None:
    a = analyze(grammar)
    assert (a.tasks.min, a.tasks.max) == (2, 2) and a.finishable


def test_a_hole_whose_guards_choose_never_sticks() -> None:
    from pathlib import Path

    from grammarflow.workflow.checking import load_workflow

    examples = Path(__file__).resolve().parent.parent / "examples"
    guarded = load_workflow(examples / "branch_on_data.py").grammar
    assert any(t.guarded for t in guarded.types.values())
    assert analyze(guarded).stuck == ()


def test_the_longest_chain_by_hand() -> None:
    assert analyze(define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> C -> b"
                          )).chain == 4
    assert analyze(define("a -> b -> c, d", [])).chain == 3
    loop = define("s, e, L(s, e)", "L(a, b) ::= [default] a -> b | a -> S, L(S, b)")
    assert analyze(loop).chain is None  # each turn one step longer, without end
    fan = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    assert analyze(fan).chain == 3  # as many Ms as you like, side by side: A -> M -> B


@given(st.data())
def test_a_workflow_with_no_hole_is_exactly_its_graph(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 8))
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
                               .filter(lambda e: e[0] < e[1]), max_size=12))
    items = [f"t{i}" for i in range(n)] + [f"t{u} -> t{v}" for u, v in edges]
    grammar = define(", ".join(items), [])
    a = analyze(grammar)
    assert (a.tasks.min, a.tasks.max) == (n, n)
    assert a.chain == longest_path(grammar.derivation())
