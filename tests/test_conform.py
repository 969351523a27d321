"""`conform`: a whole recorded instance checked against a grammar — the membership
question for one finished graph (grammarflow/formats/conform.py)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from grammarflow import define
from grammarflow.formats.conform import conform
from grammarflow.formats.wfformat import Instance, read_instance
from grammarflow.workflow.reading import load_grammar

ROOT = Path(__file__).resolve().parent.parent
EPIGENOMICS = load_grammar(ROOT / "examples" / "epigenomics.py")


def as_wfformat(tasks: dict[str, str], edges: list[tuple[str, str]], path: Path,
                order: int = 0) -> Path:
    """A WfFormat instance of these tasks and edges (its tasks shuffled by ``order``)."""
    parents: dict[str, list[str]] = {t: [] for t in tasks}
    children: dict[str, list[str]] = {t: [] for t in tasks}
    for u, v in edges:
        parents[v].append(u)
        children[u].append(v)
    items = list(tasks.items())
    if order:
        random.Random(order).shuffle(items)
    path.write_text(json.dumps({"name": path.stem, "schemaVersion": "1.5", "workflow": {
        "specification": {"tasks": [{"id": t, "name": k, "parents": parents[t],
                                     "children": children[t]} for t, k in items]}}}))
    return path


def stored(size: int) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """A map-of-maps Epigenomics instance the WfCommons generator made
    (examples/wfcommons/)."""
    data = json.loads(gzip.decompress(
        (ROOT / "examples" / "wfcommons" / f"epigenomics-{size}.json.gz").read_bytes()))
    return data["tasks"], [(u, v) for u, v in data["edges"]]


@pytest.mark.parametrize("order", [0, 1, 2])
def test_a_map_of_maps_trace_conforms_whatever_the_order_of_its_tasks(
        tmp_path: Path, order: int) -> None:
    tasks, edges = stored(2000)
    verdict = conform(EPIGENOMICS, read_instance(as_wfformat(tasks, edges,
                                                             tmp_path / "t.json", order)))
    assert verdict.conforms, verdict.reason


def test_a_trace_with_an_edge_between_two_lanes_is_refused_naming_it(tmp_path: Path) -> None:
    tasks, edges = stored(300)
    by_lane = [t for t, k in tasks.items() if k == "filterContams"]
    sol = {u: v for u, v in edges if tasks[u] == "filterContams"}
    a, b = by_lane[0], by_lane[-1]  # the first and last chains: two lanes apart
    edges.append((a, sol[b]))
    verdict = conform(EPIGENOMICS, read_instance(as_wfformat(tasks, edges,
                                                             tmp_path / "t.json")))
    assert not verdict.conforms
    assert f"{a} -> {sol[b]}" in (verdict.reason or "")
    assert verdict.tried  # the productions it tried, each with why


def test_a_trace_missing_a_part_its_holes_must_make_does_not_conform() -> None:
    g = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b")
    empty = Instance("t", [("s", "s", {}), ("e", "e", {})], [], "1.5")
    verdict = conform(g, empty)
    assert not verdict.conforms and "X.1" in (verdict.reason or "")
    whole = Instance("t", [("s", "s", {}), ("x", "A", {}), ("e", "e", {})],
                     [("s", "x"), ("x", "e")], "1.5")
    assert conform(g, whole).conforms
    wrong = Instance("t", [("s", "s", {}), ("x", "C", {}), ("e", "e", {})],
                     [("s", "x"), ("x", "e")], "1.5")
    assert not conform(g, wrong).conforms


def test_a_static_workflow_conforms_only_to_its_own_graph() -> None:
    g = define("a:A -> b:B -> c:C, a -> c", [])
    same = Instance("t", [("c", "C", {}), ("a", "A", {}), ("b", "B", {})],
                    [("b", "c"), ("a", "b"), ("a", "c")], "1.5")
    assert conform(g, same).conforms
    for tasks, edges, said in [
        ([("a", "A"), ("b", "B")], [("a", "b")], "task(s) of kind C"),
        ([("a", "A"), ("b", "B"), ("c", "C")], [("a", "b"), ("b", "c")],
         "lacks the edge a -> c"),
        ([("a", "A"), ("b", "B"), ("c", "C")], [("a", "b"), ("b", "c"), ("a", "c"),
                                                ("b", "a")], "edge b -> a"),
    ]:
        verdict = conform(g, Instance("t", [(n, k, {}) for n, k in tasks], edges, "1.5"))
        assert not verdict.conforms and said in (verdict.reason or ""), verdict.reason
