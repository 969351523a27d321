"""A raw change planned apart (a copy of the graph, a worker thread) is applied to the
graph as it is when the plan is ready: checked again step by step, and searched again
if what another task did meanwhile took what the plan builds on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from grammarflow import BrokenPromise, define, repeat_parallel
from grammarflow.core.graph import TaskState
from grammarflow.core.steps import Expand, SetState
from grammarflow.runtime import tentative as tentative_module
from grammarflow.runtime.messages import AddRequest, Request, read
from grammarflow.runtime.tentative import Tentative

GRAMMAR = define("A, B, C, D, Ms(A, B), Ns(C, D)",
                 [*repeat_parallel("Ms", "M"), *repeat_parallel("Ns", "N")])


def message(n: int, after: str = "A", before: str = "B", kind: str = "M") -> Request:
    names = [f"{kind.lower()}{i}" for i in range(n)]
    return read({"op": "add", "id": 1, "tasks": [{"name": m, "kind": kind} for m in names],
                 "edges": [e for m in names for e in ((after, m), (m, before))]})


@pytest.fixture(autouse=True)
def small_changes_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tentative_module, "OFFLOAD_ABOVE", 3)


def started(t: Tentative) -> Tentative:
    t.apply_committed([SetState("A", TaskState.RUNNING), SetState("C", TaskState.RUNNING)])
    return t


def test_only_a_big_raw_change_is_planned_apart() -> None:
    t = started(Tentative(GRAMMAR.derivation()))
    assert t.apart("A", [], message(1)) is None  # 3 elements: searched at once, not apart
    assert t.apart("A", [], read({"op": "narrow", "id": 2, "type": "Ms", "remove": ["1"]})) is None
    apart = t.apart("A", [], message(2))
    assert apart is not None and apart.derivation is not t.d
    assert set(apart.derivation.graph.tasks) == set(t.d.graph.tasks)


def test_a_plan_made_apart_lands_on_the_graph_as_it_is_now() -> None:
    t = started(Tentative(GRAMMAR.derivation()))
    pending: list[Any] = []
    apart = t.apart("A", pending, message(3))
    assert apart is not None
    found = apart.plan(lambda: False)
    # meanwhile, task C's change elsewhere is committed, and task D's state changes
    c_steps: list[Any] = []
    t.request("C", c_steps, message(2, "C", "D", "N"), cancelled=lambda: False)
    t.commit("C", c_steps)
    result = t.finish_apart(apart, pending, found, cancelled=lambda: False)
    assert sorted(result["ids"].values()) == [
        "Ms.1/M", "Ms.1/Ms_more.1.2/M", "Ms.1/Ms_more.1/M"]
    assert {"Ns.1/N", "Ns.1/Ns_more.1/N"} <= set(t.d.graph.tasks)  # C's change kept
    assert all(isinstance(s, Expand) for s in pending) and len(pending) == 3
    assert set(apart.derivation.graph.tasks) == {"A", "B", "C", "D"}  # the copy: untouched


def test_a_plan_whose_hole_was_taken_meanwhile_is_searched_again() -> None:
    t = started(Tentative(GRAMMAR.derivation()))
    pending: list[Any] = []
    apart = t.apart("A", pending, message(3))
    assert apart is not None
    found = apart.plan(lambda: False)
    c_steps: list[Any] = []  # task C closes the map before A's change lands
    t.request("C", c_steps, read({"op": "expand", "id": 2, "hole": "Ms.1", "production": "1"}),
              cancelled=lambda: False)
    t.commit("C", c_steps)
    with pytest.raises(BrokenPromise, match=r"the change touches tasks .*no hole"):
        t.finish_apart(apart, pending, found, cancelled=lambda: False)
    assert pending == [] and not any(k.startswith("Ms.1/") for k in t.d.graph.tasks)


def test_a_refusal_found_apart_is_the_answer() -> None:
    t = started(Tentative(GRAMMAR.derivation()))
    request = message(3)
    assert isinstance(request, AddRequest)
    more = replace(request, diff=replace(request.diff, edges=(*request.diff.edges, ("m0", "m1"))))
    apart = t.apart("A", [], more)
    assert apart is not None
    with pytest.raises(BrokenPromise) as refused:
        apart.plan(lambda: False)
    with pytest.raises(BrokenPromise, match="not produced: edge m0 -> m1"):
        t.finish_apart(apart, [], refused.value, cancelled=lambda: False)
    assert set(t.d.graph.tasks) == {"A", "B", "C", "D"}
