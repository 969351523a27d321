"""Upgrading a run to a new grammar (grammarflow/core/upgrade.py, core/futures.py;
proofs/14-upgrade.md).

The property: for a random grammar G, a run of it cut anywhere, and G' a random change
of G (a production dropped, added, changed; a kind changed; a hole type renamed; the
start graph changed; a default removed), the verdict is safe or stuck exactly when the
naive reference model (tests/reference.py, a second implementation of the core) replays
the run's steps under G' and every task that started keeps its kind — no false accept,
no false refusal — and stuck exactly when, so replayed, a hole can no longer finish.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, event, example, given, note, reject
from hypothesis import strategies as st
from reference import Illegal, Model, allowed_names, can_finish
from strategies import RICH, grammars

from grammarflow import Fragment, Grammar, HoleSpec, HoleType, Role, TaskSpec, define, map_over
from grammarflow.core.analysis import Bounds
from grammarflow.core.futures import compare
from grammarflow.core.graph import TaskState
from grammarflow.core.rollback import Journaled
from grammarflow.core.steps import Expand, NarrowHole, Output, SetState, Step
from grammarflow.core.upgrade import (
    SAFE,
    STUCK,
    UNDECIDED,
    UNSAFE,
    rederive,
    rename_id,
    rename_step,
)
from grammarflow.errors import BrokenPromise, GrammarError
from grammarflow.testing import replay, runs

S = TaskState


def journal_of(steps: list[Step]) -> list[Journaled]:
    return [Journaled(i + 1, s, None) for i, s in enumerate(steps)]


# ---------------------------------------------------------------- changes of a grammar
#: A change of a grammar: (grammar, draw, the productions the run used) -> the new
#: grammar and the renaming it makes. Half the time it aims at what the run used.
Change = Callable[[Grammar, Any, list[tuple[str, str]]], tuple[Grammar, dict[str, str]]]


def _types(g: Grammar, **changed: HoleType) -> dict[str, HoleType]:
    return {**g.types, **changed}


def _closed(g: Grammar) -> list[HoleType]:
    return sorted((t for t in g.types.values() if t.productions), key=lambda t: t.name)


def _aimed(g: Grammar, draw: Any, used: list[tuple[str, str]], many: bool = False
           ) -> tuple[HoleType, int]:
    """A closed type and one of its productions: one the run used, or any."""
    pool = [(n, p) for n, p in used if n in g.types and (
        not many or len(g.types[n].productions) > 1)]
    if pool and draw(st.integers(0, 3)) > 0:
        n, name = draw(st.sampled_from(pool))
        t = g.types[n]
        return t, [p.name for p in t.productions].index(name)
    types = [t for t in _closed(g) if not many or len(t.productions) > 1]
    assume(types)
    t = draw(st.sampled_from(types))
    return t, draw(st.integers(0, len(t.productions) - 1))


def drop_production(g: Grammar, draw: Any, used: list[tuple[str, str]]
                    ) -> tuple[Grammar, dict[str, str]]:
    t, i = _aimed(g, draw, used, many=True)
    gone = t.productions[i]
    kept = tuple(p for p in t.productions if p is not gone)
    default = t.default if t.default != gone.name else None
    return Grammar(g.start, _types(g, **{t.name: dataclasses.replace(
        t, productions=kept, default=default)})), {}


def add_production(g: Grammar, draw: Any, used: list[tuple[str, str]]
                   ) -> tuple[Grammar, dict[str, str]]:
    """A copy of a production under a new name, maybe with one more task in it."""
    t, i = _aimed(g, draw, used)
    base = t.productions[i]
    frag = base.fragment
    if draw(st.booleans()):
        frag = dataclasses.replace(frag, tasks=(*frag.tasks, TaskSpec("zz", "Z")))
    extra = dataclasses.replace(base, name="extra", fragment=frag)
    return Grammar(g.start, _types(g, **{t.name: dataclasses.replace(
        t, productions=(*t.productions, extra))})), {}


def change_production(g: Grammar, draw: Any, used: list[tuple[str, str]]
                      ) -> tuple[Grammar, dict[str, str]]:
    """A production that makes one more task, one of its tasks of another kind, or one
    more hole after one of its tasks (or parameters) — of a type with no default."""
    t, i = _aimed(g, draw, used)
    p = t.productions[i]
    frag = p.fragment
    extra: dict[str, HoleType] = {}
    how = draw(st.sampled_from(["hole", "kind", "task"]))
    after = [*frag.locals, *(a for a, r in zip(t.params, t.roles, strict=True)
                             if r is Role.AFTER)]
    if how == "hole" and after:
        extra["Late"] = define("x", ["Late(a) ::= a -> L"]).types["Late"]
        frag = dataclasses.replace(frag, holes=(*frag.holes, HoleSpec(
            "Late", (draw(st.sampled_from(after)),))))
    elif how == "kind" and frag.tasks:
        j = draw(st.integers(0, len(frag.tasks) - 1))
        tasks = list(frag.tasks)
        tasks[j] = dataclasses.replace(tasks[j], kind="Q")
        frag = dataclasses.replace(frag, tasks=tuple(tasks))
    else:
        frag = dataclasses.replace(frag, tasks=(*frag.tasks, TaskSpec("zz", "Z")))
    prods = list(t.productions)
    prods[i] = dataclasses.replace(p, fragment=frag)
    return Grammar(g.start, _types(g, **extra, **{t.name: dataclasses.replace(
        t, productions=tuple(prods))})), {}


def rename_type(g: Grammar, draw: Any, used: list[tuple[str, str]]
                ) -> tuple[Grammar, dict[str, str]]:
    """Hole type T is called R everywhere (its holes' ids re-mapped)."""
    old = draw(st.sampled_from(sorted({n for n, _ in used} or set(g.types))))
    new = "R" + old

    def frag(f: Fragment) -> Fragment:
        return dataclasses.replace(f, holes=tuple(
            HoleSpec(new if h.type == old else h.type, h.args) for h in f.holes))
    types = {}
    for name, t in g.types.items():
        t = dataclasses.replace(t, productions=tuple(
            dataclasses.replace(p, lhs=new if p.lhs == old else p.lhs, fragment=frag(p.fragment))
            for p in t.productions))
        if name == old:
            t = dataclasses.replace(t, name=new)
        types[t.name] = t
    return Grammar(frag(g.start), types), {old: new}


def change_start(g: Grammar, draw: Any, used: list[tuple[str, str]]
                 ) -> tuple[Grammar, dict[str, str]]:
    """One more task in the start graph, before or after one of its tasks."""
    s = draw(st.sampled_from([t.local for t in g.start.tasks]))
    edge = ("new0", s) if draw(st.booleans()) else (s, "new0")
    start = dataclasses.replace(g.start, tasks=(*g.start.tasks, TaskSpec("new0", "N")),
                                edges=(*g.start.edges, edge))
    return Grammar(start, dict(g.types)), {}


def drop_default(g: Grammar, draw: Any, used: list[tuple[str, str]]
                 ) -> tuple[Grammar, dict[str, str]]:
    with_default = [t for t in _closed(g) if t.default]
    assume(with_default)
    t = draw(st.sampled_from(with_default))
    return Grammar(g.start, _types(g, **{t.name: dataclasses.replace(t, default=None)})), {}


def same(g: Grammar, draw: Any, used: list[tuple[str, str]]) -> tuple[Grammar, dict[str, str]]:
    return Grammar.from_json(g.to_json()), {}


CHANGES: list[Change] = [change_production, drop_production, change_start, rename_type,
                         add_production, drop_default, same]


@st.composite
def upgrades(draw: st.DrawFn, changes: list[Change] = CHANGES, whole: bool = False
             ) -> tuple[Grammar, Grammar, dict[str, str], list[Step]]:
    """A grammar (random, or one of RICH), a run of it cut anywhere (``whole``: most of
    it), and a random change of the grammar (with the renaming it makes)."""
    g = draw(st.sampled_from(RICH) | grammars())
    finished = draw(runs(g, max_tasks=20)).history
    least = len(finished) * 3 // 4 if whole else min(3, len(finished))
    cut = draw(st.integers(least, len(finished)))  # a run under way
    steps: list[Step] = [s for s in finished[:cut] if not isinstance(s, Output)]
    d = g.derivation()
    used = []
    for s in steps:
        applied = d.apply(s)
        if isinstance(s, Expand) and applied.removed is not None:
            used.append((_type_of(s.hole), s.production))
    change = draw(st.sampled_from(changes))
    try:
        new, renamed = change(g, draw, used)
    except GrammarError:
        reject()  # the change made an ill-formed grammar: registration refuses it
    note(f"change: {change.__name__} {renamed}")
    event(f"change: {change.__name__}")
    return g, new, renamed, steps


def _type_of(hole: str) -> str:
    return hole.rsplit("/", 1)[-1].split(".")[0]


# ---------------------------------------------------------------- the reference's verdict
def reference_verdict(old: Grammar, new: Grammar, renamed: dict[str, str],
                      steps: list[Step]) -> str:
    """safe, stuck or unsafe, decided by the naive model (no renaming searched: the one
    the change made is given)."""
    d0 = new.derivation()
    model = Model.of(d0.graph.to_json(), d0.grammar.to_json())
    try:
        for s in steps:
            model.apply(rename_step(s, renamed))
    except Illegal:
        return UNSAFE
    except KeyError:  # a task or hole the new version never makes
        return UNSAFE
    now = replay(old, steps).graph
    for task, state in now.state.items():
        if state is not S.PENDING and model.tasks.get(rename_id(task, renamed)) != \
                now.tasks[task].kind:
            return UNSAFE
    if any(not can_finish(model.types, h) for h in model.holes.values()):
        return STUCK
    return STUCK if _due_stuck(model) else SAFE


def _due_stuck(model: Model) -> bool:
    """Closing the due holes as the orchestrator would (its default; an open one as
    nothing) reaches one with no way to close it."""
    while True:
        due = sorted(model.due())
        if not due:
            return False
        hid = due[0]
        t = model.types[model.holes[hid].type]
        if t["open"]:
            model.apply(_refine_empty(hid))
        elif t["default"] is not None and t["default"] in allowed_names(t, model.holes[hid]):
            model.apply(Expand(hid, t["default"]))
        else:
            return True


def _refine_empty(hid: str) -> Step:
    from grammarflow.core.steps import Refine
    return Refine(hid, Fragment())


@given(upgrades())
def test_upgrade_is_accepted_exactly_when_the_reference_rederives_the_journal(
        case: tuple[Grammar, Grammar, dict[str, str], list[Step]]) -> None:
    old, new, renamed, steps = case
    now = replay(old, steps)
    v = rederive(old, new, journal_of(steps), now.graph)
    expected = reference_verdict(old, new, renamed, steps)
    note(f"verdict: {v.verdict}: {v.reason}")
    assert v.verdict == expected
    if v.verdict in (SAFE, STUCK):
        # the renaming found re-maps every id as the change's own does (a type no id
        # names needs none)
        ids = [*now.graph.tasks, *now.graph.holes]
        assert [rename_id(i, v.renamed) for i in ids] == [rename_id(i, renamed) for i in ids]
        assert v.derivation is not None
        d0 = new.derivation()
        model = Model.of(d0.graph.to_json(), d0.grammar.to_json())
        for s in steps:
            model.apply(rename_step(s, renamed))
        assert not model.differences(v.derivation.graph.to_json(),
                                     v.derivation.grammar.to_json())


def holes_after(g: Grammar, draw: Any, used: list[tuple[str, str]]
                ) -> tuple[Grammar, dict[str, str]]:
    """A production the run used, given one more hole (of a type with no default) or
    one more task, or a default dropped: what can leave a hole unable to finish."""
    if draw(st.integers(0, 3)) == 0:
        return drop_default(g, draw, used)
    return change_production(g, draw, used)


@given(upgrades([holes_after], whole=True))
def test_stuck_exactly_when_a_hole_can_no_longer_finish(
        case: tuple[Grammar, Grammar, dict[str, str], list[Step]]) -> None:
    old, new, renamed, steps = case
    v = rederive(old, new, journal_of(steps), replay(old, steps).graph)
    expected = reference_verdict(old, new, renamed, steps)
    event(expected)
    assert v.verdict == expected, v.reason
    if v.verdict == STUCK:
        assert v.hole is not None and v.derivation is not None
        assert v.hole in v.derivation.graph.holes


@given(upgrades())
def test_the_changes_reach_every_verdict(
        case: tuple[Grammar, Grammar, dict[str, str], list[Step]]) -> None:
    """Not an assertion about upgrades: the generator reaches safe, unsafe and stuck
    (hypothesis' statistics show how often), so the property above is tested on all."""
    old, new, renamed, steps = case
    from hypothesis import event
    event(reference_verdict(old, new, renamed, steps))


# ---------------------------------------------------------------- by hand
MAP = define("A -> B, Ms(A, B)", map_over("Ms", "M"))


def _map_run() -> tuple[Grammar, list[Step]]:
    g = define("A, B, Ms(A, B), Then(B)", [
        "Ms(a, b) ::= [default] a -> b | a -> M -> b, Ms_more(a, b)",
        "Ms_more(a, b) ::= [default] nothing | a -> M -> b, Ms_more(a, b)",
        "Then(b) ::= [default] b -> Report"])
    steps: list[Step] = [SetState("A", S.RUNNING), Expand("Ms.1", "2"),
                         Expand("Ms.1/Ms_more.1", "2"), SetState("A", S.DONE),
                         SetState("Ms.1/M", S.RUNNING)]
    return g, steps


def test_a_renamed_hole_type_is_found_and_its_ids_re_mapped() -> None:
    g, steps = _map_run()
    new = define("A, B, Items(A, B), Then(B)", [
        "Items(a, b) ::= [default] a -> b | a -> M -> b, More(a, b)",
        "More(a, b) ::= [default] nothing | a -> M -> b, More(a, b)",
        "Then(b) ::= [default] b -> Report"])
    v = rederive(g, new, journal_of(steps), replay(g, steps).graph)
    assert v.verdict == SAFE, v.reason
    assert v.renamed == {"Ms": "Items", "Ms_more": "More"}
    assert "ids re-mapped: Ms -> Items, Ms_more -> More" in v.reason
    assert v.derivation is not None
    assert v.derivation.graph.state["Items.1/M"] is S.RUNNING
    assert "Items.1/More.1.2" in v.derivation.graph.holes  # the chain, renamed too
    # past the budget, never a guess
    tight = rederive(g, new, journal_of(steps), replay(g, steps).graph, budget=1)
    assert tight.verdict == UNDECIDED and "more than 1 renamings" in tight.reason
    # said by hand: nothing to search
    told = rederive(g, new, journal_of(steps), replay(g, steps).graph,
                    renames={"Ms": "Items", "Ms_more": "More"})
    assert told.verdict == SAFE and told.tried == 1


def test_two_renamings_that_both_explain_the_run_are_undecided() -> None:
    g = define("A, B, X(A, B)", ["X(a, b) ::= a -> b | a -> C -> b"])
    steps: list[Step] = [Expand("X.1", "1"), SetState("A", S.RUNNING)]
    new = define("A, B, Y(A, B), Z(A, B)", ["Y(a, b) ::= a -> b | a -> C -> b",
                                            "Z(a, b) ::= a -> b | a -> C -> b"])
    v = rederive(g, new, journal_of(steps), replay(g, steps).graph)
    assert v.verdict == UNDECIDED and "two renamings" in v.reason


def test_a_production_the_run_used_removed_is_unsafe_and_named() -> None:
    g, steps = _map_run()
    new = define("A, B, Ms(A, B), Then(B)", [
        "Ms(a, b) ::= [default] a -> b",
        "Then(b) ::= [default] b -> Report"])
    v = rederive(g, new, journal_of(steps), replay(g, steps).graph)
    assert v.verdict == UNSAFE and v.seq == 2
    assert v.reason.startswith("journal entry 2 (Expand('Ms.1', '2'), by the orchestrator) "
                               "is no step of the new version: hole type Ms has no "
                               "production named '2'")


def test_a_production_changed_under_the_run_is_named_as_the_likely_cause() -> None:
    g, steps = _map_run()
    new = define("A, B, Ms(A, B), Then(B)", [
        "Ms(a, b) ::= [default] a -> b | a -> N -> b, Ms_more(a, b)",
        "Ms_more(a, b) ::= [default] nothing | a -> N -> b, Ms_more(a, b)",
        "Then(b) ::= [default] b -> Report"])
    v = rederive(g, new, journal_of(steps), replay(g, steps).graph)
    assert v.verdict == UNSAFE and v.seq == 5  # Ms.1/M is Ms.1/N now
    assert "journal entry 2 expanded Ms.1 with production 2, which this version changes" \
        in v.reason


def test_a_task_that_ran_keeps_its_kind() -> None:
    g = define("A, B, X(A, B)", ["X(a, b) ::= a -> C -> b | a -> b"])
    steps: list[Step] = [SetState("A", S.RUNNING), SetState("A", S.DONE),
                         Expand("X.1", "1"), SetState("X.1/C", S.RUNNING)]
    new = define("A, B, X(A, B)", ["X(a, b) ::= a -> C:D -> b | a -> b"])
    v = rederive(g, new, journal_of(steps), replay(g, steps).graph)
    assert v.verdict == UNSAFE and v.task == "X.1/C"
    assert "ran as kind C, and the new version makes it a task of kind D" in v.reason
    # pending, it may change kind: a future, not a past
    early = steps[:3]
    assert rederive(g, new, journal_of(early), replay(g, early).graph).verdict == SAFE


def test_a_task_started_before_a_new_predecessor_is_unsafe() -> None:
    g = define("A -> B")
    steps: list[Step] = [SetState("A", S.RUNNING)]
    new = define("P -> A -> B")
    v = rederive(g, new, journal_of(steps), replay(g, steps).graph)
    assert v.verdict == UNSAFE and "not ready" in v.reason


def test_a_hole_due_with_nothing_to_close_it_is_stuck() -> None:
    g = define("A, B, X(A, B)", ["X(a, b) ::= [default] a -> C -> b"])
    steps: list[Step] = [SetState("A", S.RUNNING), SetState("A", S.DONE),
                         Expand("X.1", "1")]
    new = define("A, B, X(A, B)", ["X(a, b) ::= [default] a -> C -> b, Y(a)",
                                   "Y(a) ::= a -> D"])  # no default: due at once
    v = rederive(g, new, journal_of(steps), replay(g, steps).graph)
    assert v.verdict == STUCK and v.hole == "X.1/Y.1"
    assert "can no longer finish" in v.reason and "no default" in v.reason
    assert v.derivation is not None and v.derivation.is_finished() is False


def test_a_narrowing_is_carried_over_and_can_make_a_hole_stuck() -> None:
    g = define("A, B, X(A, B)", ["X(a, b) ::= [p] a -> C -> b | [q] a -> D -> b"])
    steps: list[Step] = [NarrowHole("X.1", ("q",))]
    same = rederive(g, g, journal_of(steps), replay(g, steps).graph)
    assert same.verdict == SAFE and same.derivation is not None
    assert same.derivation.graph.holes["X.1"].allowed == frozenset({"p"})
    new = define("A, B, X(A, B)", ["X(a, b) ::= [p] a -> C -> b, W(a) | [q] a -> D -> b",
                                   "W(a) ::= a -> E, W(E) | a -> F"])
    ok = rederive(g, new, journal_of(steps), replay(g, steps).graph)
    assert ok.verdict == SAFE  # p still finishes (W through F)
    dropped = define("A, B, X(A, B)", ["X(a, b) ::= [q] a -> D -> b"])
    v = rederive(g, dropped, journal_of(steps), replay(g, steps).graph)
    assert v.verdict == UNSAFE and v.seq == 1  # the narrowing names a production gone


def test_the_difference_of_futures_names_what_a_hole_gains_and_loses() -> None:
    g, steps = _map_run()
    new = define("A, B, Ms(A, B), Then(B)", [
        "Ms(a, b) ::= [default] a -> b | a -> M -> b, Ms_more(a, b)",
        "Ms_more(a, b) ::= [default] nothing | a -> M -> b, Ms_more(a, b)",
        "Then(b) ::= [default] b -> Report | [checked] b -> Check -> Report"])
    old_d = replay(g, steps)
    v = rederive(g, new, journal_of(steps), old_d.graph)
    assert v.verdict == SAFE and v.derivation is not None
    f = compare(old_d, v.derivation, v.renamed)
    assert [(c.hole, c.added, c.removed) for c in f.holes] == [("Then.1", ("checked",), ())]
    assert f.kinds_gained == ("Check",) and f.kinds_lost == ()
    assert "+ hole Then.1 (Then) may now become: checked" in f.lines()
    assert f.chain == (4, 5)  # A -> M -> B -> Report, then -> Check -> too
    narrowed = define("A, B, Ms(A, B), Then(B)", [
        "Ms(a, b) ::= [default] a -> b | a -> M -> b, Ms_more(a, b)",
        "Ms_more(a, b) ::= [default] nothing | a -> b",
        "Then(b) ::= [default] b -> Report"])
    w = rederive(g, narrowed, journal_of(steps), old_d.graph)
    assert w.verdict == SAFE and w.derivation is not None
    lost = compare(old_d, w.derivation, {})
    # production 2 of Ms_more, which the run took, makes no copy now: the copy still to
    # run and the hole after it go (a future, not a past: nothing of them had started)
    assert lost.holes_gone == ("Ms.1/Ms_more.1.2",)
    assert lost.tasks_gone == ("Ms.1/Ms_more.1/M",)
    assert lost.tasks[0].max is None and lost.tasks[1] == Bounds(4, 4)
    assert "~ tasks of kind M: 2 to unbounded -> 1" in lost.lines()
    assert compare(old_d, replay(g, steps), {}).same


@pytest.mark.parametrize("step, renamed, expected", [
    (Expand("Ms.1/Ms_more.1.2", "2"), {"Ms_more": "More"}, Expand("Ms.1/More.1.2", "2")),
    (SetState("Ms.1/M", S.DONE), {"Ms": "Items"}, SetState("Items.1/M", S.DONE)),
    (Output("Ms.1/M", "Ms.1/M"), {"Ms": "Items"}, Output("Items.1/M", "Ms.1/M")),  # data kept
])
def test_a_step_is_renamed_in_its_ids_only(step: Step, renamed: dict[str, str],
                                           expected: Step) -> None:
    assert rename_step(step, renamed) == expected


@example(MAP)
@given(st.sampled_from([MAP, *RICH]))
def test_a_run_upgraded_to_its_own_grammar_is_safe_and_the_same(g: Grammar) -> None:
    d = g.derivation()
    v = rederive(g, g, [], d.graph)
    assert v.verdict == SAFE and v.derivation is not None
    assert v.derivation.graph == d.graph


LIMITED = "s0 -> s1, Lim(s0, s1)"


def _limited(at_most: int) -> Grammar:
    return define(LIMITED, [f"Lim(a; b) ::= * where only A, B; at most {at_most} A"])


def test_a_constraint_is_kept_and_a_tighter_one_refuses_what_grew_under_the_old() -> None:
    from grammarflow.core.constraints import parse_constraints
    from grammarflow.core.steps import Constrain, Grow

    g = _limited(2)
    two = Fragment((TaskSpec("x", "A"), TaskSpec("y", "A")), (), (("s0", "x"), ("s0", "y")))
    steps: list[Step] = [SetState("s0", S.RUNNING), Grow("Lim.1", two),
                         Constrain("Lim.1", parse_constraints("at most 1 B")),
                         SetState("s0", S.DONE)]
    now = replay(g, steps)
    looser = rederive(g, _limited(3), journal_of(steps), now.graph)
    assert looser.verdict == SAFE and looser.derivation is not None
    # the constraint a task added at run time is in force under the new version too
    d = looser.derivation
    b2 = Fragment((TaskSpec("b1", "B"), TaskSpec("b2", "B")), (), (("s0", "b1"), ("s0", "b2")))
    with pytest.raises(BrokenPromise, match="at most 1 B"):
        d.apply(Grow("Lim.1", b2))
    tighter = rederive(g, _limited(1), journal_of(steps), now.graph)
    assert tighter.verdict == UNSAFE and tighter.seq == 2 and "at most 1 A" in tighter.reason


def test_a_guard_read_again_on_the_outputs_given_can_make_a_step_unsafe() -> None:
    g = define("m, r, Size(m, r)", "Size(a, b) ::= [big, when a > 10] a -> big -> b "
                                   "| [small, else] a -> small -> b")
    steps: list[Step] = [SetState("m", S.RUNNING), Output("m", 7), SetState("m", S.DONE),
                         Expand("Size.1", "small", guard="else")]
    now = replay(g, steps)
    same = define("m, r, Size(m, r)", "Size(a, b) ::= [big, when a > 20] a -> big -> b "
                                      "| [small, else] a -> small -> b")
    assert rederive(g, same, journal_of(steps), now.graph).verdict == SAFE
    lower = define("m, r, Size(m, r)", "Size(a, b) ::= [big, when a > 5] a -> big -> b "
                                       "| [small, else] a -> small -> b")
    v = rederive(g, lower, journal_of(steps), now.graph)
    assert v.verdict == UNSAFE and v.seq == 4
    assert "[else] holds only when no other guard does" in v.reason
