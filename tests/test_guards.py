"""Guards: parsed, formatted and evaluated exactly; a guard is a promise whoever expands
(the orchestrator picks the production whose guard holds, a task that expands against
it is refused), and ``else`` holds only when no other guard does — narrowed away or not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from strategies import (
    BINARY,
    UNARY,
    Written,
    guard_atoms,
    guard_exprs,
    guard_strings,
    written_binary,
    written_unary,
)

from grammarflow import (
    BrokenPromise,
    Expand,
    Fragment,
    GrammarError,
    Grow,
    NotationError,
    Output,
    SetState,
    TaskSpec,
)
from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import TaskState
from grammarflow.core.guards import GuardError, no_counts, parse_guard
from grammarflow.core.notation import define
from grammarflow.core.steps import NarrowHole, step_from_json, step_to_json

SIZE = define("m, r, Size(m, r)", """
    Size(a, b) ::= [big, when a.n > 10] a -> Big -> b
                 | [mid, when a.n > 3 and a.n <= 10] a -> Mid -> b
                 | [small, else] a -> Small -> b
""")


def measured(n: object, grammar: Grammar = SIZE) -> Derivation:
    d = grammar.derivation()
    d.apply(SetState("m", TaskState.RUNNING))
    d.apply(Output("m", {"n": n}))
    d.apply(SetState("m", TaskState.DONE))
    return d


# ---------------------------------------------------------------- the language
@pytest.mark.parametrize(("text", "values", "expected"), [
    ("when a > 10", {"a": 11}, True),
    ("when a > 10", {"a": 10}, False),
    ("when a >= 10", {"a": 10}, True),
    ("when a == 1", {"a": 1.0}, True),
    ("when a == 1", {"a": True}, False),  # a boolean is not a number
    ("when a == true", {"a": True}, True),
    ("when a.k in ['x', 'y']", {"a": {"k": "y"}}, True),
    ("when a.k not in ['x', 'y']", {"a": {"k": "y"}}, False),
    ("when 'b' in a", {"a": {"b": 1}}, True),
    ("when len(a.items) - 1 == a.items[-1]", {"a": {"items": [0, 1, 2]}}, True),
    ("when not (a < 0 or a > 5)", {"a": 3}, True),
    ("when a == null", {"a": None}, True),
    ("when a == [1, 'x']", {"a": [1, "x"]}, True),
    ("when a['odd key'] == 'ok'", {"a": {"odd key": "ok"}}, True),
    ("when -a + 2 < 0", {"a": 3}, True),
    ("when a < 'b'", {"a": "a"}, True),
    ("when a.count == a.len", {"a": {"count": 1, "len": 1}}, True),  # keywords as fields
])
def test_a_guard_evaluates_over_json(text: str, values: dict, expected: bool) -> None:
    assert parse_guard(text).holds(values, no_counts) is expected


@pytest.mark.parametrize(("text", "values", "reason"), [
    ("when a > 10", {"a": "11"}, "'>' compares two numbers or two strings"),
    ("when a.size > 1", {"a": {"n": 1}}, "a has no field 'size'"),
    ("when a[3] == 1", {"a": [1]}, "a[3]: out of range (it has 1 elements)"),
    ("when a and true", {"a": 1}, "'and' takes true or false, not 1"),
    ("when a + 1", {"a": 1}, "gave 2, not true or false"),
    ("when a > 1", {}, "a has no output"),
    ("when len(a) > 1", {"a": 3}, "len() of 3: expected a list, a string or an object"),
])
def test_a_guard_that_cannot_be_read_says_why(text: str, values: dict, reason: str) -> None:
    with pytest.raises(GuardError, match=None) as e:
        parse_guard(text).holds(values, no_counts)
    assert reason in str(e.value)


@pytest.mark.parametrize(("text", "column", "expected"), [
    ("when a >", 9, "a value"),
    ("when a ** 2", 8, "a name, a number, a string or an operator"),
    ("when (a > 1", 12, "')'"),
    ("whenever a", 1, "'when <condition>', 'if <condition>' or 'else'"),
    ("when count(a) > 1", 13, "'->'"),
])
def test_a_malformed_guard_is_refused_where_it_goes_wrong(text: str, column: int,
                                                           expected: str) -> None:
    with pytest.raises(NotationError) as e:
        parse_guard(text)
    assert (e.value.position + 1, e.value.expected) == (column, expected)


def nested(leaves: list[Written]) -> Iterator[Written]:
    """Every operation with every other as one of its operands (``a - (b - c)``,
    ``-(a + b)``, ``(a or b).count``, ...), over these leaves: where the canonical
    text needs parentheses, and where it must not lose them."""
    x, y, z = leaves
    for head, op in BINARY:
        for inner, iop in BINARY:
            yield written_binary(head, op, x, written_binary(inner, iop, y, z))
            yield written_binary(head, op, written_binary(inner, iop, x, y), z)
        for inner in UNARY:
            yield written_binary(head, op, written_unary(inner, x, y), z)
            yield written_binary(head, op, x, written_unary(inner, y, z))
            yield written_unary(inner, written_binary(head, op, x, y), z)
    for outer in UNARY:
        for inner in UNARY:
            yield written_unary(outer, written_unary(inner, x, y), z)


@given(st.tuples(guard_atoms(), guard_atoms(), guard_strings()).map(list), guard_exprs(),
       st.sampled_from(["when", "if"]))
def test_the_canonical_text_reads_back_as_the_same_guard(
        leaves: list[Written], deep: Written, word: str) -> None:
    """A guard's canonical text (its label, as the notation, reprs and errors print it)
    reads back as the same expression (``a - (b - c)`` stays that, never ``a - b - c``):
    every operation nested in every other, and a random deeper expression, written
    with every operation in parentheses so that what is meant is known, re-read from
    the text the parser made of them."""
    for tree, text in [*nested(leaves), deep]:
        guard = parse_guard(f"{word} {text}")
        assert guard.expr == tree, text  # the parser reads what was written
        again = parse_guard(guard.label())
        assert again.expr == tree and again == guard, guard.label()


# ---------------------------------------------------------------- in a grammar
def test_guards_round_trip_through_the_notation_and_json() -> None:
    assert repr(SIZE.types["Size"]) == (
        "Size(a, b) ::= [big, when a.n > 10] a -> Big -> b "
        "| [mid, when a.n > 3 and a.n <= 10] a -> Mid -> b | [small, else] a -> Small -> b")
    assert Grammar.from_json(SIZE.to_json()) == SIZE
    assert define("m, r, Size(m, r)", repr(SIZE.types["Size"])) == SIZE


@pytest.mark.parametrize(("rules", "reason"), [
    ("X(a, b) ::= [when a > 1] a -> B -> b | a -> C -> b",
     "production(s) 2 have no guard"),
    ("X(a, b) ::= [when b > 1] a -> B -> b | [else] nothing",
     "reads b, which X does not come after"),
    ("X(a, b) ::= [default, when a > 1] a -> B -> b | [else] nothing",
     "has guards, so it has no default"),
    ("X(a, b) ::= [else] a -> B -> b | [else] nothing", "2 productions say [else]"),
    ("X(a, b) ::= [when count(M -> N) > 1] a -> B -> b | [else] nothing",
     "count(M -> N) needs one parameter and one kind"),
])
def test_a_grammar_with_a_bad_guard_is_refused(rules: str, reason: str) -> None:
    with pytest.raises(GrammarError, match=None) as e:
        define("s, e, X(s, e)", rules)
    assert reason in str(e.value)


@pytest.mark.parametrize(("n", "chosen", "task"), [
    (11, "big", "Size.1/Big"), (10, "mid", "Size.1/Mid"), (4, "mid", "Size.1/Mid"),
    (3, "small", "Size.1/Small"), (-7, "small", "Size.1/Small")])
def test_a_due_hole_takes_the_first_production_whose_guard_holds(n: int, chosen: str,
                                                                  task: str) -> None:
    d = measured(n)
    (applied,) = d.close_due()
    step = applied.step
    assert isinstance(step, Expand)
    assert (step.production, list(applied.tasks.values())) == (chosen, [task])
    label = SIZE.types["Size"].production(chosen).guard.label()  # type: ignore[union-attr]
    assert step.guard == label
    assert step_from_json(step_to_json(step)) == step  # the guard is journaled


@pytest.mark.parametrize(("n", "wrong", "why"), [
    (11, "small", "[else] holds only when no other guard does, and [when a.n > 10] holds"),
    (11, "mid", "its guard [when a.n > 3 and a.n <= 10] is false"),
    (2, "big", "its guard [when a.n > 10] is false"),
])
def test_a_task_that_expands_against_a_guard_is_refused(n: int, wrong: str, why: str) -> None:
    d = measured(n)
    before = d.graph.to_json()
    with pytest.raises(BrokenPromise) as e:
        d.apply(Expand("Size.1", wrong))
    assert why in e.value.reason and f"(a = {{\"n\": {n}}})" in e.value.reason
    assert d.graph.to_json() == before  # nothing of it is in the graph


def test_a_guard_reads_only_outputs_that_exist() -> None:
    d = SIZE.derivation()
    d.apply(SetState("m", TaskState.RUNNING))
    with pytest.raises(BrokenPromise, match="a has no output"):
        d.apply(Expand("Size.1", "big"))
    d.apply(Output("m", {"n": 20}))  # the running task's own output, given first
    assert d.apply(Expand("Size.1", "big")).tasks == {"Big": "Size.1/Big"}


def test_else_does_not_hold_when_the_production_whose_guard_holds_was_narrowed_away() -> None:
    d = measured(20)
    d.apply(NarrowHole("Size.1", ("big",)))
    with pytest.raises(BrokenPromise) as e:
        d.close_due()
    assert "[when a.n > 10] holds, and production big was narrowed away" in e.value.reason
    with pytest.raises(BrokenPromise, match=re.escape("and [when a.n > 10] holds")):
        d.apply(Expand("Size.1", "small"))
    d = measured(1)
    d.apply(NarrowHole("Size.1", ("big",)))  # irrelevant to this value
    assert d.close_due()[0].step.production == "small"  # type: ignore[union-attr]


def test_a_guard_that_cannot_be_read_at_due_time_breaks_the_promise() -> None:
    d = measured("twelve")
    with pytest.raises(BrokenPromise) as e:
        d.close_due()
    assert e.value.reason.startswith(
        "guard [when a.n > 10] of hole Size.1 (Size) cannot be read: \"twelve\" > 10")


def test_count_reads_the_tasks_next_to_a_parameter() -> None:
    g = define("a, b, X(a, b)", """
        X(a, b) ::= [when count(a -> M) < 2] a -> M -> b, X(a, b) | [else] a -> b""")
    d = g.derivation()
    d.apply(SetState("a", TaskState.RUNNING))
    d.apply(SetState("a", TaskState.DONE))
    steps = [a.step for a in d.close_due()]
    assert [s.production for s in steps] == ["1", "1", "2"]  # type: ignore[union-attr]
    assert sorted(d.graph.succ["a"]) == ["X.1.2/M", "X.1/M", "b"]
    g2 = define("a, b, X(a, b)", """
        X(a, b) ::= [when count(M -> b) < 1] a -> M -> b, X(a, b) | [else] nothing""")
    d2 = g2.derivation()
    d2.apply(SetState("a", TaskState.RUNNING))
    d2.apply(SetState("a", TaskState.DONE))
    assert len(d2.close_due()) == 2 and sorted(d2.graph.pred["b"]) == ["X.1/M"]


@given(st.data())
def test_count_reads_the_tasks_right_next_to_a_parameter(data: st.DataObject) -> None:
    """Theorem 11 (3), what a guard counts: ``count(a -> K)`` is the number of tasks of
    kind K that a runs right before, ``count(K -> b)`` of those b runs right after —
    read on the graph as it is each time (tasks and edges grown at random around a
    and b, one change at a time): the production a due hole takes is the first whose
    guard holds on those numbers, counted here from the graph's edges."""
    kinds = st.sampled_from(["A", "B", "C"])
    guards = data.draw(st.lists(st.tuples(st.booleans(), kinds, st.integers(0, 3)),
                                min_size=1, max_size=3), label="guards")
    alts = [f"[g{i}, when count({'a -> ' + k if out else k + ' -> b'}) >= {n}] nothing"
            for i, (out, k, n) in enumerate(guards)]
    grammar = define("a:A, b:B, Any(*), X(a, b)",
                     ["Any(*) ::= *", "X(a; b) ::= " + " | ".join([*alts, "[rest, else] nothing"])])
    d = grammar.derivation()
    g = d.graph

    def expected() -> str:
        counted = [sum(1 for t in (g.succ["a"] if out else g.pred["b"]) if g.tasks[t].kind == k)
                   for out, k, _ in guards]
        return next((f"g{i}" for i, ((_, _, n), c) in enumerate(zip(guards, counted,
                                                                    strict=True)) if c >= n),
                    "rest")

    for step in range(data.draw(st.integers(1, 4), label="changes")):
        new = [(f"n{step}_{i}", k) for i, k in enumerate(data.draw(
            st.lists(kinds, min_size=1, max_size=3), label="new tasks"))]
        edges = [(u, v) for t, _ in new for u, v in (("a", t), (t, "b"))
                 if data.draw(st.booleans())]
        d.apply(Grow("Any.1", Fragment(tuple(TaskSpec(t, k) for t, k in new), (),
                                       tuple(edges))))
        assert d.chosen(g.holes["X.1"]).name == expected()
    d.apply(SetState("a", TaskState.RUNNING))
    d.apply(SetState("a", TaskState.DONE))
    want = expected()
    event(f"chosen: {'else' if want == 'rest' else 'a guard'}")
    assert d.close("X.1").step == Expand("X.1", want, guard=d.grammar.types["X"].production(
        want).guard.label())  # type: ignore[union-attr]


