"""The derivation: ids made from the derivation tree, refinements that never widen a
promise, and refused steps that leave no trace even inside a batch (proofs/04, 02)."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from reference import Illegal, Model
from strategies import grammars

from grammarflow import (
    BrokenPromise,
    Derivation,
    Expand,
    Fragment,
    GrammarError,
    HoleSpec,
    NarrowHole,
    NarrowType,
    Refine,
    SetState,
    TaskSpec,
    TaskState,
    define,
    hole_type,
    open_type,
    parse_types,
    repeat_parallel,
    repeat_series,
)
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Hole, Role
from grammarflow.core.plans import MAX_ID, child_hole_id
from grammarflow.testing import partial_runs


# ---------------------------------------------------------------- ids
def test_a_map_names_its_holes_along_one_chain() -> None:
    d = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M")).derivation()
    first = d.apply(Expand("Ms.1", "2"))
    assert first.tasks == {"M": "Ms.1/M"} and first.holes == ("Ms.1/Ms_more.1",)
    second = d.apply(Expand("Ms.1/Ms_more.1", "2"))
    assert second.tasks == {"M": "Ms.1/Ms_more.1/M"} and second.holes == ("Ms.1/Ms_more.1.2",)
    third = d.apply(Expand("Ms.1/Ms_more.1.2", "2"))
    assert third.holes == ("Ms.1/Ms_more.1.3",)


def test_a_series_of_ten_thousand_keeps_its_ids_short() -> None:
    d = define("a, b, Ss(a, b)", repeat_series("Ss", "S")).derivation()
    hole = "Ss.1"
    for _ in range(10_000):
        hole = d.apply(Expand(hole, "2")).holes[0]
    assert hole == "Ss.1.10001"
    assert max(len(t) for t in d.graph.tasks) <= len("Ss.1.10000/S")


def test_mutual_recursion_keeps_ids_bounded_and_distinct() -> None:
    d = define("a, b, P(a, b)", """
        P(x, y) ::= [default] x -> y | x -> p -> y, Q(p, y)
        Q(x, y) ::= [default] x -> y | x -> q -> y, P(q, y)
    """).derivation()
    hole = "P.1"
    for _ in range(200):
        hole = d.apply(Expand(hole, "2")).holes[0]
    assert all(len(n) <= MAX_ID + len("/q") for n in d.graph.tasks)
    assert len(d.graph.tasks) == 202  # every id distinct (add_task refuses a reused one)


def test_siblings_of_one_type_are_numbered_and_do_not_meet_a_chain() -> None:
    parent = Hole("T.1", "T", ("a",), (Role.AFTER,))
    assert child_hole_id(parent, "T", 1, 2) == "T.1/T.1"
    assert child_hole_id(parent, "T", 2, 2) == "T.1/T.2"
    assert child_hole_id(parent, "T", 1, 1) == "T.1.2"
    assert child_hole_id(None, "T", 2, 2) == "T.2"
    # the chain of the start's second T never meets the first T's children
    assert child_hole_id(Hole("T.2", "T"), "T", 1, 1) == "T.2.2"


@st.composite
def reordered(draw: st.DrawFn) -> tuple[Derivation, list[Expand]]:
    """A random finished derivation and its expansions in another order that respects
    which expansion created which hole (any order a scheduler could take)."""
    grammar = draw(grammars(allow_open=False))
    d = grammar.derivation()
    made_by: dict[str, int] = {}
    steps: list[Expand] = []
    while d.graph.holes and len(steps) < 12:
        hole = d.graph.holes[draw(st.sampled_from(sorted(d.graph.holes)))]
        names = [p.name for p in d.grammar.types[hole.type].allowed()]
        step = Expand(hole.id, draw(st.sampled_from(names)))
        for h in d.apply(step).holes:
            made_by[h] = len(steps)
        steps.append(step)
    # a random linear extension of "the step that made a hole comes before its expansion"
    left = list(range(len(steps)))
    order: list[Expand] = []
    done: set[int] = set()
    while left:
        free = [i for i in left if made_by.get(steps[i].hole, -1) in done
                or steps[i].hole not in made_by]
        i = draw(st.sampled_from(free))
        left.remove(i)
        done.add(i)
        order.append(steps[i])
    return d, order


@given(reordered())
def test_ids_are_a_function_of_the_derivation_tree(case: tuple[Derivation, list[Expand]]
                                                   ) -> None:
    """proofs/04: independent expansions in any order give the same graph, ids and all."""
    d, order = case
    again = Derivation.replay(d.grammar, order)
    assert again.graph == d.graph


def test_two_orders_of_independent_holes_name_everything_alike() -> None:
    g = define("s, e, X(s, e), Y(s, e)", """
        X(a, b) ::= a -> A -> b, Z(A, b)
        Y(a, b) ::= a -> B -> b, Z(B, b)
        Z(a, b) ::= a -> C -> b | nothing
    """)
    one = Derivation.replay(g, [Expand("X.1", "1"), Expand("Y.1", "1"),
                                Expand("Y.1/Z.1", "1"), Expand("X.1/Z.1", "1")])
    two = Derivation.replay(g, [Expand("Y.1", "1"), Expand("Y.1/Z.1", "1"),
                                Expand("X.1", "1"), Expand("X.1/Z.1", "1")])
    assert one.graph == two.graph
    assert "X.1/Z.1/C" in one.graph.tasks and "Y.1/Z.1/C" in one.graph.tasks


# ---------------------------------------------------------------- refine never widens
BOUNDED = "s, m, e, s -> m, Dyn(s, e)"


def test_a_bounded_open_hole_cannot_become_an_everywhere_hole_of_a_fresh_type() -> None:
    d = define(BOUNDED, "Dyn(a; b) ::= *").derivation()
    before, grammar = d.graph.to_json(), d.grammar
    wide = open_type("Wide", everywhere=True)
    with pytest.raises(BrokenPromise, match=r"\['Wide'\] attached everywhere would widen"):
        d.apply(Refine("Dyn.1", Fragment(holes=(HoleSpec("Wide", ("*",)),)), (wide,)))
    assert d.graph.to_json() == before and d.grammar is grammar
    with pytest.raises(BrokenPromise, match="would widen"):  # declared, even if unused
        d.apply(Refine("Dyn.1", Fragment(), (wide,)))


def test_a_bounded_open_hole_cannot_reach_an_everywhere_type_through_productions() -> None:
    g = define("s, m, e, s -> m, Dyn(s, e), Any(*)", ["Dyn(a; b) ::= *", "Any(*) ::= *"])
    d = g.derivation()
    with pytest.raises(BrokenPromise, match=r"\['Any'\] attached everywhere"):
        d.apply(Refine("Dyn.1", Fragment(holes=(HoleSpec("Any", ("*",)),))))
    # nor through a fresh closed type one of whose productions makes one
    via = hole_type("Via", ["a"], [Role.AFTER],
                    [Fragment(), Fragment(holes=(HoleSpec("Any", ("*",)),))])
    with pytest.raises(BrokenPromise, match=r"\['Any'\] attached everywhere"):
        d.apply(Refine("Dyn.1", Fragment(holes=(HoleSpec("Via", ("s",)),)), (via,)))


def test_an_everywhere_hole_may_refine_into_anything() -> None:
    d = define("s, Any(*)", "Any(*) ::= *").derivation()
    again = open_type("Again", everywhere=True)
    applied = d.apply(Refine("Any.1", Fragment(holes=(HoleSpec("Again", ("*",)),)), (again,)))
    assert applied.holes == ("Any.1/Again.1",)


# ---------------------------------------------------------------- refused steps, batches
def test_a_refused_refine_inside_a_batch_leaves_no_trace_and_the_batch_goes_on() -> None:
    # The refusal comes late: after the fresh type joined the grammar and W was added,
    # the edge W -> s ends at a task that has started.
    d = define("s, t, Any(*)", "Any(*) ::= *").derivation()
    d.apply(SetState("s", TaskState.RUNNING))
    fresh = parse_types("Only(a) ::= a -> M | [default] nothing")["Only"]
    with d.atomic():
        before, grammar = d.graph.to_json(), d.grammar
        with pytest.raises(BrokenPromise, match="which has already started"):
            d.apply(Refine("Any.1", Fragment(tasks=(TaskSpec("W", "W"),),
                                             holes=(HoleSpec("Only", ("W",)),),
                                             edges=(("W", "s"),)), (fresh,)))
        assert "Only" not in d.grammar.types and d.grammar is grammar
        assert d.graph.to_json() == before
        d.apply(Refine("Any.1", Fragment(tasks=(TaskSpec("W", "W"),), edges=(("t", "W"),))))
    assert [type(s).__name__ for s in d.history] == ["SetState", "Refine"]
    assert "Any.1/W" in d.graph.tasks and "Only" not in d.grammar.types


def test_a_refused_expand_inside_a_batch_is_undone_before_the_next_step() -> None:
    d = define("s, e, X(s, e), Y(s, e)", """
        X(a, b) ::= a -> A -> b
        Y(a, b) ::= a -> B -> b
    """).derivation()
    with d.atomic():
        d.apply(Expand("X.1", "1"))
        with pytest.raises(BrokenPromise):
            d.apply(Expand("Y.1", "2"))
        d.apply(Expand("Y.1", "1"))
    assert sorted(d.graph.tasks) == ["X.1/A", "Y.1/B", "e", "s"]


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("name", ["</script>", "a b", "", "x" * 65, "é"])
def test_production_names_are_checked_at_registration(name: str) -> None:
    with pytest.raises(GrammarError, match="production name"):
        define("s, e, X(s, e)", hole_type("X", ["a", "b"], [Role.AFTER, Role.BEFORE],
                                          [Fragment(edges=(("a", "b"),))], names=[name]))


def test_narrowing_a_type_may_not_strand_a_hole_narrowed_before() -> None:
    """Found by the message generator: a hole narrowed to production 2, then its type
    narrowed by removing 2, had no production left (and the run could never finish)."""
    d = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b").derivation()
    d.apply(NarrowHole("X.1", ("1",)))
    before, grammar = d.graph.to_json(), d.grammar
    with pytest.raises(BrokenPromise, match=r"hole X.1, itself narrowed to \['2'\], with no "
                                            "way to finish"):
        d.apply(NarrowType("X", ("2",)))
    assert d.graph.to_json() == before and d.grammar is grammar
    d.apply(NarrowType("X", ("1",)))  # what the hole no longer had anyway: fine


@given(grammar=grammars(), data=st.data())
def test_narrowings_however_many_take_exactly_what_they_name(grammar: Grammar,
                                                             data: st.DataObject) -> None:
    """Theorem 6 (proofs/06-narrowing.md), narrowing after narrowing: in a run stopped
    anywhere, narrowings of holes — one hole again and again — and of their types, in
    any order, each take exactly what it names and keep what the earlier ones took; and
    each is refused exactly when it would leave a hole or a type no way to finish,
    counting everything taken before. The naive reference model (tests/reference.py)
    decides every one alike and ends in the same state."""
    d = data.draw(partial_runs(grammar), label="run")
    model = Model.of(d.graph.to_json(), d.grammar.to_json())
    for _ in range(data.draw(st.integers(1, 6), label="narrowings")):
        closed = sorted(h for h, hole in d.graph.holes.items()
                        if not d.grammar.types[hole.type].open)
        if not closed:
            break
        again = [h for h in closed if d.graph.holes[h].allowed is not None]
        hid = data.draw(st.sampled_from(again) | st.sampled_from(closed) if again
                        else st.sampled_from(closed), label="hole")
        htype = d.grammar.types[d.graph.holes[hid].type]
        remove = tuple(data.draw(st.lists(st.sampled_from([p.name for p in htype.productions]),
                                          min_size=1, max_size=2, unique=True), label="remove"))
        step = NarrowType(htype.name, remove) if data.draw(st.integers(0, 3)) == 0 \
            else NarrowHole(hid, remove)
        try:
            model.apply(step)
            expected = True
        except Illegal:
            expected = False
        try:
            d.apply(step)
            accepted = True
        except BrokenPromise:
            accepted = False
        event(f"{type(step).__name__} of a hole narrowed before: "
              f"{'accepted' if accepted else 'refused'}" if hid in again else
              f"{type(step).__name__}: {'accepted' if accepted else 'refused'}")
        assert accepted == expected, f"{step}: accepted {accepted}, the model says {expected}"
        assert not model.differences(d.graph.to_json(), d.grammar.to_json())


@given(grammar=grammars(), data=st.data())
def test_a_due_hole_takes_its_default_or_breaks_the_run_naming_it(
        grammar: Grammar, data: st.DataObject) -> None:
    """Promise safety (Theorem 2) where nobody chose: when a hole is due, the
    orchestrator closes it with its default production if the hole still allows it, an
    open hole with nothing — and with nothing else: a hole left no default (none
    declared, or narrowed away, for its type or for the hole) breaks the run, and the
    reason names the hole and says it has no default. Runs at their start or stopped
    anywhere, narrowed at random, then their tasks done one by one."""
    d = data.draw(st.builds(grammar.derivation) | partial_runs(grammar), label="run")
    for _ in range(data.draw(st.integers(0, 4), label="narrowings")):
        closed = sorted(h for h, hole in d.graph.holes.items()
                        if not d.grammar.types[hole.type].open)
        if not closed:
            break
        hole = d.graph.holes[data.draw(st.sampled_from(closed), label="hole to narrow")]
        htype = d.grammar.types[hole.type]
        names = [p.name for p in htype.productions]
        remove = (data.draw(st.sampled_from(names) if htype.default is None  # often it
                            else st.just(htype.default) | st.sampled_from(names)),)
        with contextlib.suppress(BrokenPromise):
            d.apply(NarrowType(htype.name, remove) if data.draw(st.integers(0, 3)) == 0
                    else NarrowHole(hole.id, remove))
    broken: set[str] = set()  # holes that broke the run (the others go on, to be seen)
    while True:
        due = sorted(set(d.graph.due()) - broken)
        if not due:
            ready = d.graph.ready_in_order()
            if not ready:
                break
            d.apply(SetState(ready[0], TaskState.RUNNING))
            d.apply(SetState(ready[0], TaskState.DONE))
            continue
        hole = d.graph.holes[due[0]]
        htype = d.grammar.types[hole.type]
        default = htype.default if htype.default in {
            p.name for p in htype.allowed(hole.allowed)} else None
        if not htype.open and default is None:
            event("a due hole with no default left" if htype.default is None else
                  "a due hole whose default was narrowed away for it")
            with pytest.raises(BrokenPromise) as broke:
                d.close(hole.id)
            assert broke.value.hole == hole.id
            assert re.search(rf"^hole {re.escape(hole.id)} \(\w+\) is due .* no default",
                             broke.value.reason), broke.value.reason
            broken.add(hole.id)
            continue
        d.close(hole.id)
        expected = Refine(hole.id, Fragment()) if htype.open else Expand(hole.id, default)
        assert d.history[-1] == expected and hole.id not in d.graph.holes


def test_a_refinement_may_not_add_a_hole_that_closes_a_cycle() -> None:
    # s -> t exists; a hole after t and before s would put s before itself (through the
    # hole's future edge t -> s), in one step or as the second of two.
    d = define("s -> t, Any(*)", "Any(*) ::= *").derivation()
    link = parse_types("Link(a, b) ::= a -> b | nothing")["Link"]
    before, grammar = d.graph.to_json(), d.grammar
    with pytest.raises(BrokenPromise, match="cycle"):
        d.apply(Refine("Any.1", Fragment(holes=(HoleSpec("Link", ("t", "s")),)), (link,)))
    assert d.graph.to_json() == before and d.grammar is grammar
    d.apply(Refine("Any.1", Fragment(tasks=(TaskSpec("u", "U"),), edges=(("t", "u"),),
                                     holes=(HoleSpec("Any", ("*",)),))))
    with pytest.raises(BrokenPromise, match="cycle"):
        d.apply(Refine("Any.1.2", Fragment(holes=(HoleSpec("Link", ("Any.1/u", "s")),)),
                       (link,)))
    d.apply(Refine("Any.1.2", Fragment(holes=(HoleSpec("Link", ("s", "Any.1/u")),)),
                   (link,)))
    assert "Link" in d.grammar.types


# ---------------------------------------------------------------- refusals
@pytest.mark.parametrize(("narrowing", "named"), [
    (NarrowType("X", ("2",)), "type X lost production 2"),
    (NarrowHole("X.1", ("2",)), "hole X.1 lost production 2"),
])
def test_expanding_a_production_narrowed_away_names_the_narrowing(
        narrowing: NarrowType | NarrowHole, named: str) -> None:
    d = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b").derivation()
    d.apply(narrowing)
    with pytest.raises(BrokenPromise) as e:
        d.apply(Expand("X.1", "2"))
    assert str(e.value) == (
        f"production X(a, b) ::= a -> B -> b was narrowed away for hole X.1 ({named}); "
        "still allowed: ['1']\n"
        f"  tried X(a, b) ::= a -> B -> b: removed by a narrowing promise ({named})")
    assert e.value.hole == "X.1"


# ---------------------------------------------------------------- order kept
def _work() -> Derivation:
    return define("plan, report, Work(plan, report)", ["Work(plan; report) ::= *"]
                  ).derivation()


def test_an_open_hole_closed_as_nothing_keeps_its_order() -> None:
    from grammarflow.core.graph import Graph
    from grammarflow.picture.render import ORDER_KEPT, Picture, to_dot

    d = _work()
    d.apply(SetState("plan", TaskState.RUNNING))
    d.apply(SetState("plan", TaskState.DONE))
    d.close_due()  # due: every task it comes after is done, and nothing grew
    assert d.graph.order == {("plan", "report"): None} and not d.graph.has_edge("plan", "report")
    assert Graph.from_snapshot(d.graph.snapshot()).order == d.graph.order
    assert Graph.from_json(d.graph.to_json()) == d.graph
    assert ("plan", "report") in d.graph.to_networkx().edges
    assert ORDER_KEPT in to_dot(d.graph, d.grammar, Picture())
    replayed = Derivation.replay(d.grammar, d.history)
    assert replayed.graph.order == d.graph.order


def test_no_order_is_kept_for_a_task_not_done_nor_by_a_refused_step() -> None:
    d = _work()
    d.apply(Refine("Work.1", Fragment()))  # closed before plan ends: report need not wait
    assert d.graph.order == {} and d.graph.is_ready("report")
    d = _work()
    d.apply(SetState("plan", TaskState.RUNNING))
    d.apply(SetState("plan", TaskState.DONE))
    with pytest.raises(BrokenPromise), d.atomic():
        d.apply(Refine("Work.1", Fragment()))
        d.apply(Expand("nope", "1"))  # the batch is refused: the mark goes with it
    assert d.graph.order == {} and "Work.1" in d.graph.holes
