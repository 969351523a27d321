"""Data between tasks, end to end: the three examples run for real through the CLI and
are checked against what they promise — outputs and inputs exact, the branch taken by
the data, one copy per element in the list's order — and each broken promise (an
output of the wrong type, a type error before anything runs, a task disobeying a
guard, a map with one copy too many) is a clear recorded reason with nothing of the
refused change kept. A kill -9 in the middle of a map, then resume, keeps every output
exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

import pytest

from grammarflow.journal.status import run_view
from grammarflow.journal.store import Store
from grammarflow.runtime import CRASH_BEFORE_COMMIT_ENV

from .conftest import Project, Result

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def copied(project: Project, example: str) -> str:
    shutil.copy(EXAMPLES / f"{example}.py", project.root / f"{example}.py")
    return f"{example}.py"


def env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def tasks(result: Result) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in result.view["tasks"]}


def outputs(result: Result) -> dict[str, Any]:
    return {t["id"]: t["output"] for t in result.view["tasks"] if "output" in t}


# ---------------------------------------------------------------- a typed pipeline
def test_a_typed_pipeline_passes_each_output_to_the_input_named_after_it(
        project: Project) -> None:
    result = project.run(copied(project, "typed_pipeline"))
    assert result.code == 0, result.stderr[-1000:]
    rows = [{"name": "alpha", "size": 3}, {"name": "beta", "size": 12},
            {"name": "gamma", "size": 7}]
    assert outputs(result) == {
        "fetch": "alpha 3\nbeta 12\ngamma 7", "parse": rows,
        "summarize": {"rows": 3, "total": 22, "largest": "beta"}}
    assert tasks(result)["summarize"]["inputs"] == {"parse": rows}
    assert result.view["signatures"]["parse"] == "parse(fetch: str) -> list[Row]"
    shown = project.cli("status", "1")
    assert '             output: {"rows": 3, "total": 22, "largest": "beta"}' in shown.stdout
    # the output is journaled in the transaction that marks the task done, once
    steps = [e for e in result.journal("step") if e["op"] in ("output", "state")]
    at = [i for i, e in enumerate(steps) if e["op"] == "output"]
    assert [steps[i + 1] for i in at] == [{"op": "state", "task": t, "state": "done", "by": t}
                                          for t in ("fetch", "parse", "summarize")]


def test_an_output_of_the_wrong_type_breaks_the_promise_with_the_path_to_it(
        project: Project) -> None:
    result = project.run(copied(project, "typed_pipeline"), env=env(EXAMPLE_BAD_ROW="1"))
    assert result.code == 3
    refusal = result.view["refusal"]
    assert refusal["task"] == "parse"
    assert refusal["reason"] == (
        "the output of task parse is not of the type kind parse declares: expected "
        "list[Row]: at [1].size: Input should be a valid integer (got \"twelve\")")
    assert outputs(result) == {"fetch": "alpha 3\nbeta 12\ngamma 7"}  # nothing of parse's
    assert tasks(result)["summarize"]["state"] == "pending"


def test_a_type_error_is_refused_before_anything_runs(project: Project) -> None:
    source = (EXAMPLES / "typed_pipeline.py").read_text()
    project.write("wf.py", source.replace("def summarize(parse: list[Row])",
                                          "def summarize(parse: list[int])"))
    import subprocess
    import sys

    for command in (["check", "wf.py"], ["run", "wf.py", "--db", str(project.db)]):
        proc = subprocess.run([sys.executable, "-m", "grammarflow", *command],
                              cwd=project.root, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr == (
            "error: wf.py: type errors in the grammar:\n  the start graph: edge parse -> "
            "summarize: kind parse gives list[Row], and 'parse: list[int]' takes list[int]: "
            "elements: a Row is not an int\n")
    assert not project.db.exists()  # no run was created


def test_a_declared_output_never_given_breaks_the_promise(project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import Kind, define
        grammar = define("make -> use")
        kinds = {"make": Kind("make.py", output=list[str])}
        def use(make: list[str]) -> None: ...
    """)
    project.write("make.py", "print('forgot to give my output')\n")
    result = project.run()
    assert result.code == 3
    assert result.view["refusal"]["reason"] == (
        "task make finished without giving its output, and kind make declares one "
        "(list[str]): return it (a function task) or call task.output(value) (a script)")


