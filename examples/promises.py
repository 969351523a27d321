"""The six promises of the brief, each a constraint on one open hole
(docs/constraints.md). The workflow is always

    start ──> A        and an open hole Dyn after start and A, before B
                       (Dyn(s, a; b): s is start, a is A, b is B)

and EXAMPLE_PROMISE picks what Dyn promises; `start` then grows the hole with one raw
change (`task.add`) that keeps the promise, or, with EXAMPLE_BREAK=1, one that breaks
it: the run ends broken (exit 3) with the constraint named in its reason.

    EXAMPLE_PROMISE      the constraint              kept by              broken by
    no_new_tasks         no new tasks                edge A -> B          a new task
    no_new_edges         no new edges                a task, no edges     an edge start -> m
    only_edges           only s -> M, M -> b         start -> m -> B      an edge A -> m
    only_kinds           only M, N                   an M and an N        a K
    no_edges_from_a      no edges from a             start -> m -> B      an edge A -> m
    no_edges_into_b      no edges into b             start -> m, A -> m   an edge m -> B

    EXAMPLE_PROMISE=only_kinds grammarflow run examples/promises.py
    EXAMPLE_PROMISE=only_kinds EXAMPLE_BREAK=1 grammarflow run examples/promises.py  # exits 3
"""

import os

from grammarflow import define

#: promise -> (its constraint, the change that keeps it, the change that breaks it);
#: a change is (tasks {name: kind}, edges), "start", "A" and "B" the fixed tasks.
PROMISES = {
    "no_new_tasks": ("no new tasks",
                     ({}, [("A", "B")]),
                     ({"m": "M"}, [("A", "m")])),
    "no_new_edges": ("no new edges",
                     ({"m": "M"}, []),  # a task alone: it grows in the open hole
                     ({"m": "M"}, [("start", "m")])),
    "only_edges": ("only s -> M, M -> b",
                   ({"m": "M"}, [("start", "m"), ("m", "B")]),
                   ({"m": "M"}, [("start", "m"), ("A", "m"), ("m", "B")])),
    "only_kinds": ("only M, N",
                   ({"m": "M", "n": "N"}, [("start", "m"), ("m", "n"), ("n", "B")]),
                   ({"m": "M", "k": "K"}, [("start", "m"), ("m", "k")])),
    "no_edges_from_a": ("no edges from a",
                        ({"m": "M"}, [("start", "m"), ("m", "B")]),
                        ({"m": "M"}, [("start", "m"), ("A", "m")])),
    "no_edges_into_b": ("no edges into b",
                        ({"m": "M"}, [("start", "m"), ("A", "m")]),
                        ({"m": "M"}, [("start", "m"), ("m", "B")])),
}

PROMISE = os.environ.get("EXAMPLE_PROMISE", "only_kinds")
CONSTRAINT, KEEP, BREAK = PROMISES[PROMISE]

grammar = define("start -> A, B, Dyn(start, A, B)", f"Dyn(s, a; b) ::= * where {CONSTRAINT}")


def start() -> None:
    from grammarflow import task

    tasks, edges = BREAK if os.environ.get("EXAMPLE_BREAK") else KEEP
    task.add(tasks=tasks, edges=edges)  # the open hole takes them (next to these edges)


def A() -> None: ...
def B() -> None: ...
def M() -> None: ...
def N() -> None: ...
def K() -> None: ...
