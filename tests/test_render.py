"""The picture, read as DOT (and rendered by the real `dot`)."""

from __future__ import annotations

import html
import re
import shlex
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from grammarflow import (
    BrokenPromise,
    Derivation,
    Expand,
    Fragment,
    Grammar,
    HoleSpec,
    Refine,
    SetState,
    TaskSpec,
    TaskState,
    define,
    open_type,
    optional_edge,
    repeat_parallel,
    repeat_series,
)
from grammarflow.core.constraints import AtMost, Degree, Each, NoEdges, OnlyKinds, parse_constraints
from grammarflow.core.graph import Role
from grammarflow.core.match import Diff, add
from grammarflow.core.scopes import ConstraintState
from grammarflow.core.steps import Constrain, NarrowHole, Style
from grammarflow.errors import Attempt, GrammarError, Refusal
from grammarflow.picture.render import (
    HOLE_SHAPE,
    REFUSED,
    Picture,
    quote,
    render,
    to_dot,
)
from grammarflow.picture.words import ANYWHERE_LATER

BRANCH = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")


def node(dot: str, name: str) -> str:
    m = re.search(rf'^ +{re.escape(quote(name))} \[(.*)\];$', dot, re.M)
    assert m, f"no node {name} in\n{dot}"
    return m.group(1)


def edges(dot: str) -> set[tuple[str, str]]:
    return set(re.findall(r'^  "([^"]+)" -> "([^"]+)"', dot, re.M))


def test_a_hole_is_a_dashed_wildcard_saying_in_words_what_it_may_become() -> None:
    dot = to_dot(BRANCH.derivation().graph, BRANCH)
    hole = node(dot, "h:X.1")
    assert f"shape={HOLE_SHAPE}" in hole and 'style="dashed"' in hole
    assert 'label="X.1 (X) becomes\\nA\\nor B"' in hole
    assert {("t:start", "h:X.1"), ("h:X.1", "t:end")} <= edges(dot)
    assert ("t:start", "t:end") not in edges(dot)


def test_a_wildcard_that_may_make_a_hole_attached_everywhere_says_so() -> None:
    """Found by fuzzing: T1 may become a T0 hole, which may become Any(*): then
    anything may be added anywhere, and the picture must not hide it behind "a T0
    hole" (it drew no way for Dyn's tasks to reach T1's)."""
    g = define("s0:A -> s1:A, Dyn(s0, s1), T1(s0, s1)", """
        T0(a) ::= nothing | Any(*)
        T1(a; b) ::= a -> M -> b | a -> b, T0(a)
        Dyn(a; b) ::= *
        Any(*) ::= *
    """)
    d = g.derivation()
    dot = to_dot(d.graph, d.grammar)
    t1 = next(line for line in dot.splitlines() if line.startswith('  "h:T1.1"'))
    dyn = next(line for line in dot.splitlines() if line.startswith('  "h:Dyn.1"'))
    assert ANYWHERE_LATER in t1 and ANYWHERE_LATER not in dyn
    d.apply(NarrowHole("T1.1", ("2",)))  # narrowed to what cannot reach Any: no more
    t1 = next(line for line in to_dot(d.graph, d.grammar).splitlines()
              if line.startswith('  "h:T1.1"'))
    assert ANYWHERE_LATER not in t1 and "T1.1 (T1) becomes" in t1


def test_a_repetition_reads_zero_or_more_and_an_optional_edge_is_a_dashed_edge() -> None:
    g = define("A, B, Ms(A, B), C, E(B, C)", [*repeat_parallel("Ms", "M"), *optional_edge()])
    dot = to_dot(g.derivation().graph, g)
    assert 'label="Ms.1 (Ms) becomes\\nzero or more M"' in node(dot, "h:Ms.1")
    assert "h:E.1" not in dot
    line = next(x for x in dot.splitlines() if x.startswith('  "t:B" -> "t:C"'))
    assert "style=dashed" in line and 'label="E.1: maybe"' in line


