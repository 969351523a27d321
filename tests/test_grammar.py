import pytest

from grammarflow import (
    BrokenPromise,
    Derivation,
    Expand,
    Fragment,
    Grammar,
    GrammarError,
    Grow,
    HoleSpec,
    NarrowHole,
    NarrowType,
    Refine,
    Role,
    SetState,
    TaskSpec,
    TaskState,
    define,
    hole_type,
    parse_types,
    repeat_parallel,
)
from grammarflow.core.steps import step_from_json, step_to_json

BRANCH = define("start, end, X(start, end)", "X(a, b) ::= a -> A -> b | a -> B -> b")


def run_task(d: Derivation, task: str) -> None:
    d.apply(SetState(task, TaskState.RUNNING))
    d.apply(SetState(task, TaskState.DONE))


def test_expand_replaces_the_hole_with_fresh_deterministic_ids() -> None:
    d = BRANCH.derivation()
    applied = d.apply(Expand("X.1", "1"))
    assert applied.tasks == {"A": "X.1/A"} and applied.removed == "X.1"
    assert sorted(d.graph.edges()) == [("X.1/A", "end"), ("start", "X.1/A")]
    assert not d.graph.holes


def test_unknown_production_names_what_exists() -> None:
    with pytest.raises(BrokenPromise, match=r"no production named '3'; expected one of \['1', "):
        BRANCH.derivation().apply(Expand("X.1", "3"))


def test_a_refused_batch_leaves_no_trace() -> None:
    g = define("s, e, Ms(s, e)", repeat_parallel("Ms", "M"))
    d = g.derivation()
    before = d.graph.to_json()
    with pytest.raises(BrokenPromise, match="no hole 'nope'"):
        d.apply_batch([Expand("Ms.1", "2"), Expand("Ms.1/Ms_more.1", "2"), Expand("nope", "1")])
    assert d.graph.to_json() == before
    assert d.history == []
    d.apply_batch([Expand("Ms.1", "2"), Expand("Ms.1/Ms_more.1", "2")])
    assert len(d.history) == 2 and len(d.graph.tasks) == 4


def test_a_due_hole_takes_its_default_or_breaks_the_promise() -> None:
    g = define("s, e, Ms(s, e)", repeat_parallel("Ms", "M"))
    d = g.derivation()
    run_task(d, "s")
    assert list(d.graph.due()) == ["Ms.1"]
    d.close_due()
    assert sorted(d.graph.edges()) == [("s", "e")]  # the default: a -> b

    d = BRANCH.derivation()
    run_task(d, "start")
    with pytest.raises(BrokenPromise, match=r"hole X.1 \(X\) is due .* no default") as e:
        d.close_due()
    assert e.value.hole == "X.1"


def test_narrowing_a_type_removes_futures_but_never_all_of_them() -> None:
    g = define("s, e, Ms(s, e)", repeat_parallel("Ms", "M"))
    d = g.derivation()
    d.apply(NarrowType("Ms", ("2",)))
    with pytest.raises(BrokenPromise, match="narrowed away") as e:
        d.apply(Expand("Ms.1", "2"))
    assert e.value.attempts and "narrowing" in e.value.attempts[0].reason
    with pytest.raises(BrokenPromise, match="no way to finish"):
        d.apply(NarrowType("Ms", ("1",)))
    d.apply(Expand("Ms.1", "1"))


def test_narrowing_away_the_default_leaves_no_default() -> None:
    g = define("s, e, X(s, e)", "X(a, b) ::= [default] a -> A -> b | a -> B -> b")
    d = g.derivation()
    d.apply(NarrowType("X", ("1",)))
    assert d.grammar.types["X"].default is None
    run_task(d, "s")
    with pytest.raises(BrokenPromise, match="no default"):
        d.close_due()


def test_narrowing_that_leaves_a_type_no_way_to_finish_is_refused() -> None:
    g = define("s, e, Ms(s, e)", repeat_parallel("Ms", "M"))
    with pytest.raises(BrokenPromise, match=r"would leave \['Ms_more'\] with no way"):
        # Ms_more's only base case is 'nothing': removing it leaves only recursion
        g.derivation().apply(NarrowType("Ms_more", ("1",)))


def test_narrowing_one_hole() -> None:
    d = BRANCH.derivation()
    d.apply(NarrowHole("X.1", ("1",)))
    assert d.graph.holes["X.1"].allowed == frozenset({"2"})
    with pytest.raises(BrokenPromise, match="narrowed away"):
        d.apply(Expand("X.1", "1"))
    with pytest.raises(BrokenPromise, match="no way to finish"):
        d.apply(NarrowHole("X.1", ("2",)))


