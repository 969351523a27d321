"""Plans and ids: a fragment compiled once for instantiation, added to a graph, and the
id of every hole it makes — a function of the derivation tree (proofs/04-confluence.md;
the rule: docs/notation.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grammarflow.core.graph import JSON, NO_ATTRS, Graph, Hole, Role, Task
from grammarflow.core.productions import Fragment, HoleType

#: Above this length the part of an id before its last hole segment is replaced by a
#: digest of it, so ids stay short under any recursion (still a function of the tree).
MAX_ID = 160


@dataclass(frozen=True, slots=True)
class Plan:
    """A fragment compiled for instantiation: names replaced by indices into
    ``[outside names..., new tasks...]``, each new hole with its roles and its place
    among the fragment's holes of its type (for its id)."""

    outside: tuple[str, ...]
    tasks: tuple[tuple[str, str, Mapping[str, JSON]], ...]
    holes: tuple[tuple[str, tuple[int, ...], tuple[Role, ...], bool, int, int], ...]
    edges: tuple[tuple[int, int], ...]


def compile_fragment(fragment: Fragment, outside: Sequence[str],
                     types: Mapping[str, HoleType]) -> Plan:
    """The plan of ``fragment`` whose outside names are ``outside`` (in that order)."""
    index = {p: i for i, p in enumerate(outside)}
    for t in fragment.tasks:
        index[t.local] = len(index)
    counts: dict[str, int] = {}
    for h in fragment.holes:
        counts[h.type] = counts.get(h.type, 0) + 1
    seen: dict[str, int] = {}
    holes = []
    for h in fragment.holes:
        ht = types[h.type]
        seen[h.type] = seen.get(h.type, 0) + 1
        args = () if ht.everywhere else tuple(index[a] for a in h.args)
        holes.append((h.type, args, ht.roles, ht.everywhere, seen[h.type], counts[h.type]))
    return Plan(tuple(outside), tuple((t.local, t.kind, t.attrs) for t in fragment.tasks),
                tuple(holes), tuple((index[u], index[v]) for u, v in fragment.edges))


def child_hole_id(parent: Hole | None, htype: str, index: int, count: int) -> str:
    """The id of the ``index``-th of ``count`` new holes of type ``htype`` made by
    expanding ``parent`` (``None``: the start graph). The rule: docs/notation.md."""
    if parent is None:
        return f"{htype}.{index}"
    if htype == parent.type and count == 1:
        prefix, slash, segment = parent.id.rpartition("/")
        parts = segment.split(".")
        depth = int(parts[2]) + 1 if len(parts) == 3 else 2
        return f"{prefix}{slash}{parts[0]}.{parts[1]}.{depth}"
    return _bounded(f"{parent.id}/{htype}.{index}")


def _bounded(hole_id: str) -> str:
    if len(hole_id) <= MAX_ID:
        return hole_id
    prefix, _, segment = hole_id.rpartition("/")
    digest = hashlib.sha256(prefix.encode()).hexdigest()[:16]
    return f"~{digest}/{segment}"


def instantiate(graph: Graph, plan: Plan, values: Sequence[str], parent: Hole | None,
                attrs: Mapping[str, Mapping[str, JSON]] = NO_ATTRS
                ) -> tuple[dict[str, str], tuple[str, ...]]:
    """Add a compiled fragment to ``graph``, its outside names bound to ``values``, its
    new nodes named under ``parent``. Returns the new task ids (by local name) and the
    new hole ids. The one routine behind the start graph, Expand, Grow and Refine."""
    nodes = list(values)
    prefix = parent.id + "/" if parent is not None else ""
    created: dict[str, str] = {}
    for local, kind, task_attrs in plan.tasks:
        tid = prefix + local
        extra = attrs.get(local) if attrs else None
        graph.add_task(Task(tid, kind, {**task_attrs, **extra} if extra else task_attrs))
        nodes.append(tid)
        created[local] = tid
    new_holes = []
    for htype, arg_index, roles, everywhere, index, count in plan.holes:
        hid = child_hole_id(parent, htype, index, count)
        if everywhere:
            graph.add_hole(Hole(hid, htype, everywhere=True))
        else:
            graph.add_hole(Hole(hid, htype, tuple([nodes[i] for i in arg_index]), roles))
        new_holes.append(hid)
    for u, v in plan.edges:
        graph.add_edge(nodes[u], nodes[v])
    return created, tuple(new_holes)


def hole_depth(hole_id: str) -> int:
    """A hole's place in its chain: ``X.1`` is 1, ``X.1.2`` (made by expanding ``X.1``
    into another X) is 2, and so on (ids are a function of the derivation tree)."""
    parts = hole_id.rpartition("/")[2].split(".")
    return int(parts[2]) if len(parts) == 3 else 1


__all__ = ["MAX_ID", "Plan", "child_hole_id", "compile_fragment", "hole_depth", "instantiate"]