@pytest.mark.parametrize("types, label", [
    ("X(a, b) ::= nothing | a -> N -> M -> b, a -> K -> b",
     "X.1 (X) becomes\nnothing\nor (N then M) and K"),
    (["X(a, b) ::= a -> b | a -> N -> b, Y(N, b)", "Y(a, b) ::= a -> b | nothing"],
     "X.1 (X) becomes\nnothing (order kept)\nor N then a Y hole"),
    (repeat_parallel("X", "M", at_least=1), "X.1 (X) becomes\none or more M"),
    (repeat_series("X", "M"), "X.1 (X) becomes\nnothing (order kept)\nor M then a X hole"),
    ("X(a, b) ::= a -> b | a -> M -> b, a -> M2:M -> b",
     "X.1 (X) becomes\nnothing (order kept)\nor M and M"),
    ("X(a; b) ::= *", "X.1 (X) becomes\nanything"),
])
def test_hole_labels_read_in_words_with_nothing_named(types: str | list[str],
                                                       label: str) -> None:
    g = define("A, B, X(A, B)", types)
    drawn = node(to_dot(g.derivation().graph, g), "h:X.1")
    assert f"label={quote(label)}" in drawn
    assert not set("→∅…|*∗") & set(label)  # no short notation left to decode


def plain(dot: str) -> dict[str, tuple[float, float]]:
    """Where the real dot places each node: ``dot -Tplain`` centres, by name."""
    places = {}
    for line in render(dot, "plain").decode().splitlines():
        if line.startswith("node "):
            name, x, y = shlex.split(line)[1:4]
            places[name] = (float(x), float(y))
    return places


def test_the_flow_runs_left_to_right_with_a_hole_between_its_tasks() -> None:
    g = define("A -> C -> D, B, X(A, B), Y(C, B)",
               ["X(a, b) ::= a -> N -> M -> b | a -> b", "Y(a, b) ::= a -> K -> b"])
    at = plain(to_dot(g.derivation().graph, g))
    assert at["t:A"][0] < at["t:C"][0] < at["t:D"][0]
    assert at["t:A"][0] < at["h:X.1"][0] < at["t:B"][0]
    assert at["t:C"][0] < at["h:Y.1"][0] < at["t:B"][0]


def svg_texts(svg: bytes) -> list[tuple[str, float, float, str]]:
    """Each text element of dot's SVG: its text, x, y and colour."""
    root = ET.fromstring(svg.decode().split("\n", 1)[1])
    return [("".join(t.itertext()), float(t.get("x", 0)), float(t.get("y", 0)),
             t.get("fill", "")) for t in root.iter(f"{SVG}text")]


def test_the_legend_is_one_small_row_above_the_picture() -> None:
    g = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    texts = svg_texts(render(to_dot(g.derivation().graph, g, Picture(title="t")), "svg"))
    words = ["pending", "ready", "running", "done", "failed",
             "hole: what may still appear", "⇢ edge that may appear"]
    row = [next(t for t in texts if t[0] == w) for w in words]
    assert len({y for _, _, y, _ in row}) == 1  # one row
    assert [x for _, x, _, _ in row] == sorted(x for _, x, _, _ in row)
    assert row[0][2] < min(y for text, _, y, _ in texts if text in ("A", "B"))  # above
    assert "refused" not in {t[0] for t in texts}  # only for a broken run


def broken() -> tuple[Derivation, Refusal]:
    """BRANCH with start running, its change (a task no production makes) refused."""
    d = BRANCH.derivation()
    d.apply(SetState("start", TaskState.RUNNING))
    rogue = Diff((TaskSpec("rogue", "Rogue"),), (("start", "rogue"), ("rogue", "end")))
    with pytest.raises(BrokenPromise) as refused:
        add(d, rogue)
    return d, Refusal.from_json({**refused.value.to_json(), "task": "start"})


