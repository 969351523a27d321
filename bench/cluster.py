"""Tasks on a Dask cluster: a 1 -> N fan of no-op function tasks through grammarflow,
side by side with the same N processes started by plain `client.map`.

    .venv/bin/python bench/cluster.py         # N = 1000, a LocalCluster of 2 workers

One LocalCluster of 2 worker processes (8 threads each) serves both. Plain Dask starts
each task's process (the very command line grammarflow gives a function task) and
waits for it — no grammar, no journal. grammarflow runs the fan with `--dask ADDRESS
--max-parallel 16`, every step checked and journaled, each task's pipes relayed through
Dask queues. Then the same fan on this machine (the zygote, `--max-parallel 16`). The
orchestrator's own CPU is read from /proc while it runs (its children not counted).
Targets: at least half plain Dask's tasks/s; the orchestrator's CPU per task within 2x
of the local executor's.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
PARALLEL = 16
FAN = '''
from grammarflow import define, task

grammar = define("root, Fan(root)", "Fan(a; ) ::= *")


def root() -> None:
    me = task.context().task
    width = {n}
    task.add(tasks={{f"n{{i}}": "noop" for i in range(width)}},
             edges=[(me, f"n{{i}}") for i in range(width)])


def noop() -> None:
    pass
'''


def run_process(argv: list[str], env: dict[str, str], cwd: str) -> int:
    """Plain Dask's task: start the process, wait for it."""
    return subprocess.run(argv, env={**os.environ, **env}, cwd=cwd, check=False,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode


def own_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` itself (utime + stime), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def grammarflow_run(root: Path, name: str, *extra: str) -> tuple[float, float]:
    """(wall seconds, the orchestrator's own CPU seconds) of the fan run."""
    t0 = time.perf_counter()
    out = root / f"{name}.json"  # a file: a pipe nobody reads meanwhile would fill up
    with out.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "grammarflow", "run", "fan.py", "--db",
                                 str(root / f"{name}.db"), "--json", "--max-parallel",
                                 str(PARALLEL), *extra], cwd=root, stdout=sink,
                                stderr=subprocess.DEVNULL)
    cpu = 0.0
    while proc.poll() is None:
        assert time.perf_counter() - t0 < 600, "the run did not end within 10 minutes"
        with contextlib.suppress(OSError, IndexError):  # it ended meanwhile
            cpu = own_cpu(proc.pid)
        time.sleep(0.02)
    wall = time.perf_counter() - t0
    view = json.loads(out.read_text())
    assert view["status"] == "succeeded" and len(view["tasks"]) == N + 1, view["status"]
    return wall, cpu


def main() -> None:
    from distributed import Client, LocalCluster

    from grammarflow.workflow.definition import CALL

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "fan.py").write_text(FAN.format(n=N))
        with LocalCluster(n_workers=2, threads_per_worker=8, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            argv = [sys.executable, "-c", CALL, str(root / "fan.py"), "noop"]
            env = {"GRAMMARFLOW_TASK": json.dumps({"db": "", "run": "0", "task": "n0",
                                                   "kind": "noop", "attempt": 1})}
            client.gather(client.map(run_process, [argv] * 20, [env] * 20, [tmp] * 20,
                                     pure=False))  # warm up the workers
            t0 = time.perf_counter()
            codes = client.gather(client.map(run_process, [argv] * N, [env] * N, [tmp] * N,
                                             pure=False))
            plain = time.perf_counter() - t0
            assert set(codes) == {0}, set(codes)
            dask_wall, dask_cpu = grammarflow_run(root, "dask", "--dask",
                                                  cluster.scheduler_address)
        local_wall, local_cpu = grammarflow_run(root, "local")
    print(f"a 1 -> {N} fan of no-op function tasks, a LocalCluster of 2 workers x 8 threads")
    print(f"plain client.map of the same {N} processes: {plain:.1f} s, {N / plain:.0f} tasks/s")
    print(f"grammarflow on Dask (--max-parallel {PARALLEL}): {dask_wall:.1f} s, "
          f"{N / dask_wall:.0f} tasks/s = {plain / dask_wall:.2f} of plain Dask's (target >= 0.5)")
    print(f"grammarflow on this machine (the zygote): {local_wall:.1f} s, "
          f"{N / local_wall:.0f} tasks/s")
    print(f"the orchestrator's own CPU a task: on Dask {dask_cpu / N * 1000:.2f} ms, local "
          f"{local_cpu / N * 1000:.2f} ms = x{dask_cpu / local_cpu:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
