"""A graph as JSON: its canonical form (:func:`to_json`, equal graphs give equal JSON)
and its snapshot (:func:`snapshot`, compact, in creation order: the cache that lets a
long run be read without replaying its whole journal), and back. The functions are
:class:`~grammarflow.core.graph.Graph`'s methods of the same names (``self`` is the
graph, ``cls`` its class).
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from grammarflow.core.nodes import _PENDING, NO_ATTRS, Hole, Role, Task, TaskState

if TYPE_CHECKING:
    from grammarflow.core.graph import Graph

__all__ = ["from_json", "from_snapshot", "snapshot", "to_json"]


def to_json(self: Graph) -> dict[str, Any]:
    """A canonical JSON form: equal graphs give equal JSON."""
    outputs: dict[str, Any] = {"outputs": {t: self.outputs[t] for t in sorted(self.outputs)}} \
        if self.outputs else {}
    if self.edge_attrs:
        outputs["edge_attrs"] = [[u, v, a] for (u, v), a in sorted(self.edge_attrs.items())]
    if self.order:
        outputs["order"] = sorted([a, b] for a, b in self.order)
    return {**outputs,
        "tasks": [
            {"id": t.id, "kind": t.kind, "attrs": dict(t.attrs),
             "state": self.state[t.id].value}
            for t in sorted(self.tasks.values(), key=lambda t: t.id)
        ],
        "edges": sorted([u, v] for u, v in self.edges()),
        "holes": [
            {"id": h.id, "type": h.type, "args": list(h.args),
             "roles": [r.value for r in h.roles], "everywhere": h.everywhere,
             "allowed": None if h.allowed is None else sorted(h.allowed)}
            for h in sorted(self.holes.values(), key=lambda h: h.id)
        ],
    }


def from_json(cls: type[Graph], data: Mapping[str, Any]) -> Graph:
    g = cls()
    for t in data["tasks"]:
        g.add_task(Task(t["id"], t["kind"], dict(t.get("attrs", {}))))
    for u, v in data["edges"]:
        g.add_edge(u, v)
    for h in data["holes"]:
        allowed = h.get("allowed")
        g.add_hole(Hole(h["id"], h["type"], tuple(h["args"]),
                        tuple(Role(r) for r in h["roles"]), bool(h.get("everywhere")),
                        None if allowed is None else frozenset(allowed)))
    g.outputs = dict(data.get("outputs", {}))
    g.edge_attrs = {(u, v): dict(a) for u, v, a in data.get("edge_attrs", ())}
    g.order = {(a, b): None for a, b in data.get("order", ())}
    # States last: DONE tasks must see their edges and holes to update counters.
    for t in data["tasks"]:
        state = TaskState(t.get("state", "pending"))
        if state is not TaskState.PENDING:
            g._force_state(t["id"], state)
    return g


def snapshot(self: Graph) -> dict[str, Any]:
    """A compact JSON form that keeps creation order, for :meth:`from_snapshot`:
    the cache that lets a long run be read without replaying its whole journal."""
    order = sorted(self.rank, key=self.rank.__getitem__)
    index = {t: i for i, t in enumerate(order)}
    return {
        "ids": order,
        "kinds": [self.tasks[t].kind for t in order],
        "states": "".join(_STATE_CODE[self.state[t]] for t in order),
        "ready": [index[t] for t in self._ready],
        "attrs": {str(i): dict(self.tasks[t].attrs) for i, t in enumerate(order)
                  if self.tasks[t].attrs},
        "edges": [[index[u], index[v]] for u, vs in self.succ.items() for v in vs],
        "holes": [[h.id, h.type, list(h.args), "".join(r.value[0] for r in h.roles),
                   h.everywhere, None if h.allowed is None else sorted(h.allowed)]
                  for h in self.holes.values()],
        **({"outputs": {str(index[t]): v for t, v in self.outputs.items()}}
           if self.outputs else {}),
        **({"edge_attrs": [[index[u], index[v], a] for (u, v), a in self.edge_attrs.items()]}
           if self.edge_attrs else {}),
        **({"order": [[index[a], index[b]] for a, b in self.order]} if self.order else {}),
    }


def from_snapshot(cls: type[Graph], data: Mapping[str, Any]) -> Graph:
    """The graph of :meth:`snapshot`, built in bulk (no per-element bookkeeping)."""
    # Hundreds of thousands of objects at once: the collector would scan them again
    # and again while nothing can be garbage yet (it doubled the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build(cls, data)
    finally:
        if collecting:
            gc.enable()


def _build(cls: type[Graph], data: Mapping[str, Any]) -> Graph:
    g = cls()
    ids, kinds, states = data["ids"], data["kinds"], data["states"]
    attrs = data.get("attrs", {})
    g.tasks = {t: Task(t, kinds[i], attrs.get(str(i), NO_ATTRS)) for i, t in enumerate(ids)}
    g.rank = {t: i for i, t in enumerate(ids)}
    g.state = {t: _CODE_STATE[states[i]] for i, t in enumerate(ids)}
    g.outputs = {ids[int(i)]: v for i, v in data.get("outputs", {}).items()}
    g.edge_attrs = {(ids[u], ids[v]): dict(a) for u, v, a in data.get("edge_attrs", ())}
    g.order = {(ids[a], ids[b]): None for a, b in data.get("order", ())}
    g.succ = {t: set() for t in ids}
    g.pred = {t: set() for t in ids}
    waiting = dict.fromkeys(ids, 0)
    for u, v in data["edges"]:
        tu, tv = ids[u], ids[v]
        g.succ[tu].add(tv)
        g.pred[tv].add(tu)
        if states[u] != "d":
            waiting[tv] += 1
    g._waiting = waiting
    g._undone_tasks = sum(1 for c in states if c != "d")
    g._ready = {t: None for t in ids if waiting[t] == 0 and g.state[t] is _PENDING}
    g._ready_heap = [(g.rank[t], t) for t in g._ready]  # in rank order: a heap
    role = {"a": Role.AFTER, "b": Role.BEFORE}
    for hid, htype, args, roles, everywhere, allowed in data["holes"]:
        g._link_hole(Hole(hid, htype, tuple(args), tuple(role[r] for r in roles),
                          everywhere, None if allowed is None else frozenset(allowed)))
    return g


_STATE_CODE = {TaskState.PENDING: "p", TaskState.RUNNING: "r", TaskState.DONE: "d",
               TaskState.FAILED: "f"}
_CODE_STATE = {code: state for state, code in _STATE_CODE.items()}