def test_a_broken_run_is_titled_broken_and_marks_the_task_whose_change_was_refused() -> None:
    d, refusal = broken()
    assert refusal.hole == "X.1" and len(refusal.attempts) == 2
    dot = to_dot(d.graph, d.grammar, Picture(title="run 1", refusal=refusal))
    start = node(dot, "t:start")
    assert 'tooltip="refused"' in start and "ready" not in start and "running" not in start
    assert "its change was refused" in start and "penwidth=3" in start
    assert f'color="{REFUSED}"' in node(dot, "h:X.1")  # where the change was aimed
    texts = svg_texts(render(dot, "svg"))
    title = next(t for t in texts if t[0].startswith("BROKEN"))
    assert title[0] == "BROKEN: task start asked for a change the grammar does not allow (run 1)"
    assert title[3] == REFUSED and title[2] == min(t[2] for t in texts)  # red, at the top
    shown = " ".join(t[0] for t in texts)
    assert refusal.reason.split(";")[0] in shown  # the caption: the refusal's first line
    for attempt in refusal.attempts:
        assert f"tried {attempt.production}" in shown
    assert "refused" in {t[0] for t in texts}  # and the legend says what red means


def test_a_picture_without_a_refusal_says_nothing_of_one() -> None:
    d, _ = broken()
    dot = to_dot(d.graph, d.grammar, Picture(title="run 1"))
    assert "BROKEN" not in dot and "refused" not in dot
    assert 'tooltip="running"' in node(dot, "t:start")


def a_map(n: int) -> tuple[Grammar, Derivation]:
    """``A -> M ×n -> B``, finished."""
    g = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    d = g.derivation()
    applied = d.apply(Expand("Ms.1", "2"))
    for _ in range(n - 1):
        applied = d.apply(Expand(applied.holes[0], "2"))
    return g, d


def test_the_refused_task_is_drawn_alone_when_its_siblings_collapse() -> None:
    g, d = a_map(10)
    first = next(t for t in d.graph.tasks if d.graph.tasks[t].kind == "M")
    dot = to_dot(d.graph, g, Picture(collapse_above=5,
                                    refusal=Refusal("no way", task=first)))
    assert 'tooltip="refused"' in node(dot, f"t:{first}")
    assert re.search(r'label="M ×9\\n\(9 pending\)"', dot)


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
    dot = to_dot(d.graph, g, Picture(title=text, refusal=Refusal(
        text, hole=text, attempts=((text, text),), message=text)))
    svg = render(dot, "svg").decode()  # the real dot parses it
    assert "<script>" not in svg and "<b>html</b>" not in svg
    heading = re.search(r"label=(<<TABLE.*</TABLE>>), labelloc", dot)
    assert heading and "<b>" not in heading.group(1) and "<script>" not in heading.group(1)
    label = node(dot, "t:start")
    assert "shape=box" in label  # an unsafe shape falls back
    assert "penwidth" not in label  # an unsafe colour is ignored


def with_label(text: str) -> str:
    """The SVG of a one-task graph whose task, production, edge, title and refusal
    carry ``text``."""
    g = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b")
    d = g.derivation()
    d.apply(Expand("X.1", "1", {"A": {"label": text}}))
    d.graph.style_edge("start", "X.1/A", {"label": text})  # unchecked: what escaping meets
    refusal = Refusal(text, task="start", attempts=(Attempt(text, text),))
    return render(to_dot(d.graph, g, Picture(title=text, refusal=refusal)), "svg").decode()


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


def test_edge_cosmetics_are_registered_for_kinds_and_restyled_at_run_time() -> None:
    g = define("a -> b, b -> c", [], styles={
        "a -> b": {"color": "#00aa00", "label": 'waits on "a"'}, "b": {"shape": "note"}})
    d = g.derivation()

    def line(u: str, v: str) -> str:
        return next(x for x in to_dot(d.graph, g).splitlines()
                    if x.startswith(f'  "t:{u}" -> "t:{v}"'))

    assert line("a", "b") == '  "t:a" -> "t:b" [color="#00aa00", label="waits on \\"a\\""];'
    assert line("b", "c") == '  "t:b" -> "t:c";'  # an edge's style is its own, not b's
    assert "shape=note" in node(to_dot(d.graph, g), "t:b")
    d.apply(Style(None, ("a", "b"), {"label": "rows", "style": "dashed"}))
    assert line("a", "b") == '  "t:a" -> "t:b" [color="#00aa00", label="rows", style=dashed];'
    d.graph.tasks["c"] = type(d.graph.tasks["c"])("c", "c", {"edge_color": "red"})
    assert line("b", "c") == '  "t:b" -> "t:c";'  # a task's attrs never style edges
    assert Grammar.from_json(g.to_json()).styles == g.styles


