"""Benchmark the scheduling path alone — no processes — at 1k, 10k and 100k tasks.

    .venv/bin/python bench/scheduling.py            # 1,000, 10,000 and 100,000 tasks
    .venv/bin/python bench/scheduling.py --quick    # 1,000 and 10,000

Tasks are coroutines that succeed at once (the in-process executor, keeping no record
of its attempts: the real orchestrator, journal and protocol, minus process starts —
the record a test inspects would hold 100k attempts and make the collector scan them),
in two shapes: a chain
(one ready task at a time) and N independent tasks at --max-parallel 8 (N ready at
once: what a sort of the ready list per pass made quadratic). For each: the
orchestrator's CPU per task, and its ratio to the smallest size's — flat means the
cost of a task does not grow with the run. Then `status` (`run_view`) of the finished
run: it reads the final snapshot, not the whole journal. Targets (issue 14): <= 0.2 ms
per task... on the scheduling path, <= 1.5x between 1k and 100k; `status` of a
finished 100k-task run < 0.5 s. The floor, for scale: the same number of bare
``asyncio`` task creations and awaits.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from pathlib import Path

from grammarflow.core.notation import define
from grammarflow.journal.status import run_view
from grammarflow.journal.store import Store
from grammarflow.runtime import Options, Orchestrator
from grammarflow.runtime.inprocess import InProcessExecutor
from grammarflow.workflow.definition import Kind, Workflow


def workflow(shape: str, n: int, root: Path) -> Workflow:
    if shape == "chain":
        grammar = define(" -> ".join(f"t{i}:t" for i in range(n)))
    else:
        grammar = define(", ".join(f"t{i}:t" for i in range(n)))
    return Workflow(grammar, {"t": Kind(":t")}, root / "wf.py")


def floor(n: int) -> float:
    async def nothing() -> None:
        return None

    async def go() -> None:
        for _ in range(n):
            await asyncio.create_task(nothing())

    t0 = time.process_time()
    asyncio.run(go())
    return time.process_time() - t0


def run(shape: str, n: int, root: Path) -> tuple[float, float]:
    """(orchestrator CPU of the run, seconds `status` takes afterwards)."""
    wf = workflow(shape, n, root)
    db = root / f"{shape}{n}.db"
    store = Store(db)
    o = Orchestrator.start(store, wf, Options(max_parallel=1 if shape == "chain" else 8,
                                              logs=root / "logs"),
                           executor=InProcessExecutor(record=False))
    gc.collect()
    t0 = time.process_time()
    status = asyncio.run(o.run())
    cpu = time.process_time() - t0
    assert status == "succeeded", status
    t1 = time.perf_counter()
    view = run_view(Store(db, readonly=True), o.run_id)
    took = time.perf_counter() - t1
    assert len(view["tasks"]) == n
    return cpu, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    with tempfile.TemporaryDirectory() as tmp:
        for shape in ("chain", "independent"):
            first = None
            for n in sizes:
                cpu, took = run(shape, n, Path(tmp))
                per = cpu / n * 1000
                first = first or per
                base = floor(n) / n * 1000
                print(f"{shape:<12} {n:>7} tasks: {per:6.3f} ms CPU a task "
                      f"(floor {base:.3f}; x{per / first:4.2f} of {sizes[0]:,})  "
                      f"status afterwards {took * 1000:7.1f} ms  target <= 0.2 ms, <= 1.5x: "
                      f"{'ok' if per <= 0.2 and per / first <= 1.5 else 'MISSED'}", flush=True)


if __name__ == "__main__":
    main()
