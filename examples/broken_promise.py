"""Breaking a promise made at registration: the grammar allows A -> X -> B with X one
of two subgraphs, and task A tries to add a node that neither allows. The run ends as
broken-promise; the journal holds the refused message and why; nothing of it is in
the graph.

    grammarflow run examples/broken_promise.py      # exits 3
"""

from grammarflow import define

grammar = define("A, B, X(A, B)", "X(a, b) ::= a -> N -> M -> b | a -> J -> K -> b")


def A() -> None:
    from grammarflow import task

    task.add(tasks={"rogue": "Rogue"}, edges=[("A", "rogue"), ("rogue", "B")])


def N() -> None: ...
def M() -> None: ...
def J() -> None: ...
def K() -> None: ...
def B() -> None: ...