@pytest.mark.parametrize("styles, said", [
    ({"a -> b": {"shape": "box"}}, "styles['a -> b']: 'shape' does not style an edge"),
    ({"a -> b -> c": {"color": "red"}}, "styles: 'a -> b -> c' is neither a kind"),
    ({"b": {"color": "red; bad=1"}}, "styles['b']: color 'red; bad=1' is not #rrggbb"),
])
def test_a_registered_style_that_could_break_the_picture_is_refused(
        styles: dict[str, Any], said: str) -> None:
    with pytest.raises(GrammarError) as e:
        define("a -> b", [], styles=styles)
    assert said in str(e.value)


def test_siblings_collapse_above_the_threshold() -> None:
    g, d = a_map(300)
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
    assert ("g:t~t0", "g:t~t0") not in edges(dot)  # a row is a row, not a loop


def fan(n: int) -> Any:
    """s -> p_i -> d_i -> e for i < n: no two p alike as siblings (each has its own d)."""
    return define(", ".join(f"s -> p{i}:P -> d{i}:D -> e" for i in range(n)), [])


def test_tasks_alike_collapse_when_siblings_leave_too_many_to_draw() -> None:
    g = fan(300)
    graph = g.derivation().graph
    dot = to_dot(graph, g, Picture(collapse_above=100, summarize_above=50))
    assert re.findall(r'label="([PD]) ×(\d+) alike\\n\((\d+) (\w+)\)"', dot) == [
        ("P", "300", "300", "pending"), ("D", "300", "300", "pending")]
    assert edges(dot) >= {("t:s", "g:P≈p0"), ("g:P≈p0", "g:D≈d0"), ("g:D≈d0", "t:e")}
    assert dot.count('"t:') == 4  # s and e, each once as a node and once in edges
    # below the threshold, or a picture asked to draw everything: each task drawn
    assert "alike" not in to_dot(graph, g, Picture(collapse_above=100, summarize_above=700))
    assert "alike" not in to_dot(graph, g, Picture(collapse_above=1000, summarize_above=50))


def test_a_collapsed_group_asked_for_is_drawn_task_by_task() -> None:
    g = fan(300)
    graph = g.derivation().graph
    dot = to_dot(graph, g, Picture(collapse_above=100, summarize_above=50,
                                   expand=frozenset({"P≈p0"})))
    assert "P ×" not in dot and "D ×300 alike" in dot
    assert {("t:s", "t:p7"), ("t:p7", "g:D≈d0")} <= edges(dot)
    siblings = a_map(300)
    dot = to_dot(siblings[1].graph, siblings[0], Picture(
        collapse_above=100, expand=frozenset({"M#Ms.1/M"})))
    assert '"g:' not in dot
    assert len(re.findall(r'^  "t:Ms\.1[^"]*" \[label', dot, re.M)) == 300


def test_drawn_alternatives_name_the_nothing_alternative() -> None:
    g = define("A, B, X(A, B)", "X(a, b) ::= nothing | a -> N -> b | a -> b")
    dot = to_dot(g.derivation().graph, g, Picture(alternatives=True))
    assert 'label="nothing", shape=plaintext' in node(dot, "a:X.1:0:nothing")
    assert 'label="nothing (order kept)", shape=plaintext' in node(dot, "a:X.1:2:nothing")
    assert ("h:X.1", "a:X.1:0:nothing") in edges(dot)


# ---------------------------------------------------------------- constraints on wildcards
DYN = define("s, e, Dyn(s, e), Any(*)", [
    "Dyn(a; b) ::= * where only M, N; at most 100 M; no edges into b; "
    "each N has 2 M before, 1 C after",
    "Any(*) ::= * where no new edges"])


def label_of(dot: str, name: str) -> str:
    m = re.search(r'label="((?:[^"\\]|\\.)*)"', node(dot, name))
    assert m, name
    return m.group(1).replace("\\n", "\n")


