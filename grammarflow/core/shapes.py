"""Common shapes, built on the public notation: they return ordinary hole types,
indistinguishable from ones a user writes by hand (docs/notation.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from grammarflow.core.graph import check_name
from grammarflow.core.notation import parse_types
from grammarflow.core.productions import HoleType


def _task(name: str, kind: str | None) -> str:
    check_name(name, "task name")
    if kind is None or kind == name:
        return name
    return f"{name}:{check_name(kind, 'kind')}"


def choice(name: str, alternatives: Sequence[str], *, default: int | None = None,
           params: Sequence[str] = ("a", "b")) -> list[HoleType]:
    """``X(a, b) ::= alt1 | alt2 | ...`` — the hole becomes exactly one alternative.

    ``alternatives`` are fragments in the notation over ``params``;
    ``default`` (1-based) is taken if the hole is due and nobody chose.
    """
    alts = [f"[default] {a}" if default == i + 1 else a for i, a in enumerate(alternatives)]
    return list(parse_types(f"{name}({', '.join(params)}) ::= {' | '.join(alts)}").values())


def optional_edge(name: str = "E") -> list[HoleType]:
    """``E(u, v) ::= u -> v | nothing`` — a potential edge; by default it does not appear."""
    return list(parse_types(f"{name}(u, v) ::= u -> v | [default] nothing").values())


def repeat_parallel(name: str, task: str, kind: str | None = None,
                    *, at_least: int = 0) -> list[HoleType]:
    """``a -> M* -> b``, the copies of M side by side (a map); n >= ``at_least`` (0 or 1).

    With n = 0 the order ``a -> b`` stays; with n >= 1 each copy runs between a and b.

    >>> for t in repeat_parallel("Ms", "M"): print(t)
    Ms(a, b) ::= [default] a -> b | a -> M -> b, Ms_more(a, b)
    Ms_more(a, b) ::= [default] nothing | a -> M -> b, Ms_more(a, b)
    """
    if at_least not in (0, 1):
        raise ValueError(f"at_least must be 0 or 1, got {at_least}")
    m = _task(task, kind)
    more = f"{name}_more"
    first = f"a -> {m} -> b, {more}(a, b)"
    head = first if at_least >= 1 else f"[default] a -> b | {first}"
    return list(parse_types([
        f"{name}(a, b) ::= {head}",
        f"{more}(a, b) ::= [default] nothing | a -> {m} -> b, {more}(a, b)",
    ]).values())


def map_over(name: str, task: str, kind: str | None = None) -> list[HoleType]:
    """``a -> M* -> b`` with exactly one M per element of a's output (a list): a map.

    One ordinary recursive type whose guards count the copies made so far::

        X(a, b) ::= [when count(a -> M) < len(a)] a -> M -> b, X(a, b) | [else] a -> b

    When a is done the orchestrator expands the hole once per element (a task may do it
    too, but only as the guards allow: the count is a promise). Each copy of M takes its
    element with an input ``Item[T]`` named after a (its local name or kind); b takes
    the copies' outputs, in the list's order, with an input ``All[U]`` named M. With an
    empty list, ``a -> b`` and no copy.

    >>> map_over("Each", "count")[0]
    Each(a, b) ::= [when count(a -> count) < len(a)] a -> count -> b, Each(a, b) | [else] a -> b
    """
    m = _task(task, kind)
    k = kind or task
    return list(parse_types(
        f"{name}(a, b) ::= [when count(a -> {k}) < len(a)] a -> {m} -> b, {name}(a, b)"
        " | [else] a -> b").values())


def repeat_series(name: str, task: str, kind: str | None = None, *,
                  at_most: int | None = None) -> list[HoleType]:
    """``a -> S -> S -> ... -> b``, copies one after another (a loop unrolled at run time).

    Each copy decides whether another follows it (it expands the hole after it with
    production 2); if none does, the hole closes with ``a -> b``. ``at_most`` bounds the
    loop, as a promise: ``[if depth <= N]`` (a task asking for the N+1-th copy is
    refused).

    >>> repeat_series("Loop", "S", at_most=3)[0]
    Loop(a, b) ::= [default] a -> b | [if depth <= 3] a -> S, Loop(S, b)
    """
    if at_most is not None and at_most < 0:
        raise ValueError(f"at_most must be 0 or more, got {at_most}")
    s = _task(task, kind)
    bound = f"[if depth <= {at_most}] " if at_most is not None else ""
    return list(parse_types(
        f"{name}(a, b) ::= [default] a -> b | {bound}a -> {s}, {name}({task}, b)").values())


__all__ = [
    "choice",
    "map_over",
    "optional_edge",
    "repeat_parallel",
    "repeat_series",
]
