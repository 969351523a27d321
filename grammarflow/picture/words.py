"""What a hole may become, in words: the wildcard's label — its alternatives, a
repetition, a map's source, the constraints in force — as the picture writes it
(docs/picture.md; why it is sound and complete: proofs/08-picture.md).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from grammarflow.core.constraints import (
    SIDES,
    AtMost,
    Constraint,
    Each,
    NoEdges,
    NoTasks,
    OnlyEdges,
    OnlyKinds,
    with_tasks,
)
from grammarflow.core.graph import Graph, Hole, Role, TaskState
from grammarflow.core.productions import Fragment, HoleType, Production
from grammarflow.core.scopes import ConstraintState
from grammarflow.core.wellformed import reachable_types

NOTHING = "nothing"
ORDER_KEPT = "nothing (order kept)"
ANYTHING = "anything"
#: Under a wildcard that may make an open hole attached everywhere (``X(*) ::= *``).
ANYWHERE_LATER = "(and in it, maybe a ∗ that adds anything anywhere)"


def alternative_in_words(prod: Production, types: dict[str, HoleType]) -> str:
    """One production in words: ``N then M``, ``(N then M) and a Y hole``, ``nothing``."""
    frag = prod.fragment
    if not frag.tasks and not frag.holes:
        return ORDER_KEPT if frag.edges else NOTHING
    kinds = {t.local: t.kind for t in frag.tasks}
    order = _chain_order(frag)
    chains = [" then ".join(kinds[n] for n in chain) for chain in order]
    ends = {chain[-1]: i for i, chain in enumerate(order)}
    children = []
    for h in frag.holes:
        child = types.get(h.type)
        word = _child(h.type, child, types)
        after = [a for a, r in zip(h.args, child.roles if child else (), strict=False)
                 if r is Role.AFTER and a in kinds]
        if len(after) == 1 and after[0] in ends:  # it continues a chain: "M then ..."
            chains[ends.pop(after[0])] += f" then {word}"
        else:
            children.append(word)
    return joined(chains, children)


def joined(chains: list[str], children: list[str]) -> str:
    """Parts side by side, joined with "and": a chain in parentheses when it is not
    alone; "M and zero or more M" reads "one or more M"."""
    if len(chains) == 1 and children == [many("zero", chains[0])]:
        return many("one", chains[0])
    if len(chains) + len(children) > 1:
        chains = [f"({c})" if " then " in c else c for c in chains]
    return " and ".join([*chains, *children])


def _child(name: str, child: HoleType | None, types: dict[str, HoleType]) -> str:
    """A child hole in words: ``a Y hole``, ``anything``, ``zero or more M``."""
    rep = None if child is None or child.open else repetition(child, types)
    if rep is not None:
        return rep
    if child is not None and child.open:
        return ANYTHING
    return f"{'an' if name[0] in 'AEIOUaeiou' else 'a'} {name} hole"


def repetition(htype: HoleType, types: dict[str, HoleType]) -> str | None:
    """``zero or more F`` if the type is "nothing (or keep order) | F and again", else
    None."""
    prods = list(htype.allowed())
    if len(prods) != 2:
        return None
    base = [p for p in prods if not p.fragment.tasks and not p.fragment.holes]
    more = [p for p in prods if p not in base]
    if len(base) != 1 or len(more) != 1:
        return None
    frag = more[0].fragment
    again = [h for h in frag.holes if h.type == htype.name and h.args == htype.params]
    if len(again) != 1 or len(frag.holes) != 1 or not frag.tasks:
        return None
    kinds = {t.local: t.kind for t in frag.tasks}
    body = joined([" then ".join(kinds[n] for n in c) for c in _chain_order(frag)], [])
    return many("zero", body)


def many(least: str, body: str) -> str:
    """``zero or more M``, ``one or more (N then M)``."""
    return f"{least} or more ({body})" if " " in body else f"{least} or more {body}"


def in_words(htype: HoleType, hole: Hole | None, types: dict[str, HoleType]) -> str:
    """What a hole may become, one alternative a line, the second on with "or":
    ``N then M`` / ``or J then K``; ``zero or more M``; ``anything``; guarded ones
    with their guards (parameters named as the tasks they are bound to):
    ``when measure > 10: big`` / ``or else: small``; a map: ``one M per element of
    split``."""
    if htype.open:
        return ANYTHING
    if htype.guarded:
        return _guarded_in_words(htype, hole, types)
    rep = repetition(htype, types)
    if rep is not None and (hole is None or hole.allowed is None):
        return rep
    bound = dict(zip(htype.params, hole.args, strict=False)) if hole is not None else {}
    alts = [alternative_in_words(p, types)
            + (f" (if {p.condition.shown(bound)})" if p.condition is not None else "")
            for p in htype.allowed(hole.allowed if hole else None)]
    # "nothing (order kept)" or "one or more M" reads "zero or more M"
    if len(alts) == 2 and alts[0] in (ORDER_KEPT, NOTHING) \
            and alts[1].startswith("one or more "):
        return "zero" + alts[1].removeprefix("one")
    return "\nor ".join(alts)


def may_open_everywhere(htype: HoleType, hole: Hole | None,
                        types: Mapping[str, HoleType]) -> bool:
    """Whether a hole of ``htype`` (narrowed as ``hole`` is) may, through its
    productions, make an open hole attached everywhere: then anything may be added
    anywhere (before tasks not yet started), which its picture must say."""
    roots = [h.type for p in htype.allowed(hole.allowed if hole else None)
             for h in p.fragment.holes]
    return any(types[t].everywhere for t in reachable_types(types, roots))


def map_source(htype: HoleType) -> tuple[str, str] | None:
    """``(a, K)`` if the type is a map over a's list (the shape of
    :func:`~grammarflow.core.shapes.map_over`: one K per element), else None."""
    prods = list(htype.productions)
    if len(prods) != 2 or prods[0].guard is None or prods[1].guard is None \
            or not prods[1].guard.otherwise:
        return None
    counts = prods[0].guard.counts
    if len(counts) != 1:
        return None
    (source, kind), = counts
    if prods[0].guard.text != f"count({source} -> {kind}) < len({source})":
        return None
    frag = prods[0].fragment
    again = [h for h in frag.holes if h.type == htype.name]
    if [t.kind for t in frag.tasks] != [kind] or len(again) != 1 or len(frag.holes) != 1:
        return None
    return source, kind


def map_known(graph: Graph, hole: Hole, htype: HoleType) -> str | None:
    """What a map hole will still make once its list is known (its source is done):
    ``3 × M, one per element of find's list``, then ``2 more M (1 of find's 3 made)``;
    None if it is no map or its list is not known yet."""
    mapped = map_source(htype)
    if mapped is None:
        return None
    source, kind = mapped
    task = dict(zip(htype.params, hole.args, strict=False)).get(source)
    value = graph.outputs.get(task) if task is not None else None
    if task is None or not isinstance(value, list) or graph.state[task] is not TaskState.DONE:
        return None
    made = sum(1 for s in graph.succ[task] if graph.tasks[s].kind == kind)
    left = max(len(value) - made, 0)
    if not made:
        return f"{left} × {kind}, one per element of {task}'s list"
    return f"{left} more {kind} ({made} of {task}'s {len(value)} made)"


def _guarded_in_words(htype: HoleType, hole: Hole | None, types: dict[str, HoleType]) -> str:
    bound = dict(zip(htype.params, hole.args, strict=False)) if hole is not None else {}
    mapped = map_source(htype)
    if mapped is not None:
        source, kind = mapped
        return f"one {kind} per element of {bound.get(source, source)}'s list"
    lines = []
    for i, p in enumerate(htype.allowed(hole.allowed if hole else None)):
        assert p.guard is not None
        said = "else" if p.guard.otherwise else f"when {p.guard.shown(bound)}"
        lines.append(f"{'or ' if i else ''}{said}: {alternative_in_words(p, types)}")
    return "\n".join(lines)


def _chain_order(frag: Fragment) -> list[list[str]]:
    """The fragment's new tasks as chains along its task-to-task edges."""
    local = {t.local for t in frag.tasks}
    succ: dict[str, list[str]] = {}
    has_pred: set[str] = set()
    for u, v in frag.edges:
        if u in local and v in local:
            succ.setdefault(u, []).append(v)
            has_pred.add(v)
    chains: list[list[str]] = []
    seen: set[str] = set()
    for t in frag.tasks:
        if t.local in seen or t.local in has_pred:
            continue
        chain = [t.local]
        seen.add(t.local)
        while succ.get(chain[-1]):
            nxt = next((n for n in succ[chain[-1]] if n not in seen), None)
            if nxt is None:
                break
            chain.append(nxt)
            seen.add(nxt)
        chains.append(chain)
    chains.extend([t.local] for t in frag.tasks if t.local not in seen)
    return chains


