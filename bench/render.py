"""Benchmark the picture of a 10,000-task run (issue 4: "renders in a few seconds").

    .venv/bin/python bench/render.py [--quick]

Builds, through the core, a finished map of 10,000 Ms (siblings: they collapse into
one `M ×10000` node) and a chain of 10,000 tasks (nothing to collapse), then times
`to_dot` and the real `dot` rendering to SVG; then maps of 500 and 2,000 drawn
uncollapsed (issue 14: under 2 s). The floor, measured in the same run, is
`dot` laying out a 3-node graph (the binary's own start-up).
"""

from __future__ import annotations

import argparse
import time

from grammarflow import Expand, define, repeat_parallel
from grammarflow.picture.render import Picture, render, to_dot


def timed(label: str, fn, floor: float | None = None):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    took = time.perf_counter() - t0
    ratio = f"  ({took / floor:5.1f}x the floor)" if floor else ""
    print(f"{label:<44} {took:7.3f} s{ratio}")
    return out, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    n = 1_000 if parser.parse_args().quick else 10_000

    tiny = define("a -> b -> c", [])
    _, floor = timed("floor: dot on 3 nodes", lambda: render(
        to_dot(tiny.derivation().graph, tiny, Picture(legend=False)), "svg"))

    g = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    d = g.derivation()
    applied = d.apply(Expand("Ms.1", "2"))
    for _ in range(n - 1):
        applied = d.apply(Expand(applied.holes[0], "2"))
    dot, _ = timed(f"map of {n:,}: to_dot (collapsed)", lambda: to_dot(d.graph, g))
    _, took = timed(f"map of {n:,}: dot -> svg", lambda: render(dot, "svg"), floor)

    names = " -> ".join(f"t{i}:t" for i in range(n))
    c = define(names, [])
    cd = c.derivation()
    dot, _ = timed(f"chain of {n:,}: to_dot", lambda: to_dot(cd.graph, c))
    _, chain_took = timed(f"chain of {n:,}: dot -> svg", lambda: render(dot, "svg"), floor)
    print(f"target 'a few seconds' for {n:,} tasks: map {'ok' if took < 5 else 'MISSED'}, "
          f"chain {'ok' if chain_took < 5 else 'MISSED'}")

    # issue 14: a map drawn uncollapsed, every sibling its own node, with outputs
    for wide in (500, 2_000):
        w = g.derivation()
        step = w.apply(Expand("Ms.1", "2"))
        for _ in range(wide - 1):
            step = w.apply(Expand(step.holes[0], "2"))
        w.apply(Expand(step.holes[0], "1"))
        for tid in w.graph.tasks:
            w.graph.set_output(tid, len(tid))
        dot = to_dot(w.graph, g, Picture(collapse_above=10 ** 9))
        _, wide_took = timed(f"map of {wide:,}, uncollapsed: dot -> svg",
                             lambda dot=dot: render(dot, "svg"), floor)
    print(f"target: 2,000 uncollapsed under 2 s: {'ok' if wide_took < 2 else 'MISSED'}")


if __name__ == "__main__":
    main()
