"""Real workflows in: WfCommons instances (made here by the `wfcommons` package's
generator, seeded, offline) imported as workflow files, run, and drawn."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from grammarflow.formats.wfformat import WfFormatError, read_instance

from .conftest import Project


def generated(recipe: str, tasks: int, seed: int, where: Path) -> Path:
    """A WfFormat instance of ``recipe`` with about ``tasks`` tasks, as the WfCommons
    generator makes it (its random generators seeded)."""
    import numpy
    from wfcommons import WorkflowGenerator
    from wfcommons.wfchef import recipes

    random.seed(seed)
    numpy.random.seed(seed)
    made = WorkflowGenerator(getattr(recipes, f"{recipe}Recipe").from_num_tasks(tasks))
    path = where / f"{recipe.lower()}-{tasks}.json"
    made.build_workflow().write_json(path)
    return path


def gf(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """`grammarflow ARGS` in the project (import takes no --db)."""
    return subprocess.run([sys.executable, "-m", "grammarflow", *args], cwd=project.root,
                          capture_output=True, text=True, timeout=120)


def shape_of(path: Path) -> tuple[set[str], set[tuple[str, str]]]:
    """The instance's tasks and edges, by its own ids, read straight from its JSON."""
    data = json.loads(path.read_text())
    tasks = data["workflow"]["specification"]["tasks"]
    edges = {(p, t["id"]) for t in tasks for p in t["parents"]}
    edges |= {(t["id"], c) for t in tasks for c in t["children"]}
    return {t["id"] for t in tasks}, edges


@pytest.mark.parametrize(("recipe", "tasks"), [("Montage", 150), ("Epigenomics", 120),
                                               ("Seismology", 150)])
def test_an_imported_instance_runs_as_its_graph(project: Project, recipe: str,
                                                tasks: int) -> None:
    source = generated(recipe, tasks, 7, project.root)
    done = gf(project, "import", "wfformat", str(source), "-o", "wf.py", "--json")
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    ids, edges = shape_of(source)
    assert (said["tasks"], said["edges"]) == (len(ids), len(edges))
    result = project.run("wf.py", "--max-parallel", "4")
    assert result.code == 0, result.stderr
    by_id = {t["id"]: t["attrs"]["wf_id"] for t in result.view["tasks"]}
    assert set(by_id.values()) == ids
    assert {(by_id[u], by_id[v]) for u, v in result.view["edges"]} == edges
    assert all(t["state"] == "done" for t in result.view["tasks"])
    assert project.cli("render", "1", "-o", "run.svg").returncode == 0


def test_a_2000_task_instance_imports_runs_and_renders(project: Project) -> None:
    source = generated("Montage", 2000, 3, project.root)
    done = gf(project, "import", "wfformat", str(source), "-o", "big.py", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tasks"] >= 1900
    result = project.run("big.py", "--max-parallel", "8")
    assert result.code == 0, result.stderr
    drawn = project.cli("render", "1", "-o", "big.svg")
    assert drawn.returncode == 0, drawn.stderr
    assert "alike" in (project.root / "big.svg").read_text()  # drawn as its kinds


@pytest.mark.parametrize(("text", "said"), [
    ("[1, 2]", "expected an object with a 'workflow' object"),
    ('{"workflow": {}}', "expected a list of tasks"),
    ('{"workflow": {"specification": {"tasks": [{"id": "a"}]}}}', "task 'a' has no 'name'"),
    ('{"workflow": {"specification": {"tasks": [{"id": "a", "name": "A", '
     '"parents": ["b"], "children": []}]}}}', "names parent 'b', which is no task"),
    ('{"workflow": {"specification": {"tasks": [{"id": "a", "name": "A"}, '
     '{"id": "a", "name": "A"}]}}}', "task id 'a' appears twice"),
    ("not json", "is not JSON"),
])
def test_a_file_that_is_no_instance_is_refused_saying_why(tmp_path: Path, text: str,
                                                          said: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(WfFormatError, match=said.replace("(", r"\(").replace(")", r"\)")):
        read_instance(path)


def test_the_import_never_writes_over_the_instance(project: Project) -> None:
    source = generated("Montage", 60, 1, project.root)
    before = source.read_bytes()
    done = gf(project, "import", "wfformat", str(source), "-o", str(source))
    assert done.returncode == 2 and "would overwrite it" in done.stderr
    # a workflow named as the instance: its shape goes beside it, not over the instance
    assert gf(project, "import", "wfformat", str(source), "-o",
                       str(source.with_suffix(".py"))).returncode == 0
    assert source.read_bytes() == before
    assert source.with_suffix(".shape.json").exists() and read_instance(source).tasks


def test_names_the_notation_cannot_read_are_made_names(tmp_path: Path) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"workflow": {"specification": {"tasks": [
        {"id": "split-1", "name": "split.py", "parents": [], "children": ["2nd"]},
        {"id": "2nd", "name": "split.py", "parents": ["split-1"], "children": []}]},
        "execution": {"tasks": [{"id": "2nd", "runtimeInSeconds": 4.5}]}}}))
    instance = read_instance(path)
    assert instance.tasks == [("split_1", "split_py", {"wf_id": "split-1"}),
                              ("_2nd", "split_py", {"wf_id": "2nd", "runtime": 4.5})]
    assert instance.edges == [("split_1", "_2nd")]


