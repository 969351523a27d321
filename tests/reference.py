"""A second, deliberately naive implementation of the core's steps, on JSON forms only.

The soundness tests replay every accepted step here — expansions, growth and
refinement of open holes, narrowings, state changes — and compare with what the real
core produced: two implementations that must agree (differential testing). It reads
DESIGN.md directly: a production's new tasks get ids ``<hole>/<local>``, its
parameters are bound to the hole's attachment in order; an open hole admits fragments
glued to its attachment in their roles (to anything, if it is attached everywhere);
no edge ends at a task that has started and the graph stays acyclic; narrowing
removes productions but leaves every type and hole a way to finish.

How the id of a new hole is made is :func:`hole_id` alone (the one place to change
when that rule changes); nothing else here depends on the form of an id.

:class:`Model` raises :class:`Illegal` for a step the reference would refuse, and
keeps a *region* for every hole that lies under an open hole attached to named tasks:
the tasks that open hole comes after and before, plus every task made under it. An
open hole promises "anything, between these tasks"; whatever grows under it — through
fresh types, holes attached everywhere, any production — stays in that region: a
promise never widens. (A hole attached everywhere that the grammar itself declares,
in the start graph or a production, may join anything.)
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from grammarflow import Expand, Fragment, Grow, NarrowHole, NarrowType, Refine, SetState

EVERYWHERE = "*"


class Illegal(AssertionError):
    """The reference would refuse this step."""


# ---------------------------------------------------------------- the id rule
def hole_id(parent: str, parent_type: str, htype: str, index: int, count: int) -> str:
    """The id of the ``index``-th of the ``count`` new holes of type ``htype`` made by
    replacing hole ``parent`` of type ``parent_type``: written out naively, the rule of
    DESIGN/proofs 00 — ``parent/T.i``, except the one hole of the parent's own type,
    which continues the parent's chain (``T.k`` -> ``T.k.2`` -> ``T.k.3``); an id over
    160 characters keeps its last segment after a digest of the rest."""
    if htype == parent_type and count == 1:
        head, _, last = parent.rpartition("/")
        pieces = last.split(".")
        depth = 2 if len(pieces) == 2 else int(pieces[2]) + 1
        last = ".".join([pieces[0], pieces[1], str(depth)])
        return f"{head}/{last}" if head else last
    hid = f"{parent}/{htype}.{index}"
    if len(hid) > 160:
        head, _, last = hid.rpartition("/")
        hid = "~" + hashlib.sha256(head.encode()).hexdigest()[:16] + "/" + last
    return hid


def task_id(parent: str, local: str) -> str:
    """The id of a task a step on hole ``parent`` makes under the local name ``local``."""
    return f"{parent}/{local}"


# ---------------------------------------------------------------- the model
@dataclass
class HoleRec:
    type: str
    args: tuple[str, ...]
    roles: tuple[str, ...]
    everywhere: bool
    allowed: frozenset[str] | None

    @property
    def after(self) -> set[str]:
        return {a for a, r in zip(self.args, self.roles, strict=True) if r == "after"}

    @property
    def before(self) -> set[str]:
        return {a for a, r in zip(self.args, self.roles, strict=True) if r == "before"}


Region = tuple[frozenset[str], frozenset[str]] | None  # (sources, targets); None: anywhere


@dataclass
class Model:
    tasks: dict[str, str] = field(default_factory=dict)  # id -> kind
    state: dict[str, str] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    holes: dict[str, HoleRec] = field(default_factory=dict)
    types: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> JSON
    regions: dict[str, Region] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: Mapping[str, Any], grammar: Mapping[str, Any]) -> Model:
        """The model of a graph and grammar in their JSON forms (regions: each hole's
        own attachment, or anywhere)."""
        model = cls({t["id"]: t["kind"] for t in graph["tasks"]},
                    {t["id"]: t["state"] for t in graph["tasks"]},
                    {(u, v) for u, v in graph["edges"]},
                    {h["id"]: HoleRec(h["type"], tuple(h["args"]), tuple(h["roles"]),
                                      bool(h["everywhere"]),
                                      None if h["allowed"] is None else frozenset(h["allowed"]))
                     for h in graph["holes"]},
                    {t["name"]: copy.deepcopy(t) for t in grammar["types"]})
        model.regions = {hid: own_region(h) for hid, h in model.holes.items()
                         if model.types.get(h.type, {}).get("open")}
        return model

    # ---------------------------------------------------------------- comparing
    def differences(self, graph: Mapping[str, Any], grammar: Mapping[str, Any]) -> list[str]:
        """How the core's graph and grammar differ from the model (empty if they agree)."""
        other = Model.of(graph, grammar)
        out = []
        for what in ("tasks", "state", "edges", "holes", "types"):
            mine, theirs = getattr(self, what), getattr(other, what)
            if mine != theirs:
                out.append(f"{what}: reference {_diff(mine, theirs)}")
        return out

    # ---------------------------------------------------------------- steps
    def apply(self, step: Any) -> None:
        """Apply one step as the reference understands it, or raise Illegal."""
        before = (set(self.tasks), set(self.edges))
        started = {t for t, s in self.state.items() if s != "pending"}
        region: Region = None
        match step:
            case Expand():
                region = self.regions.get(step.hole)
                self._expand(step)
            case Grow():
                region = self.regions.get(step.hole)
                self._grow(step)
            case Refine():
                region = self.regions.get(step.hole)
                self._refine(step)
            case NarrowType():
                self._narrow_type(step)
            case NarrowHole():
                self._narrow_hole(step)
            case SetState():
                self._set_state(step)
            case _:
                raise TypeError(f"not a step: {step!r}")
        new_tasks = set(self.tasks) - before[0]
        new_edges = self.edges - before[1]
        for u, v in new_edges:
            if v in started:
                raise Illegal(f"{step}: edge {u} -> {v} ends at a task that has started")
        if region is not None:
            sources, targets = region
            for u, v in new_edges:
                if not (u in sources or u in new_tasks) or not (v in targets or v in new_tasks):
                    raise Illegal(f"{step}: edge {u} -> {v} leaves the region of "
                                  f"{step.hole} (from {sorted(sources)} to "
                                  f"{sorted(targets)}): a promise widened")
        for hid, h in self.holes.items():
            if h.before & started:
                raise Illegal(f"{step}: hole {hid} comes before a task that has started")
        if isinstance(step, Expand | Grow | Refine) and not nx.is_directed_acyclic_graph(
                self.graph()):
            raise Illegal(f"{step}: the graph has a cycle")

    def _hole(self, hid: str) -> HoleRec:
        if hid not in self.holes:
            raise Illegal(f"no hole {hid}")
        return self.holes[hid]

    def _expand(self, step: Expand) -> None:
        hole = self._hole(step.hole)
        htype = self.types[hole.type]
        if htype["open"]:
            raise Illegal(f"{step}: an open hole takes no production")
        prods = {p["name"]: p for p in htype["productions"]}
        if step.production not in prods:
            raise Illegal(f"{step}: no production {step.production}")
        if step.production not in allowed_names(htype, hole):
            raise Illegal(f"{step}: production {step.production} was narrowed away")
        frag = Fragment.from_json(prods[step.production]["fragment"])
        unknown = set(step.attrs) - set(frag.locals)
        if unknown:
            raise Illegal(f"{step}: attrs for {sorted(unknown)}, which it does not make")
        bind = dict(zip(htype["params"], hole.args, strict=True))
        self._replace(step.hole, frag, bind)

    def _grow(self, step: Grow) -> None:
        hole = self._open(step.hole)
        if step.fragment.holes:
            raise Illegal(f"{step}: a raw change adds no holes")
        self._check_open_fragment(step.hole, hole, step.fragment)
        new = self._tasks_and_edges(step.hole, step.fragment, {a: a for a in hole.args})
        if not hole.everywhere:
            hole.args += tuple(new)
            hole.roles += ("after",) * len(new)
        region = self.regions.get(step.hole)
        if region is not None:
            self.regions[step.hole] = (region[0] | set(new), region[1] | set(new))

    def _refine(self, step: Refine) -> None:
        hole = self._open(step.hole)
        fresh = {t.name: t.to_json() for t in step.types}
        clash = set(fresh) & set(self.types)
        if clash:
            raise Illegal(f"{step}: types {sorted(clash)} exist already")
        types = {**self.types, **fresh}
        for t in fresh.values():
            check_type(t, types)
        if set(types) - productive(types):
            raise Illegal(f"{step}: fresh types {sorted(set(types) - productive(types))} "
                          "can never finish")
        self.types = types
        self._check_open_fragment(step.hole, hole, step.fragment)
        self._replace(step.hole, step.fragment, {a: a for a in hole.args})

    def _open(self, hid: str) -> HoleRec:
        hole = self._hole(hid)
        if not self.types[hole.type]["open"]:
            raise Illegal(f"hole {hid} is not open")
        return hole

    def _check_open_fragment(self, hid: str, hole: HoleRec, frag: Fragment) -> None:
        local = set(frag.locals)
        if len(local) != len(frag.locals):
            raise Illegal(f"{hid}: task names repeat")
        if hole.everywhere:
            ok_source = ok_target = set(self.tasks)
        else:
            ok_source, ok_target = hole.after, hole.before
        for u, v in frag.edges:
            if not (u in local or u in ok_source) or not (v in local or v in ok_target):
                raise Illegal(f"{hid}: edge {u} -> {v} is not between its attachment")
        for h in frag.holes:
            child = self.types.get(h.type)
            if child is None:
                raise Illegal(f"{hid}: hole type {h.type} is not declared")
            if child["everywhere"]:
                if h.args not in ((), (EVERYWHERE,)):
                    raise Illegal(f"{hid}: {h.type} is attached everywhere")
                continue
            if len(h.args) != len(child["params"]):
                raise Illegal(f"{hid}: {h.type} takes {len(child['params'])} arguments")
            for a, r in zip(h.args, child["roles"], strict=True):
                fits = ok_source if r == "after" else ok_target
                if not (a in local or a in fits):
                    raise Illegal(f"{hid}: hole {h.type} argument {a} is not in its role")

    def _replace(self, hid: str, frag: Fragment, bind: dict[str, str]) -> None:
        """Replace hole ``hid`` by a fragment whose outside names ``bind`` maps."""
        parent_type = self.holes.pop(hid).type
        region = self.regions.pop(hid, None)
        new = self._tasks_and_edges(hid, frag, bind)
        if region is not None:
            region = (region[0] | set(new), region[1] | set(new))
        names = {**bind, **{t.local: task_id(hid, t.local) for t in frag.tasks}}
        types_of_holes = [h.type for h in frag.holes]
        for i, h in enumerate(frag.holes):
            child = self.types[h.type]
            cid = hole_id(hid, parent_type, h.type, types_of_holes[:i + 1].count(h.type),
                          types_of_holes.count(h.type))
            if child["everywhere"]:
                rec = HoleRec(h.type, (), (), True, None)
            else:
                rec = HoleRec(h.type, tuple(names.get(a, a) for a in h.args),
                              tuple(child["roles"]), False, None)
            # an open hole's own promise, or no wider than the open hole it lies under
            fresh = own_region(rec) if child["open"] else None
            if region is not None or fresh is not None:
                self.regions[cid] = fresh if fresh is not None else region
            for a in rec.args:
                if a not in self.tasks:
                    raise Illegal(f"hole {cid} is attached to {a}, not a task")
            self.holes[cid] = rec

    def _tasks_and_edges(self, hid: str, frag: Fragment, bind: dict[str, str]) -> list[str]:
        names = dict(bind)
        new = []
        for t in frag.tasks:
            tid = task_id(hid, t.local)
            if tid in self.tasks or tid in self.holes:
                raise Illegal(f"id {tid} is taken")
            self.tasks[tid] = t.kind
            self.state[tid] = "pending"
            names[t.local] = tid
            new.append(tid)
        for u, v in frag.edges:
            e = (names.get(u, u), names.get(v, v))
            if e[0] not in self.tasks or e[1] not in self.tasks:
                raise Illegal(f"edge {e[0]} -> {e[1]} names no task")
            if e[0] == e[1]:
                raise Illegal(f"edge {e[0]} -> {e[1]} is a cycle")
            self.edges.add(e)
        return new

    def _narrow_type(self, step: NarrowType) -> None:
        htype = self.types.get(step.type)
        if htype is None:
            raise Illegal(f"{step}: no type {step.type}")
        names = {p["name"] for p in htype["productions"]}
        if not set(step.remove) <= names:
            raise Illegal(f"{step}: no production {sorted(set(step.remove) - names)}")
        narrowed = dict(htype)
        narrowed["removed"] = sorted(set(htype["removed"]) | set(step.remove))
        if narrowed["default"] in narrowed["removed"]:
            narrowed["default"] = None
        types = {**self.types, step.type: narrowed}
        lost = set(types) - productive(types)
        if lost:
            raise Illegal(f"{step}: leaves {sorted(lost)} no way to finish")
        stuck = [hid for hid, h in self.holes.items() if h.type == step.type
                 and not can_finish(types, h)]
        if stuck:
            raise Illegal(f"{step}: leaves hole(s) {stuck} no way to finish")
        self.types = types

    def _narrow_hole(self, step: NarrowHole) -> None:
        hole = self._hole(step.hole)
        htype = self.types[hole.type]
        if htype["open"]:
            raise Illegal(f"{step}: an open hole is narrowed by refining it")
        names = {p["name"] for p in htype["productions"]}
        if not set(step.remove) <= names:
            raise Illegal(f"{step}: no production {sorted(set(step.remove) - names)}")
        narrowed = HoleRec(hole.type, hole.args, hole.roles, hole.everywhere,
                           frozenset(allowed_names(htype, hole) - set(step.remove)))
        if not can_finish(self.types, narrowed):
            raise Illegal(f"{step}: leaves the hole no way to finish")
        self.holes[step.hole] = narrowed

    def _set_state(self, step: SetState) -> None:
        new = step.state.value
        if new == "running" and not self.is_ready(step.task):
            raise Illegal(f"{step}: the task is not ready")
        self.state[step.task] = new

    def ready(self) -> set[str]:
        return {t for t in self.tasks if self.is_ready(t)}

    def due(self) -> set[str]:
        """Holes that must be expanded now: every task they come after is done (for one
        attached everywhere: every task)."""
        all_done = all(s == "done" for s in self.state.values())
        return {hid for hid, h in self.holes.items()
                if (all_done if h.everywhere else all(self.state[a] == "done" for a in h.after))}

    def is_ready(self, task: str) -> bool:
        return (self.state[task] == "pending"
                and all(self.state[u] == "done" for u, v in self.edges if v == task)
                and not any(task in h.before for h in self.holes.values()))

    def graph(self) -> nx.DiGraph:
        """Tasks and holes as nodes; a hole sits between its after- and before-tasks."""
        g = nx.DiGraph()
        g.add_nodes_from(self.tasks)
        g.add_edges_from(self.edges)
        for hid, h in self.holes.items():
            g.add_edges_from((a, ("hole", hid)) for a in h.after)
            g.add_edges_from((("hole", hid), b) for b in h.before)
        return g


