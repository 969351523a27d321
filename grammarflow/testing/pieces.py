"""The pieces of random grammars: well-formed fragments, and closed hole types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hypothesis import strategies as st

from grammarflow.core.graph import Role
from grammarflow.core.productions import (
    EVERYWHERE,
    Fragment,
    HoleSpec,
    HoleType,
    TaskSpec,
    hole_type,
)

__all__ = ["KINDS", "Signature", "closed_types", "fragments", "parameters", "signature"]

#: A hole type's roles in order, or None for a type attached everywhere ``X(*)``.
Signature = tuple[Role, ...] | None

#: The task kinds random fragments use unless told otherwise.
KINDS = ("A", "B", "C")


@st.composite
def fragments(draw: st.DrawFn, after: Sequence[str], before: Sequence[str],
              holes: Mapping[str, Signature] | None = None, *, kinds: Sequence[str] = KINDS,
              max_tasks: int = 3, min_holes: int = 0, max_holes: int = 2,
              prefix: str = "N") -> Fragment:
    """Well-formed fragments over parameters in their roles, with holes of ``holes``.

    New tasks lie on a line between the after- and the before-parameters; edges and
    hole attachments only go forward along it, so every fragment glues to its
    parameters in their roles and has no cycle.
    """
    n = draw(st.integers(0, max_tasks))
    new = [f"{prefix}{i}" for i in range(n)]
    tasks = tuple(TaskSpec(name, draw(st.sampled_from(kinds))) for name in new)
    line = [*after, *new, *before]
    edges = []
    for i, u in enumerate(line):
        if u in before:
            continue
        for v in line[i + 1:]:
            if v not in after and draw(st.integers(0, 3)) == 0:
                edges.append((u, v))
    specs: list[HoleSpec] = []
    for _ in range(draw(st.integers(min_holes, max_holes)) if holes else 0):
        htype = draw(st.sampled_from(sorted(holes or {})))
        sig = (holes or {})[htype]
        if sig is None:
            specs.append(HoleSpec(htype, (EVERYWHERE,)))
            continue
        split = draw(st.integers(len(after), len(after) + n))
        left = [x for x in line[:split] if x not in before]
        right = [x for x in line[split:] if x not in after]
        if (Role.AFTER in sig and not left) or (Role.BEFORE in sig and not right):
            continue
        specs.append(HoleSpec(htype, tuple(
            draw(st.sampled_from(left if r is Role.AFTER else right)) for r in sig)))
    return Fragment(tasks, tuple(specs), tuple(edges))


def parameters(roles: Sequence[Role]) -> tuple[str, ...]:
    """Parameter names for roles: ``a<i>`` for after, ``b<i>`` for before."""
    return tuple(f"{'a' if r is Role.AFTER else 'b'}{i}" for i, r in enumerate(roles))


@st.composite
def closed_types(draw: st.DrawFn, signatures: Mapping[str, tuple[Role, ...]],
                 children: Mapping[str, Signature] | None = None, *,
                 kinds: Sequence[str] = KINDS, min_productions: int = 1,
                 max_productions: int = 3, defaults: bool = True) -> dict[str, HoleType]:
    """Closed hole types with these signatures and random productions.

    Each type's first production has no holes, so every type can finish (and is a
    default that ends); the others hold holes of these types and of ``children``
    (mostly: a hole that cannot be attached along the line is left out).
    """
    every: dict[str, Signature] = {**(children or {}), **signatures}
    types: dict[str, HoleType] = {}
    for name, roles in signatures.items():
        params = parameters(roles)
        after = [p for p, r in zip(params, roles, strict=True) if r is Role.AFTER]
        before = [p for p, r in zip(params, roles, strict=True) if r is Role.BEFORE]
        frags = [draw(fragments(after, before, every if k else None, kinds=kinds,
                                min_holes=1 if k else 0))
                 for k in range(draw(st.integers(min_productions, max_productions)))]
        default = draw(st.sampled_from([None, "1"])) if defaults else None
        types[name] = hole_type(name, params, roles, frags, default=default)
    return types


def signature(htype: HoleType) -> Signature:
    """A hole type's roles in order, or None if it is attached everywhere."""
    return None if htype.everywhere else htype.roles
