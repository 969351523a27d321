"""A generated example can be read and pasted back (issue 28.2): a graph prints in the
notation's words, a run as the steps that rebuild it, and a failing property shows both;
a graph goes to networkx for the field's algorithms."""

from __future__ import annotations

from typing import Any

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis.vendor.pretty import pretty
from strategies import RICH

import grammarflow
from grammarflow import Derivation, Expand, Graph, define, repeat_parallel
from grammarflow.testing import MessageRun, finished_graphs, message_runs, replay, runs

MAP = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
DYNAMIC = define("plan, report, Work(plan, report)",
                 ["Work(plan; report) ::= * where only step; at most 5 step"])
GRAMMARS = [MAP, DYNAMIC, *RICH]


def pasted(text: str, grammar: grammarflow.Grammar) -> Any:
    """``text`` evaluated as a user's test would, after ``from grammarflow import *``."""
    scope = {name: getattr(grammarflow, name) for name in grammarflow.__all__}
    return eval(text, {**scope, "grammar": grammar, "replay": replay})


def test_a_graph_prints_in_the_notation() -> None:
    d = MAP.derivation()
    d.apply(Expand("Ms.1", "2"))
    assert repr(d.graph) == "Graph('A -> Ms.1/M:M, Ms.1/M -> B, Ms.1/Ms_more.1=Ms_more(A, B)')"
    assert repr(define("a, Any(*)", ["Any(*) ::= *"]).derivation().graph) == \
        "Graph('a, Any.1=Any(*)')"


def test_a_big_graph_says_how_much_more_it_has() -> None:
    d = MAP.derivation()
    hole = "Ms.1"
    for _ in range(60):
        hole = d.apply(Expand(hole, "2")).holes[0]
    shown = repr(d.graph)
    assert shown.endswith(f"... and {2 * 60 + 1 - 40} more')") and len(shown) < 2_000
    assert d.graph.notation(most=None).count(" -> ") == 2 * 60


@pytest.mark.parametrize("grammar", range(len(GRAMMARS)))
def test_a_run_pasted_back_is_the_same_run(grammar: int) -> None:
    g = GRAMMARS[grammar]

    @settings(max_examples=20, derandomize=True, database=None)
    @given(runs(g, open_tasks=4))
    def check(d: Derivation) -> None:
        again = pasted(repr(d), g)
        assert again.history == d.history and again.graph == d.graph

    check()


@given(finished_graphs(MAP))
def test_a_graph_goes_to_networkx(graph: Graph) -> None:
    nxg = graph.to_networkx()
    assert set(nxg.nodes) == set(graph.tasks) and set(nxg.edges) == set(graph.edges())
    assert {n: d["kind"] for n, d in nxg.nodes(data=True)} == \
        {t.id: t.kind for t in graph.tasks.values()}
    order = list(nx.topological_sort(nxg))  # a shape analysed with the field's algorithms
    assert order[0] == "A" and order[-1] == "B"


def test_a_graph_with_holes_goes_to_networkx_with_them() -> None:
    g = define("A -> B, X(A, B), Any(*)", ["X(a, b) ::= a -> C -> b", "Any(*) ::= *"]
               ).derivation().graph
    nxg = g.to_networkx(holes=True)
    assert nxg.nodes["X.1"] == {"hole": True, "type": "X"} and ("A", "X.1") in nxg.edges
    assert ("X.1", "B") in nxg.edges and nxg.degree["Any.1"] == 0


def test_a_failing_property_shows_the_graph_and_the_steps_to_paste() -> None:
    @settings(derandomize=True, database=None)
    @given(finished_graphs(MAP))
    def at_most_one_m(graph: Graph) -> None:
        assert sum(t.kind == "M" for t in graph.tasks.values()) <= 1

    with pytest.raises(AssertionError) as failed:
        at_most_one_m()
    notes = "\n".join(getattr(failed.value, "__notes__", []))
    assert "graph=Graph('A -> Ms.1/M:M" in notes
    made = next(line for line in notes.splitlines() if line.startswith("made by: "))
    d = pasted(made.removeprefix("made by: "), MAP)
    assert sum(t.kind == "M" for t in d.graph.tasks.values()) == 2  # the shrunk example


@settings(max_examples=20)
@given(message_runs(RICH[0]))
def test_a_message_run_prints_short(run: MessageRun) -> None:
    shown = pretty(run)  # as Hypothesis prints a failing example
    assert shown.startswith(f"MessageRun({len(run.outcomes)} messages")
    assert shown.endswith(f"graph: {run.derivation.graph!r})") and len(shown) < 8_000
