"""A user's own test file (issue 28's "done when"): three workflows, seven properties,
written only against the documented API (docs/testing.md). Each property holds for the
workflows as written, and fails — showing the graph in the notation and a replay to
paste — once a promise is loosened (a planted bug, the user's or grammarflow's)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hypothesis import given, settings

from grammarflow import Derivation, Grammar, Graph, define
from grammarflow.testing import finished_graphs, replay, runs


def branch(extra: str = "") -> Grammar:  # a random branch: a or b, then done
    return define("start, end, Pick(start, end)",
                  [f"Pick(s, e) ::= s -> a -> e | s -> b -> e{extra}"])


def files(kinds: str = "M") -> Grammar:  # a map over the files found at run time
    alternatives = " | ".join(f"a -> {k} -> b, Ms(a, b)" for k in kinds.split(","))
    return define("find, merge, Ms(find, merge)",
                  [f"Ms(a, b) ::= [default] nothing | {alternatives}"])


def dynamic(most: int = 5) -> Grammar:  # an open hole with promises
    return define("plan, report, Work(plan, report)", [
        f"Work(plan; report) ::= * where only step; at most {most} step; "
        "each step has 1 plan before"])


def kinds_of(graph: Graph) -> Counter[str]:
    return Counter(t.kind for t in graph.tasks.values())


# ---------------------------------------------------------------- the seven properties
def one_branch_only(graph: Graph) -> None:
    assert kinds_of(graph)["a"] + kinds_of(graph)["b"] == 1


def the_branch_ends_the_run(graph: Graph) -> None:
    assert all(graph.succ[t] == {"end"} for t in graph.tasks if t != "start" and t != "end")


def a_map_makes_only_m(graph: Graph) -> None:
    assert set(kinds_of(graph)) <= {"find", "merge", "M"}


def each_m_between_find_and_merge(graph: Graph) -> None:
    assert all(graph.pred[t] == {"find"} and graph.succ[t] == {"merge"}
               for t, task in graph.tasks.items() if task.kind == "M")


def at_most_five_steps(graph: Graph) -> None:
    assert kinds_of(graph)["step"] <= 5


def each_step_after_the_plan(graph: Graph) -> None:
    assert all("plan" in graph.pred[t] for t, task in graph.tasks.items()
               if task.kind == "step")


def no_step_starts_before_the_plan_is_done(d: Derivation) -> None:  # over runs
    moves = [(s.task, s.state.value) for s in d.history if getattr(s, "state", None)]
    plan_done = moves.index(("plan", "done"))
    assert all(i > plan_done for i, (task, state) in enumerate(moves)
               if state == "running" and d.graph.tasks[task].kind == "step")


PROPERTIES: list[tuple[Callable[[], Grammar], Callable[..., None], str]] = [
    (branch, one_branch_only, "graphs"), (branch, the_branch_ends_the_run, "graphs"),
    (files, a_map_makes_only_m, "graphs"), (files, each_m_between_find_and_merge, "graphs"),
    (dynamic, at_most_five_steps, "graphs"), (dynamic, each_step_after_the_plan, "graphs"),
    (dynamic, no_step_starts_before_the_plan_is_done, "runs"),
]


def check(grammar: Grammar, prop: Callable[..., None], over: str) -> None:
    strategy = (finished_graphs(grammar, open_tasks=8) if over == "graphs"
                else runs(grammar, open_tasks=8))
    settings(max_examples=60, derandomize=True, database=None)(given(strategy)(prop))()


@pytest.mark.parametrize(("workflow", "prop", "over"), PROPERTIES,
                         ids=[p.__name__ for _, p, _ in PROPERTIES])
def test_each_property_holds(workflow: Callable[[], Grammar], prop: Callable[..., None],
                             over: str) -> None:
    check(workflow(), prop, over)


@pytest.mark.parametrize(("loosened", "prop"), [
    (dynamic(6), at_most_five_steps),          # a loosened `at most N`
    (files("M,X"), a_map_makes_only_m),        # an extra kind in a map
    (branch(" | s -> a -> b -> e"), one_branch_only),
], ids=["at most 5 -> 6", "a map of M or X", "a branch of both"])
def test_a_loosened_promise_is_caught_and_shown(loosened: Grammar,
                                                prop: Callable[[Graph], None]) -> None:
    with pytest.raises(AssertionError) as caught:
        check(loosened, prop, "graphs")
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "graph=Graph('" in notes  # the graph, in the notation's words
    made = next(line.removeprefix("made by: ") for line in notes.splitlines()
                if line.startswith("made by: replay(grammar, ["))
    from grammarflow import Expand, Fragment, Grow, Refine, SetState, TaskSpec, TaskState

    names = {"replay": replay, "grammar": loosened, "Expand": Expand, "Grow": Grow,
             "Refine": Refine, "Fragment": Fragment, "TaskSpec": TaskSpec,
             "SetState": SetState, "TaskState": TaskState}
    with pytest.raises(AssertionError):  # pasted back, the failing example fails again
        prop(eval(made, names).graph)
