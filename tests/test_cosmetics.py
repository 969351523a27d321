"""Cosmetics: a task and an edge styled by a journaled step, checked, drawn, replayed;
a style that could break the picture is refused and leaves nothing behind."""

from __future__ import annotations

import re

import pytest

from grammarflow import BrokenPromise, SetState, TaskState, define
from grammarflow.derivation import Derivation
from grammarflow.graph import Graph
from grammarflow.render import Picture, to_dot
from grammarflow.steps import Style, step_from_json, step_to_json

G = define("a -> b")


def test_a_task_and_an_edge_are_styled_and_drawn_and_replayed() -> None:
    d = G.derivation()
    d.apply(SetState("a", TaskState.RUNNING))
    steps = [Style("a", None, {"color": "#16a34a", "label": "fetched", "tooltip": "3 rows"}),
             Style(None, ("a", "b"), {"label": "rows", "style": "dashed", "color": "red"})]
    for step in steps:
        d.apply(step)
        assert step_from_json(step_to_json(step)) == step
    dot = to_dot(d.graph, G, Picture())
    assert '"t:a" [label="fetched\\n[a]", shape=box' in dot and 'tooltip="3 rows"' in dot
    assert '"t:a" -> "t:b" [color="red", label="rows", style=dashed];' in dot
    again = Derivation.replay(G, d.history)
    assert again.graph == d.graph and again.graph.edge_attrs == {
        ("a", "b"): {"label": "rows", "style": "dashed", "color": "red"}}
    assert Graph.from_snapshot(d.graph.snapshot()).edge_attrs == d.graph.edge_attrs


@pytest.mark.parametrize(("step", "why"), [
    (Style("a", None, {"color": "red;fontsize=99"}), "color 'red;fontsize=99' is not"),
    (Style("a", None, {"shape": "star"}), "shape 'star' is not one of"),
    (Style("a", None, {"onclick": "x"}), "'onclick' does not style a task"),
    (Style(None, ("a", "b"), {"shape": "box"}), "'shape' does not style an edge"),
    (Style(None, ("b", "a"), {"label": "x"}), "no edge b -> a in the graph"),
    (Style("zz", None, {"label": "x"}), "no task 'zz'"),
    (Style("a", None, {"label": "x" * 201}), "label must be a text of 1 to 200"),
    (Style(None, ("a", "b"), {"style": "invisible"}), "style 'invisible' is not one of"),
])
def test_a_style_that_could_break_the_picture_is_refused(step: Style, why: str) -> None:
    d = G.derivation()
    before = (d.graph.to_json(), dict(d.graph.edge_attrs))
    with pytest.raises(BrokenPromise) as e:
        d.apply(step)
    assert why in e.value.reason
    assert (d.graph.to_json(), d.graph.edge_attrs) == before


def test_a_style_is_undone_with_a_refused_batch() -> None:
    d = G.derivation()
    with pytest.raises(BrokenPromise):
        d.apply_batch([Style("a", None, {"color": "blue"}),
                       Style(None, ("a", "b"), {"color": "blue"}),
                       Style("a", None, {"shape": "star"})])
    assert d.graph.tasks["a"].attrs == {} and d.graph.edge_attrs == {}


# ---------------------------------------------------------------- cosmetic promises
def styled(grammar: object, *steps: Style) -> Derivation:
    d = grammar.derivation()  # type: ignore[attr-defined]
    for step in steps:
        d.apply(step)
    return d


def test_no_cosmetic_changes_refuses_every_style() -> None:
    g = define("a -> b", cosmetics=["no cosmetic changes"])
    with pytest.raises(BrokenPromise, match="breaks the cosmetic promise 'no cosmetic "
                                            "changes': the grammar promises no cosmetic "
                                            "changes"):
        styled(g, Style("a", None, {"label": "x"}))
    with pytest.raises(BrokenPromise):
        styled(g, Style(None, ("a", "b"), {"label": "x"}))


def test_colors_from_a_set() -> None:
    g = define("a -> b", cosmetics=["colours from red,  #16a34a"])
    assert g.cosmetics == ("colors from red, #16a34a",)
    styled(g, Style("a", None, {"color": "#16a34a"}), Style(None, ("a", "b"), {"color": "red"}),
           Style("a", None, {"label": "no colour at all"}))
    with pytest.raises(BrokenPromise,
                       match=re.escape("color 'blue' is not among the promised red, #16a34a")):
        styled(g, Style("a", None, {"color": "blue"}))


def test_only_tasks_inside_a_type_may_relabel() -> None:
    g = define("a, b, X(a, b), Y(a, b)", ["X(p, q) ::= p -> m -> q", "Y(p, q) ::= p -> n -> q"],
               cosmetics=["only tasks inside X may relabel"])
    d = g.derivation()
    from grammarflow import Expand
    d.apply(Expand("X.1", "1"))
    d.apply(Expand("Y.1", "1"))
    d.apply(Style("X.1/m", None, {"label": "inside X"}))
    d.apply(Style("Y.1/n", None, {"color": "red"}))  # not a relabel
    with pytest.raises(BrokenPromise, match=re.escape("task Y.1/n was not made inside a X hole")):
        d.apply(Style("Y.1/n", None, {"label": "outside"}))
    with pytest.raises(BrokenPromise, match="task a was not made inside a X hole"):
        d.apply(Style("a", None, {"label": "start"}))
    from grammarflow.grammar import Grammar
    assert Grammar.from_json(g.to_json()).cosmetics == g.cosmetics


def test_a_promise_that_is_none_is_refused_at_registration() -> None:
    from grammarflow import GrammarError
    with pytest.raises(GrammarError, match="'make it pretty' is not a cosmetic promise"):
        define("a", cosmetics=["make it pretty"])
    with pytest.raises(GrammarError, match="are not colours"):
        define("a", cosmetics=["colors from red, not a colour"])
