"""A subgraph promise: A -> X -> B where X is N -> M or J -> K.

    grammarflow run examples/subgraph.py
"""

import os
import random

from grammarflow import define

grammar = define(
    "A, B, X(A, B)",
    "X(a, b) ::= a -> N -> M -> b | a -> J -> K -> b",
)


def A() -> None:
    from grammarflow import task

    choice = random.Random(os.environ.get("EXAMPLE_SEED")).choice(["1", "2"])
    task.expand(task.context().hole("X"), choice)


def N() -> None: ...
def M() -> None: ...
def J() -> None: ...
def K() -> None: ...
def B() -> None: ...
