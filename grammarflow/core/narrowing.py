"""Narrowing promises: a hole type or one hole loses productions, never its last way
to finish (proofs/06-narrowing.md).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from grammarflow.core.productions import HoleType
from grammarflow.core.steps import Applied, NarrowHole, NarrowType
from grammarflow.core.wellformed import productive_types
from grammarflow.errors import BrokenPromise, Why

if TYPE_CHECKING:  # annotations only: the derivation calls these, passing itself
    from grammarflow.core.derivation import Derivation


def narrow_type(d: Derivation, step: NarrowType) -> Applied:
    htype = d.grammar.types.get(step.type)
    if htype is None:
        raise BrokenPromise(f"no hole type {step.type!r}; expected one of "
                            f"{sorted(d.grammar.types)}", why=Why.NOT_DECLARED)
    for name in step.remove:
        htype.production(name)
    removed = htype.removed | frozenset(step.remove)
    default = htype.default if htype.default not in removed else None
    narrowed = replace(htype, removed=removed, default=default)
    types = dict(d.grammar.types)
    types[htype.name] = narrowed
    productive = productive_types(types)
    lost = set(types) - productive
    if lost:
        raise BrokenPromise(
            f"narrowing {htype.name} by removing {list(step.remove)} would leave "
            f"{sorted(lost)} with no way to finish; a promise may narrow the futures "
            "but must leave at least one", why=Why.NO_WAY_TO_FINISH)
    for hid in d.graph.holes_of_type(htype.name):
        hole = d.graph.holes[hid]
        if hole.allowed is not None and not _can_finish(narrowed, hole.allowed, productive):
            raise BrokenPromise(
                f"narrowing {htype.name} by removing {list(step.remove)} would leave "
                f"hole {hid}, itself narrowed to {sorted(hole.allowed)}, with no way to "
                "finish; a promise may narrow the futures but must leave at least one",
                why=Why.NO_WAY_TO_FINISH, hole=hid)
    if d.limits:  # a hole in a constrained scope may have lost its only way
        d.check_can_finish(list(d.limits.hole_scopes), types=types)
    d.grammar = d.grammar.with_types(types.values())
    return Applied(step)


def narrow_hole(d: Derivation, step: NarrowHole) -> Applied:
    hole = d.hole(step.hole)
    htype = d.grammar.types[hole.type]
    if htype.open:
        raise BrokenPromise(f"hole {hole.id} is open; narrow it with 'refine'",
                            why=Why.WRONG_STEP, hole=hole.id)
    for name in step.remove:
        htype.production(name)
    left = frozenset(p.name for p in htype.allowed(hole.allowed)) - frozenset(step.remove)
    if not _can_finish(htype, left, productive_types(d.grammar.types)):
        raise BrokenPromise(f"narrowing hole {hole.id} by removing {list(step.remove)} "
                            "would leave it no way to finish", why=Why.NO_WAY_TO_FINISH,
                            hole=hole.id)
    d.check_can_finish([hole.id], allowed=left)
    d.graph.replace_hole(replace(hole, allowed=left))
    return Applied(step)


def narrowing_of(htype: HoleType, hole_id: str, production: str) -> str:
    """Which narrowing took ``production`` from hole ``hole_id`` (of ``htype``): one of
    its type, else one of the hole itself.

    >>> from grammarflow import define
    >>> x = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | nothing").types["X"]
    >>> narrowing_of(replace(x, removed=frozenset({"2"})), "X.1", "2")
    'type X lost production 2'
    >>> narrowing_of(x, "X.1", "2")
    'hole X.1 lost production 2'
    """
    if production in htype.removed:
        return f"type {htype.name} lost production {production}"
    return f"hole {hole_id} lost production {production}"


def _can_finish(htype: HoleType, only: frozenset[str], productive: set[str]) -> bool:
    """Has a hole of ``htype`` narrowed to ``only`` a production left that can finish?"""
    return any(all(h.type in productive for h in p.fragment.holes)
               for p in htype.allowed(only))


__all__ = ["narrow_hole", "narrow_type", "narrowing_of"]
