"""Guards and conditions: which production a due hole of a guarded type takes, and
whether one a task names may be taken (docs/data.md, "Branch on data: guards";
proofs/11-data.md).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from grammarflow.core.graph import JSON, Hole
from grammarflow.core.guards import DEPTH, Counts, GuardError
from grammarflow.core.narrowing import narrowing_of
from grammarflow.core.plans import hole_depth
from grammarflow.core.productions import HoleType, Production
from grammarflow.errors import Attempt, BrokenPromise, Why

if TYPE_CHECKING:  # annotations only: the derivation calls these, passing itself
    from grammarflow.core.derivation import Derivation


def chosen(d: Derivation, hole: Hole) -> Production:
    """The production a due hole of a guarded type takes: the first still allowed
    whose guard holds (``[else]``: when no other does). BrokenPromise if none does,
    or a guard cannot be read."""
    htype = d.grammar.types[hole.type]
    held = guards_held(d, hole, htype)
    for p in htype.allowed(hole.allowed):
        assert p.guard is not None
        if p.guard.otherwise:
            if not any(held.values()):
                return p
        elif held[p.name] is not False:  # true, or unknown in a simulation
            return p
    true = [p for p in htype.productions if held.get(p.name)]
    if true:
        why = (f"{true[0].guard!r} holds, and production {true[0].name} was narrowed "
               f"away ({narrowing_of(htype, hole.id, true[0].name)})")
    elif any(p.guard is not None and p.guard.otherwise for p in htype.productions):
        why = "no guard holds, and the [else] production was narrowed away"
    else:
        why = "no guard holds: " + "; ".join(
            f"{p.guard!r} is false" for p in htype.productions if p.guard is not None)
    raise BrokenPromise(f"hole {hole.id} ({hole.type}) is due and no allowed "
                        f"production may be taken: {why}{values_shown(d, hole)}",
                        why=Why.GUARD, hole=hole.id)


def guards_held(d: Derivation, hole: Hole, htype: HoleType) -> dict[str, bool | None]:
    """Which ``when`` guards of the type hold for ``hole`` (every production's,
    narrowed away or not: ``else`` holds only when none does)."""
    values, counts = guard_context(d, hole, htype)
    held: dict[str, bool | None] = {}
    for p in htype.productions:
        if p.guard is None or p.guard.otherwise:
            continue
        if not d.data_known and not p.guard.names <= values.keys():
            held[p.name] = None  # unknown: it may hold or not
            continue
        try:
            held[p.name] = p.guard.holds(values, counts)
        except GuardError as e:
            raise BrokenPromise(f"guard {p.guard!r} of hole {hole.id} ({hole.type}) "
                                f"cannot be read: {e}", why=Why.GUARD,
                                hole=hole.id) from None
    return held


def guard_context(d: Derivation, hole: Hole, htype: HoleType) -> tuple[dict[str, JSON], Counts]:
    bound = dict(zip(htype.params, hole.args, strict=False))
    outputs = d.graph.outputs
    values = {p: outputs[t] for p, t in bound.items() if t in outputs}
    values[DEPTH] = hole_depth(hole.id)
    g = d.graph

    def counts(left: str, right: str) -> int:
        if left in bound:
            return len(g.next_of_kind(bound[left], right))
        return sum(1 for w in g.pred[bound[right]] if g.tasks[w].kind == left)

    return values, counts


def values_shown(d: Derivation, hole: Hole) -> str:
    """What the guards read, as they read it: ``(a = [1, 2], count(a -> M) = 2)``."""
    htype = d.grammar.types[hole.type]
    values, counts = guard_context(d, hole, htype)
    guards = [g for p in htype.productions for g in (p.guard, p.condition)
              if g is not None]
    read = sorted({n for g in guards for n in g.names})
    shown = [f"{n} = {_short(values[n])}" if n in values else f"{n}: no output"
             for n in read]
    if any(g.expr is not None and ("depth",) in _parts(g.expr) for g in guards):
        shown.append(f"depth = {values[DEPTH]}")
    counted = sorted({c for g in guards for c in g.counts})
    shown += [f"count({left} -> {right}) = {counts(left, right)}"
              for left, right in counted]
    return f" ({', '.join(shown)})" if shown else ""


def check_guard(d: Derivation, hole: Hole, htype: HoleType, prod: Production) -> None:
    """A guard is a promise: whoever expands, the production's guard must hold."""
    guard = prod.guard
    assert guard is not None
    held = guards_held(d, hole, htype)
    if guard.otherwise:
        true = [p for p in htype.productions if held.get(p.name)]
        if not true:
            return
        why = f"[else] holds only when no other guard does, and {true[0].guard!r} holds"
    elif held[prod.name] is not False:
        return
    else:
        why = f"its guard {guard!r} is false"
    raise BrokenPromise(
        f"hole {hole.id} ({hole.type}) may not become {prod!r}: {why}"
        f"{values_shown(d, hole)}", why=Why.GUARD, hole=hole.id,
        attempts=(Attempt(repr(prod), why),))


def check_condition(d: Derivation, hole: Hole, htype: HoleType, prod: Production) -> None:
    """``[if ...]``: the production may be taken only while its condition holds."""
    cond = prod.condition
    assert cond is not None
    values, counts = guard_context(d, hole, htype)
    if not d.data_known and not cond.names <= values.keys():
        return  # a simulation: it may hold
    try:
        holds = cond.holds(values, counts)
    except GuardError as e:
        raise BrokenPromise(f"condition {cond!r} of hole {hole.id} ({hole.type}) cannot "
                            f"be read: {e}", why=Why.GUARD, hole=hole.id) from None
    if not holds:
        why = f"its condition {cond!r} is false"
        raise BrokenPromise(
            f"hole {hole.id} ({hole.type}) may not become {prod!r}: {why}"
            f"{values_shown(d, hole)}", why=Why.GUARD, hole=hole.id,
            attempts=(Attempt(repr(prod), why),))


def _parts(expr: tuple[object, ...]) -> list[tuple[object, ...]]:
    found = [expr]
    for part in expr[1:]:
        if isinstance(part, tuple):
            found.extend(_parts(part))
    return found


def _short(value: JSON, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


__all__ = ["check_condition", "check_guard", "chosen", "guards_held", "values_shown"]
