"""Random branch: the final DAG is always start -> A -> end or start -> B -> end.

    grammarflow run examples/random_branch.py
"""

import os
import random

from grammarflow import define

grammar = define(
    "start, end, X(start, end)",
    "X(a, b) ::= [left] a -> A -> b | [right] a -> B -> b",
)


def start() -> None:
    from grammarflow import task

    side = random.Random(os.environ.get("EXAMPLE_SEED")).choice(["left", "right"])
    task.expand(task.context().hole("X"), side)  # the hole after this task: X.1


def A() -> None:
    print("took the left branch")


def B() -> None:
    print("took the right branch")


def end() -> None:
    pass