def test_a_script_gives_its_output_with_the_task_sdk(project: Project) -> None:
    project.write("wf.py", """
        from grammarflow import Kind, define
        grammar = define("make -> use")
        kinds = {"make": Kind("make.py", output=list[str])}
        def use(make: list[str]) -> int:
            return len(make)
    """)
    project.write("make.py", """
        from grammarflow import task
        assert task.output(["a", "b"]) == ["a", "b"]
    """)
    result = project.run()
    assert result.code == 0, result.stderr[-800:]
    assert outputs(result) == {"make": ["a", "b"], "use": 2}


# ---------------------------------------------------------------- branch on an input
@pytest.mark.parametrize(("size", "branch"), [("25", "big"), ("11", "big"), ("10", "small"),
                                              ("3", "small")])
def test_the_branch_is_chosen_by_the_guard_on_the_measured_size(
        project: Project, size: str, branch: str) -> None:
    result = project.run(copied(project, "branch_on_data"), env=env(EXAMPLE_SIZE=size))
    assert result.code == 0, result.stderr[-800:]
    made = f"Size.1/{branch}"
    assert sorted(tasks(result)) == sorted(["measure", "report", made])
    assert sorted(map(tuple, result.view["edges"])) == sorted(
        [("measure", made), (made, "report")])
    said = outputs(result)[made]
    assert outputs(result)["report"] == said and said.startswith(f"{size} is {branch}")
    chosen = [e for e in result.journal("step") if e["op"] == "expand"]
    guard = "when a > 10" if branch == "big" else "else"
    assert chosen == [{"op": "expand", "hole": "Size.1", "production": branch, "attrs": {},
                       "guard": guard}]


def test_a_task_that_expands_against_the_guard_is_refused(project: Project) -> None:
    result = project.run(copied(project, "branch_on_data"),
                         env=env(EXAMPLE_SIZE="25", EXAMPLE_DISOBEY="1"))
    assert result.code == 3
    assert result.view["refusal"]["reason"] == (
        "hole Size.1 (Size) may not become Size(a, b) ::= [else] a -> small -> b: [else] "
        "holds only when no other guard does, and [when a > 10] holds (a = 25)")
    assert sorted(tasks(result)) == ["measure", "report"]  # the refused change vanished


def test_the_picture_labels_guarded_alternatives_with_their_guards(project: Project) -> None:
    copied(project, "branch_on_data")
    copied(project, "map_list")
    branch = project.cli("render", "branch_on_data.py", "--format", "dot", "-o", "-")
    assert "Size.1 (Size) becomes\\nwhen measure > 10: big\\nor else: small" in branch.stdout
    mapped = project.cli("render", "map_list.py", "--format", "dot", "-o", "-")
    assert "Each.1 (Each) becomes\\none measure per element of split's list" in mapped.stdout


# ---------------------------------------------------------------- map over a list
@pytest.mark.parametrize("n", [0, 1, 5])
def test_a_map_makes_one_copy_per_element_and_gathers_in_order(project: Project,
                                                                 n: int) -> None:
    result = project.run(copied(project, "map_list"), "--max-parallel", "4",
                         env=env(EXAMPLE_ITEMS=str(n)))
    assert result.code == 0, result.stderr[-800:]
    words = [f"w{i}" + "x" * (i % 7) for i in range(n)]
    copies = ["Each.1/measure"] + [f"Each.1.{i}/measure" for i in range(2, n + 1)]
    copies = copies[:n]
    assert sorted(tasks(result)) == sorted(["split", "total", *copies])
    edges = {("split", "total"), *(("split", c) for c in copies),
             *((c, "total") for c in copies)}
    assert set(map(tuple, result.view["edges"])) == edges
    assert [tasks(result)[c]["inputs"] for c in copies] == [{"split": w} for w in words]
    assert outputs(result)["total"] == [len(w) for w in words]


