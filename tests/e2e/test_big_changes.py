"""A task that sends a huge raw change: accepted, or refused within the deadline, and
Ctrl-C still stops the run while the change is being explained (it is planned in a
worker thread, with a deadline and a cancellation the orchestrator sets), and other
tasks go on meanwhile; a real workflow's shape (WfCommons Epigenomics, a map of maps)
sent in one change is decided whatever the order its tasks and edges are listed in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

from grammarflow.errors import GrammarflowError
from grammarflow.journal.store import Store

from .conftest import Project

MAP = """
from grammarflow import define, repeat_parallel
grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
def A():
    from grammarflow import task
    n = int(__import__("os").environ["FAN"])
    task.add(tasks={f"m{i}": "M" for i in range(n)},
             edges=[e for i in range(n) for e in (("A", f"m{i}"), (f"m{i}", "B"))])
def M(): pass
def B(): pass
kinds = {"M": "tasks/nothing.py"}
"""

# Each P comes with an X that has no edge to the hole's parameters, so the search must
# try every unplaced X for every P: quadratic, far beyond any deadline at this size.
SLOW = """
from grammarflow import define
grammar = define("A, B, Xs(A, B)",
                 "Xs(a, b) ::= [default] nothing | a -> P -> b, X, Xs(a, b)")
def A():
    from grammarflow import task
    n = 20000
    tasks = {**{f"p{i}": "P" for i in range(n)}, **{f"x{i}": "X" for i in range(n)}}
    task.add(tasks=tasks,
             edges=[e for i in range(n) for e in (("A", f"p{i}"), (f"p{i}", "B"))])
def B(): pass
def P(): pass
def X(): pass
"""


def running(status: str) -> bool:
    return bool(json.loads(status)["tasks"][0]["state"] == "running")


def a_succeeded(project: Project) -> bool:
    """Whether task A's attempt has ended successfully, its change committed with it."""
    if not project.db.exists():
        return False
    try:
        store = Store(project.db, readonly=True)
        return any(e.data.get("event") == "end" and e.data["task"] == "A"
                   and e.data["outcome"] == "succeeded" for e in store.entries(1, ["attempt"]))
    except GrammarflowError:  # not created yet
        return False


def test_a_raw_change_of_100000_tasks_is_accepted(project: Project) -> None:
    project.write("wf.py", MAP)
    project.write("tasks/nothing.py", "")
    start = time.monotonic()
    # A only adds; the Ms are not run (B stays behind them): the run is interrupted by
    # the test once A's change is committed.
    # The search deadline is lifted: this test is about accepting a big change, not
    # about how fast a loaded machine explains it (the deadline has its own test).
    # Output goes to files: a pipe nobody reads would stall the run once it is full.
    out = (project.root / "run.out").open("wb")
    err_file = project.root / "run.err"
    proc = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py", "--json",
                             "--max-parallel", "1", "--db", str(project.db)],
                            cwd=project.root,
                            env={**os.environ, "FAN": "100000",
                                 "GRAMMARFLOW_RAW_CHANGE_DEADLINE": "120"},
                            stdout=out, stderr=err_file.open("wb"))
    deadline = time.monotonic() + 240
    committed = False
    while time.monotonic() < deadline and not committed:
        time.sleep(0.5)
        committed = a_succeeded(project)  # read the journal: `status` would fold 100,000 tasks
        if proc.poll() is not None:
            break
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    out.close()
    assert committed, err_file.read_text()[-2000:]
    view = json.loads(project.cli("status", "1", "--json").stdout)
    assert sum(1 for t in view["tasks"] if t["kind"] == "M") == 100_000
    assert view["refused"] == []
    assert time.monotonic() - start < 240


def test_a_change_too_costly_to_explain_is_refused_after_the_deadline(
        project: Project) -> None:
    project.write("wf.py", SLOW)
    start = time.monotonic()
    result = project.run(env={**os.environ, "GRAMMARFLOW_RAW_CHANGE_DEADLINE": "3"})
    took = time.monotonic() - start
    assert result.code == 3, result.stderr[-1500:]
    refused = result.journal("refused")[0]
    assert "could not be explained" in refused["reason"] and "3" in refused["reason"]
    assert "expand" in refused["reason"]
    assert took < 60, f"took {took:.0f} s"  # the deadline, not the search, ended it
    assert sorted(t["id"] for t in result.view["tasks"]) == ["A", "B"]