def is_potential_edge(htype: HoleType, hole: Hole) -> bool:
    """A hole that can only become the edge between its two tasks, or nothing."""
    if htype.open or len(hole.args) != 2 or hole.roles != (Role.AFTER, Role.BEFORE):
        return False
    a, b = htype.params
    prods = list(htype.allowed(hole.allowed))
    if not prods:
        return False
    for p in prods:
        f = p.fragment
        if f.tasks or f.holes or f.edges not in ((), ((a, b),)):
            return False
    return any(p.fragment.edges for p in prods)


# ====================================================================== constraints
WHERE_WIDTH = 40  # characters a line of constraints may take
WHERE_LINES = 3  # lines of constraints in a label; the rest: "+N more"


@dataclass(frozen=True, slots=True)
class Limits:
    """The constraints a hole keeps: its own (``of`` is the hole itself) or those of a
    constrained hole it grew from, with that hole's parameters bound to tasks."""

    of: str  # the hole whose promise these are
    type: str
    constraints: tuple[Constraint, ...]
    bound: Mapping[str, str]
    #: constraint index -> tasks an ``at most`` counted so far (what a run knows now)
    made: Mapping[int, int] = field(default_factory=dict)


def hole_limits(hole: Hole, htype: HoleType, state: ConstraintState | None) -> list[Limits]:
    """What constrains ``hole``: the scopes it is in (outer first), or without a
    derivation's state, its type's own constraints."""
    if state is None:
        if not htype.constraints:
            return []
        return [Limits(hole.id, htype.name, htype.constraints,
                       dict(zip(htype.params, hole.args, strict=False)))]
    scopes = [state.scopes[s] for s in state.scopes_of(hole.id)]
    return [Limits(s.hole, s.type, s.constraints, s.bound,
                   {i: n for i in range(len(s.constraints))
                    if (n := state.made.get((s.id, i), 0))})
            for s in scopes if s.constraints]


