"""A run of a million journal entries: how long `status`, `render` and `resume` take.

    .venv/bin/python bench/journal.py              # 200,000 tasks: about 1,000,000 entries
    .venv/bin/python bench/journal.py --tasks 20000

The run is a map ``A -> M* -> B`` written straight into the journal (no processes): A's
one change makes every M (one expansion each, as a raw change is journaled), then each
M starts and ends (four entries each), with snapshots where the orchestrator would have
taken them; the last two Ms and B are left pending, as if the orchestrator had been
killed. Each command is timed as a user runs
it (a fresh ``grammarflow`` process), against two floors measured in the same run:
starting ``grammarflow --version``, and reading every journal row with ``sqlite3``
without decoding it. tests/e2e/test_big_journal.py runs the same journal for
correctness; this script only measures.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKFLOW = """
from grammarflow import define, repeat_parallel
grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
kinds = {"A": "tasks/t.py", "M": "tasks/t.py", "B": "tasks/t.py"}
"""


def write_big_run(root: Path, tasks: int, left: int = 2) -> Path:
    """A workflow in ``root`` and a database whose run 1 maps ``tasks`` Ms, all done
    but the last ``left`` and B (pending, the run interrupted). Returns the database."""
    from grammarflow.core.derivation import Derivation
    from grammarflow.core.graph import TaskState
    from grammarflow.core.steps import Expand, SetState, Step, step_to_json
    from grammarflow.journal.state import RunState, snapshot_due
    from grammarflow.journal.store import Store
    from grammarflow.workflow.checking import load_workflow

    (root / "tasks").mkdir(parents=True, exist_ok=True)
    (root / "wf.py").write_text(WORKFLOW)
    (root / "tasks" / "t.py").write_text("pass\n")
    workflow = load_workflow(root / "wf.py")
    db = root / "state" / "gf.db"
    store = Store(db)
    run = store.create_run(workflow.to_json())
    store.set_status(run, "interrupted", "killed (written by bench/journal.py)")
    store.close()
    d = Derivation(workflow.grammar)
    state = RunState(workflow, d)
    rows: list[tuple[str, str]] = []
    snapshots: list[tuple[int, str]] = []

    def step(s: Step) -> object:
        applied = d.apply(s)
        rows.append(("step", json.dumps(step_to_json(s))))
        return applied

    def attempt(task: str, event: str) -> None:
        data: dict[str, object] = {"event": event, "task": task, "attempt": 1}
        if event == "start":
            state.attempts[task] = 1
        else:
            data.update(outcome="succeeded", reason=None)
        rows.append(("attempt", json.dumps(data)))

    def start(task: str) -> None:
        step(SetState(task, TaskState.RUNNING))
        attempt(task, "start")

    def end(task: str) -> None:
        step(SetState(task, TaskState.DONE))
        attempt(task, "end")
        seq = 1 + len(rows)  # the status entry is entry 1
        last = snapshots[-1][0] if snapshots else 0
        if snapshot_due(last, seq):
            state.seq = seq
            snapshots.append((seq, json.dumps(state.snapshot(), separators=(",", ":"))))

    start("A")
    hole, ms = "Ms.1", []
    for _ in range(tasks):
        applied = step(Expand(hole, "2"))
        ms.append(applied.tasks["M"])  # type: ignore[attr-defined]
        hole = applied.holes[0]  # type: ignore[attr-defined]
    end("A")
    for m in ms[:len(ms) - left]:
        start(m)
        end(m)
    con = sqlite3.connect(db)
    with con:
        con.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?)",
                        ((run, 1 + i, 0.0, kind, data) for i, (kind, data) in enumerate(rows, 1)))
        con.executemany("INSERT INTO snapshots VALUES (?, ?, ?)",
                        ((run, seq, data) for seq, data in snapshots[-2:]))
    con.close()
    return db


def timed(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "grammarflow", *args], cwd=cwd,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{args}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        db = write_big_run(root, args.tasks)
        entries = sqlite3.connect(db).execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        print(f"{entries:,} journal entries, {args.tasks:,} tasks "
              f"(written in {time.perf_counter() - t0:.1f} s)")
        start = timed(["--version"], root)
        t0 = time.perf_counter()
        rows = sqlite3.connect(db).execute("SELECT data FROM journal").fetchall()
        read = time.perf_counter() - t0
        print(f"floors: `grammarflow --version` {start:.2f} s; reading {len(rows):,} rows "
              f"{read:.2f} s")
        from grammarflow.journal.state import fold_from_start, fold_run
        from grammarflow.journal.store import Store

        for name, fold in [("fold, whole journal", fold_from_start),
                           ("fold, from snapshot", fold_run)]:
            t0 = time.perf_counter()
            fold(Store(db, readonly=True), 1)
            seconds = time.perf_counter() - t0
            print(f"{name:<22} {seconds:6.2f} s (in process)")
        for name, cmd in [("status --json", ["status", "1", "--json", "--db", str(db)]),
                          ("render (dot)", ["render", "1", "--format", "dot", "-o",
                                            str(root / "run.dot"), "--db", str(db)]),
                          ("resume (3 tasks)", ["resume", "1", "--json", "--db", str(db)]),
                          ("status after", ["status", "1", "--json", "--db", str(db)])]:
            seconds = timed(cmd, root)
            print(f"{name:<22} {seconds:6.2f} s   {seconds / start:5.1f}x start, "
                  f"{seconds / max(read, 1e-9):5.1f}x reading the rows")


if __name__ == "__main__":
    main()