def test_a_constrained_wildcard_shows_its_constraints_in_short() -> None:
    d = DYN.derivation()
    dot = to_dot(d.graph, d.grammar, limits=d.limits)
    assert label_of(dot, "h:Dyn.1") == ("Dyn.1 (Dyn) becomes\nanything, where\n"
                                        "only M, N · at most 100 M\n"
                                        "no edges into e · each N ← 2 M, → 1 C")
    assert label_of(dot, "h:Any.1") == ("∗  Any.1: anything may be added,\n"
                                        "before tasks not yet started, where\nno new edges")
    # without the derivation's state, a hole shows its type's own constraints
    assert label_of(to_dot(d.graph, d.grammar), "h:Dyn.1") == label_of(dot, "h:Dyn.1")
    svg = svg_texts(render(dot, "svg"))
    assert {"only M, N · at most 100 M", "no edges into e · each N ← 2 M, → 1 C",
            "no new edges"} <= {t for t, *_ in svg}


@pytest.mark.parametrize("constraint, short, words", [
    ("only M, N", "only M, N", "only tasks of kind M or N"),
    ("no new tasks", "no new tasks", "no new task"),
    ("at most 100 M", "at most 100 M", "at most 100 M"),
    ("at most 3 tasks", "at most 3 tasks", "at most 3 new tasks"),
    ("only a -> M, M -> b", "only s → M, M → e", "only edges s → M or M → e"),
    ("no new edges", "no new edges", "no new edge"),
    ("no edges from a", "no edges from s", "no edge from s"),
    ("no edges into b", "no edges into e", "no edge into e"),
    ("no edges from M into b", "no edges from M into e", "no edge from M into e"),
    ("each N has 2 M before, 1 C after", "each N ← 2 M, → 1 C",
     "each N has exactly 2 M before it and exactly 1 C after it"),
    ("each N has at least 1 M before, at most 2 C after", "each N ← ≥1 M, → ≤2 C",
     "each N has at least 1 M before it and at most 2 C after it"),
])
def test_each_kind_of_constraint_in_short_and_explained_in_words(
        constraint: str, short: str, words: str) -> None:
    g = define("s, e, Dyn(s, e)", f"Dyn(a; b) ::= * where {constraint}")
    d = g.derivation()
    dot = to_dot(d.graph, g, Picture(alternatives=True), d.limits)
    assert label_of(dot, "h:Dyn.1").split("\n")[2:] == [short]
    assert label_of(dot, "w:Dyn.1") == words
    assert 'label="Dyn.1 grows only what keeps"' in dot
    assert ("h:Dyn.1", "w:Dyn.1") in edges(dot)
    assert "w:Dyn.1" not in to_dot(d.graph, g, Picture(), d.limits)  # only with alternatives


def test_the_alternatives_explain_every_constraint_one_a_line_through_real_dot() -> None:
    d = DYN.derivation()
    dot = to_dot(d.graph, d.grammar, Picture(alternatives=True), d.limits)
    texts = {t for t, *_ in svg_texts(render(dot, "svg"))}
    assert {"only tasks of kind M or N", "at most 100 M", "no edge into e",
            "each N has exactly 2 M before it and exactly 1 C after it",
            "no new edge"} <= texts


def test_a_long_list_of_constraints_wraps_to_a_few_lines_and_counts_the_rest() -> None:
    kinds = ", ".join(f"K{i}" for i in range(30))
    many = "; ".join(f"at most {i} M{i}" for i in range(12))
    g = define("s, e, Dyn(s, e)", f"Dyn(a; b) ::= * where only {kinds}; {many}")
    d = g.derivation()
    dot = to_dot(d.graph, g, Picture(alternatives=True), d.limits)
    lines = label_of(dot, "h:Dyn.1").split("\n")[2:]
    assert len(lines) == 4 and all(len(x) <= 40 for x in lines)
    assert lines[0].startswith("only K0, K1,") and lines[1].endswith("…")
    assert re.fullmatch(r"\+(\d+) more", lines[-1])
    shown = sum(x.count("at most") for x in lines)
    assert int(lines[-1].split()[0][1:]) == 12 - shown
    assert len(label_of(dot, "w:Dyn.1").split("\n")) == 13  # all explained