# ---------------------------------------------------------------- [if ...] and depth
def test_a_condition_bounds_a_loop_by_its_depth_whoever_expands() -> None:
    from grammarflow.core.shapes import repeat_series

    g = define("a, b, L(a, b)", repeat_series("L", "S", at_most=2))
    assert repr(g.types["L"]) == "L(a, b) ::= [default] a -> b | [if depth <= 2] a -> S, L(S, b)"
    assert Grammar.from_json(g.to_json()) == g
    d = g.derivation()
    first = d.apply(Expand("L.1", "2")).holes[0]
    second = d.apply(Expand(first, "2")).holes[0]
    assert second == "L.1.3"
    before = d.graph.to_json()
    with pytest.raises(BrokenPromise) as e:
        d.apply(Expand(second, "2"))
    assert e.value.reason == ("hole L.1.3 (L) may not become L(a, b) ::= [if depth <= 2] "
                              "a -> S, L(S, b): its condition [if depth <= 2] is false "
                              "(depth = 3)")
    assert d.graph.to_json() == before
    assert d.apply(Expand(second, "1")).tasks == {}  # stopping is always allowed


def test_a_condition_reads_outputs_like_a_guard_and_chooses_nothing() -> None:
    g = define("m, r, X(m, r)", "X(a, b) ::= [default] a -> b | [big, if a > 10] a -> B -> b")
    assert not g.types["X"].guarded  # nobody chooses by a condition: the default does
    d = measured_value(5, g)
    with pytest.raises(BrokenPromise, match=re.escape("its condition [if a > 10] is false "
                                                      "(a = 5)")):
        d.apply(Expand("X.1", "big"))
    assert measured_value(20, g).apply(Expand("X.1", "big")).tasks == {"B": "X.1/B"}
    with pytest.raises(GrammarError, match="reads b, which X does not come after"):
        define("m, r, X(m, r)", "X(a, b) ::= [default] a -> b | [if b > 1] a -> B -> b")


def measured_value(n: object, grammar: Grammar) -> Derivation:
    d = grammar.derivation()
    d.apply(SetState("m", TaskState.RUNNING))
    d.apply(Output("m", n))
    d.apply(SetState("m", TaskState.DONE))
    return d
