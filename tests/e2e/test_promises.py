"""Constraint promises end to end (issue 15): examples/promises.py (the six promises of
the brief) and examples/montage.py (Montage as a promise), each run for real through
`python -m grammarflow run ... --json`. A kept promise exits 0 with the final graph
expected; a broken one exits 3 with the constraint's text in the run's reason and
nothing of the change in the graph. The Montage run's final graph is checked against
its promise here, independently of the constraints that guarded it.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import Project

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, example: str, **env: str) -> tuple[int, dict[str, Any]]:
    """Run an example; its exit code and the final view that `run --json` prints."""
    proc = subprocess.run([sys.executable, "-m", "grammarflow", "run", f"examples/{example}.py",
                           "--json", "--db", str(tmp_path / "gf.db")], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **env},
                          timeout=120, check=False)
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def graph(view: dict[str, Any]) -> tuple[dict[str, str], set[tuple[str, str]]]:
    return {t["id"]: t["kind"] for t in view["tasks"]}, {(u, v) for u, v in view["edges"]}


FIXED = {"start": "start", "A": "A", "B": "B"}
M, N = "Dyn.1/m", "Dyn.1/n"
# promise -> (its constraint, the final graph of the run that keeps it (new tasks, all
# edges), what the run that breaks it is refused for)
PROMISES = {
    "no_new_tasks": ("no new tasks", ({}, {("A", "B")}), f"task {M} of kind M"),
    "no_new_edges": ("no new edges", ({M: "M"}, set()), f"edge start -> {M}"),
    "only_edges": ("only s -> M, M -> b", ({M: "M"}, {("start", M), (M, "B")}),
                   f"edge A -> {M} (A -> M)"),
    "only_kinds": ("only M, N", ({M: "M", N: "N"}, {("start", M), (M, N), (N, "B")}),
                   "task Dyn.1/k of kind K"),
    "no_edges_from_a": ("no edges from a", ({M: "M"}, {("start", M), (M, "B")}),
                        f"edge A -> {M}"),
    "no_edges_into_b": ("no edges into b", ({M: "M"}, {("start", M), ("A", M)}),
                        f"edge {M} -> B"),
}


@pytest.mark.parametrize("promise", PROMISES)
def test_a_promise_is_kept_by_one_run_and_stops_another(tmp_path: Path, promise: str) -> None:
    constraint, (tasks, edges), what = PROMISES[promise]
    code, view = run(tmp_path, "promises", EXAMPLE_PROMISE=promise)
    assert (code, view["status"]) == (0, "succeeded"), view["reason"]
    assert graph(view) == ({**FIXED, **tasks}, {("start", "A"), *edges})
    assert all(t["state"] == "done" for t in view["tasks"])

    code, view = run(tmp_path, "promises", EXAMPLE_PROMISE=promise, EXAMPLE_BREAK="1")
    assert (code, view["status"]) == (3, "broken")
    assert view["reason"] == (f"broken promise: constraint '{constraint}' of hole Dyn.1 "
                              f"(Dyn) is broken: {what}")
    assert graph(view) == (FIXED, {("start", "A")})  # nothing of the refused change


# ---------------------------------------------------------------- Montage
def overlap(a: list[float], b: list[float]) -> bool:
    """Two boxes (x0, y0, x1, y1) share some area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_montage(view: dict[str, Any]) -> int:
    """The final graph is Montage-shaped for the layout its mProject tasks carry;
    returns how many overlapping pairs there were."""
    kind, edges = graph(view)
    pred: dict[str, list[str]] = {t: [] for t in kind}
    succ: dict[str, list[str]] = {t: [] for t in kind}
    for u, v in edges:
        pred[v].append(u)
        succ[u].append(v)
    attrs = {t["id"]: t["attrs"] for t in view["tasks"]}
    of = Counter(kind.values())

    def one(k: str) -> str:
        found = [t for t in kind if kind[t] == k]
        assert len(found) == 1, (k, found)
        return found[0]

    def kinds(ts: list[str]) -> list[str]:
        return sorted(kind[t] for t in ts)

    assert set(of) == {"survey", "mProject", "mDiffFit", "mConcatFit", "mBgModel",
                       "mBackground", "mImgtbl", "mAdd"}
    concat, bgmodel, imgtbl, add = (one(k) for k in ("mConcatFit", "mBgModel", "mImgtbl",
                                                     "mAdd"))
    projects = {attrs[t]["image"]: t for t in kind if kind[t] == "mProject"}
    assert sorted(projects) == list(range(of["mProject"])) == list(range(of["mBackground"]))
    assert all(pred[p] == ["survey"] for p in projects.values())
    # one mDiffFit per overlapping pair, after exactly those two, before mConcatFit
    fitted = set()
    for d in (t for t in kind if kind[t] == "mDiffFit"):
        assert kinds(pred[d]) == ["mProject", "mProject"] and succ[d] == [concat]
        a, b = (attrs[p] for p in pred[d])
        assert overlap(a["box"], b["box"]), (d, a, b)
        fitted.add(frozenset((a["image"], b["image"])))
    pairs = {frozenset((i, j)) for i, j in itertools.combinations(projects, 2)
             if overlap(attrs[projects[i]]["box"], attrs[projects[j]]["box"])}
    assert fitted == pairs and of["mDiffFit"] == len(pairs)
    assert sorted(pred[concat]) == sorted(t for t in kind if kind[t] == "mDiffFit")
    assert pred[bgmodel] == [concat]  # nothing from an mProject
    for p in projects.values():
        backgrounds = [s for s in succ[p] if kind[s] == "mBackground"]
        assert len(backgrounds) == 1, (p, succ[p])
        b = backgrounds[0]
        assert sorted(pred[b]) == sorted([p, bgmodel]) and sorted(succ[b]) == sorted([imgtbl,
                                                                                      add])
    assert kinds(pred[imgtbl]) == ["mBackground"] * of["mBackground"]
    assert kinds(pred[add]) == ["mBackground"] * of["mBackground"] + ["mImgtbl"]
    return len(pairs)