def constraint_short(c: Constraint, bound: Mapping[str, str] = {}) -> str:
    """A constraint in short, for a label: ``only M, N``, ``at most 100 M``,
    ``no edges into end``, ``each N ← 2 M, → 1 C``.

    >>> from grammarflow.core.constraints import parse_constraint
    >>> constraint_short(parse_constraint("each N has 2 M before, at least 1 C after"))
    'each N ← 2 M, → ≥1 C'
    >>> constraint_short(parse_constraint("no edges into b"), {"b": "end"})
    'no edges into end'
    """
    c = with_tasks(c, bound)
    match c:
        case OnlyEdges(edges):
            return "only " + ", ".join(f"{u} → {v}" for u, v in edges)
        case Each(kind, degrees):
            sides = []
            for side, arrow in (("before", "←"), ("after", "→")):
                counts = [f"{_BOUND_MARK[d.bound]}{d.n} {d.kind}" for d in degrees
                          if d.side == side]
                if counts:
                    sides.append(f"{arrow} {', '.join(counts)}")
            return f"each {kind} {', '.join(sides)}"
    return str(c)


_BOUND_MARK = {"exactly": "", "at least": "≥", "at most": "≤"}


def constraint_in_words(c: Constraint, bound: Mapping[str, str] = {}) -> str:
    """A constraint as a sentence: ``only tasks of kind M or N``, ``at most 100 M``,
    ``no edge into end``, ``each N has exactly 2 M before it and 1 C after it``."""
    c = with_tasks(c, bound)
    match c:
        case OnlyKinds(kinds):
            return f"only tasks of kind {_or(kinds)}"
        case NoTasks():
            return "no new task"
        case AtMost(n, kind):
            return f"at most {n} {'new tasks' if kind is None else kind}"
        case OnlyEdges(edges):
            return "only edges " + _or([f"{u} → {v}" for u, v in edges])
        case NoEdges(None, None):
            return "no new edge"
        case NoEdges(source, target):
            ends = [f"from {source}" if source else "", f"into {target}" if target else ""]
            return "no edge " + " ".join(e for e in ends if e)
        case Each(kind, degrees):
            parts = []
            for side in SIDES:
                counts = [f"{d.bound} {d.n} {d.kind}" for d in degrees if d.side == side]
                if counts:
                    parts.append(f"{' and '.join(counts)} {side} it")
            return f"each {kind} has {' and '.join(parts)}"
    return str(c)


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def _known(c: Constraint, made: int, short: str) -> str:
    """An ``at most`` as what is left of it once some were made: ``up to 3 more step``."""
    if isinstance(c, AtMost) and made:
        left = max(c.n - made, 0)
        return (f"no more {c.kind or 'new tasks'} ({c.n} made)" if not left
                else f"up to {left} more {c.kind or 'new tasks'} ({made} of {c.n} made)")
    return short


