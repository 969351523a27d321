"""Benchmark container tasks against a bare ``podman run --rm IMAGE true``, side by side.

    .venv/bin/python bench/containers.py            # a chain of 20, a fan of 1 -> 50
    .venv/bin/python bench/containers.py --quick    # a chain of 8, a fan of 1 -> 20

Needs podman and the image ``bash dev.sh test`` builds (and its CONTAINERS_CONF; taken
from .venv/ when not set). The floor is the engine alone: ``podman run --rm IMAGE true``
N times in a row, and N times in a pool of 4 (threads, each waiting for one run). The
workflows run container tasks whose command is ``true`` too, through the orchestrator
in this process:

* a chain of N: *wall* = (the run's wall - the floor's) / N, and *own CPU* = the CPU this
  process spent (the orchestrator's own: the engine's client and the container are
  children, as in the floor) / N, each as a share of one bare run's wall;
* a fan of 1 -> N (a local script adds N container tasks) at ``--max-parallel 4``:
  the run's wall over the pool's.

Floor and workflow alternate, three rounds; the figures are medians. Targets (issue 26):
the orchestrator's own cost under 10% of a bare run; the fan within 1.2x of the pool.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grammarflow.journal.store import Store
from grammarflow.runtime import Options, Orchestrator
from grammarflow.workflow.checking import load_workflow

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/grammarflow/python3:test"
POOL = 4
KIND = f"Kind(image={IMAGE!r}, command=['true'])"
FAN = """
from grammarflow import task
task.add(tasks={{f"m{{i}}": "M" for i in range({n})}},
         edges=[e for i in range({n}) for e in (("A", f"m{{i}}"), (f"m{{i}}", "B"))])
"""


def bare(n: int, pool: int) -> float:
    """Wall seconds of ``n`` bare runs, ``pool`` at a time."""
    argv = ["podman", "run", "--rm", IMAGE, "true"]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(pool) as threads:
        list(threads.map(lambda _: subprocess.run(argv, check=True), range(n)))
    return time.perf_counter() - t0


def run_workflow(path: Path, db: Path, parallel: int) -> tuple[float, float]:
    """(wall, this process's own CPU) of one run of ``path``."""
    wf = load_workflow(path)
    store = Store(db)
    options = Options(max_parallel=parallel, logs=db.parent / "logs", engine="podman")
    t0, c0 = time.perf_counter(), _own_cpu()
    status = asyncio.run(Orchestrator.start(store, wf, options).run())
    wall, cpu = time.perf_counter() - t0, _own_cpu() - c0
    assert status == "succeeded", status
    return wall, cpu


def _own_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def chain(root: Path, n: int) -> Path:
    names = " -> ".join(f"t{i}:t" for i in range(n))
    path = root / f"chain{n}.py"
    path.write_text(f"from grammarflow import Kind, define\ngrammar = define({names!r})\n"
                    f"kinds = {{'t': {KIND}}}\n")
    return path


def fan(root: Path, n: int) -> Path:
    (root / "noop.py").write_text("pass\n")
    (root / f"fan{n}.py").write_text(FAN.format(n=n))
    path = root / f"fan_wf{n}.py"
    path.write_text("from grammarflow import Kind, define, repeat_parallel\n"
                    "grammar = define('A, B, Ms(A, B)', repeat_parallel('Ms', 'M'))\n"
                    f"kinds = {{'A': 'fan{n}.py', 'M': {KIND}, 'B': 'noop.py'}}\n")
    return path


def measure_chain(root: Path, n: int, rounds: int) -> None:
    floors, walls, cpus = [], [], []
    for r in range(rounds):
        floors.append(bare(n, 1))
        wall, cpu = run_workflow(chain(root, n), root / f"chain-{r}.db", 1)
        walls.append(wall)
        cpus.append(cpu)
    one = statistics.median(floors) / n
    over = (statistics.median(walls) - statistics.median(floors)) / n
    own = statistics.median(cpus) / n
    print(f"chain of {n} container tasks: a bare `podman run --rm IMAGE true` "
          f"{one * 1000:.0f} ms; per task through grammarflow: wall {over * 1000:+.1f} ms "
          f"({over / one:+.1%}), the orchestrator's own CPU {own * 1000:.1f} ms "
          f"({own / one:.1%} of a bare run; target < 10%: "
          f"{'ok' if own / one < 0.10 else 'MISSED'})", flush=True)


def measure_fan(root: Path, n: int, rounds: int) -> None:
    floors, walls = [], []
    for r in range(rounds):
        floors.append(bare(n, POOL))
        walls.append(run_workflow(fan(root, n), root / f"fan-{r}.db", POOL)[0])
    ratio = statistics.median(walls) / statistics.median(floors)
    print(f"fan 1 -> {n} container tasks at --max-parallel {POOL}: "
          f"{statistics.median(walls):.2f} s; {n} bare runs in a pool of {POOL}: "
          f"{statistics.median(floors):.2f} s; ratio {ratio:.2f} (target <= 1.2: "
          f"{'ok' if ratio <= 1.2 else 'MISSED'})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    conf = ROOT / ".venv" / "containers.conf"
    if "CONTAINERS_CONF" not in os.environ and conf.exists():
        os.environ["CONTAINERS_CONF"] = str(conf)
    if subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
        sys.exit(f"no image {IMAGE}: `bash dev.sh test` builds it")
    chain_n, fan_n = (8, 20) if args.quick else (20, 50)
    with tempfile.TemporaryDirectory() as tmp:
        measure_chain(Path(tmp), chain_n, 3)
        measure_fan(Path(tmp), fan_n, 3)


if __name__ == "__main__":
    main()