@pytest.mark.parametrize("seed", ["3", "7"])
def test_a_montage_shaped_run_keeps_the_promise(tmp_path: Path, seed: str) -> None:
    code, view = run(tmp_path, "montage", EXAMPLE_SEED=seed)
    assert (code, view["status"]) == (0, "succeeded"), view["reason"]
    assert all(t["state"] == "done" for t in view["tasks"]) and not view["holes"]
    pairs = check_montage(view)
    assert 0 < pairs < 15  # some pairs of the six images overlap, not all
    if seed == "3":  # the check itself refuses each mutant's graph
        for mutant in mutants(view):
            with pytest.raises(AssertionError):
                check_montage(mutant)


def mutants(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The accepted graph with a third parent, a wrong kind, an mProject -> mBgModel."""
    kind, _ = graph(view)
    diff = next(t for t in kind if kind[t] == "mDiffFit")
    parents = {u for u, v in view["edges"] if v == diff}
    third = next(t for t in kind if kind[t] == "mProject" and t not in parents)
    bgmodel = next(t for t in kind if kind[t] == "mBgModel")
    wrong = [{**t, "kind": "mFitplane"} if t["id"] == diff else t for t in view["tasks"]]
    return [{**view, "edges": [*view["edges"], [third, diff]]},
            {**view, "tasks": wrong},
            {**view, "edges": [*view["edges"], [third, bgmodel]]}]


EACH_DIFF = "each mDiffFit has 2 mProject before, 1 mConcatFit after"
ONLY = "only mProject, mDiffFit, mConcatFit, mBgModel, mBackground, mImgtbl, mAdd"


@pytest.mark.parametrize(("mutate", "constraint", "what"), [
    ("third_parent", EACH_DIFF, "edge Montage.1/p1 -> Montage.1/d0_3 would be the 3rd "
                                "mProject before Montage.1/d0_3"),
    ("wrong_kind", ONLY, "task Montage.1/fitplane of kind mFitplane"),
    ("bg_edge", "no edges from mProject into mBgModel",
     "edge Montage.1/p0 -> Montage.1/bgmodel"),
])
def test_a_mutated_montage_is_refused_naming_the_constraint(
        tmp_path: Path, mutate: str, constraint: str, what: str) -> None:
    code, view = run(tmp_path, "montage", EXAMPLE_SEED="3", EXAMPLE_MUTATE=mutate)
    assert (code, view["status"]) == (3, "broken")
    assert view["reason"] == (f"broken promise: constraint '{constraint}' of hole "
                              f"Montage.1 (Montage) is broken: {what}")
    assert graph(view) == ({"survey": "survey"}, set())  # the whole change was refused


# ---------------------------------------------------------------- what status shows
IN_FORCE = """
from grammarflow import Kind, define, task

grammar = define(
    "s, gate, e, Dyn(s, gate, e), X(s, gate, e), Free(gate, e)",
    '''
    Dyn(a, g; b) ::= * where only P, D, Q; no edges into b; at most 3 P
    Free(a; b) ::= * where no edges into b
    X(a, g, b) ::= a -> A -> b | a -> B -> b | [default] nothing
    Inner(a, g, b) ::= a -> P -> b | [default] nothing
    ''',
)
kinds = {"gate": Kind(ask="go on?", output=bool)}  # waits: the holes after it stay open


def s():
    task.narrow(type="X", remove=["1"])
    task.narrow(hole="X.1", remove=["2"])
    task.add(tasks={"p": "P"}, edges=[("s", "p")])
    dyn = task.context().hole("Dyn")
    task.constrain(dyn, "at most 1 Q")
    task.refine(dyn, tasks={"d": "D"}, edges=[("s", "d")], holes=[("Inner", ["d", "gate", "e"])])


def P(): pass
def D(): pass
def A(): pass
def B(): pass
def e(): pass
"""


def test_status_lists_the_narrowings_and_constraints_in_force_on_each_hole(
        project: Project) -> None:
    """A narrowed hole says which productions it lost and to which narrowing; a hole
    grown in a constrained one keeps its constraints (the type's and those a task
    added), parameters shown as their tasks, an ``at most`` with what it counted."""
    project.write("wf.py", IN_FORCE)
    result = project.run()
    assert result.code == 4, result.stderr[-2000:]  # gate waits, the holes are open
    holes = {h["id"]: h for h in result.view["holes"]}
    assert holes["X.1"]["productions"] == ["X(a, g, b) ::= nothing"]
    assert holes["X.1"]["narrowed"] == [
        {"production": "1", "shown": "X(a, g, b) ::= a -> A -> b", "by": "type"},
        {"production": "2", "shown": "X(a, g, b) ::= a -> B -> b", "by": "hole"}]
    assert holes["X.1"]["constraints"] == []
    inner = holes["Dyn.1/Inner.1"]
    assert (inner["args"], inner["roles"]) == (["Dyn.1/d", "gate", "e"],
                                               ["after", "after", "before"])
    assert inner["narrowed"] == []
    assert inner["constraints"] == [
        {"constraint": "only P, D, Q", "shown": "only P, D, Q", "of": "Dyn.1"},
        {"constraint": "no edges into b", "shown": "no edges into e", "of": "Dyn.1"},
        {"constraint": "at most 3 P", "shown": "at most 3 P", "of": "Dyn.1", "made": 1},
        {"constraint": "at most 1 Q", "shown": "at most 1 Q", "of": "Dyn.1", "made": 0}]
    assert holes["Free.1"]["constraints"] == [
        {"constraint": "no edges into b", "shown": "no edges into e", "of": "Free.1"}]
    text = project.cli("status", "1").stdout.splitlines()
    at = text.index("  hole     Free.1 Free(gate, e) ::= *")
    assert text[at + 1] == "             where: no edges into e"
    at = text.index("  hole     X.1 X(s, gate, e) ::= nothing")
    assert text[at + 1:at + 3] == [
        "             narrowed: production 1 (a -> A -> b) taken from type X",
        "             narrowed: production 2 (a -> B -> b) taken from this hole"]
    at = text.index("  hole     Dyn.1/Inner.1 Inner(Dyn.1/d, gate, e) ::= a -> P -> b | nothing")
    assert text[at + 1] == ("             where (kept from Dyn.1): only P, D, Q; no edges into "
                            "e; at most 3 P (1 made); at most 1 Q (0 made)")
    assert project.cli("answer", "1", "gate", "true").returncode == 0
    done = project.resume(1)
    assert done.code == 0, done.stderr[-2000:]
    assert done.view["holes"] == []
    project.check_consistent(1)
