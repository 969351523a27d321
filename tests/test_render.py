"""The picture, read as DOT (and rendered by the real `dot`)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grammarflow import Expand, SetState, TaskState, define, optional_edge, repeat_parallel
from grammarflow.render import HOLE_SHAPE, Picture, quote, render, to_dot

BRANCH = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")


def node(dot: str, name: str) -> str:
    m = re.search(rf'^  {re.escape(quote(name))} \[(.*)\];$', dot, re.M)
    assert m, f"no node {name} in\n{dot}"
    return m.group(1)


def edges(dot: str) -> set[tuple[str, str]]:
    return set(re.findall(r'^  "([^"]+)" -> "([^"]+)"', dot, re.M))


def test_a_hole_is_a_dashed_wildcard_with_its_productions_in_short() -> None:
    dot = to_dot(BRANCH.derivation().graph, BRANCH)
    hole = node(dot, "h:X.1")
    assert f"shape={HOLE_SHAPE}" in hole and 'style="dashed"' in hole
    assert 'label="X.1: X\\nA | B"' in hole
    assert {("t:start", "h:X.1"), ("h:X.1", "t:end")} <= edges(dot)
    assert ("t:start", "t:end") not in edges(dot)


def test_a_repetition_reads_as_a_star_and_an_optional_edge_as_a_dashed_edge() -> None:
    g = define("A, B, Ms(A, B), C, E(B, C)", [*repeat_parallel("Ms", "M"), *optional_edge()])
    dot = to_dot(g.derivation().graph, g)
    assert 'label="Ms.1: Ms\\nM*"' in node(dot, "h:Ms.1")
    assert "h:E.1" not in dot
    line = next(x for x in dot.splitlines() if x.startswith('  "t:B" -> "t:C"'))
    assert "style=dashed" in line and 'label="E?"' in line


def test_an_open_hole_everywhere_floats_alone() -> None:
    g = define("s, Any(*)", "Any(*) ::= *")
    dot = to_dot(g.derivation().graph, g)
    assert "anything may be added" in node(dot, "h:Any.1")
    assert not any("h:Any.1" in e for pair in edges(dot) for e in pair)


def test_tasks_are_drawn_by_state() -> None:
    d = BRANCH.derivation()
    d.apply(SetState("start", TaskState.RUNNING))
    d.apply(Expand("X.1", "2"))
    running = to_dot(d.graph, BRANCH)
    assert 'fillcolor="#fde68a"' in node(running, "t:start")  # running
    assert 'fillcolor="#ffffff"' in node(running, "t:X.1/B")  # pending
    d.apply(SetState("start", TaskState.DONE))
    done = to_dot(d.graph, BRANCH)
    assert 'fillcolor="#bbf7d0"' in node(done, "t:start")
    assert 'fillcolor="#dbeafe"' in node(done, "t:X.1/B")  # ready
    assert "h:X.1" not in done


HOSTILE = ['a "quoted" label', "braces {x} [y]", "<script>alert(1)</script>",
           "two\nlines", "back\\slash", "<b>html</b>", "tab\there", "nul\x00char"]


@pytest.mark.parametrize("text", HOSTILE)
def test_labels_are_escaped_and_cannot_inject(text: str) -> None:
    g = define("start", [])
    d = g.derivation()
    d.graph.tasks["start"] = type(d.graph.tasks["start"])("start", "start",
                                                          {"label": text, "color": text,
                                                           "shape": text})
    dot = to_dot(d.graph, g)
    svg = render(dot, "svg").decode()  # the real dot parses it
    assert "<script>" not in svg and "<b>html</b>" not in svg
    label = node(dot, "t:start")
    assert "shape=box" in label  # an unsafe shape falls back
    assert "penwidth" not in label  # an unsafe colour is ignored


def with_label(text: str) -> str:
    """The SVG of a one-task graph whose task, production and edge carry ``text``."""
    g = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b")
    d = g.derivation()
    d.apply(Expand("X.1", "1", {"A": {"label": text, "edge_label": text}}))
    return render(to_dot(d.graph, g, Picture(title=text)), "svg").decode()


SVG = "{http://www.w3.org/2000/svg}"
#: What XML 1.0 forbids, what dot turns into it (character references), and friends.
UNSHOWABLE = ["\ud800", "\udfff", "\ufffe", "\uffff", "\x00", "\x01", "\x1f", "\x7f",
              "\x85", "&#1;", "&#xFFFE;", "&#xD800;", "&amp;", "&", "<", "]]>"]


@given(st.lists(st.one_of(st.sampled_from(UNSHOWABLE), st.characters()), max_size=30))
def test_whatever_a_label_holds_dots_svg_is_well_formed_xml(parts: list[str]) -> None:
    ET.fromstring(with_label("".join(parts)).split("\n", 1)[1])  # past the XML prologue


@pytest.mark.parametrize("text, shown", [
    ("\ufffe|\uffff|\ud800", "\\ufffe|\\uffff|\\ud800"),
    ("&#1;|&#xFFFE;|&amp;", "&#1;|&#xFFFE;|&amp;"),  # references are not resolved
    ("a\x01b\x85", "a\\x01b\\x85"),
])
def test_unshowable_characters_are_shown_as_escapes(text: str, shown: str) -> None:
    svg = ET.fromstring(with_label(text).split("\n", 1)[1])
    texts = ["".join(t.itertext()) for t in svg.iter(f"{SVG}text")]
    assert shown in texts, texts


def test_cosmetics_within_the_safe_set() -> None:
    g = define("start", [])
    d = g.derivation()
    d.graph.tasks["start"] = type(d.graph.tasks["start"])(
        "start", "start", {"label": "Fetch the data", "color": "#ff0000", "shape": "cylinder"})
    label = node(to_dot(d.graph, g), "t:start")
    assert "shape=cylinder" in label and 'color="#ff0000"' in label
    assert "Fetch the data" in label


def test_edge_cosmetics_come_from_the_task_the_edge_ends_at() -> None:
    g = define("a -> b", [])
    d = g.derivation()
    d.graph.tasks["b"] = type(d.graph.tasks["b"])(
        "b", "b", {"edge_color": "#00aa00", "edge_label": 'waits on "a"'})
    line = next(x for x in to_dot(d.graph, g).splitlines() if x.startswith('  "t:a" -> "t:b"'))
    assert 'color="#00aa00"' in line and 'label="waits on \\"a\\""' in line
    d.graph.tasks["b"] = type(d.graph.tasks["b"])("b", "b", {"edge_color": "red; bad=1"})
    line = next(x for x in to_dot(d.graph, g).splitlines() if x.startswith('  "t:a" -> "t:b"'))
    assert line == '  "t:a" -> "t:b";'


def test_siblings_collapse_above_the_threshold() -> None:
    g = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    d = g.derivation()
    applied = d.apply(Expand("Ms.1", "2"))
    for _ in range(299):
        applied = d.apply(Expand(applied.holes[0], "2"))
    dot = to_dot(d.graph, g, Picture(collapse_above=100))
    groups = re.findall(r'label="M ×(\d+)\\n\((\d+) pending\)"', dot)
    assert groups == [("300", "300")]
    assert dot.count('"t:') < 10


def test_the_real_dot_renders_svg_png_and_pdf() -> None:
    dot = to_dot(BRANCH.derivation().graph, BRANCH, Picture(alternatives=True))
    assert render(dot, "svg").lstrip().startswith(b"<?xml")
    assert render(dot, "png").startswith(b"\x89PNG")
    assert render(dot, "pdf").startswith(b"%PDF")
    assert "cluster_X.1_0" in dot and "cluster_X.1_1" in dot


def test_a_long_run_of_tasks_collapses_into_one_node() -> None:
    g = define(" -> ".join(["start"] + [f"t{i}:t" for i in range(300)] + ["end"]), [])
    dot = to_dot(g.derivation().graph, g, Picture(collapse_above=100))
    assert re.findall(r'label="t ×(\d+) in a row\\n\((\d+) pending\)"', dot) == [("300", "300")]
    assert {("t:start", "g:t~t0"), ("g:t~t0", "t:end")} <= edges(dot)
