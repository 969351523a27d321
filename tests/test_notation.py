import re
from dataclasses import replace

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from strategies import promised_grammars

from grammarflow import (
    Fragment,
    Grammar,
    GrammarError,
    HoleType,
    NotationError,
    Role,
    define,
    parse_types,
)
from grammarflow.core.formatting import format_fragment, format_hole_type
from grammarflow.core.guards import Guard, parse_guard


def test_a_production_prints_in_the_notation_it_was_written_in() -> None:
    g = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")
    assert repr(g.types["X"]) == "X(a, b) ::= a -> A -> b | a -> B -> b"
    assert [repr(p) for p in g.types["X"].productions] == [
        "X(a, b) ::= a -> A -> b", "X(a, b) ::= a -> B -> b"]


def test_roles_are_inferred_from_which_parameters_edges_enter() -> None:
    types = parse_types("""
        Ms(a, b) ::= [default] a -> b | a -> M -> b, Ms(a, b)
        Only(x) ::= x -> N
        Via(a, b) ::= Ms(a, b)
    """)
    assert types["Ms"].roles == (Role.AFTER, Role.BEFORE)
    assert types["Only"].roles == (Role.AFTER,)
    assert types["Via"].roles == (Role.AFTER, Role.BEFORE)  # through the child hole
    assert types["Ms"].default == "1"


def test_labels_kinds_continuations_and_comments() -> None:
    types = parse_types("""
        # a choice with named alternatives
        X(a, b) ::= [left] a -> F1:fetch -> F2:fetch -> b
                  | [right, default] a -> B -> b   # the default
    """)
    x = types["X"]
    assert [p.name for p in x.productions] == ["left", "right"]
    assert x.default == "right"
    assert [t.kind for t in x.productions[0].fragment.tasks] == ["fetch", "fetch"]
    assert repr(x) == (
        "X(a, b) ::= [left] a -> F1:fetch -> F2:fetch -> b | [right, default] a -> B -> b")


def test_a_hash_inside_a_guards_string_starts_no_comment() -> None:
    """Found by the round-trip property below: the line was cut at the '#'."""
    types = parse_types("X(a, b) ::= [when a == '#1'] a -> N -> b | [else] a -> b  # 'x'")
    assert repr(types["X"]) == "X(a, b) ::= [when a == '#1'] a -> N -> b | [else] a -> b"


def test_round_trip_through_the_notation() -> None:
    text = "X(a, b) ::= a -> A -> b, a -> C, Y(C, b) | nothing"
    types = parse_types([text, "Y(a, b) ::= a -> b"])
    again = parse_types([repr(types["X"]), repr(types["Y"])])
    assert again == types


def test_explicit_roles_with_a_semicolon() -> None:
    types = parse_types(["Dyn(a; b) ::= *", "Keep(a, c; b) ::= a -> N -> b"])
    assert types["Dyn"].roles == (Role.AFTER, Role.BEFORE)
    assert types["Keep"].roles == (Role.AFTER, Role.AFTER, Role.BEFORE)
    assert repr(types["Dyn"]) == "Dyn(a; b) ::= *"
    with pytest.raises(GrammarError, match=r"write Dyn\(after...; before...\)"):
        parse_types("Dyn(a, b) ::= *")


def test_open_types_and_everywhere() -> None:
    g = define("s, Any(*)", "Any(*) ::= *")
    assert g.types["Any"].open and g.types["Any"].everywhere
    assert repr(g.types["Any"]) == "Any(*) ::= *"


@pytest.mark.parametrize(("text", "expected"), [
    ("X(a, b) ::= a -> -> b", "a task or parameter name"),
    ("X(a, b) a -> b", "'::='"),
    ("X(a, b) ::= a -> Y(a, b) -> b", "a hole cannot be part of a chain"),
    ("X(a b) ::= a", "',', ';' or ')' between parameters"),
    ("X(a, b) ::= a -> b $", "a name"),
])
def test_parse_errors_point_at_the_column(text: str, expected: str) -> None:
    with pytest.raises(NotationError, match=re.escape(expected)) as e:
        parse_types(text)
    assert "^" in str(e.value)


@pytest.mark.parametrize(("rules", "expected"), [
    ("X(a, b) ::= a -> b, b -> N", "hole comes before 'b'"),  # b is entered, then left
    ("X(a, b) ::= a -> N -> b | b -> a", "comes before 'a'"),
    ("X(a, b) ::= a -> M -> b, X(a, b)", "can never finish"),
    ("X(a, b) ::= a -> N -> b, Y(a, b)", "not declared"),
    ("X(a) ::= a -> N, X(a, a, a) | nothing", "takes 1 argument"),
    ("X(a, b) ::= [default] a -> b | [default] nothing", "two alternatives"),
])
def test_ill_formed_grammars_are_refused_with_the_reason(rules: str, expected: str) -> None:
    with pytest.raises(GrammarError, match=expected):
        define("s, e, X(s, e)" if "X(a, b)" in rules else "s, X(s)", rules)


