"""Open holes grown: a raw fragment through one (legal or not), the same as a raw
diff, and a grow or refine sent to a closed hole."""

from __future__ import annotations

from grammarflow.core.match import Diff
from grammarflow.core.productions import Fragment, TaskSpec
from grammarflow.core.steps import Grow, Refine
from grammarflow.testing.open_fragments import fragment_in, outside
from grammarflow.testing.pieces import signature
from grammarflow.testing.writer import Draft, Writer

__all__ = ["diff_open", "grow", "open_step_on_closed"]


def grow(w: Writer) -> Draft:
    """A raw fragment through an open hole: one it admits, or a task again under a name
    the hole gave before, an edge it does not admit, or holes (only refine adds them)."""
    hole = w.pick(w.open)
    grown = w.memory.grown.get(hole.id, [])
    way = w.vary("grow", ["legal", "legal", "holes",
                          *([] if hole.everywhere else ["outside"]),
                          *(["reused id"] if grown else [])])
    if way == "legal":
        return Draft(Grow(hole.id, fragment_in(w, hole)), ("grow",), legal=True)
    if way == "reused id":  # a task again under a name this hole gave before
        local = w.pick(grown)
        return Draft(Grow(hole.id, Fragment((TaskSpec(local, w.pick(w.kinds)),))),
                     ("grow",), illegal=True)
    if way == "outside":
        return Draft(Grow(hole.id, outside(w, hole, fragment_in(w, hole))), ("grow",),
                     illegal=True)
    # a raw change takes no holes (refine does)
    known = {n: signature(t) for n, t in w.types.items()}
    fragment = fragment_in(w, hole, known, min_holes=1)
    return Draft(Grow(hole.id, fragment), ("grow",), illegal=bool(fragment.holes))


def diff_open(w: Writer) -> Draft:
    """What an open hole may grow, as a raw diff: it (or another open hole) takes it,
    surely if an edge joins it to the hole's tasks or a hole is attached everywhere."""
    hole = w.pick(w.open)
    fragment = fragment_in(w, hole)
    touches = any(u in hole.args or v in hole.args for u, v in fragment.edges)
    legal = bool(fragment.tasks) and (bool(w.everywhere) or touches)
    return Draft(Diff(fragment.tasks, fragment.edges), ("diff/open hole",), legal=legal)


def open_step_on_closed(w: Writer) -> Draft:
    """Grow or refine a closed hole: it only becomes one of its productions."""
    hole = w.pick(w.closed)
    fragment = Fragment((TaskSpec(f"{w.prefix}_0", w.pick(w.kinds)),),
                        (), tuple((a, f"{w.prefix}_0") for a in hole.after[:1]))
    if w.vary("on closed", ["grow", "refine"]) == "grow":
        return Draft(Grow(hole.id, fragment), ("grow", "wrong step for the hole"), True)
    return Draft(Refine(hole.id, fragment), ("refine/plain", "wrong step for the hole"),
                 True)