def test_a_constraint_added_at_run_time_is_drawn_after_its_step() -> None:
    g = define("s, e, Dyn(s, e)", "Dyn(a; b) ::= *")
    d = g.derivation()
    d.apply(SetState("s", TaskState.RUNNING))
    before = to_dot(d.graph, g, Picture(alternatives=True), d.limits)
    assert label_of(before, "h:Dyn.1") == "Dyn.1 (Dyn) becomes\nanything"
    assert "w:Dyn.1" not in before
    d.apply(Constrain("Dyn.1", parse_constraints("only P; no edges into b")))
    after = to_dot(d.graph, g, Picture(alternatives=True), d.limits)
    assert label_of(after, "h:Dyn.1") == \
        "Dyn.1 (Dyn) becomes\nanything, where\nonly P · no edges into e"
    assert label_of(after, "w:Dyn.1") == "only tasks of kind P\nno edge into e"
    replayed = Derivation.replay(g, d.history)  # the journal's replay draws it too
    assert to_dot(replayed.graph, g, Picture(alternatives=True), replayed.limits) == after


def test_a_hole_grown_inside_a_constrained_one_shows_what_it_keeps() -> None:
    g = define("s, e, Dyn(s, e)", "Dyn(a; b) ::= * where only M; at most 2 M")
    d = g.derivation()
    sub_type = open_type("Sub", ("a", "b"), (Role.AFTER, Role.BEFORE))
    d.apply(Refine("Dyn.1", Fragment((TaskSpec("m", "M"),), (HoleSpec("Sub", ("m", "e")),),
                                     (("s", "m"),)), (sub_type,)))
    dot = to_dot(d.graph, d.grammar, Picture(alternatives=True), d.limits)
    sub = next(h for h in d.graph.holes)
    assert label_of(dot, f"h:{sub}").split("\n")[1:] == [  # m counted: what is left
        "anything, where", "only M · up to 1 more M (1 of 2 made)"]
    assert label_of(dot, f"w:{sub}") == (
        "only tasks of kind M (kept from Dyn.1, counted over all it grows)\n"
        "at most 2 M (kept from Dyn.1, counted over all it grows)")


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_names_inside_constraints_are_escaped(text: str) -> None:
    g = define("s, e, Dyn(s, e)", "Dyn(a; b) ::= *")
    d = g.derivation()
    hostile = (OnlyKinds((text, "M")), AtMost(3, text), NoEdges(None, "b"),
               Each(text, (Degree("exactly", 1, text, "before"),)))
    limits = ConstraintState(lambda *_: None)
    limits.start("Dyn.1", "Dyn", hostile, {"b": text})
    dot = to_dot(d.graph, g, Picture(alternatives=True), limits)
    svg = render(dot, "svg").decode()  # the real dot parses it
    root = ET.fromstring(svg.split("\n", 1)[1])
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "<script>" not in svg and "<b>html</b>" not in svg
    shown = text.replace("\x00", "\\x00")
    short = " ".join(shown.split())  # in the label: on one line, spaces for breaks
    assert any(f"only {short}, M" in " ".join(t.split()) for t in texts), (short, texts)
    first = " ".join(shown.split("\n")[0].split())  # in words: lines break
    assert any(f"only tasks of kind {first}" in " ".join(t.split()) for t in texts)


def test_a_loop_is_drawn_folded_with_its_count_and_unrolled_on_request() -> None:
    g = define("start, finish, L(start, finish)", repeat_series("L", "step"))
    d = g.derivation()
    hole = "L.1"
    for _ in range(4):
        hole = d.apply(Expand(hole, "2")).holes[0]
    steps = ["L.1/step", "L.1.2/step", "L.1.3/step", "L.1.4/step"]
    folded = to_dot(d.graph, g, Picture())
    assert [line for line in folded.splitlines() if '"t:L.1' in line] == []
    assert '"l:L.1/step" [label="step (loop L.1)\\n4 iterations (4 pending)"' in folded
    assert '"l:L.1/step" -> "l:L.1/step" [label="×4"' in folded
    assert '"t:start" -> "l:L.1/step";' in folded  # into the first iteration
    assert '"h:L.1.5"' in folded and '"l:L.1/step" -> "h:L.1.5"' in folded  # the open hole
    unrolled = to_dot(d.graph, g, Picture(unroll=True))
    assert "l:L.1" not in unrolled
    assert all(f'"t:{s}"' in unrolled for s in steps)
    parallel = define("a, b, Ms(a, b)", repeat_parallel("Ms", "M")).derivation()
    parallel.apply(Expand("Ms.1", "2"))
    parallel.apply(Expand("Ms.1/Ms_more.1", "2"))
    assert "l:" not in to_dot(parallel.graph, parallel.grammar, Picture())  # not a loop


