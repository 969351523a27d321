"""Expansions named for holes, alone or in a batch: the legal ones, and ones that
must be refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import strategies as st

from grammarflow.core.derivation import Derivation
from grammarflow.core.match import Diff
from grammarflow.core.steps import Expand
from grammarflow.testing.messages import Batch, production_diff
from grammarflow.testing.writer import Draft, Writer, scratch_copy

__all__ = ["adds", "allowed_expansions", "batch", "batch_bad", "expand",
           "expand_wrong"]


def adds(diff: Diff) -> bool:
    """Whether a raw diff adds anything: a task or an edge."""
    return bool(diff.tasks or diff.edges)


def expand(w: Writer) -> Draft:
    """A production named for a closed hole: one it allows, if any is left."""
    hole = w.pick(w.closed)
    htype = w.types[hole.type]
    allowed = [p.name for p in htype.allowed(hole.allowed)]
    # (a hole narrowed to nothing has no production left: any one must be refused)
    prod = htype.production(w.later(allowed or [p.name for p in htype.productions]))
    attrs: dict[str, dict[str, Any]] = {}
    if prod.fragment.tasks and w.coin(3):
        attrs[w.pick(prod.fragment.locals)] = {"n": w.memory.serial}
    return Draft(Expand(hole.id, prod.name, attrs), ("expand",), illegal=not allowed,
                 legal=bool(allowed))


def expand_wrong(w: Writer) -> Draft:
    """An expansion that must be refused."""
    bad, tags = _bad_expansion(w, [])
    return Draft(bad, ("expand", *tags), illegal=True)


def _bad_expansion(w: Writer, earlier: Sequence[Expand]) -> tuple[Expand, tuple[str, ...]]:
    """An expansion that must be refused after ``earlier`` (members of its batch)."""
    ways = ["not a hole"]
    if earlier:
        ways.append("consumed")
    if w.closed:
        ways += ["no such production", "attrs for nothing", "attrs for nothing"]
    if w.open:
        ways.append("open hole")
    if w.removed():
        ways.append("removed")
    way = w.vary("bad expansion", ways)
    if way == "consumed":
        done = w.pick(earlier)
        return Expand(done.hole, done.production), ()
    if way == "open hole":
        return Expand(w.pick(w.open).id, "1"), ("wrong step for the hole",)
    if way == "removed":
        hole, name, level = w.pick(w.removed())
        return Expand(hole.id, name), (f"needs removed {level}",)
    if way == "not a hole":
        return Expand(w.pick(sorted(w.g.tasks)), "1"), ()
    hole = w.pick(w.closed)
    htype = w.types[hole.type]
    names = [p.name for p in htype.productions]
    if way == "no such production":
        return Expand(hole.id, "".join(names) + "x"), ()
    prod = htype.production(w.pick(names))
    local = "".join(prod.fragment.locals) + "x"
    return Expand(hole.id, prod.name, {local: {"n": 1}}), ()


def allowed_expansions(w: Writer, scratch: Derivation, count: int, *, adding: bool = False,
                       away: set[str] | frozenset[str] = frozenset()) -> list[Expand]:
    """Up to ``count`` allowed expansions applied to ``scratch``, often nested (a
    hole the previous one made); ``adding``: each adds a task or a new edge;
    the first on a hole attached to none of the tasks ``away`` (if there is one)."""
    steps: list[Expand] = []
    children: list[str] = []
    for _ in range(count):
        g = scratch.graph
        choices = {}
        for hid in sorted(g.holes):
            hole = g.holes[hid]
            if not steps and away and away.intersection(hole.args) and any(
                    not away.intersection(h.args) for h in g.holes.values()):
                continue
            names = [p.name for p in scratch.grammar.types[hole.type].allowed(hole.allowed)]
            if adding:
                names = [n for n in names if adds(production_diff(scratch, hole, n))]
            if names:
                choices[hid] = names
        inner = [h for h in children if h in choices]
        pool = inner if inner and not w.coin(4) else sorted(choices)
        if not pool:
            break
        hole = g.holes[w.pick(pool)]
        step = Expand(hole.id, w.later(choices[hole.id]))
        children = list(scratch.apply(step).holes)
        steps.append(step)
    return steps


def batch(w: Writer) -> Draft:
    """Two or three allowed expansions, often nested, in one message."""
    steps = allowed_expansions(w, scratch_copy(w.d), w.draw(st.integers(2, 3)))
    return Draft(Batch(tuple(steps)), ("batch",), legal=True)


def batch_bad(w: Writer) -> Draft:
    """A batch with one member that must be refused, anywhere in it."""
    steps = allowed_expansions(w, scratch_copy(w.d), w.draw(st.integers(0, 2)))
    at = w.draw(st.integers(0, len(steps)))
    bad, tags = _bad_expansion(w, steps[:at])
    return Draft(Batch((*steps[:at], bad, *steps[at:])), ("batch/one bad member", *tags),
                 illegal=True)