def test_refine_an_open_hole_into_fresh_types() -> None:
    g = define("s, e, Dyn(s, e)", "Dyn(a; b) ::= *")
    d = g.derivation()
    fresh = parse_types("Only(a, b) ::= a -> M -> b | [default] nothing")["Only"]
    d.apply(Refine("Dyn.1", Fragment(tasks=(TaskSpec("W", "W"),),
                                      holes=(HoleSpec("Only", ("W", "e")),),
                                      edges=(("s", "W"),)), (fresh,)))
    assert "Only" in d.grammar.types
    assert set(d.graph.holes) == {"Dyn.1/Only.1"}
    assert d.graph.holes["Dyn.1/Only.1"].args == ("Dyn.1/W", "e")
    with pytest.raises(BrokenPromise, match="already exist"):
        d2 = g.derivation()
        d2.apply(Refine("Dyn.1", Fragment(), (parse_types("Dyn(a) ::= nothing")["Dyn"],)))


def test_an_open_hole_grows_between_its_attachment_and_keeps_its_roles() -> None:
    g = define("s, e, Dyn(s, e)", "Dyn(a; b) ::= *")
    d = g.derivation()
    d.apply(Grow("Dyn.1", Fragment(tasks=(TaskSpec("n", "N"),), edges=(("s", "n"), ("n", "e")))))
    hole = d.graph.holes["Dyn.1"]
    assert hole.after == ("s", "Dyn.1/n") and hole.before == ("e",)
    with pytest.raises(BrokenPromise, match="comes after 's'"):
        d.apply(Grow("Dyn.1", Fragment(tasks=(TaskSpec("m", "M"),), edges=(("m", "s"),))))
    with pytest.raises(BrokenPromise, match="neither a new task nor a parameter"):
        d.apply(Grow("Dyn.1", Fragment(tasks=(TaskSpec("m", "M"),), edges=(("m", "X"),))))


def test_an_everywhere_hole_admits_any_edge_but_a_cycle_or_a_late_one() -> None:
    g = define("s -> t, Any(*)", "Any(*) ::= *")
    d = g.derivation()
    d.apply(Grow("Any.1", Fragment(tasks=(TaskSpec("n", "N"),), edges=(("s", "n"), ("n", "t")))))
    with pytest.raises(BrokenPromise, match="would close a cycle"):
        d.apply(Grow("Any.1", Fragment(edges=(("t", "s"),))))
    d.apply(SetState("s", TaskState.RUNNING))
    with pytest.raises(BrokenPromise, match="already started"):
        d.apply(Grow("Any.1", Fragment(tasks=(TaskSpec("m", "M"),), edges=(("m", "s"),))))
    assert set(d.graph.tasks) == {"s", "t", "Any.1/n"}


def test_a_closed_hole_refuses_raw_fragments_and_an_open_one_refuses_productions() -> None:
    with pytest.raises(BrokenPromise, match="is not open") as e:
        BRANCH.derivation().apply(Grow("X.1", Fragment()))
    assert len(e.value.attempts) == 2
    g = define("s, e, Dyn(s, e)", "Dyn(a; b) ::= *")
    with pytest.raises(BrokenPromise, match="is open"):
        g.derivation().apply(Expand("Dyn.1", "1"))


def test_replay_of_the_history_reproduces_the_graph_and_grammar() -> None:
    g = define("s, e, Ms(s, e)", repeat_parallel("Ms", "M"))
    d = g.derivation()
    d.apply(SetState("s", TaskState.RUNNING))
    d.apply_batch([Expand("Ms.1", "2", {"M": {"n": 1}}), NarrowType("Ms_more", ("2",))])
    d.apply(SetState("s", TaskState.DONE))
    d.close_due()
    steps = [step_from_json(step_to_json(s)) for s in d.history]
    again = Derivation.replay(g, steps)
    assert again.graph == d.graph
    assert again.grammar == d.grammar
    assert d.graph.tasks["Ms.1/M"].attrs == {"n": 1}


def test_grammar_json_round_trip() -> None:
    g = define("s, e, Ms(s, e), Any(*)", [*repeat_parallel("Ms", "M"), "Any(*) ::= *"])
    assert Grammar.from_json(g.to_json()) == g


def test_hole_type_builds_the_same_as_the_notation() -> None:
    by_hand = hole_type("X", ("a", "b"), (Role.AFTER, Role.BEFORE), [
        Fragment(tasks=(TaskSpec("A", "A"),), edges=(("a", "A"), ("A", "b"))),
        Fragment(tasks=(TaskSpec("B", "B"),), edges=(("a", "B"), ("B", "b"))),
    ])
    assert by_hand == BRANCH.types["X"]


def test_a_hole_type_with_wrong_roles_is_refused() -> None:
    bad = hole_type("X", ("a", "b"), (Role.AFTER, Role.AFTER), [
        Fragment(tasks=(TaskSpec("A", "A"),), edges=(("a", "A"), ("A", "b")))])
    with pytest.raises(GrammarError, match="enters 'b', but the hole comes after 'b'"):
        Grammar(Fragment(tasks=(TaskSpec("s", "s"), TaskSpec("e", "e")),
                         holes=(HoleSpec("X", ("s", "e")),)), {"X": bad})
