"""Benchmark the runtime: per-task cost over a floor measured in the same run.

    .venv/bin/python bench/runtime.py            # chain of 500, fan-out of 1,000
    .venv/bin/python bench/runtime.py --quick    # a fifth of the size

Floor: N sequential spawns of a bare ``python -c pass`` through the same asyncio
subprocess calls the orchestrator uses. For each shape (a chain, a fan-out from one
task to N) and each way of running a task — a script (``tasks/noop.py``), a function
of the workflow file forked from the run's zygote, the same function spawned fresh
(``--no-zygote``) — two figures per task: *wall* = (wall time of the run - floor) / N,
and *cpu* = CPU time of the orchestrator and everything it started (its own, and its
children's once reaped: the zygote's forks included) / N, over the floor's. Targets
(issues 3 and 14): scripts at most 1 ms of orchestrator CPU over the floor; a function
task from the zygote cheaper than the floor itself (a fork beats a fresh interpreter);
`grammarflow run` of a one-task workflow in under 0.25 s. With Luigi installed, the
same chain of scripts through Luigi's local scheduler is timed too (optional).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from grammarflow.journal.store import Store
from grammarflow.runtime import Options, Orchestrator, use_pidfd_child_watcher
from grammarflow.workflow.checking import load_workflow

NOOP = "from grammarflow import task\n"
FAN = """
from grammarflow import task
n = {n}
task.add(tasks={{f"m{{i}}": "M" for i in range(n)}},
         edges=[e for i in range(n) for e in (("A", f"m{{i}}"), (f"m{{i}}", "B"))])