def own_region(hole: HoleRec) -> Region:
    """What an open hole promises: between its attachment (None: anywhere)."""
    return None if hole.everywhere else (frozenset(hole.after), frozenset(hole.before))


def _diff(mine: Any, theirs: Any) -> str:
    if isinstance(mine, dict):
        keys = set(mine) | set(theirs)
        parts = [f"{k}: {mine.get(k)!r} vs core {theirs.get(k)!r}" for k in sorted(keys, key=str)
                 if mine.get(k) != theirs.get(k)]
        return "; ".join(parts[:4])
    return f"only reference {sorted(mine - theirs)}, only core {sorted(theirs - mine)}"


def replay(before: Mapping[str, Any], grammar: Mapping[str, Any], steps: Iterable[Any]) -> Model:
    model = Model.of(before, grammar)
    for step in steps:
        model.apply(step)
    return model


# ---------------------------------------------------------------- grammars
def allowed_names(htype: Mapping[str, Any], hole: HoleRec) -> set[str]:
    names = {p["name"] for p in htype["productions"]} - set(htype["removed"])
    return names if hole.allowed is None else names & hole.allowed


def productive(types: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Types that can derive a fragment without holes (least fixpoint, naively)."""
    done = {n for n, t in types.items() if t["open"]}
    while True:
        more = {n for n, t in types.items() if n not in done and any(
            all(h["type"] in done for h in p["fragment"]["holes"])
            for p in t["productions"] if p["name"] not in t["removed"])}
        if not more:
            return done
        done |= more


def can_finish(types: Mapping[str, Mapping[str, Any]], hole: HoleRec) -> bool:
    htype = types[hole.type]
    if htype["open"]:
        return True
    ok = productive(types)
    return any(all(h["type"] in ok for h in p["fragment"]["holes"])
               for p in htype["productions"] if p["name"] in allowed_names(htype, hole))


def check_type(t: Mapping[str, Any], types: Mapping[str, Mapping[str, Any]]) -> None:
    """A fresh type must be well formed: its productions glue only to its parameters,
    in their roles, and hold no cycle."""
    roles = dict(zip(t["params"], t["roles"], strict=True))
    if t["open"] and t["productions"]:
        raise Illegal(f"open type {t['name']} has productions")
    if t["everywhere"] and (not t["open"] or t["params"]):
        raise Illegal(f"{t['name']} is attached everywhere but not open without parameters")
    for p in t["productions"]:
        frag = Fragment.from_json(p["fragment"])
        local = set(frag.locals)
        if local & set(roles) or len(local) != len(frag.locals):
            raise Illegal(f"{t['name']}: task names clash")
        g = nx.DiGraph()
        for u, v in frag.edges:
            for name, role in ((u, "before"), (v, "after")):
                if name not in local and (name not in roles or roles[name] == role):
                    raise Illegal(f"{t['name']}: edge {u} -> {v} is not in its roles")
            g.add_edge(u, v)
        for i, h in enumerate(frag.holes):
            child = types.get(h.type)
            if child is None:
                raise Illegal(f"{t['name']}: hole type {h.type} is not declared")
            if child["everywhere"]:
                continue
            if len(h.args) != len(child["params"]):
                raise Illegal(f"{t['name']}: {h.type} takes {len(child['params'])} arguments")
            for a, r in zip(h.args, child["roles"], strict=True):
                if a not in local and (a not in roles or roles[a] != r):
                    raise Illegal(f"{t['name']}: hole {h.type} argument {a} not in its role")
                g.add_edge(*((a, ("hole", i)) if r == "after" else (("hole", i), a)))
        if not nx.is_directed_acyclic_graph(g):
            raise Illegal(f"{t['name']}: production {p['name']} has a cycle")


def full_graph(graph: Mapping[str, Any]) -> nx.DiGraph:
    """Tasks and holes as nodes; a hole sits between its after- and before-arguments."""
    return Model.of(graph, {"types": []}).graph()

