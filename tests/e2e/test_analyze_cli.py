"""`grammarflow analyze` on a workflow file and on a run, as a user runs it."""

from __future__ import annotations

import json

from .conftest import Project

MAP = """
from grammarflow import define, repeat_parallel

grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))

def A() -> None:
    from grammarflow import task
    task.expand_all([("Ms.1", "2"), ("Ms.1/Ms_more.1", "2"), ("Ms.1/Ms_more.1.2", "1")])

def M() -> None: ...
def B() -> None: ...
"""


def test_analyze_a_workflow_then_the_run_it_made(project: Project) -> None:
    project.write("wf.py", MAP)
    before = project.cli("analyze", "wf.py", "--json")
    assert before.returncode == 0, before.stderr
    a = json.loads(before.stdout)
    assert a["tasks"] == {"min": 2, "max": None} and a["unbounded_by"] == ["Ms_more"]
    assert a["longest_chain"] == 3 and a["kinds"]["M"] == {"min": 0, "max": None}
    said = project.cli("analyze", "wf.py").stdout
    assert "tasks:    2 to unbounded (unbounded, through Ms_more)" in said
    assert "longest chain: 3 task(s)" in said
    assert project.run("wf.py").code == 0
    after = json.loads(project.cli("analyze", "1", "--json").stdout)
    assert after["tasks"] == {"min": 4, "max": 4} and after["unbounded_by"] == []


def test_analyze_says_what_it_was_given_is_not_there(project: Project) -> None:
    gone = project.cli("analyze", "nowhere.py")
    assert gone.returncode == 2 and gone.stderr.startswith("error: ")
    word = project.cli("analyze", "x")
    assert word.returncode == 2 and "neither a workflow file nor a run id" in word.stderr
