"""Narrowings (productions removed from a hole type or from one hole), and the changes
that need what a narrowing removed."""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

from hypothesis import strategies as st

from grammarflow.core.steps import Expand, NarrowHole, NarrowType
from grammarflow.core.wellformed import productive_types
from grammarflow.testing.diffs import scratch_diff
from grammarflow.testing.expansions import adds, allowed_expansions
from grammarflow.testing.messages import Batch, production_diff
from grammarflow.testing.writer import Draft, Writer, scratch_copy, unnarrowed_copy

__all__ = ["narrow_hole", "narrow_type", "needs_removed"]


def narrow_type(w: Writer) -> Draft:
    """Productions removed from a hole type: some, all, an unknown one; or a type that
    does not exist, or an open one."""
    closed = sorted(n for n, t in w.types.items() if not t.open)
    opened = sorted(n for n, t in w.types.items() if t.open)
    way = w.vary("narrow type", ["some", "some", "some", "all", "unknown",
                                 "no type", *(["open"] if opened else [])])
    if way == "no type" or not closed:
        return Draft(NarrowType(w.fresh("T"), ("1",)), ("narrow type",), illegal=True)
    if way == "open":
        return Draft(NarrowType(w.pick(opened), ("1",)),
                     ("narrow type", "wrong step for the hole"), illegal=True)
    # mostly a type some hole has, and a narrowing that leaves every type a way to
    # finish (the checker's own rule, used to aim, not to judge: the oracles judge)
    live = sorted({h.type for h in w.closed})
    kept = {n: _narrowings(w, n) for n in live}
    aims = [n for n in live if kept[n]]
    htype = w.types[w.pick(aims if aims and not w.coin(4) else closed)]
    names = [p.name for p in htype.allowed()]
    if way == "some" and kept.get(htype.name):
        remove = list(w.pick(kept[htype.name]))
    else:
        remove = names if way == "all" else [w.pick(names)]
    if way == "unknown":
        remove.append("".join(p.name for p in htype.productions) + "x")
    illegal = not set(names) - set(remove) or not set(remove) <= set(names)
    # legal: every type keeps a way to finish, and every hole of this one too
    legal = tuple(remove) in kept.get(htype.name, []) and all(
        set(names) - set(remove) - ({p.name for p in htype.productions} - h.allowed
                                    if h.allowed is not None else set())
        for h in w.closed if h.type == htype.name)
    return Draft(NarrowType(htype.name, tuple(remove)), ("narrow type",), illegal, legal)


def _narrowings(w: Writer, name: str) -> list[tuple[str, ...]]:
    """Ways to remove some of a type's productions that leave every type productive."""
    htype = w.types[name]
    names = [p.name for p in htype.allowed()]
    out = []
    for k in range(1, len(names)):
        for remove in combinations(names, k):
            types = {**w.types, name: replace(htype, removed=htype.removed | set(remove))}
            if set(types) == productive_types(types):
                out.append(remove)
    return out


def narrow_hole(w: Writer) -> Draft:
    """Productions removed from one closed hole (some or all), or from an open hole."""
    if w.open and w.vary("narrow hole", ["closed"] * 5 + ["open"]) == "open":
        return Draft(NarrowHole(w.pick(w.open).id, ("1",)),
                     ("narrow hole", "wrong step for the hole"), illegal=True)
    choice = [h for h in w.closed
              if len(list(w.types[h.type].allowed(h.allowed))) > 1]
    hole = w.pick(choice if choice and not w.coin(4) else w.closed)
    names = [p.name for p in w.types[hole.type].allowed(hole.allowed)]
    if len(names) > 1 and w.vary("narrow hole names", ["some", "some", "all"]) == "some":
        remove = w.draw(st.lists(st.sampled_from(names[::-1]), min_size=1,
                                 max_size=len(names) - 1, unique=True))
    else:
        remove = names or [p.name for p in w.types[hole.type].productions]
    left = set(names) - set(remove)
    return Draft(NarrowHole(hole.id, tuple(remove)), ("narrow hole",),
                 illegal=not left, legal=bool(left) and set(remove) <= set(names))


def needs_removed(w: Writer, level: str | None = None) -> Draft:
    """A change that needs a production narrowed away (by type or for the hole)."""
    hole, name, level = w.pick([r for r in w.removed() if level in (None, r[2])])
    w.memory.used.add(("needs removed", level))
    tag = f"needs removed {level}"
    how = w.vary(tag, ["expand", "batch", "diff", "diff"])
    if how == "batch":
        scratch = scratch_copy(w.d)
        steps = allowed_expansions(w, scratch, w.draw(st.integers(0, 2)))
        at = w.draw(st.integers(0, len(steps)))
        return Draft(Batch((*steps[:at], Expand(hole.id, name), *steps[at:])),
                     ("batch/one bad member", tag), illegal=True)
    scratch = unnarrowed_copy(w.d)
    if how == "expand" or not adds(production_diff(scratch, hole, name)):
        return Draft(Expand(hole.id, name), ("expand", tag), illegal=True)
    steps = [Expand(hole.id, name)]
    scratch.apply(steps[0])
    steps += allowed_expansions(w, scratch, w.draw(st.integers(0, 2)), adding=True)
    many = "diff/several steps" if len(steps) > 1 else "diff/one step"
    return Draft(scratch_diff(w, scratch), (many, tag))
