"""Random map: the final DAG is always A -> M* -> B, with M repeated n >= 0 times.

Task A decides n at run time (seeded by EXAMPLE_SEED if set) and adds the Ms as one
raw change, which the orchestrator explains as applications of the map's productions.
The repetition is an ordinary pair of productions built by `repeat_parallel`:

    Ms(a, b)      ::= [default] a -> b | a -> M -> b, Ms_more(a, b)
    Ms_more(a, b) ::= [default] nothing | a -> M -> b, Ms_more(a, b)

    grammarflow run examples/random_map.py
"""

import os
import random

from grammarflow import define, repeat_parallel

grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))


def A() -> None:
    from grammarflow import task

    ctx = task.context()
    n = random.Random(os.environ.get("EXAMPLE_SEED")).randint(0, 5)
    task.log(f"mapping over {n} item(s)")
    if n == 0:
        task.expand(ctx.hole("Ms"), "1")  # nothing to map: keep the order A -> B
        return
    task.add(tasks={f"m{i}": "M" for i in range(n)},
             edges=[e for i in range(n) for e in ((ctx.task, f"m{i}"), (f"m{i}", "B"))],
             attrs={f"m{i}": {"item": i} for i in range(n)})


def M() -> None:
    from grammarflow import task

    ctx = task.context()
    print(f"{ctx.task}: working on item {ctx.attrs['item']}")


def B() -> None:
    from grammarflow import task

    print(f"B, after {', '.join(task.context().after)}: every M is done")
