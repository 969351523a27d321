"""Fragments an open hole admits (new tasks on a line from its after- to its
before-tasks), and one edge it does not admit."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import strategies as st

from grammarflow.core.graph import Hole, Role
from grammarflow.core.growing import kinds_for
from grammarflow.core.productions import EVERYWHERE, Fragment, HoleSpec, TaskSpec
from grammarflow.testing.pieces import Signature
from grammarflow.testing.walks import downstream
from grammarflow.testing.writer import Writer

__all__ = ["endpoints", "fragment_in", "outside"]


def endpoints(w: Writer, hole: Hole) -> tuple[list[str], list[str]]:
    """Existing tasks a legal fragment in ``hole`` may leave, and enter."""
    if not hole.everywhere:
        return list(hole.after), list(hole.before)
    targets = sorted({w.pick(w.pending)
                      for _ in range(w.draw(st.integers(0, 2)) if w.pending else 0)})
    below: set[str] = set()
    for after in downstream(targets, (), w.g).values():
        below |= after
    return [t for t in w.g.tasks if t not in below and t not in targets], targets


def fragment_in(w: Writer, hole: Hole, holes: Mapping[str, Signature] | None = None,
                min_holes: int = 0) -> Fragment:
    """A fragment the open ``hole`` admits: new tasks on a line from its after- to
    its before-tasks, and holes of ``holes`` attached forward along it."""
    sources, targets = endpoints(w, hole)
    new = [f"{w.prefix}_{i}" for i in range(w.draw(st.integers(0, 3)))]
    edges: list[tuple[str, str]] = []
    for i, x in enumerate(new):
        if sources and w.coin():
            edges.append((w.pick(sources), x))
        edges += [(x, y) for y in new[i + 1:] if w.coin(3)]
        if targets and w.coin():
            edges.append((x, w.pick(targets)))
    if not new and sources and targets and w.coin():
        edges.append((w.pick(sources), w.pick(targets)))
    specs = []
    for _ in range(w.draw(st.integers(min_holes, 2)) if holes else 0):
        name = w.pick(sorted(holes or {}))
        sig = (holes or {})[name]
        if sig is None:
            specs.append(HoleSpec(name, (EVERYWHERE,)))
            continue
        split = w.draw(st.integers(0, len(new)))
        left, right = [*sources, *new[:split]], [*new[split:], *targets]
        if (Role.AFTER in sig and not left) or (Role.BEFORE in sig and not right):
            continue
        specs.append(HoleSpec(name, tuple(w.pick(left if r is Role.AFTER else right)
                                          for r in sig)))
    kinds = kinds_for(w.d, hole, w.kinds)  # those its constraints name first, if any
    tasks = tuple(TaskSpec(x, w.pick(kinds)) for x in new)
    return Fragment(tasks, tuple(specs), tuple(dict.fromkeys(edges)))


def outside(w: Writer, hole: Hole, fragment: Fragment) -> Fragment:
    """The fragment with one edge a bounded hole does not admit: from a task it
    comes before, into a task it comes after, or to a task it is not attached to."""
    x = fragment.tasks[0].local if fragment.tasks else f"{w.prefix}_x"
    tasks = fragment.tasks or (TaskSpec(x, w.pick(w.kinds)),)
    ways = {"into after": [(x, a) for a in hole.after],
            "from before": [(b, x) for b in hole.before],
            "elsewhere": [(x, t) for t in w.pending if t not in hole.args][:3]}
    way = w.vary("outside", [o for o in ("into after", "from before", "elsewhere",
                                         "elsewhere") if ways[o]])
    return Fragment(tasks, fragment.holes, (*fragment.edges, w.pick(ways[way])))
