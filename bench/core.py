"""Benchmark the grammar core: expansions and raw-diff checks, against a floor.

    .venv/bin/python bench/core.py            # full size (100,000 expansions)
    .venv/bin/python bench/core.py --quick    # a tenth of the size

The floor, measured in the same run, is building the same tasks and edges with bare
dicts and sets (what any graph store must do at least). Ratios to it, and the ratio
of per-diff cost at 1,000 vs 100,000 nodes, are what to compare across machines.
Targets (issue 2): 100,000 expansions under 2 s on one core; the per-diff cost at
100,000 nodes within 2x of that at 1,000.

Big raw diffs: one diff that adds a whole map (``A -> M* -> B``, n new tasks, 2n
edges) is searched, then applied; the same diff missing its last edge is refused.
Target: the search of a 10,000-task diff under 0.2 s, linear in n (its ratio to the
floor stays put from 10,000 to 100,000). The 100,000-task diff also runs as a task's
change would (``add`` with its defaults, garbage collector on): accepted, or refused
within the 5 s deadline.

A real workflow's shape (issue 24): the 2,000-task WfCommons Epigenomics instance of
examples/wfcommons/ (lanes of chains: a map of maps) as one raw change, listed in the
file's order, lane by lane, and shuffled; and with one edge between two lanes' chains.
Target: accepted in < 2 s in every order, the mutant refused in < 2 s naming the edge.

Constraints (issue 15): a Montage-shaped change (two P, a D after both) grown through
an open hole attached everywhere that promises ``only P, D; at most 10**6 P; no edges
into s; each D has 2 P before``, on runs of 1,000 and 10,000 tasks. Target: the cost
per checked change independent of the run's size (ratio <= 2), and a small overhead
over the same hole without constraints.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import time
from pathlib import Path
from typing import Any

from grammarflow import (
    BrokenPromise,
    Diff,
    Expand,
    Fragment,
    Grow,
    TaskSpec,
    add,
    define,
    repeat_parallel,
)
from grammarflow.core.match import diff_of, plan


def floor(n: int) -> float:
    """Seconds to insert n tasks with two edges each into plain dicts and sets."""
    t0 = time.perf_counter()
    tasks: dict[str, str] = {"A": "A", "B": "B"}
    succ: dict[str, set[str]] = {"A": set(), "B": set()}
    pred: dict[str, set[str]] = {"A": set(), "B": set()}
    for i in range(n):
        tid = f"Ms_more.{i}/M"
        tasks[tid] = "M"
        succ[tid] = {"B"}
        pred[tid] = {"A"}
        succ["A"].add(tid)
        pred["B"].add(tid)
    return time.perf_counter() - t0


def expansions(n: int) -> tuple[float, object]:
    """Seconds to expand the map hole n times (one Expand step each)."""
    d = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M")).derivation()
    hole = "Ms.1"
    t0 = time.perf_counter()
    applied = d.apply(Expand(hole, "2"))
    for _ in range(n - 1):
        applied = d.apply(Expand(applied.holes[0], "2"))
    return time.perf_counter() - t0, d


def diffs_at(size: int, count: int) -> float:
    """Seconds per raw diff (one new M between A and B) on a graph of `size` tasks."""
    _, d = expansions(size)
    diffs = [Diff((TaskSpec(f"m{i}", "M"),), (("A", f"m{i}"), (f"m{i}", "B")))
             for i in range(count)]
    gc.collect()
    t0 = time.perf_counter()
    for diff in diffs:
        add(d, diff)  # type: ignore[arg-type]
    return (time.perf_counter() - t0) / count


def map_diff(n: int, *, last_edge: bool = True) -> Diff:
    """One raw diff adding n Ms between A and B (tasks first, then edges)."""
    edges = [e for i in range(n) for e in (("A", f"m{i}"), (f"m{i}", "B"))]
    return Diff(tuple(TaskSpec(f"m{i}", "M") for i in range(n)),
                tuple(edges if last_edge else edges[:-1]))


def big_diff(n: int, *, last_edge: bool = True) -> tuple[float, float]:
    """Seconds to search one n-task map diff, and to apply what the search found
    (0 if refused: then the first figure is the time to refuse)."""
    d = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M")).derivation()
    diff = map_diff(n, last_edge=last_edge)
    gc.collect()  # what earlier runs left, even while the collector is off
    t0 = time.perf_counter()
    try:
        found = plan(d, diff, deadline=None)
    except BrokenPromise:
        if last_edge:
            raise
        return time.perf_counter() - t0, 0.0
    t1 = time.perf_counter()
    assert last_edge, "a diff missing an edge was accepted"
    found.apply()
    return t1 - t0, time.perf_counter() - t1


def as_a_task_would(n: int) -> None:
    """``add`` with its defaults (5 s deadline, garbage collector on), timed whole."""
    d = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M")).derivation()
    diff = map_diff(n)
    gc.collect()
    t0 = time.perf_counter()
    try:
        add(d, diff)
        outcome = "accepted"
    except BrokenPromise as e:
        outcome = f"refused ({e.reason[:60]}...)"
    took = time.perf_counter() - t0
    print(f"raw:    {n:,}-task map, add() as a task's change would, gc on: {outcome} in "
          f"{took:.2f} s")


def big_diffs(scale: int, floor_each: float) -> None:
    """Big raw diffs, against the floor's cost of one task (``floor_each`` seconds)."""
    sizes = (10_000 // scale, 100_000 // scale)
    gc.disable()
    ratios = []
    for n in sizes:
        search, apply = min(big_diff(n) for _ in range(5 if n <= 10_000 else 1))
        ratios.append(search / (n * floor_each))
        target = (f"  target < 0.2 s: {'ok' if search < 0.2 else 'MISSED'}"
                  if n == 10_000 else "")
        print(f"raw:    {n:,}-task map, one diff: search {search:6.3f} s "
              f"({search / n * 1e6:5.2f} us a task, {ratios[-1]:4.1f}x floor), "
              f"apply {apply:6.3f} s ({apply / (n * floor_each):4.1f}x floor){target}")
    print(f"raw:    search per task at {sizes[1]:,} / at {sizes[0]:,} = "
          f"{ratios[1] / ratios[0]:4.2f}  (linear: about 1)")
    n = sizes[0]
    refused = min(big_diff(n, last_edge=False)[0] for _ in range(5))
    print(f"raw:    {n:,}-task map missing its last edge: refused in {refused:6.3f} s "
          f"({refused / (n * floor_each):4.1f}x floor)")
    gc.enable()
    as_a_task_would(sizes[1])


MONTAGE = "only P, D; at most 1000000 P; no edges into s; each D has 2 P before"


def constrained_changes(size: int, count: int, constraints: str | None) -> float:
    """Seconds per Montage-shaped Grow (checked) on a run of ``size`` tasks."""
    rule = "Any(*) ::= *" + (f" where {constraints}" if constraints else "")
    d = define("s, Any(*)", rule).derivation()

    def change(i: int) -> Grow:
        return Grow("Any.1", Fragment(
            (TaskSpec(f"p{i}", "P"), TaskSpec(f"q{i}", "P"), TaskSpec(f"d{i}", "D")), (),
            ((f"p{i}", f"d{i}"), (f"q{i}", f"d{i}"))))

    for i in range(size // 3):
        d.apply(change(i))
    changes = [change(size + i) for i in range(count)]
    gc.collect()
    t0 = time.perf_counter()
    for step in changes:
        d.apply(step)
    return (time.perf_counter() - t0) / count


def constraints_bench(count: int) -> None:
    t = {(size, c is not None): min(constrained_changes(size, count, c) for _ in range(3))
         for size in (1_000, 10_000) for c in (MONTAGE, None)}
    for size in (1_000, 10_000):
        print(f"constr: {count:,} checked changes at {size:,} tasks  {t[size, True] * 1e6:7.1f} "
              f"us each ({t[size, True] / t[size, False]:4.2f}x the same hole unconstrained)")
    ratio = t[10_000, True] / t[1_000, True]
    print(f"constr: per-change cost ratio 10,000 / 1,000 tasks = {ratio:4.2f}  "
          f"target <= 2: {'ok' if ratio <= 2 else 'MISSED'}")


def epigenomics() -> Any:
    """examples/epigenomics.py: its grammar, and its WfCommons instances as changes."""
    path = Path(__file__).resolve().parents[1] / "examples" / "epigenomics.py"
    spec = importlib.util.spec_from_file_location("epigenomics_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def real_shapes(floor_each: float) -> None:
    """The Epigenomics change in each listing order, and its mutant (see the doc)."""
    epi = epigenomics()
    for order in epi.ORDERS:
        tasks, edges = epi.change(2000, order)
        diff = diff_of(tasks, edges)
        best = float("inf")
        for _ in range(3):
            d = epi.grammar.derivation()
            t0 = time.perf_counter()
            plan(d, diff, deadline=None).apply()
            best = min(best, time.perf_counter() - t0)
        n = len(tasks)
        print(f"real:   Epigenomics, {n:,} tasks in {order} order: accepted in {best:6.3f} s "
              f"({best / n / floor_each:5.0f}x floor a task)  target < 2 s: "
              f"{'ok' if best < 2 else 'MISSED'}")
    for order in epi.ORDERS:
        tasks, edges = epi.change(2000, order, mutate=1)
        (u, v), = set(edges) - set(epi.change(2000, order)[1])
        t0 = time.perf_counter()
        try:
            plan(epi.grammar.derivation(), diff_of(tasks, edges), deadline=None)
            verdict = "ACCEPTED (a bug)"
        except BrokenPromise as e:
            named = f"not produced: edge {u} -> {v} " in e.reason
            verdict = "refused, the edge named" if named else "refused, the edge NOT named"
        took = time.perf_counter() - t0
        print(f"real:   ... with an edge between two lanes, {order} order: {verdict} in "
              f"{took:6.3f} s  target < 2 s: {'ok' if took < 2 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the size")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    n = 100_000 // scale
    count = 10_000 // scale

    # Best of three: this is a shared VM, where a run can lose 2x to a neighbour.
    gc.disable()
    base = min(floor(n) for _ in range(3))
    took = min(expansions(n)[0] for _ in range(3))
    gc.enable()
    per = took / n * 1e6
    print(f"floor: {n:,} bare inserts           {base:7.3f} s  ({base / n * 1e6:5.2f} us each)")
    verdict = "ok" if took < 2 * n / 100_000 else "MISSED"
    print(f"expand: {n:,} expansions           {took:7.3f} s  ({per:5.2f} us each, "
          f"{took / base:4.1f}x floor)  target < 2 s: {verdict}")

    small, large = 1_000, n
    t_small = min(diffs_at(small, count) for _ in range(2))
    t_large = min(diffs_at(large, count) for _ in range(2))
    ratio = t_large / t_small
    print(f"add:    {count:,} raw diffs at {small:,} nodes    {t_small * 1e6:7.1f} us each")
    print(f"add:    {count:,} raw diffs at {large:,} nodes  {t_large * 1e6:7.1f} us each")
    print(f"add:    per-diff cost ratio {large:,} / {small:,} nodes = {ratio:4.2f}  "
          f"target <= 2: {'ok' if ratio <= 2 else 'MISSED'}")
    big_diffs(scale, base / n)
    real_shapes(base / n)
    constraints_bench(count)


if __name__ == "__main__":
    main()
