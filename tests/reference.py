"""A second, deliberately naive implementation of expansion, on the JSON forms only.

The soundness tests replay every accepted step here and compare with what the real
core produced: two implementations that must agree (differential testing). It reads
DESIGN.md directly: ids ``Type.n`` (per-type serial, skipping used ids) and
``<hole>/<local>``; parameters bound to the hole's attachment in order.
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
    serial: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: dict[str, Any]) -> Model:
        return cls({t["id"]: t["kind"] for t in graph["tasks"]},
                   {(u, v) for u, v in graph["edges"]},
                   {h["id"]: (h["type"], tuple(h["args"])) for h in graph["holes"]},
                   dict(graph["serial"]))

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
    for h in frag["holes"]:
        n = model.serial.get(h["type"], 0) + 1
        while f"{h['type']}.{n}" in model.holes or f"{h['type']}.{n}" in model.tasks:
            n += 1
        model.serial[h["type"]] = n
        child = next(t for t in grammar["types"] if t["name"] == h["type"])
        hargs = () if child["everywhere"] else tuple(bind.get(a, a) for a in h["args"])
        model.holes[f"{h['type']}.{n}"] = (h["type"], hargs)
    for u, v in frag["edges"]:
        model.edges.add((bind.get(u, u), bind.get(v, v)))


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
