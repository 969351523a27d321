"""Benchmark data between tasks: what a 1,000-element map costs the orchestrator over
the same map without data.

    .venv/bin/python bench/data.py            # 1,000 elements, best of 3
    .venv/bin/python bench/data.py --n 200

Both maps run through the real orchestrator (SQLite journal, every check) with tasks as
in-process coroutines, so process starts do not drown the difference:

* *with data*: ``map_over`` — the orchestrator expands the map once per element of
  split's list (a guard that counts each time), each copy gets its element as a typed
  input and gives a typed output (pydantic validates it), total gathers the 1,000
  outputs in order;
* *without data*: ``repeat_parallel`` — split expands the same hole 1,000 times itself,
  nobody gives an output.

Printed: CPU of this process per element for each, their difference (target, issue
12: at most 1 ms per element), and each against a floor measured in the same run — one
``python -c pass`` spawn — as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grammarflow.core.notation import define
from grammarflow.core.shapes import map_over, repeat_parallel
from grammarflow.journal.store import Store
from grammarflow.runtime import Options, Orchestrator
from grammarflow.runtime.inprocess import InProcessExecutor, TaskIO
from grammarflow.workflow.annotations import All, Item, function_types
from grammarflow.workflow.definition import Kind, Workflow


def split() -> list[str]: ...
def measure(split: Item[str]) -> int: ...
def total(measure: All[int]) -> list[int]: ...


def typed_map(root: Path) -> tuple[Workflow, dict[str, Any]]:
    grammar = define("split, total, Each(split, total)", map_over("Each", "measure"))
    types = {k: t for k, f in (("split", split), ("measure", measure), ("total", total))
             if (t := function_types(f)) is not None}
    grammar = grammar.with_data({k: t.signature(k) for k, t in types.items()})
    workflow = Workflow(grammar, {k: Kind(f":{k}") for k in types}, root / "wf.py",
                        types=types)

    def tasks(n: int) -> dict[str, Any]:
        words = [f"w{i}" for i in range(n)]

        async def split_task(io: TaskIO) -> None:
            await io.request("output", value=words)

        async def measure_task(io: TaskIO) -> None:
            await io.request("output", value=len(io.context["inputs"]["split"]))

        async def total_task(io: TaskIO) -> None:
            got = (await io.request("inputs"))["inputs"]["measure"]
            await io.request("output", value=got)
        return {"split": split_task, "measure": measure_task, "total": total_task}
    return workflow, {"tasks": tasks}


def plain_map(root: Path) -> tuple[Workflow, dict[str, Any]]:
    grammar = define("split, total, Each(split, total)", repeat_parallel("Each", "measure"))
    workflow = Workflow(grammar, {k: Kind(f":{k}") for k in ("split", "measure", "total")},
                        root / "wf.py")

    def tasks(n: int) -> dict[str, Any]:
        async def split_task(io: TaskIO) -> None:
            hole = io.holes and next(iter(io.holes))
            made = await io.request("expand", hole=hole, production="2")
            for _ in range(n - 1):
                made = await io.request("expand", hole=made["holes"][0], production="2")
            await io.request("expand", hole=made["holes"][0], production="1")
        return {"split": split_task}
    return workflow, {"tasks": tasks}


def run_map(make: Any, n: int) -> float:
    """CPU seconds of this process for one run of the map with ``n`` elements."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        workflow, extra = make(root)
        options = Options(max_parallel=8, logs=root / "logs")

        async def go() -> str:
            o = Orchestrator.start(Store(root / "gf.db"), workflow, options,
                                   executor=InProcessExecutor(extra["tasks"](n)))
            return await o.run()
        c = time.process_time()
        status = asyncio.run(go())
        spent = time.process_time() - c
        assert status == "succeeded", status
        return spent


def spawn_floor(times: int = 20) -> float:
    """Wall seconds of one ``python -c pass`` (the best of ``times``)."""
    best = float("inf")
    for _ in range(times):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.n
    run_map(typed_map, 10)  # warm up: imports, pydantic's first adapters
    run_map(plain_map, 10)
    typed = min(run_map(typed_map, n) for _ in range(args.repeat))
    plain = min(run_map(plain_map, n) for _ in range(args.repeat))
    floor = spawn_floor()
    per_typed, per_plain = typed / n * 1000, plain / n * 1000
    extra = per_typed - per_plain
    print(f"floor: one `python -c pass` spawn: {floor * 1000:.1f} ms")
    print(f"map of {n}, with data:    {per_typed:.3f} ms CPU per element "
          f"({per_typed / (floor * 1000):.2f} x floor)")
    print(f"map of {n}, without data: {per_plain:.3f} ms CPU per element "
          f"({per_plain / (floor * 1000):.2f} x floor)")
    verdict = "ok" if extra <= 1.0 else "OVER"
    print(f"data costs {extra:+.3f} ms per element ({extra / (floor * 1000):+.2f} x floor); "
          f"target <= 1 ms: {verdict}")


if __name__ == "__main__":
    main()