def test_a_map_with_one_copy_too_many_is_refused(project: Project) -> None:
    result = project.run(copied(project, "map_list"),
                         env=env(EXAMPLE_ITEMS="3", EXAMPLE_EXTRA="1"))
    assert result.code == 3
    assert result.view["refusal"]["reason"].startswith(
        "hole Each.1.4 (Each) may not become Each(a, b) ::= [when count(a -> measure) < "
        "len(a)] a -> measure -> b, Each(a, b): its guard [when count(a -> measure) < "
        "len(a)] is false (a = [\"w0\", \"w1x\", \"w2xx\"], count(a -> measure) = 3)")
    assert sorted(tasks(result)) == ["split", "total"]


def test_kill_9_in_the_middle_of_a_map_then_resume_keeps_each_output_once(
        project: Project) -> None:
    name = copied(project, "map_list")
    killed = project.run(name, env=env(EXAMPLE_ITEMS="6",
                                       **{CRASH_BEFORE_COMMIT_ENV: "Each.1.3/measure"}))
    assert killed.code == -signal.SIGKILL
    resumed = project.resume(1, env=env(EXAMPLE_ITEMS="6"))
    assert resumed.code == 0, resumed.stderr[-800:]
    words = [f"w{i}" + "x" * (i % 7) for i in range(6)]
    assert outputs(resumed)["total"] == [len(w) for w in words]
    given = [e["task"] for e in resumed.journal("step") if e["op"] == "output"]
    assert sorted(given) == sorted(set(given)) and len(given) == 8  # split, 6 copies, total
    project.check_consistent(1)


def test_resume_refuses_a_run_whose_declared_types_changed(project: Project) -> None:
    name = copied(project, "map_list")
    killed = project.run(name, env=env(EXAMPLE_ITEMS="3",
                                       **{CRASH_BEFORE_COMMIT_ENV: "Each.1/measure"}))
    assert killed.code == -signal.SIGKILL
    source = (project.root / name).read_text()
    (project.root / name).write_text(source.replace("def total(measure: All[int]) -> list[int]",
                                                    "def total(measure: All[int]) -> list[float]"))
    refused = project.cli("resume", "1")
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "error: the types declared in map_list.py changed since the run began (total: "
        "total(measure: All[int]) -> list[int] -> total(measure: All[int]) -> list[float])")
    view = run_view(Store(project.db, readonly=True), 1)
    assert view["status"] == "running"  # nothing was taken: fix the file and resume
    (project.root / name).write_text(source)
    assert project.resume(1, env=env(EXAMPLE_ITEMS="3")).code == 0


def test_status_json_shows_large_values_in_full_and_text_cuts_them(project: Project) -> None:
    result = project.run(copied(project, "map_list"), env=env(EXAMPLE_ITEMS="30"))
    assert result.code == 0, result.stderr[-800:]
    full = json.loads(project.cli("status", "1", "--json").stdout)
    split = next(t for t in full["tasks"] if t["id"] == "split")
    assert len(split["output"]) == 30
    text = project.cli("status", "1").stdout
    line = next(x for x in text.splitlines() if x.strip().startswith("output: [\"w0\""))
    assert line.endswith("...") and len(line.strip()) <= 100


def test_inputs_too_large_for_the_environment_are_asked_for(project: Project) -> None:
    """An input of 200 KiB does not fit a task's environment: the SDK asks for it."""
    project.write("wf.py", """
        from grammarflow import define
        grammar = define("make -> use")
        def make() -> str:
            return "x" * 200_000
        def use(make: str) -> int:
            return len(make)
    """)
    result = project.run()
    assert result.code == 0, result.stderr[-800:]
    assert outputs(result)["use"] == 200_000
