"""Upgrading a run: a 10,000-step journal decided, in process and by the CLI.

    .venv/bin/python bench/upgrade.py            # N=2500 measures (10,004 steps)

A run of examples/upgrade/v1.py over N elements is journaled step by step (the split, its
output, the N expansions of the map the orchestrator takes, each measure started, given
its output, done), as the orchestrator journals it, and stopped; then decided against
examples/upgrade/v2.py (safe) and v3_no_map.py (unsafe at the map's first expansion).
Floors measured in the same run: folding the run (`fold_run`: what every `status`
pays) and a `grammarflow --version` process. Target: < 1 s for 10,000 steps. Checked on
the way: `--dry-run` leaves the database byte for byte.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grammarflow.core.graph import TaskState
from grammarflow.core.steps import Output, SetState, Step
from grammarflow.journal.entries import StatusChanged, StepTaken
from grammarflow.journal.lease import Holder
from grammarflow.journal.operations import upgrade_plan
from grammarflow.journal.state import fold_run
from grammarflow.journal.store import Store
from grammarflow.workflow.reading import read_workflow

ROOT = Path(__file__).resolve().parent.parent
V1, V2, V3 = (ROOT / "examples" / "upgrade" / f for f in ("v1.py", "v2.py", "v3_no_map.py"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2500


def steps_of_a_run(n: int) -> list[Step]:
    """The steps a run of v1 over ``n`` elements journals until its last measure."""
    d = read_workflow(V1).grammar.derivation()
    d.apply(SetState("split", TaskState.RUNNING))
    d.apply(Output("split", [f"item{i}" for i in range(n)]))
    d.apply(SetState("split", TaskState.DONE))
    d.close_due()  # the orchestrator expands the map, once per element
    for task in [t for t in d.graph.tasks if t.endswith("/measure")]:
        d.apply(SetState(task, TaskState.RUNNING))
        d.apply(Output(task, 15))
        d.apply(SetState(task, TaskState.DONE))
    return list(d.history)


def digest(db: Path) -> str:
    h = hashlib.sha256()
    for p in (db, db.with_name(db.name + "-wal")):
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()


def best(f, times: int = 3) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(times):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return min(out)


def main() -> None:
    steps = steps_of_a_run(N)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gf.db"
        store = Store(db)
        run = store.create_owned_run(read_workflow(V1).to_json(), Holder.this_process())
        for i in range(0, len(steps), 1000):
            store.append_many(run, [StepTaken(s) for s in steps[i:i + 1000]])
        store.append_many(run, [StatusChanged("interrupted", "bench")])
        store.finish_run(run, "interrupted", "stopped for the bench")
        store.close()
        print(f"a run of v1 over {N} elements: {len(steps):,} journaled steps")
        reader = Store(db, readonly=True)
        v2, v3 = read_workflow(V2), read_workflow(V3)
        fold = best(lambda: fold_run(reader, run))
        plans = {}

        def decide(w, name):  # type: ignore[no-untyped-def]
            plans[name] = upgrade_plan(reader, run, w)
        safe = best(lambda: decide(v2, "v2"))
        unsafe = best(lambda: decide(v3, "v3"))
        assert plans["v2"].verdict.verdict == "safe", plans["v2"].verdict.reason
        assert plans["v3"].verdict.verdict == "unsafe", plans["v3"].verdict.reason
        print(f"floor: fold_run of the run {fold:.3f} s")
        print(f"decided in process, v1 -> v2 (safe):   {safe:.3f} s "
              f"(x{safe / fold:.2f} the fold)")
        print(f"decided in process, v1 -> v3 (unsafe): {unsafe:.3f} s "
              f"(x{unsafe / fold:.2f} the fold; refused at entry {plans['v3'].verdict.seq})")
        reader.close()  # before the file is read as bytes (that drops SQLite's locks)
        start = best(lambda: subprocess.run([sys.executable, "-m", "grammarflow", "--version"],
                                            check=True, capture_output=True))
        before = digest(db)
        cli = best(lambda: subprocess.run(
            [sys.executable, "-m", "grammarflow", "upgrade", str(run), str(V2), "--dry-run",
             "--db", str(db)], check=True, capture_output=True, cwd=tmp))
        assert digest(db) == before, "--dry-run changed the database"
        print(f"floor: `grammarflow --version` {start:.3f} s")
        print(f"`grammarflow upgrade RUN v2.py --dry-run`: {cli:.3f} s "
              f"(x{cli / start:.1f} a process's start); the database byte for byte the same")


if __name__ == "__main__":
    main()
