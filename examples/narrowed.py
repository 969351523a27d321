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

    # The promise, narrowed: the open hole becomes an OnlyM hole after start.
    task.refine("Dyn.1", edges=[("start", "end")], holes=[("OnlyM", ["start"])],
                types=[ONLY_M])
    task.expand("OnlyM.1", "2")  # the first M


def M() -> None:
    from grammarflow import task

    me = task.context().task  # OnlyM.k/M; the hole after it is OnlyM.{k+1}
    k = int(me.split("/")[0].split(".")[1])
    if k < 3:
        task.expand(f"OnlyM.{k + 1}", "2")  # one more M after this one
    elif os.environ.get("EXAMPLE_BREAK"):
        task.add(tasks={"q": "Q"}, edges=[(me, "q")])  # not promised: only Ms may follow


def end() -> None:
    print("end")
