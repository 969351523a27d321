"""A loop: step runs again and again, each time deciding whether another follows it;
at most 100 times, a promise.

    grammarflow run examples/loop.py        # EXAMPLE_ITERATIONS steps (default 3)

The loop is a recursive production, unrolled as it runs into fresh task instances:
``Loop(a, b) ::= [default] a -> b | [if depth <= 100] a -> step, Loop(step, b)``. Each
step takes the count so far from the step before it (its input is named after it) and
expands the hole after it to go round again. With EXAMPLE_ITERATIONS=101 the 100th
step asks for a 101st, and the run is broken by the bound (EXAMPLE_BOUND sets another
bound). EXAMPLE_DELAY makes each step take that many seconds: time enough to
`grammarflow pause 1` from another terminal, then `grammarflow unpause 1`.
"""

import os
import time

from grammarflow import define, repeat_series

BOUND = int(os.environ.get("EXAMPLE_BOUND", "100"))
grammar = define("start, finish, Loop(start, finish)",
                 repeat_series("Loop", "step", at_most=BOUND))
ITERATIONS = int(os.environ.get("EXAMPLE_ITERATIONS", "3"))


def start() -> None:
    from grammarflow import task

    task.expand(task.context().hole("Loop"), "2")  # the first step


def step(step: int = 0) -> int:
    n = step + 1  # the step before this one said how many ran before it
    time.sleep(float(os.environ.get("EXAMPLE_DELAY", "0")))
    if n < ITERATIONS:
        from grammarflow import task

        task.expand(task.context().hole("Loop"), "2")  # go round again
    return n


def finish(step: int) -> int:
    return step
