"""Parallel runs through real processes: tasks running at once extend holes of the same
type, and every id a task is told is the id the journal commits (issue: ids as a
function of the derivation tree; see also tests/test_parallel_runs.py).

A fans out to several Ms in one raw change; each M, running beside the others, grows a
chain of Ns after itself by expanding the ``More`` hole after it, and each N may grow
the chain further. Every task records what it was told. The run must succeed with the
final graph in the language, each task's told ids present in it (an N after the task
that was told of it), and the same final graph at every --max-parallel up to ids.
"""

from __future__ import annotations

import json
import os

import pytest
from test_parallel_runs import check_in_the_language, committed_ids

from grammarflow.core.steps import step_from_json
from grammarflow.journal.status import fold
from grammarflow.journal.store import Store

from .conftest import Project

WORKFLOW = '''
import json, os, random
from pathlib import Path
from grammarflow import define

grammar = define("A, B, Fan(A, B)", """
    Fan(a, b) ::= [default] nothing | a -> M -> b, More(M, b), Fan(a, b)
    More(a, b) ::= [default] nothing | a -> N -> b, More(N, b)
""")

def _told(result):
    from grammarflow import task
    me = task.context().task
    out = Path(__file__).parent / "told" / (me.replace("/", "__") + ".json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result))

def A():
    from grammarflow import task
    n = int(os.environ["FAN"])
    ids = task.add(tasks={f"m{i}": "M" for i in range(n)},
                   edges=[e for i in range(n) for e in (("A", f"m{i}"), (f"m{i}", "B"))])
    _told({"tasks": sorted(ids.values())})

def _grow():
    from grammarflow import task
    ctx = task.context()
    rng = random.Random(ctx.task)
    if rng.random() < 0.6:
        made = task.expand(ctx.hole("More"), "2")
        _told({"tasks": sorted(made["tasks"].values()), "holes": made["holes"]})

def M():
    _grow()

def N():
    _grow()

def B():
    pass
'''


@pytest.mark.parametrize("parallel", [1, 2, 8])
def test_parallel_tasks_extending_holes_of_one_type_are_told_the_committed_ids(
        project: Project, parallel: int) -> None:
    project.write("wf.py", WORKFLOW)
    result = project.run("wf.py", "--max-parallel", str(parallel),
                         env={**os.environ, "FAN": "6"})
    assert result.code == 0, (result.view.get("reason"), result.stderr[-2000:])
    project.check_consistent(result.view["run"])
    store = Store(project.db, readonly=True)
    workflow, d = fold(store, result.view["run"])
    steps = [step_from_json(e.data) for e in store.entries(result.view["run"], ["step"])]
    check_in_the_language(workflow.grammar, steps)
    graph = d.graph
    assert d.is_finished()
    told_dir = project.root / "told"
    told = {p.stem.replace("__", "/"): json.loads(p.read_text())
            for p in told_dir.glob("*.json")}
    assert "A" in told and len(told["A"]["tasks"]) == 6
    for teller, what in told.items():
        for tid in what["tasks"]:
            assert tid in graph.tasks, f"{teller} was told of {tid}, which is not in the run"
            assert teller in graph.pred[tid], f"{teller} was told of {tid}, not after it"
        expected_kind = "M" if teller == "A" else "N"
        assert {graph.tasks[t].kind for t in what["tasks"]} == {expected_kind}
    # every N was made by exactly the one task that was told of it
    ns = {t for t, task in graph.tasks.items() if task.kind == "N"}
    told_ns = [t for teller, what in told.items() if teller != "A" for t in what["tasks"]]
    assert sorted(told_ns) == sorted(ns)
    # and every id it was told (tasks and holes) was made by its own committed steps
    entries = list(store.entries(result.view["run"]))
    made = {task: ids for (task, _), ids in committed_ids(workflow.grammar, entries).items()}
    for teller, what in told.items():
        assert set(what["tasks"]) | set(what.get("holes", [])) <= made[teller], teller
    starts = [e.data["task"] for e in entries
              if e.kind == "attempt" and e.data.get("event") == "start"]
    assert len(starts) == len(set(starts)) == len(graph.tasks)  # each ran once
    running, most = 0, 0
    for step in steps:
        if getattr(step, "state", None) is not None:
            running += {"running": 1, "done": -1}.get(step.state.value, 0)
            most = max(most, running)
    assert most == min(parallel, 6), f"at most {most} tasks ran at once"
