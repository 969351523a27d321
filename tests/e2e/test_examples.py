"""The static-dynamic gradient, end to end (issue 5): every example runs for real through
`grammarflow run`; its final graph (from `run --json`, which ends with the status) is
compared with the language it promises, and its picture before the run (from `render`)
with the expected wildcards.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Runner:
    def __init__(self, tmp: Path) -> None:
        self.db = tmp / "examples.db"

    def gf(self, *args: str, seed: int | None = None,
           **env: str) -> subprocess.CompletedProcess[str]:
        e = {**os.environ, **env}
        if seed is not None:
            e["EXAMPLE_SEED"] = str(seed)
        return subprocess.run([sys.executable, "-m", "grammarflow", *args, "--db", str(self.db)],
                              cwd=ROOT, capture_output=True, text=True, env=e, timeout=120)

    def run(self, example: str, seed: int | None = None, **env: str) -> tuple[int, dict[str, Any]]:
        """Run an example; return its exit code and its final graph (`run --json` ends
        with the run's status, the same as `status --json` would print)."""
        proc = self.gf("run", f"examples/{example}.py", "--json", seed=seed, **env)
        return proc.returncode, json.loads(proc.stdout)

    def picture(self, example: str) -> str:
        proc = self.gf("render", f"examples/{example}.py", "--format", "dot", "-o", "-")
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@pytest.fixture
def gf(tmp_path: Path) -> Runner:
    return Runner(tmp_path)


def shape(view: dict[str, Any]) -> tuple[frozenset[tuple[str, str]], frozenset[tuple[str, str]]]:
    """The final graph: tasks (id, kind) and edges."""
    return (frozenset((t["id"], t["kind"]) for t in view["tasks"]),
            frozenset((u, v) for u, v in view["edges"]))


def holes_drawn(dot: str) -> list[str]:
    return sorted(line.split('"')[1] for line in dot.splitlines()
                  if line.startswith('  "h:') and " -> " not in line)


def test_pre_determined_is_the_same_every_time_and_refuses_any_change(gf: Runner) -> None:
    assert holes_drawn(gf.picture("static")) == []  # no wildcard: no future change
    shapes = set()
    for _ in range(10):
        code, view = gf.run("static")
        assert code == 0 and all(t["state"] == "done" for t in view["tasks"])
        shapes.add(shape(view))
    assert shapes == {(frozenset({("start", "start"), ("left", "left"), ("right", "right"),
                                  ("end", "end")}),
                       frozenset({("start", "left"), ("start", "right"), ("left", "end"),
                                  ("right", "end")}))}
    code, view = gf.run("static", EXAMPLE_TRY_CHANGE="1")
    assert code == 3 and "no hole that could take it" in view["reason"]
    assert {t["id"] for t in view["tasks"]} == {"start", "left", "right", "end"}


def test_random_branch_is_always_a_or_b_and_both_occur(gf: Runner) -> None:
    dot = gf.picture("random_branch")
    assert holes_drawn(dot) == ["h:X.1"] and 'label="X.1 (X) becomes\\nA\\nor B"' in dot
    left = (frozenset({("start", "start"), ("X.1/A", "A"), ("end", "end")}),
            frozenset({("start", "X.1/A"), ("X.1/A", "end")}))
    right = (frozenset({("start", "start"), ("X.1/B", "B"), ("end", "end")}),
             frozenset({("start", "X.1/B"), ("X.1/B", "end")}))
    seen = Counter()
    for seed in range(20):
        code, view = gf.run("random_branch", seed=seed)
        assert code == 0
        seen[shape(view)] += 1
    assert set(seen) == {left, right}, seen


def test_random_map_is_always_a_then_m_star_then_b(gf: Runner) -> None:
    dot = gf.picture("random_map")
    assert holes_drawn(dot) == ["h:Ms.1"] and 'label="Ms.1 (Ms) becomes\\nzero or more M"' in dot
    ns = Counter()
    for seed in range(20):
        code, view = gf.run("random_map", seed=seed)
        assert code == 0
        tasks, edges = shape(view)
        ms = {t for t, k in tasks if k == "M"}
        assert {k for _, k in tasks} - {"M"} == {"A", "B"} and len(tasks) == len(ms) + 2
        assert edges == ({("A", m) for m in ms} | {(m, "B") for m in ms}
                         | ({("A", "B")} if not ms else set()))
        assert not view["holes"]
        ns[len(ms)] += 1
    assert 0 in ns and len(ns) >= 3, ns


def test_fully_dynamic_grows_three_levels_with_an_edge_across_tasks(gf: Runner) -> None:
    dot = gf.picture("dynamic")
    assert holes_drawn(dot) == ["h:Any.1"] and "anything may be added" in dot
    assert [line for line in dot.splitlines() if line.startswith('  "t:')] == [
        next(line for line in dot.splitlines() if line.startswith('  "t:start"'))]
    code, view = gf.run("dynamic")
    assert code == 0
    tasks, edges = shape(view)
    a = "Any.1/"
    assert {t for t, _ in tasks} == {"start", *(a + n for n in
                                     ["fetch_a", "fetch_b", "parse_a", "parse_b", "report"])}
    assert edges == {("start", a + "fetch_a"), ("start", a + "fetch_b"),
                     (a + "fetch_a", a + "parse_a"), (a + "fetch_b", a + "parse_b"),
                     (a + "parse_b", a + "report"), (a + "parse_a", a + "report")}
    # parse_a was made by fetch_a, report by parse_b: an edge between two tasks' nodes
    history = json.loads(gf.gf("history", str(view["run"]), "--json").stdout)
    grown = [e["data"] for e in history if e["kind"] == "step" and e["data"]["op"] == "grow"]
    made_by = {}
    running = None
    for e in history:
        d = e["data"]
        if e["kind"] == "step" and d["op"] == "state" and d["state"] == "running":
            running = d["task"]
        if e["kind"] == "step" and d["op"] == "grow":
            for t in d["fragment"]["tasks"]:
                made_by[a + t["local"]] = running
    assert len(grown) == 4
    assert made_by[a + "parse_a"] != made_by[a + "report"]
    # parse_b found parse_a (fetch_a's) and handed both ids to the report in its attrs
    report = next(t for t in view["tasks"] if t["id"] == a + "report")
    assert report["attrs"] == {"inputs": [a + "parse_a", a + "parse_b"]}


def test_no_example_spells_or_splits_an_id() -> None:
    """Tasks learn ids (their context, results, find) rather than write them."""
    # "X.1", "Any.1/x", id.split("/"), id.rpartition("/"), ...: not data.split()
    spelt = re.compile(r"""["'][A-Za-z_]\w*\.\d+|\.r?(?:split|partition)\(\s*["'][/.]""")
    for path in sorted((ROOT / "examples").glob("*.py")):
        found = spelt.findall(path.read_text())
        assert not found, f"{path.name} spells or splits ids: {found}"


def test_promised_at_run_time_narrows_an_open_hole_and_is_kept(gf: Runner) -> None:
    dot = gf.picture("narrowed")
    assert holes_drawn(dot) == ["h:Dyn.1"] and "Dyn.1 (Dyn) becomes\\nanything" in dot
    code, view = gf.run("narrowed")
    assert code == 0
    tasks, edges = shape(view)
    ms = sorted(t for t, k in tasks if k == "M")
    assert ms == ["Dyn.1/OnlyM.1.2/M", "Dyn.1/OnlyM.1.3/M", "Dyn.1/OnlyM.1/M"]
    assert {k for _, k in tasks} == {"start", "end", "M"}  # only Ms appeared
    assert [(u, v) for u, v in edges if v == "end"] == [("start", "end")]  # none into end
    first, second, third = ms[2], ms[0], ms[1]
    assert edges == {("start", "end"), ("start", first), (first, second), (second, third)}
    code, broken = gf.run("narrowed", EXAMPLE_BREAK="1")
    assert code == 3 and broken["status"] == "broken"
    refused = broken["refused"][0]
    assert refused["hole"] == "Dyn.1/OnlyM.1.4"
    assert any("needs 1 × M; the change has 1 × Q" in a["reason"]
               for a in refused["attempts"])
    assert not any(k == "Q" for _, k in shape(broken)[0])


def test_subgraph_promise_is_one_of_its_two_shapes(gf: Runner) -> None:
    dot = gf.picture("subgraph")
    assert 'label="X.1 (X) becomes\\nN then M\\nor J then K"' in dot
    seen = set()
    for seed in range(12):
        code, view = gf.run("subgraph", seed=seed)
        assert code == 0
        tasks, edges = shape(view)
        kinds = sorted(k for _, k in tasks)
        assert kinds in (["A", "B", "M", "N"], ["A", "B", "J", "K"])
        first, second = ("N", "M") if "N" in kinds else ("J", "K")
        assert edges == {("A", f"X.1/{first}"), (f"X.1/{first}", f"X.1/{second}"),
                         (f"X.1/{second}", "B")}
        seen.add(first)
    assert seen == {"N", "J"}


def test_breaking_a_registered_promise_ends_the_run_and_leaves_no_trace(gf: Runner) -> None:
    code, view = gf.run("broken_promise")
    assert code == 3 and view["status"] == "broken"
    assert {t["id"] for t in view["tasks"]} == {"A", "B"}  # nothing of the rogue node
    assert [h["id"] for h in view["holes"]] == ["X.1"]
    history = json.loads(gf.gf("history", str(view["run"]), "--json").stdout)
    refused = [e["data"] for e in history if e["kind"] == "refused"]
    assert len(refused) == 1 and '"rogue"' in refused[0]["message"]
    assert refused[0]["task"] == "A"
