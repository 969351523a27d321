"""A second, deliberately naive implementation of expansion, on the JSON forms only.

The soundness tests replay every accepted step here and compare with what the real
core produced: two implementations that must agree (differential testing). It reads
DESIGN.md directly: task ids ``<hole>/<local>``; hole ids a function of the derivation
tree (:func:`child_id`); parameters bound to the hole's attachment in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx


@dataclass
class Model:
    tasks: dict[str, str] = field(default_factory=dict)  # id -> kind
    edges: set[tuple[str, str]] = field(default_factory=set)
    holes: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: dict[str, Any]) -> Model:
        return cls({t["id"]: t["kind"] for t in graph["tasks"]},
                   {(u, v) for u, v in graph["edges"]},
                   {h["id"]: (h["type"], tuple(h["args"])) for h in graph["holes"]})

    def same_shape(self, graph: dict[str, Any]) -> bool:
        other = Model.of(graph)
        return (self.tasks, self.edges, self.holes) == (other.tasks, other.edges, other.holes)


def allowed(grammar: dict[str, Any], graph: dict[str, Any], hole_id: str) -> set[str]:
    hole = next(h for h in graph["holes"] if h["id"] == hole_id)
    htype = next(t for t in grammar["types"] if t["name"] == hole["type"])
    names = {p["name"] for p in htype["productions"]} - set(htype["removed"])
    if hole["allowed"] is not None:
        names &= set(hole["allowed"])
    return names


def expand(model: Model, grammar: dict[str, Any], hole_id: str, production: str) -> None:
    """Apply ``production`` to ``hole_id`` in the model (asserting it exists)."""
    htype_name, args = model.holes.pop(hole_id)
    htype = next(t for t in grammar["types"] if t["name"] == htype_name)
    prod = next(p for p in htype["productions"] if p["name"] == production)
    frag = prod["fragment"]
    bind = dict(zip(htype["params"], args, strict=True))
    for t in frag["tasks"]:
        tid = f"{hole_id}/{t['local']}"
        assert tid not in model.tasks
        bind[t["local"]] = tid
        model.tasks[tid] = t["kind"]
    kinds_of_holes = [h["type"] for h in frag["holes"]]
    for i, h in enumerate(frag["holes"]):
        index = kinds_of_holes[:i + 1].count(h["type"])
        hid = child_id(hole_id, htype_name, h["type"], index, kinds_of_holes.count(h["type"]))
        assert hid not in model.holes and hid not in model.tasks
        child = next(t for t in grammar["types"] if t["name"] == h["type"])
        hargs = () if child["everywhere"] else tuple(bind.get(a, a) for a in h["args"])
        model.holes[hid] = (h["type"], hargs)
    for u, v in frag["edges"]:
        model.edges.add((bind.get(u, u), bind.get(v, v)))


def child_id(parent: str, parent_type: str, htype: str, index: int, count: int) -> str:
    """The id rule, written out naively: ``parent/T.i``, except the sole hole of the
    parent's own type, which continues the parent's chain (``T.k`` -> ``T.k.2`` -> ...)."""
    if htype == parent_type and count == 1:
        head, _, last = parent.rpartition("/")
        pieces = last.split(".")
        depth = 2 if len(pieces) == 2 else int(pieces[2]) + 1
        last = ".".join([pieces[0], pieces[1], str(depth)])
        return f"{head}/{last}" if head else last
    hid = f"{parent}/{htype}.{index}"
    if len(hid) > 160:
        import hashlib

        head, _, last = hid.rpartition("/")
        hid = "~" + hashlib.sha256(head.encode()).hexdigest()[:16] + "/" + last
    return hid


def full_graph(graph: dict[str, Any]) -> nx.DiGraph:
    """Tasks and holes as nodes; a hole sits between its after- and before-arguments."""
    g = nx.DiGraph()
    g.add_nodes_from(t["id"] for t in graph["tasks"])
    g.add_edges_from((u, v) for u, v in graph["edges"])
    for h in graph["holes"]:
        g.add_node(("hole", h["id"]))
        for a, r in zip(h["args"], h["roles"], strict=True):
            if r == "after":
                g.add_edge(a, ("hole", h["id"]))
            else:
                g.add_edge(("hole", h["id"]), a)
    return g