def test_defaults_that_would_expand_forever_are_refused() -> None:
    with pytest.raises(GrammarError, match="expand forever: X -> Y -> X"):
        define("s, X(s)", ["X(a) ::= [default] a -> N, Y(a)", "Y(a) ::= [default] X(a) | nothing"])
    # even through new tasks: every N would make another N, and the run never ends
    with pytest.raises(GrammarError, match="expand forever: X -> X"):
        define("s, X(s)", "X(a) ::= [default] a -> N, X(N) | nothing")
    define("s, X(s)", "X(a) ::= a -> N, X(N) | [default] nothing")  # recursion by choice


def test_an_open_hole_with_no_task_to_grow_it_is_refused() -> None:
    with pytest.raises(GrammarError, match="no task runs to grow it"):
        define("Any(*)", "Any(*) ::= *")


def test_a_start_hole_after_no_task_is_refused() -> None:
    with pytest.raises(GrammarError, match="comes after no task"):
        define("e, Y(e)", "Y(b) ::= N -> b | nothing")


PIECES = st.sampled_from(["X(a, b)", "Y(a; b)", "::=", "a", "->", "A", "b", ",", "|", "(",
                          ")", "nothing", "- >", "::", "*", "where", "only", "M", "# note",
                          "; no", "=", ":K"])


@given(st.lists(st.lists(PIECES, min_size=1, max_size=8).map(" ".join), min_size=1,
                max_size=5),
       st.lists(st.sampled_from(["", "  ", "\t", "    | ", "  ; "]), min_size=5, max_size=5))
def test_a_parse_error_points_into_its_source_at_the_character_it_names(
        lines: list[str], indents: list[str]) -> None:
    """Where a production is in the text it was read from (continuation lines,
    comments and indentation included) is where a workflow file's error is found:
    the word at ``source[offset]`` is the very one ``text[position]`` names."""
    source = "\n" + "\n".join(i + line for i, line in zip(indents, lines, strict=False))
    try:
        parse_types(source)
    except NotationError as e:
        assume(e.position < len(e.text))
        assert e.source == source
        word = re.match(r"\S+", e.text[e.position:])
        assume(word is not None)  # the error is at a space
        assert word is not None and source.startswith(word.group(), e.offset)
    except GrammarError:
        assume(False)
    else:
        assume(False)


# ---------------------------------------------------------------- canonical text, fuzzed
def meaning(grammar: Grammar) -> dict[str, object]:
    """What a grammar says, whatever order its text lists things in: each fragment's
    tasks and edges as sets, its holes in order (their ids count them), each type's
    roles, productions (names, guards and conditions as expressions), default and
    constraints."""
    def fragment(f: Fragment) -> object:
        return frozenset(f.tasks), frozenset(f.edges), f.holes

    def guard(g: Guard | None) -> object:
        return None if g is None else (g.label().split(" ", 1)[0], g.expr)

    return {"start": fragment(grammar.start), "types": {
        n: (t.params, t.roles, t.default, t.open, t.everywhere, t.constraints,
            [(p.name, fragment(p.fragment), guard(p.guard), guard(p.condition))
             for p in t.productions])
        for n, t in grammar.types.items()}}


def guarded_by(text: str) -> Grammar:
    """``X(a, b) ::= [GUARD] a -> N -> b | [else] a -> b``, the guard not read from the
    notation (what is tested here is whether the notation keeps it)."""
    grammar = define("s, e, X(s, e)", "X(a, b) ::= [when a == 1] a -> N -> b | [else] a -> b")
    x = grammar.types["X"]
    first = replace(x.productions[0], guard=parse_guard(text))
    return Grammar(grammar.start, {"X": replace(x, productions=(first, *x.productions[1:]))})


def written_roles(htype: HoleType) -> bool:
    """Can the notation say the type's roles? With ``;`` if its parameters come after
    ones first, else only if they are inferred: each it comes before is entered by an
    edge of a production (random types put roles in any order)."""
    entered = {v for p in htype.productions for _, v in p.fragment.edges}
    return htype.params == (*htype.after, *htype.before) or set(htype.before) <= entered


@example(define("s, e, T(s, e)", "T(a; b) ::= nothing | a -> N"))  # b came back 'after'
@example(guarded_by("when a == '#1'"))  # read back, the line was cut at the '#'
@given(promised_grammars())
def test_the_notation_of_a_grammar_reads_back_as_the_same_grammar(grammar: Grammar) -> None:
    """The notation is canonical text (docs/notation.md, "The notation"): a grammar printed (its
    start graph and each hole type, as `check` and reprs print them) and read back is
    the same grammar — random grammars with guards, conditions and constraints."""
    assume(all(written_roles(t) for t in grammar.types.values()))
    again = define(format_fragment(grammar.start),
                   [format_hole_type(t) for t in grammar.types.values()])
    assert meaning(again) == meaning(grammar)


def test_roles_written_in_a_use_of_a_hole_say_where_they_belong() -> None:
    with pytest.raises(NotationError, match=r"';' separates roles only in a production's "
                       r"head, Work\(a; b\) ::= \.\.\.; here write Work\(plan, \.\.\.\)"):
        define("plan, report, Work(plan; report)", ["Work(plan; report) ::= *"])
    assert define("plan, report, Work(plan, report)", ["Work(plan; report) ::= *"])