def where_lines(limits: Sequence[Limits], width: int = WHERE_WIDTH,
                most: int = WHERE_LINES) -> list[str]:
    """The constraints in short, ``·`` between them, wrapped to ``most`` lines of about
    ``width`` characters; what does not fit is counted: ``+3 more``."""
    items = list(dict.fromkeys(_known(c, lim.made.get(i, 0), constraint_short(c, lim.bound))
                               for lim in limits for i, c in enumerate(lim.constraints)))
    lines: list[str] = []
    for i, item in enumerate(items):
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += f" · {item}"
            continue
        pieces = textwrap.wrap(item, width, max_lines=2, placeholder=" …",
                               expand_tabs=False)
        if len(lines) + len(pieces) > most:
            lines.append(f"+{len(items) - i} more")
            break
        lines.extend(pieces)
    return lines


def explained(limits: Sequence[Limits], hole: str) -> list[str]:
    """Each constraint in words, one a line; those of a hole it grew from say so."""
    out: list[str] = []
    for lim in limits:
        whose = "" if lim.of == hole else f" (kept from {lim.of}, counted over all it grows)"
        out.extend(constraint_in_words(c, lim.bound) + whose for c in lim.constraints)
    return list(dict.fromkeys(out))


__all__ = [
    "ANYTHING",
    "ANYWHERE_LATER",
    "NOTHING",
    "ORDER_KEPT",
    "WHERE_LINES",
    "WHERE_WIDTH",
    "Limits",
    "alternative_in_words",
    "constraint_in_words",
    "constraint_short",
    "explained",
    "hole_limits",
    "in_words",
    "is_potential_edge",
    "joined",
    "many",
    "map_known",
    "map_source",
    "may_open_everywhere",
    "repetition",
    "where_lines",
]
