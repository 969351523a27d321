"""A long run (250,000 journal entries; no processes but the last three tasks):
`status`, `render` and `resume` read it from its snapshot and give the right answers.

The journal is written by bench/journal.py, which times these commands on a run of a
million entries (200,000 Ms; by hand): here a map of 50,000 Ms, the orchestrator
"killed" with two Ms and B still to run. The code paths are the same at any size.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys
from pathlib import Path

from grammarflow.journal.state import fold_run
from grammarflow.journal.store import Store

from .conftest import Project

TASKS = 50_000
BENCH = Path(__file__).resolve().parents[2] / "bench" / "journal.py"


def write_big_run(root: Path) -> Path:
    spec = importlib.util.spec_from_file_location("bench_journal", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_journal"] = module
    spec.loader.exec_module(module)
    return module.write_big_run(root, TASKS)  # type: ignore[no-any-return]


def test_a_long_run_is_read_from_its_snapshot_and_resumed(tmp_path: Path) -> None:
    project = Project(tmp_path)
    db = write_big_run(tmp_path)
    project.db = db
    entries = sqlite3.connect(db).execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    assert entries >= 5 * TASKS - 10
    store = Store(db, readonly=True)
    cached = store.snapshot(1)
    assert cached is not None and cached[0] > 0.75 * entries  # the tail left to fold

    shown = project.cli("status", "1", "--json", timeout=300)
    assert shown.returncode == 0, shown.stderr[-1000:]
    view = json.loads(shown.stdout)
    states: dict[str, int] = {}
    for t in view["tasks"]:
        states[t["state"]] = states.get(t["state"], 0) + 1
    assert view["status"] == "interrupted"
    assert states == {"done": TASKS - 1, "pending": 3}  # A and all Ms but two; two Ms, B
    assert sum(t["attempts"] for t in view["tasks"]) == TASKS - 1

    drawn = project.cli("render", "1", "--format", "dot", "-o", str(tmp_path / "run.dot"),
                        timeout=300)
    assert drawn.returncode == 0, drawn.stderr[-1000:]
    dot = (tmp_path / "run.dot").read_text()
    assert "×" in dot and dot.count("\n") < 1000  # the Ms collapsed into a few nodes

    resumed = project.resume(1)
    assert resumed.code == 0, (resumed.view.get("reason"), resumed.stderr[-1000:])
    assert resumed.view["status"] == "succeeded"
    assert all(t["state"] == "done" for t in resumed.view["tasks"])
    assert len(resumed.view["tasks"]) == TASKS + 2
    store = Store(db, readonly=True)
    seqs = store.db.execute("SELECT COUNT(*), MAX(seq) FROM journal WHERE run=1").fetchone()
    assert seqs[0] == seqs[1], "the journal has gaps"
    final = store.snapshot(1)
    assert final is not None and final[0] >= store.last_seq(1) - 1  # taken at the end
    state = fold_run(store, 1)
    assert state.d.is_finished() and len(state.d.graph.tasks) == TASKS + 2