"""


def timed(fn: object, *args: object) -> tuple[float, float]:
    """(wall, cpu of this process and of its children reaped meanwhile) of fn(*args)."""
    w, c = time.perf_counter(), _cpu()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - w, _cpu() - c


def _cpu() -> float:
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def floor(n: int) -> None:
    asyncio.run(spawn_floor(n))


async def spawn_floor(n: int) -> float:
    use_pidfd_child_watcher()  # the same way of waiting for children as the runtime
    t0 = time.perf_counter()
    for _ in range(n):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "pass", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await proc.communicate()
    return time.perf_counter() - t0


def run_workflow(path: Path, db: Path, zygote: bool = True) -> None:
    wf = load_workflow(path)
    store = Store(db)
    o = Orchestrator.start(store, wf, Options(logs=db.parent / "logs", zygote=zygote))
    status = asyncio.run(o.run())
    assert status == "succeeded", status


def chain(root: Path, n: int, functions: bool) -> Path:
    (root / "noop.py").write_text(NOOP)
    names = " -> ".join(f"t{i}:t" for i in range(n))
    path = root / f"chain{'_f' if functions else ''}{n}.py"
    path.write_text(f"from grammarflow import define\ngrammar = define({names!r})\n"
                    + ("def t():\n    pass\n" if functions else "kinds = {'t': 'noop.py'}\n"))
    return path


def fan(root: Path, n: int, functions: bool) -> Path:
    (root / "noop.py").write_text(NOOP)
    (root / f"fan{n}.py").write_text(FAN.format(n=n))
    path = root / f"fan_wf{'_f' if functions else ''}{n}.py"
    head = ("from grammarflow import define, repeat_parallel\n"
            "grammar = define('A, B, Ms(A, B)', repeat_parallel('Ms', 'M'))\n")
    if functions:
        body = ("def A():\n    from grammarflow import task\n"
                + "".join(f"    {line}\n" for line in FAN.format(n=n).splitlines()[1:])
                + "def M():\n    pass\n\ndef B():\n    pass\n")
    else:
        body = f"kinds = {{'A': 'fan{n}.py', 'M': 'noop.py', 'B': 'noop.py'}}\n"
    path.write_text(head + body)
    return path


#: How a task runs: (label, function tasks?, zygote?)
WAYS = [("script", False, True), ("function, zygote", True, True),
        ("function, spawned", True, False)]


def measure(label: str, wf: Path, n: int, root: Path, zygote: bool) -> float:
    """Print the figures of one shape and way; return its CPU a task over the floor."""
    f_wall, f_cpu = timed(floor, n)
    wall, cpu = timed(run_workflow, wf, root / f"{wf.stem}-{zygote}.db", zygote)
    over = (cpu - f_cpu) / n * 1000
    print(f"{label:<34} {n:>5} tasks  run {wall:6.2f} s  floor {f_wall:6.2f} s "
          f"({f_wall / n * 1000:4.1f} ms/spawn)  per task over the floor: wall "
          f"{(wall - f_wall) / n * 1000:+7.2f} ms, cpu {over:+7.2f} ms"
          f"  ratio {wall / f_wall:5.2f}", flush=True)
    return over


def start_latency(root: Path, n: int = 100) -> None:
    """How long a function task takes to start — from ``executor.start()`` until its
    function runs (it prints ``time.perf_counter()``, one clock for every process on
    Linux) — and to come back (until its exit is known), medians of ``n``: forked from
    the zygote, spawned fresh, and the floor's ``python -c pass`` for scale."""
    import json
    import statistics

    from grammarflow.runtime.executor import Launch
    from grammarflow.runtime.zygote_executor import ZygoteExecutor
    from grammarflow.workflow.definition import Kind

    wf = root / "one_function.py"
    wf.write_text("import time\nfrom grammarflow import define\ngrammar = define('t')\n"
                  "def t():\n    print(time.perf_counter(), flush=True)\n")
    context = json.dumps({"db": "bench", "run": "0", "task": "t", "kind": "t", "owner": None})
    launch = Launch("t", "t", Kind(":t"), context, wf)

    async def go(executor: Any, count: int) -> tuple[list[float], list[float]]:
        use_pidfd_child_watcher()
        runs, ends = [], []
        for _ in range(count + 1):
            t0 = time.perf_counter()
            proc = await executor.start(launch)
            await proc.exited()
            ends.append(time.perf_counter() - t0)
            runs.append(float(await proc.stdout.readline()) - t0)
            await proc.stderr.read()
            proc.release()
        await executor.close()
        return runs[1:], ends[1:]  # the first one started the zygote

    floor_ms = asyncio.run(spawn_floor(20)) / 20 * 1000
    for label, executor, count in (("zygote", ZygoteExecutor(), n),
                                   ("spawned", ZygoteExecutor(fork=False), n // 10)):
        runs, ends = asyncio.run(go(executor, count))
        started = statistics.median(runs) * 1000
        verdict = (f"  target <= 3 ms: {'ok' if started <= 3 else 'MISSED'}"
                   if label == "zygote" else "")
        print(f"a function task, {label}: runs {started:6.2f} ms after its start, "
              f"its exit known after {statistics.median(ends) * 1000:6.2f} ms (medians of "
              f"{count}; a `python -c pass` takes {floor_ms:.1f} ms){verdict}", flush=True)


def luigi_chain(root: Path, n: int) -> None:
    try:
        import luigi  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        print("luigi: not installed (pip install luigi to time the same chain through it)")
        return
    (root / "luigi_chain.py").write_text(LUIGI.format(n=n, out=root / "luigi-out"))
    f_wall, _ = timed(floor, n)
    wall, _ = timed(subprocess.run, [sys.executable, str(root / "luigi_chain.py")])
    print(f"{'luigi, chain of scripts':<34} {n:>5} tasks  run {wall:6.2f} s  floor "
          f"{f_wall:6.2f} s  per task over the floor: wall {(wall - f_wall) / n * 1000:+7.2f}"
          f" ms  ratio {wall / f_wall:5.2f}")


LUIGI = """
import subprocess, sys, luigi
from pathlib import Path
OUT = Path({out!r}); OUT.mkdir(exist_ok=True)
class T(luigi.Task):
    i = luigi.IntParameter()
    def requires(self):
        return [T(i=self.i - 1)] if self.i else []
    def output(self):
        return luigi.LocalTarget(str(OUT / f"t{{self.i}}"))
    def run(self):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        self.output().open("w").close()
luigi.build([T(i={n} - 1)], local_scheduler=True, log_level="ERROR")
"""


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
        n_chain, width = 500 // scale, 1000 // scale
        over: dict[tuple[str, str], float] = {}
        for way, functions, zygote in WAYS:
            over["chain", way] = measure(f"chain, {way}", chain(root, n_chain, functions),
                                         n_chain, root, zygote)
            over["fan", way] = measure(f"fan-out to {width}, {way}",
                                       fan(root, width, functions), width + 2, root, zygote)
        extra = [over[shape, "function, spawned"] - over[shape, "script"]
                 for shape in ("chain", "fan")]
        print(f"a function task spawned fresh over a script task (CPU a task): chain "
              f"{extra[0]:+.2f} ms, fan-out {extra[1]:+.2f} ms  target <= 5 ms: "
              f"{'ok' if max(extra) <= 5 else 'MISSED'}")
        start_latency(root)
        luigi_chain(root, n_chain)
        best = startup(root)
        print(f"startup: `grammarflow run` of a one-task workflow: {best * 1000:.0f} ms "
              f"(best of 5)  target < 250 ms: {'ok' if best < 0.25 else 'MISSED'}")


if __name__ == "__main__":
    main()
