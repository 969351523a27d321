"""Epigenomics as a grammar: a real workflow's shape, added by one task in one change.

The WfCommons Epigenomics workflow is lanes of ``fastqSplit -> chain* -> mapMerge``,
each chain ``filterContams -> sol2sanger -> fast2bfq -> map``, every lane's mapMerge into
one more mapMerge, then ``chr21 -> pileup``: a map (of chains) inside a map (of lanes).
Task ``plan`` sends a whole instance made by the WfCommons generator
(examples/wfcommons/) as one raw change, which the orchestrator explains as applications
of the productions below, whatever the order its tasks and edges are listed in.

    grammarflow run examples/epigenomics.py                      # 295 tasks, file order
    EXAMPLE_SIZE=2000 EXAMPLE_ORDER=shuffled grammarflow run examples/epigenomics.py
    EXAMPLE_MUTATE=1 grammarflow run examples/epigenomics.py     # exits 3: an edge between
                                                                 # two lanes' chains
"""

import gzip
import json
import os
import random
from pathlib import Path

from grammarflow import define

CHAIN = "s -> filterContams -> sol2sanger -> fast2bfq -> map -> m"
LANE = "a -> s:fastqSplit, m:mapMerge -> b, Chains(s, m)"
grammar = define("plan, Epigenomics(plan)", f"""
    Epigenomics(p;) ::= merged:mapMerge -> chr21 -> pileup, Lanes(p, merged)
    Lanes(a, b) ::= {LANE}, Lanes_more(a, b)
    Lanes_more(a, b) ::= [default] nothing | {LANE}, Lanes_more(a, b)
    Chains(s, m) ::= {CHAIN}, Chains_more(s, m)
    Chains_more(s, m) ::= [default] nothing | {CHAIN}, Chains_more(s, m)
""")

INSTANCES = Path(__file__).resolve().parent / "wfcommons"
ORDERS = ("file", "lanes", "shuffled")


def change(size: int = 300, order: str = "file", mutate: int = 0,
           sender: str = "plan") -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The instance of ``size`` tasks as one change sent by ``sender``: its tasks and
    edges (the sender before every fastqSplit), listed in the file's ``order``, lane by
    lane (depth first from the sender), or shuffled (seeded); ``mutate`` > 0 adds an edge
    from a filterContams to the sol2sanger of a chain in another lane (seeded by it)."""
    data = json.loads(gzip.decompress((INSTANCES / f"epigenomics-{size}.json.gz").read_bytes()))
    tasks: dict[str, str] = data["tasks"]
    edges = [(u, v) for u, v in data["edges"]]
    roots = set(tasks) - {v for _, v in edges}
    edges += [(sender, t) for t in tasks if t in roots]
    if mutate:
        edges.append(_mutant_edge(tasks, edges, random.Random(mutate)))
    if order == "lanes":
        names = _depth_first(sender, edges)
        rank = {name: i for i, name in enumerate(names)}
        tasks = {name: tasks[name] for name in names[1:]}
        edges.sort(key=lambda e: (rank[e[1]], rank[e[0]]))
    elif order == "shuffled":
        shuffled = list(tasks.items())
        random.Random(size).shuffle(shuffled)
        random.Random(size + 1).shuffle(edges)
        tasks = dict(shuffled)
    elif order != "file":
        raise ValueError(f"order {order!r}: expected one of {', '.join(ORDERS)}")
    return tasks, edges


def _mutant_edge(tasks: dict[str, str], edges: list[tuple[str, str]],
                 rnd: random.Random) -> tuple[str, str]:
    split = {v: u for u, v in edges if tasks.get(v) == "filterContams"}
    after = {u: v for u, v in edges if tasks.get(u) == "filterContams"}
    pairs = [(a, b) for a in sorted(split) for b in sorted(split) if split[a] < split[b]]
    if not pairs:
        raise ValueError("the instance has one lane: no edge can join two lanes' chains")
    a, b = rnd.choice(pairs)
    return a, after[b]


def _depth_first(root: str, edges: list[tuple[str, str]]) -> list[str]:
    succ: dict[str, list[str]] = {}
    for u, v in edges:
        succ.setdefault(u, []).append(v)
    seen, order, todo = {root}, [], [root]
    while todo:
        node = todo.pop()
        order.append(node)
        for nxt in reversed(succ.get(node, ())):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return order


def plan() -> None:
    from grammarflow import task

    tasks, edges = change(int(os.environ.get("EXAMPLE_SIZE", "300")),
                          os.environ.get("EXAMPLE_ORDER", "file"),
                          int(os.environ.get("EXAMPLE_MUTATE", "0")),
                          sender=task.context().task)
    task.log(f"adding the Epigenomics instance: {len(tasks)} tasks, {len(edges)} edges")
    task.add(tasks=tasks, edges=edges)


def fastqSplit() -> None: ...
def filterContams() -> None: ...
def sol2sanger() -> None: ...
def fast2bfq() -> None: ...
def map() -> None: ...  # the kind's name in Epigenomics, over the builtin
def mapMerge() -> None: ...
def chr21() -> None: ...
def pileup() -> None: ...
