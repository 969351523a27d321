"""Benchmark the runtime: per-task overhead over a floor measured in the same run.

    .venv/bin/python bench/runtime.py            # chain of 500, fan-out of 1,000
    .venv/bin/python bench/runtime.py --quick    # a fifth of the size

Floor: N sequential spawns of a task script that imports the SDK and does nothing,
through the same asyncio subprocess calls the orchestrator uses. Overhead per task =
(wall time of the run - floor) / N. Targets (issue 3): at most 1 ms per task over the
floor on both shapes, flat as the fan widens; `grammarflow run` of a one-task
workflow starts and finishes in under 0.25 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grammarflow.runtime import Options, Orchestrator
from grammarflow.store import Store
from grammarflow.workflow import load_workflow

NOOP = "from grammarflow import task\n"
FAN = """
from grammarflow import task
n = {n}
task.add(tasks={{f"m{{i}}": "M" for i in range(n)}},
         edges=[e for i in range(n) for e in (("A", f"m{{i}}"), (f"m{{i}}", "B"))])
"""


async def spawn_floor(script: Path, n: int) -> float:
    env = dict(os.environ, GRAMMARFLOW_TASK='{"run": "0", "task": "t", "kind": "t"}')
    t0 = time.perf_counter()
    for _ in range(n):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        await proc.communicate()
    return time.perf_counter() - t0


def run_workflow(path: Path, db: Path) -> float:
    wf = load_workflow(path)
    store = Store(db)
    o = Orchestrator.start(store, wf, Options(logs=db.parent / "logs"))
    t0 = time.perf_counter()
    status = asyncio.run(o.run())
    took = time.perf_counter() - t0
    assert status == "succeeded", status
    return took


def chain(root: Path, n: int) -> Path:
    (root / "noop.py").write_text(NOOP)
    names = " -> ".join(f"t{i}:t" for i in range(n))
    (root / "chain.py").write_text(
        f"from grammarflow import define\ngrammar = define({names!r})\n"
        "kinds = {'t': 'noop.py'}\n")
    return root / "chain.py"


def fan(root: Path, n: int) -> Path:
    (root / "noop.py").write_text(NOOP)
    (root / f"fan{n}.py").write_text(FAN.format(n=n))
    (root / f"fan_wf{n}.py").write_text(
        "from grammarflow import define, repeat_parallel\n"
        "grammar = define('A, B, Ms(A, B)', repeat_parallel('Ms', 'M'))\n"
        f"kinds = {{'A': 'fan{n}.py', 'M': 'noop.py', 'B': 'noop.py'}}\n")
    return root / f"fan_wf{n}.py"


def report(label: str, n: int, took: float, floor: float) -> None:
    over = (took - floor) / n * 1000
    print(f"{label:<22} {n:>5} tasks  run {took:6.2f} s  floor {floor:6.2f} s  "
          f"({floor / n * 1000:5.1f} ms/spawn)  overhead {over:+6.2f} ms/task  "
          f"ratio {took / floor:4.2f}  target <= 1 ms: {'ok' if over <= 1 else 'MISSED'}")


def startup(root: Path) -> float:
    (root / "one.py").write_text("from grammarflow import define\ngrammar = define('only')\n"
                                 "kinds = {'only': 'noop.py'}\n")
    best = float("inf")
    for i in range(5):
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "grammarflow"), "run", "one.py",
                        "--db", str(root / f"one{i}.db"), "--json"], cwd=root, check=True,
                       capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scale = 5 if args.quick else 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        n_chain = 500 // scale
        wf = chain(root, n_chain)
        floor = asyncio.run(spawn_floor(root / "noop.py", n_chain))
        took = run_workflow(wf, root / "chain.db")
        report("chain", n_chain, took, floor)
        for width in (100 // scale, 1000 // scale):
            wf = fan(root, width)
            n = width + 2
            floor = asyncio.run(spawn_floor(root / "noop.py", n))
            took = run_workflow(wf, root / f"fan{width}.db")
            report(f"fan-out to {width}", n, took, floor)
        best = startup(root)
        print(f"startup: `grammarflow run` of a one-task workflow: {best * 1000:.0f} ms "
              f"(best of 5)  target < 250 ms: {'ok' if best < 0.25 else 'MISSED'}")


if __name__ == "__main__":
    main()
