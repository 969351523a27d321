"""Cosmetics: a task and an edge styled by a journaled step, checked, drawn, replayed;
a style that could break the picture is refused and leaves nothing behind."""

from __future__ import annotations

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
