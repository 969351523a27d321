"""Cosmetics: a task and an edge styled by a journaled step, checked, drawn, replayed;
a style that could break the picture is refused and leaves nothing behind."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from grammarflow import (
    BrokenPromise,
    Diff,
    Expand,
    Fragment,
    Grow,
    Refine,
    SetState,
    TaskSpec,
    TaskState,
    add,
    define,
)
from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph, Role
from grammarflow.core.productions import HoleSpec, HoleType, Production
from grammarflow.core.steps import Style, step_from_json, step_to_json
from grammarflow.picture.render import Picture, to_dot

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
    from grammarflow.core.grammar import Grammar
    assert Grammar.from_json(g.to_json()).cosmetics == g.cosmetics


def test_a_promise_that_is_none_is_refused_at_registration() -> None:
    from grammarflow import GrammarError
    with pytest.raises(GrammarError, match="'make it pretty' is not a cosmetic promise"):
        define("a", cosmetics=["make it pretty"])
    with pytest.raises(GrammarError, match="are not colours"):
        define("a", cosmetics=["colors from red, not a colour"])


# ---------------------------------------------------------------- every door (issue 24.1)
DOORS = define("s, e, X(s, e), Dyn(s, e)",
               ["X(a, b) ::= a -> M -> b | [default] a -> b", "Dyn(a; b) ::= *"])
PALETTE = ("red", "#16a34a")
PROMISES = st.sampled_from([(), ("no cosmetic changes",), (f"colors from {', '.join(PALETTE)}",),
                            ("only tasks inside X may restyle",),
                            ("only tasks inside X may relabel",)])


@st.composite
def any_case(draw: st.DrawFn, text: str) -> str:
    """``text`` with each letter in either case."""
    return "".join(c.upper() if draw(st.booleans()) else c.lower() for c in text)


COLORS = st.sampled_from([*PALETTE, "blue", "#16a34b", "#ff0000"]).flatmap(any_case)
LOOKS = st.fixed_dictionaries({}, optional={"color": COLORS, "label": st.just("made"),
                                            "shape": st.sampled_from(["note", "box"])})


def _doors(grammar: Grammar, door: str, attrs: dict[str, object]) -> tuple[Derivation, str]:
    """A derivation of ``grammar`` after one change that makes a task with ``attrs`` by
    ``door``, and the id of that task."""
    d = grammar.derivation()
    if door == "expand":
        return d, d.apply(Expand("X.1", "1", {"M": attrs} if attrs else {})).tasks["M"]
    if door in ("add", "add alone"):
        edges = (("s", "m"), ("m", "e")) if door == "add" else ()
        return d, add(d, Diff((TaskSpec("m", "M" if door == "add" else "N", attrs),),
                              edges)).ids["m"]
    fragment = Fragment((TaskSpec("n", "N", attrs),), (), (("s", "n"),))
    step = Grow("Dyn.1", fragment) if door == "grow" else Refine("Dyn.1", fragment)
    return d, d.apply(step).tasks["n"]


@given(PROMISES, st.sampled_from(["expand", "add", "add alone", "grow", "refine"]), LOOKS)
def test_every_way_a_style_enters_a_run_passes_the_same_check(
        promises: tuple[str, ...], door: str, looks: dict[str, str]) -> None:
    """Issue 24.1: the attrs a change gives a task it makes (with data beside them) are
    accepted exactly when a Style step with the same looks on that task would be, and
    then drawn; a palette takes its colours in any case. (Looks a Style step could
    carry: a task's attrs are also its data, and what of them the picture cannot draw
    is kept, not drawn, not refused.)"""
    assume(looks)
    g = Grammar(DOORS.start, DOORS.types, cosmetics=promises)
    d, task = _doors(g, door, {})
    try:
        d.apply(Style(task, None, looks))
        allowed = True
    except BrokenPromise as e:
        allowed, why = False, e.reason
    if allowed:
        d, made = _doors(g, door, {**looks, "item": 3})
        assert made == task and d.graph.tasks[task].attrs == {**looks, "item": 3}
    else:
        with pytest.raises(BrokenPromise) as refused:
            _doors(g, door, {**looks, "item": 3})
        assert refused.value.reason == why


@given(PROMISES, LOOKS)
def test_what_a_refinements_fresh_types_make_keeps_the_cosmetic_promises(
        promises: tuple[str, ...], looks: dict[str, str]) -> None:
    """Issue 24.1: a refinement's fresh hole type whose production gives its task a
    look is a change, not a registration: refused exactly when a Style step giving the
    task made in its place that look would be (it went around 'no cosmetic changes')."""
    assume(looks)
    g = Grammar(DOORS.start, DOORS.types, cosmetics=promises)
    fresh = HoleType("T", ("a",), (Role.AFTER,), (Production(
            "T", ("a",), Fragment((TaskSpec("n", "N", looks),), (), (("a", "n"),))),))
    plain = HoleType("T", ("a",), (Role.AFTER,), (Production(
        "T", ("a",), Fragment((TaskSpec("n", "N"),), (), (("a", "n"),))),))
    refine = Fragment((), (HoleSpec("T", ("s",)),), ())
    d = g.derivation()
    d.apply(Refine("Dyn.1", refine, (plain,)))
    task = d.apply(Expand("Dyn.1/T.1", "1")).tasks["n"]
    try:
        d.apply(Style(task, None, looks))
        allowed = True
    except BrokenPromise:
        allowed = False
    d = g.derivation()
    if allowed:
        d.apply(Refine("Dyn.1", refine, (fresh,)))
        assert d.apply(Expand("Dyn.1/T.1", "1")).tasks["n"] == task
        assert d.graph.tasks[task].attrs == looks
    else:
        with pytest.raises(BrokenPromise, match=r"refining Dyn\.1") as refused:
            d.apply(Refine("Dyn.1", refine, (fresh,)))
        assert "breaks the cosmetic promise" in refused.value.reason or \
            "break the cosmetic promise" in refused.value.reason  # (a palette: as registered)
        assert "Dyn.1" in d.graph.holes  # nothing of it applied


@given(st.from_regex(r"#[0-9a-f]{6}|[a-z]{1,12}", fullmatch=True).flatmap(
    lambda c: st.tuples(st.just(c), any_case(c), any_case(c))))
def test_a_palette_compares_colours_by_meaning_not_spelling(
        colors: tuple[str, str, str]) -> None:
    """``#16A34A`` is ``#16a34a`` and ``Red`` is ``red``: a colour promised in one
    spelling is allowed in any, and one not promised in none."""
    promised, given_as, other = colors
    g = define("a -> b", cosmetics=[f"colors from {given_as}"])
    styled(g, Style("a", None, {"color": promised}), Style("a", None, {"color": other}))
    another = promised + "x" if promised[0] != "#" else \
        promised[:-1] + ("0" if promised[-1] != "0" else "1")
    with pytest.raises(BrokenPromise, match="is not among the promised"):
        styled(g, Style("a", None, {"color": another}))


def test_what_a_grammar_registers_keeps_its_palette() -> None:
    """Registered looks (styles of kinds and edges, attrs of the grammar's own tasks)
    are the workflow's, not changes: only a palette binds them, in any case."""
    from grammarflow import GrammarError, hole_type
    from grammarflow.core.graph import Role

    palette = ["colors from red, #16a34a"]
    define("a -> b", cosmetics=palette, styles={"a": {"color": "RED"},
                                                 "a -> b": {"color": "#16A34A"}})
    define("a -> b", cosmetics=["no cosmetic changes"], styles={"a": {"label": "fetch"}})
    with pytest.raises(GrammarError, match=re.escape(
            "styles['a -> b'] break the cosmetic promise 'colors from red, #16a34a': color "
            "'blue' is not among the promised red, #16a34a")):
        define("a -> b", cosmetics=palette, styles={"a -> b": {"color": "blue"}})
    start = Fragment((TaskSpec("a", "a", {"color": "blue", "rows": 3}),))
    with pytest.raises(GrammarError, match="the attrs of task a of the start graph break"):
        Grammar(start, {}, cosmetics=tuple(palette))
    x = hole_type("X", ["p"], [Role.AFTER],
                  [Fragment((TaskSpec("m", "M", {"color": "#ff0000"}),), (), (("p", "m"),))])
    with pytest.raises(GrammarError, match=re.escape(
            "the attrs of task m of X(p) ::= p -> m:M break the cosmetic promise")):
        define("a, X(a)", x, cosmetics=palette)