def test_the_picture_says_what_is_known_now() -> None:
    # issue 29.2: a map whose list is known counts its copies; an `at most` what is left;
    # a task's output is shown once it is done
    from grammarflow import Grow, Output, map_over

    d = define("find, merge, Each(find, merge)", map_over("Each", "M")).derivation()
    assert "one M per element of find's list" in to_dot(d.graph, d.grammar, Picture())
    d.apply(SetState("find", TaskState.RUNNING))
    d.apply(Output("find", [1, 2, 3]))  # given while it runs: not yet shown, nor counted
    assert "→ [3 items]" not in to_dot(d.graph, d.grammar, Picture())
    assert "one M per element of find's list" in to_dot(d.graph, d.grammar, Picture())
    d.apply(SetState("find", TaskState.DONE))
    assert "→ [3 items]" in to_dot(d.graph, d.grammar, Picture())
    assert "3 × M, one per element of find's list" in to_dot(d.graph, d.grammar, Picture())
    d.apply(Expand("Each.1", "1"))
    assert "2 more M (1 of find's 3 made)" in to_dot(d.graph, d.grammar, Picture())
    w = define("plan, report, Work(plan, report)",
               ["Work(plan; report) ::= * where only step; at most 5 step"]).derivation()
    assert "at most 5 step" in to_dot(w.graph, w.grammar, Picture(), w.limits)
    w.apply(SetState("plan", TaskState.RUNNING))
    w.apply(Grow("Work.1", Fragment((TaskSpec("s1", "step"), TaskSpec("s2", "step")), (),
                                    (("plan", "s1"), ("plan", "s2")))))
    assert "up to 3 more step (2 of 5 made)" in to_dot(w.graph, w.grammar, Picture(), w.limits)


def test_alternatives_are_drawn_between_the_actual_tasks() -> None:
    # issue 29.2: a production's parameters are named as the tasks the hole is bound to
    d = define("fetch, merge, X(fetch, merge)", "X(a, b) ::= a -> A -> b | a -> B -> b"
               ).derivation()
    dot = to_dot(d.graph, d.grammar, Picture(alternatives=True))
    assert label_of(dot, "a:X.1:0:a") == "fetch" and label_of(dot, "a:X.1:1:b") == "merge"


def drawn_at(svg: bytes) -> dict[str, tuple[float, float]]:
    """Where dot drew each node: its title -> its label's (x, y)."""
    out = {}
    for chunk in svg.decode().split('class="node">')[1:]:
        title = re.search(r"<title>([^<]*)</title>", chunk)
        where = re.search(r'<text[^>]* x="([\d.\-]+)" y="([\d.\-]+)"', chunk)
        assert title is not None and where is not None
        out[html.unescape(title.group(1))] = (float(where.group(1)), float(where.group(2)))
    return out


@pytest.mark.parametrize("alternatives", [False, True])
def test_tasks_drawn_keep_their_order_as_a_hole_expands(alternatives: bool) -> None:
    # A map grown one M at a time, drawn by the real dot after each expansion: the Ms
    # drawn before stay in the order they were made, the new one where the wildcard
    # was (after them), the wildcard after it. (Sorted edges had shuffled them.)
    g = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    d = g.derivation()
    applied = d.apply(Expand("Ms.1", "2"))
    for _ in range(7):
        applied = d.apply(Expand(applied.holes[0], "2"))
        at = drawn_at(render(to_dot(d.graph, g, Picture(alternatives=alternatives)), "svg"))
        made = [f"t:{t}" for t in d.graph.tasks if d.graph.tasks[t].kind == "M"]
        ys = [at[m][1] for m in made]
        assert ys == sorted(ys), "the Ms are drawn in the order they were made"
        assert len({at[m][0] for m in made}) == 1  # in one column
        assert at[f"h:{applied.holes[0]}"][1] > ys[-1]  # the wildcard after the last M