def test_ctrl_c_stops_a_run_while_a_huge_change_is_being_explained(
        project: Project) -> None:
    project.write("wf.py", SLOW)
    proc = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "wf.py", "--json",
                             "--db", str(project.db)], cwd=project.root,
                            env={**os.environ, "GRAMMARFLOW_RAW_CHANGE_DEADLINE": "600"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait until A has sent its change: A is running and its message is in
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.3)
        status = project.cli("status", "1", "--json")
        if status.returncode == 0 and running(status.stdout):
            break
    time.sleep(3)  # A builds and sends 40,000 tasks: well inside the search by now
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    stopped = time.monotonic() - sent
    assert proc.returncode == 130, err.decode()[-1500:]
    assert stopped < 30, f"Ctrl-C took {stopped:.0f} s to stop the run (search: 600 s)"
    view = json.loads(out)
    assert view["status"] == "interrupted"


# ---------------------------------------------------------------- a real workflow's shape
ROOT = Path(__file__).resolve().parents[2]


def epigenomics_run(project: Project, order: str, mutate: str = "0") -> Any:
    return project.run(str(ROOT / "examples" / "epigenomics.py"), "--max-parallel", "8",
                       env={**os.environ, "EXAMPLE_ORDER": order, "EXAMPLE_MUTATE": mutate,
                            "GRAMMARFLOW_RAW_CHANGE_DEADLINE": "60"})


def instance(order: str, mutate: int = 0) -> tuple[dict[str, str], list[tuple[str, str]]]:
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from epigenomics import change  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    return change(300, order, mutate)  # type: ignore[no-any-return]


def kinded(tasks: dict[str, str], edges: Any) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from((t, {"kind": kind}) for t, kind in tasks.items())
    g.add_edges_from(edges)
    return g


@pytest.mark.filterwarnings("ignore:The hashes produced for directed graphs")
@pytest.mark.parametrize("order", ["file", "shuffled"])
def test_a_real_workflow_sent_in_one_change_runs_whatever_its_order(
        project: Project, order: str) -> None:
    result = epigenomics_run(project, order)
    assert result.code == 0, result.stderr[-1500:]
    tasks, edges = instance(order)
    final = kinded({t["id"]: t["kind"] for t in result.view["tasks"]}, result.view["edges"])
    assert all(t["state"] == "done" for t in result.view["tasks"])
    # the same graph up to ids (Weisfeiler-Lehman over kinds: a lane or a chain more or
    # less, or an edge moved, changes it)
    assert nx.weisfeiler_lehman_graph_hash(final, node_attr="kind", iterations=8) == \
        nx.weisfeiler_lehman_graph_hash(kinded({**tasks, "plan": "plan"}, edges),
                                        node_attr="kind", iterations=8)
    assert final.number_of_edges() == len(set(edges))


def test_an_edge_between_two_lanes_breaks_the_run_naming_it(project: Project) -> None:
    result = epigenomics_run(project, "shuffled", mutate="1")
    assert result.code == 3, result.stderr[-1500:]
    (u, v), = set(instance("shuffled", 1)[1]) - set(instance("shuffled")[1])
    refused = result.journal("refused")[0]
    assert refused["task"] == "plan"
    assert f"not produced: edge {u} -> {v} " in refused["reason"]
    assert [t["id"] for t in result.view["tasks"]] == ["plan"]


SIBLING = """
import os, time
from grammarflow import define
grammar = define("A, C, Xs(A, A)",
                 "Xs(a, b) ::= [default] nothing | a -> P, X, Xs(a, b)")
def A():
    from grammarflow import task
    n = 20000
    tasks = {**{f"p{i}": "P" for i in range(n)}, **{f"x{i}": "X" for i in range(n)}}
    open("sending", "w").close()
    task.add(tasks=tasks, edges=[("A", f"p{i}") for i in range(n)])
def C():
    while not os.path.exists("sending"):
        time.sleep(0.01)
    time.sleep(1)  # the orchestrator has A's change by now, and searches it
def P(): pass
def X(): pass
"""


def test_other_tasks_run_and_end_while_a_huge_change_is_searched(project: Project) -> None:
    # A's change is too costly to explain (see SLOW): its search takes the whole
    # deadline, in a worker thread. C, running beside A, ends a second after A sent it:
    # its end is journaled before A's refusal only if the loop served C meanwhile.
    project.write("wf.py", SIBLING)
    result = project.run("wf.py", "--max-parallel", "2",
                         env={**os.environ, "GRAMMARFLOW_RAW_CHANGE_DEADLINE": "8"})
    assert result.code == 3, result.stderr[-1500:]
    journal = result.journal()
    ends = [i for i, e in enumerate(journal)
            if e.get("event") == "end" and e.get("task") == "C"]
    refusals = [i for i, e in enumerate(journal) if "reason" in e and e.get("task") == "A"]
    assert ends and refusals, journal[-5:]
    assert ends[0] < refusals[0]
    assert "could not be explained within 8 s" in journal[refusals[0]]["reason"]
