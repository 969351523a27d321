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

from .conftest import Project, final_graph

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


# ---------------------------------------------------------------- issue 24: however approached
def check(project: Project) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "grammarflow", "check", "wf.py"],
                          cwd=project.root, capture_output=True, text=True, timeout=60,
                          check=False)


COSMETIC = '''\
from grammarflow import define, task

grammar = define("s, e, X(s, e), Dyn(s, e)", ["X(a, b) ::= a -> M -> b | [default] a -> b",
                                             "Dyn(a; b) ::= *"],
                 cosmetics=[{promise!r}])


def s():
    {change}


def e(): ...
def M(): ...
def N(): ...
'''


@pytest.mark.parametrize(("promise", "change", "task", "why"), [
    ("colors from red", 'task.add(tasks={"n": "N"}, edges=[], attrs={"n": {"color": "blue"}})',
     "Dyn.1/n", "color 'blue' is not among the promised red"),
    ("colors from red", 'task.expand(task.context().hole("X"), "1", '
                        'attrs={"M": {"color": "#0000ff"}})',
     "X.1/M", "color '#0000ff' is not among the promised red"),
    ("no cosmetic changes", 'task.add(tasks={"m": "M"}, edges=[("s", "m"), ("m", "e")], '
                            'attrs={"m": {"label": "mine"}})',
     "X.1/M", "the grammar promises no cosmetic changes"),
    ("only tasks inside X may restyle",
     'task.add(tasks={"n": "N"}, edges=[], attrs={"n": {"shape": "note"}})',
     "Dyn.1/n", "task Dyn.1/n was not made inside a X hole"),
])
def test_a_new_tasks_style_keeps_the_cosmetic_promises_as_task_style_does(
        project: Project, promise: str, change: str, task: str, why: str) -> None:
    """Issue 24.1: the attrs a change gives the tasks it makes are a style like any
    other: refused by the promise that task.style would break (they went around it)."""
    project.write("wf.py", COSMETIC.format(promise=promise, change=change))
    result = project.run()
    assert (result.code, result.view["status"]) == (3, "broken"), result.stderr
    assert result.view["reason"] == (f"broken promise: style of {task} breaks the cosmetic "
                                     f"promise '{promise}': {why}")
    assert task not in {t["id"] for t in result.view["tasks"]}


def test_a_palette_takes_its_colours_in_any_case(project: Project) -> None:
    project.write("wf.py", COSMETIC.format(
        promise="colors from red, #16a34a",
        change='task.add(tasks={"n": "N"}, edges=[], attrs={"n": {"color": "#16A34A"}})\n'
               '    task.style(color="Red")'))
    result = project.run()
    assert (result.code, result.view["status"]) == (0, "succeeded"), result.view["reason"]
    attrs = {t["id"]: t["attrs"] for t in result.view["tasks"]}
    assert attrs["Dyn.1/n"] == {"color": "#16A34A"} and attrs["s"] == {"color": "Red"}


def test_registered_styles_keep_the_palette(project: Project) -> None:
    project.write("wf.py", '''\
        from grammarflow import define

        grammar = define("s -> e", cosmetics=["colors from red"],
                         styles={"e": {"color": "Red"}, "s -> e": {"color": "blue"}})
        def s(): ...
        def e(): ...
        ''')
    ran = check(project)
    assert ran.returncode == 2
    assert ran.stderr.startswith("error: wf.py, line 3: styles['s -> e'] break the cosmetic "
                                 "promise 'colors from red': color 'blue' is not among the "
                                 "promised red"), ran.stderr


CONSTRAINED = '''\
from grammarflow import define, task

grammar = define("s, fin:B, Dyn(s, fin)", "Dyn(a; b) ::= * where {constraint}")


def s():
    {change}


def B(): ...
def Work(): ...
'''


@pytest.mark.parametrize(("constraint", "said"), [
    ("no edges into fin", "hole type Dyn: constraint 'no edges into fin' names 'fin', a task "
                          "of the start graph (kind B), not a parameter of Dyn (a, b) or a "
                          "kind: did you mean b (the parameter glued to fin) or B?"),
    ("at most 3 Wrok", "hole type Dyn: constraint 'at most 3 Wrok' names 'Wrok', which is "
                       "not a kind: no task of the workflow can have that kind (it is no kind "
                       "of the grammar, 'kinds' does not name it and the workflow file "
                       "defines no function so called): did you mean Work?"),
])
def test_a_name_in_a_constraint_that_resolves_to_nothing_is_refused(
        project: Project, constraint: str, said: str) -> None:
    """Issue 24.2: a constraint whose name is neither a parameter nor a kind would be
    void; registration refuses it, and `check` and `run` say the same."""
    project.write("wf.py", CONSTRAINED.format(constraint=constraint, change="pass"))
    checked = check(project)
    ran = project.cli("run", "wf.py")
    assert (checked.returncode, ran.returncode) == (2, 2)
    for out in (checked.stderr, ran.stderr):  # on the line that writes the constraint
        assert out.startswith("error: wf.py, line 3: ") and said in out, out


def test_a_name_in_a_constraint_given_at_run_time_must_resolve(project: Project) -> None:
    project.write("wf.py", CONSTRAINED.format(
        constraint="only Work",
        change='task.constrain(task.context().hole("Dyn"), "no edges into fin")'))
    result = project.run()
    assert (result.code, result.view["status"]) == (3, "broken")
    assert result.view["reason"] == (
        "broken promise: constraining Dyn.1: constraint 'no edges into fin' names 'fin', a "
        "task of the start graph (kind B), not a parameter of Dyn (a, b) or a kind: did "
        "you mean b (the parameter glued to fin) or B?")


@pytest.mark.parametrize(("constraint", "status", "reason"), [
    ("no new edges", "succeeded", None),
    ("only M", "succeeded", None),
    ("no new tasks", "broken", "broken promise: constraint 'no new tasks' of hole Dyn.1 "
                               "(Dyn) is broken: task Dyn.1/m of kind M"),
])
def test_a_lone_task_is_judged_by_the_promises_of_the_hole_it_grows_in(
        project: Project, constraint: str, status: str, reason: str | None) -> None:
    """Issue 24.3: one unconnected task, sent with task.add, grows in the open hole;
    it was refused with a reason no promise gave ('no hole that could take it')."""
    project.write("wf.py", f'''\
        from grammarflow import define, task

        grammar = define("start, end, Dyn(start, end)", "Dyn(a; b) ::= * where {constraint}")

        def start():
            task.add(tasks={{"m": "M"}}, edges=[])

        def end(): ...
        def M(): ...
        ''')
    result = project.run()
    assert result.view["status"] == status and result.view["reason"] == reason
    if status == "succeeded":
        assert ("Dyn.1/m", "M") in final_graph(result.view)[0]

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
def Q(): pass
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
