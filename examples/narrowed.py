"""In between, promised at run time: the workflow starts fully open between `start` and
`end`, and `start` narrows it: "from here on, only M nodes, one after another, and no
edge into `end`". Later tasks stay within that promise; with EXAMPLE_BREAK=1 the last M
tries to add a Q, and the run is terminated with the exact reason.

    start ──> end                  (end still waits for start)
    start ──> M ──> M ──> M        (the Ms, each deciding whether another follows)

    grammarflow run examples/narrowed.py
"""

import os

from grammarflow import define

grammar = define("start, end, Dyn(start, end)", "Dyn(a; b) ::= *")

ONLY_M = "OnlyM(a) ::= [default] nothing | a -> M, OnlyM(M)"


def start() -> None:
    from grammarflow import task

    # The promise, narrowed: the open hole after start becomes an OnlyM hole.
    made = task.refine(task.context().hole("Dyn"), edges=[("start", "end")],
                       holes=[("OnlyM", ["start"])], types=[ONLY_M])
    task.expand(made["holes"][0], "2", attrs={"M": {"n": 1}})  # the first M


def M() -> None:
    from grammarflow import task

    ctx = task.context()  # attrs say which M this is; the hole after it is its OnlyM
    n = ctx.attrs["n"]
    if n < 3:
        task.expand(ctx.hole("OnlyM"), "2", attrs={"M": {"n": n + 1}})  # one more M
    elif os.environ.get("EXAMPLE_BREAK"):
        task.add(tasks={"q": "Q"}, edges=[(ctx.task, "q")])  # not promised: only Ms


def end() -> None:
    print("end")