def test_conform_says_yes_or_names_what_breaks_the_promise(project: Project) -> None:
    source = generated("Montage", 150, 5, project.root)
    assert gf(project, "import", "wfformat", str(source), "-o", "m.py").returncode == 0
    yes = gf(project, "conform", "m.py", str(source))
    assert yes.returncode == 0 and "conforms" in yes.stdout, yes.stderr
    data = json.loads(source.read_text())
    tasks = data["workflow"]["specification"]["tasks"]
    tasks[0]["children"].append(tasks[-1]["id"])  # one edge more than the run had
    tasks[-1]["parents"].append(tasks[0]["id"])
    (project.root / "more.json").write_text(json.dumps(data))
    no = gf(project, "conform", "m.py", "more.json", "--json")
    assert no.returncode == 3
    said = json.loads(no.stdout)
    assert not said["conforms"] and f"{tasks[0]['id']} -> {tasks[-1]['id']}" in said["reason"]


def test_a_finished_run_exported_is_read_by_wfcommons_and_round_trips(
        project: Project) -> None:
    from wfcommons.wfinstances import Instance
    from wfcommons.wfinstances.schema import SchemaValidator

    source = generated("Epigenomics", 120, 2, project.root)
    assert gf(project, "import", "wfformat", str(source), "-o", "epi.py").returncode == 0
    assert project.run("epi.py", "--max-parallel", "4").code == 0
    out = project.root / "run.json"
    done = project.cli("export", "1", "--wfformat", str(out))
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    # WfCommons' own checks (ids, parents and children that agree, the execution's
    # tasks); its JSON schema is fetched from GitHub, which no test here can reach
    empty = project.root / "schema.json"
    empty.write_text("{}")
    checker = SchemaValidator(empty)
    checker.validate_instance(data)
    assert checker.errors == []
    read = Instance(out, schema_file=str(empty))
    ids, edges = shape_of(source)
    assert len(read.workflow.nodes) == len(ids) and read.workflow.number_of_edges() == len(edges)
    assert all(t["runtimeInSeconds"] >= 0 for t in data["workflow"]["execution"]["tasks"])
    # and back: the exported run is the graph the workflow allows
    assert gf(project, "conform", "epi.py", str(out)).returncode == 0


def test_only_a_finished_run_is_exported(project: Project) -> None:
    project.write("wait.py", """
        from grammarflow import Kind, define
        grammar = define("a -> b")
        kinds = {"b": Kind(ask="go?", output=bool)}
        def a() -> None: ...
    """)
    assert project.run("wait.py").code == 4
    done = project.cli("export", "1", "--wfformat", str(project.root / "x.json"))
    assert done.returncode == 2 and "only a finished run" in done.stderr
    assert not (project.root / "x.json").exists()


def test_an_exported_run_spells_its_ids_as_wfformat_does(project: Project) -> None:
    # WfFormat's ids and the parents and children naming them are letters, digits,
    # '-', '_' and '.': a map's made tasks (Ms.1/M) are written Ms.1-M
    import re

    project.write("map.py", """
        from grammarflow import define, repeat_parallel
        grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
        def A() -> None:
            from grammarflow import task
            task.expand_all([("Ms.1", "2"), ("Ms.1/Ms_more.1", "1")])
        def M() -> None: ...
        def B() -> None: ...
    """)
    assert project.run("map.py").code == 0
    out = project.root / "map.json"
    assert project.cli("export", "1", "--wfformat", str(out)).returncode == 0
    tasks = json.loads(out.read_text())["workflow"]["specification"]["tasks"]
    named = [t["id"] for t in tasks] + [n for t in tasks for n in t["parents"] + t["children"]]
    assert "Ms.1-M" in named
    assert all(re.fullmatch(r"[0-9A-Za-z_.\-]+", n) for n in named), named
