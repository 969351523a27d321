"""The shipped strategies explore open holes (issue 28.1): an open hole grows, within
its constraints, up to the size the user sets, of the kinds its constraints name; every
graph they make is one the checker accepts, and a planted loosening of a constraint (or
of a map) makes some graph the original grammar refuses."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from grammarflow import BrokenPromise, Derivation, Grammar, define, map_over, repeat_parallel
from grammarflow.testing import derivations, finished_graphs, message_runs, runs

PROMISE = "only step; at most 5 step; each step has 1 plan before"
DYNAMIC = define("plan, report, Work(plan, report)",
                 [f"Work(plan; report) ::= * where {PROMISE}"])

#: A grammar, and the same with one promise loosened (a planted bug of the user's own).
LOOSENED: dict[str, tuple[Grammar, Grammar]] = {
    "at most 5 -> 6": (DYNAMIC, define("plan, report, Work(plan, report)", [
        "Work(plan; report) ::= * where only step; at most 6 step; "
        "each step has 1 plan before"])),
    "only step -> step, audit": (DYNAMIC, define("plan, report, Work(plan, report)", [
        "Work(plan; report) ::= * where only step, audit; at most 5 step; "
        "each step has 1 plan before"])),
    "each step has 1 plan before -> 0": (DYNAMIC, define("plan, report, Work(plan, report)", [
        "Work(plan; report) ::= * where only step; at most 5 step"])),
    "a map of M -> of M or X": (
        define("A, B, Ms(A, B)", repeat_parallel("Ms", "M")),
        define("A, B, Ms(A, B)", ["Ms(a, b) ::= nothing | a -> M -> b, Ms(a, b) "
                                  "| a -> X -> b, Ms(a, b)"])),
}


def refused_by(grammar: Grammar, d: Derivation) -> bool:
    """Would the original grammar refuse the steps that made ``d``?"""
    try:
        Derivation.replay(grammar, d.history)
    except BrokenPromise:
        return True
    return False


def kinds(d: Derivation) -> Counter[str]:
    return Counter(t.kind for t in d.graph.tasks.values())


@given(derivations(DYNAMIC, open_tasks=8))
def test_an_open_hole_grows_only_what_its_promise_allows(d: Derivation) -> None:
    assert not refused_by(DYNAMIC, d)
    steps = [t for t, task in d.graph.tasks.items() if task.kind == "step"]
    assert set(kinds(d)) <= {"plan", "report", "step"} and len(steps) <= 5
    assert all("plan" in d.graph.pred[s] for s in steps)


@given(runs(DYNAMIC, open_tasks=8))
def test_a_run_grows_an_open_hole_too(d: Derivation) -> None:
    assert not refused_by(DYNAMIC, d) and kinds(d)["step"] <= 5


@pytest.mark.parametrize("size", [0, 1, 5])
def test_every_size_up_to_the_bound_is_reached(size: int) -> None:
    found = find(finished_graphs(DYNAMIC, open_tasks=8),
                 lambda g: Counter(t.kind for t in g.tasks.values())["step"] == size,
                 settings=settings(max_examples=500, derandomize=True, database=None))
    assert sum(t.kind == "step" for t in found.tasks.values()) == size


@pytest.mark.parametrize("planted", sorted(LOOSENED))
def test_a_loosened_promise_is_told_apart(planted: str) -> None:
    original, loosened = LOOSENED[planted]
    found = find(derivations(loosened, open_tasks=8), lambda d: refused_by(original, d),
                 settings=settings(max_examples=500, derandomize=True, database=None))
    assert refused_by(original, found) and not refused_by(loosened, found)


def test_a_fully_open_hole_grows_the_kinds_the_user_names() -> None:
    anything = define("a, Any(a)", ["Any(a; ) ::= *"])
    found = find(finished_graphs(anything, kinds=["fetch", "parse"]),
                 lambda g: {"fetch", "parse"} <= {t.kind for t in g.tasks.values()},
                 settings=settings(max_examples=500, derandomize=True, database=None))
    assert {t.kind for t in found.tasks.values()} <= {"a", "fetch", "parse"}


MAP = define("find, merge, Each(find, merge)", map_over("Each", "M"))
SIZE = define("measure, done, Size(measure, done)", [
    "Size(m, d) ::= [when m > 10] m -> Big -> d | [else] m -> Small -> d"])


@given(runs(MAP, outputs={"find": st.lists(st.integers(), max_size=6)}))
def test_a_map_makes_one_copy_per_element_of_a_generated_list(d: Derivation) -> None:
    assert kinds(d)["M"] == len(d.graph.outputs["find"])
    assert not refused_by(MAP, d)


@given(runs(SIZE, outputs={"measure": st.integers(0, 20)}))
def test_a_guard_is_decided_by_the_generated_output(d: Derivation) -> None:
    big = d.graph.outputs["measure"] > 10
    assert kinds(d)["Big" if big else "Small"] == 1 and kinds(d)["Small" if big else "Big"] == 0


def test_every_list_length_and_both_branches_are_generated() -> None:
    lengths = settings(max_examples=300, derandomize=True, database=None)
    for n in (0, 1, 6):
        found = find(runs(MAP, outputs={"find": st.lists(st.integers(), max_size=6)}),
                     lambda d, n=n: kinds(d)["M"] == n, settings=lengths)
        assert len(found.graph.outputs["find"]) == n
    for kind in ("Big", "Small"):
        found = find(runs(SIZE, outputs={"measure": st.integers(0, 20)}),
                     lambda d, kind=kind: kinds(d)[kind] == 1, settings=lengths)
        assert (found.graph.outputs["measure"] > 10) == (kind == "Big")


def test_message_runs_grow_the_kinds_an_open_hole_promises() -> None:
    found = find(message_runs(DYNAMIC), lambda run: kinds(run.derivation)["step"] >= 2,
                 settings=settings(max_examples=300, derandomize=True, database=None))
    assert not refused_by(DYNAMIC, found.derivation)
