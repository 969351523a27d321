"""Open holes: a change no production explains is taken whole by an open hole that
admits it (a ``Grow`` step)."""

from __future__ import annotations

from collections.abc import Mapping

from grammarflow.core.derivation import Derivation
from grammarflow.core.match.diff import Elements
from grammarflow.core.productions import Fragment, TaskSpec
from grammarflow.core.steps import Grow

__all__ = ["existing_ends", "first_hole", "grow_for"]


def existing_ends(tasks: Mapping[str, object], el: Elements) -> list[str]:
    return sorted({n for e in el.edges for n in e if n in tasks})


def grow_for(d: Derivation, el: Elements, sender: str | None = None) -> Grow | None:
    """A step through an open hole that admits the whole diff, if one does: one
    attached where the diff touches the graph, else one attached everywhere. A diff
    that touches no task of the graph (tasks alone, or with edges only among them) is
    glued to nothing, so any open hole admits it: one attached to the ``sender`` (the
    task that sent it) first, then the others by id, else one attached everywhere; its
    constraints then judge it, as they judge any growth."""
    g = d.graph
    candidates: list[str] = []
    ends = existing_ends(g.tasks, el)
    for a in ends:
        candidates.extend(sorted(g.holes_at(a)))
    if not ends:
        if sender is not None and sender in g.tasks:
            candidates.extend(sorted(g.holes_at(sender)))
        candidates.extend(sorted(h for name, t in d.grammar.types.items()
                                 if t.open and not t.everywhere
                                 for h in g.holes_of_type(name)))
    candidates.extend(g.everywhere_holes())
    for hid in dict.fromkeys(candidates):
        hole = g.holes[hid]
        if not d.grammar.types[hole.type].open:
            continue
        if hole.everywhere or _fits_open(el, hole.after, hole.before):
            return Grow(hid, Fragment(
                tasks=tuple(TaskSpec(n, k, el.attrs[n]) for n, k in el.kind.items()),
                edges=tuple(el.edges)))
    return None


def _fits_open(el: Elements, after: tuple[str, ...], before: tuple[str, ...]) -> bool:
    return all((u in el.kind or u in after) and (v in el.kind or v in before)
               for u, v in el.edges)


def first_hole(d: Derivation, el: Elements) -> str | None:
    """The first closed hole of the graph attached where the diff touches it."""
    for a in existing_ends(d.graph.tasks, el):
        for hid in sorted(d.graph.holes_at(a)):
            if not d.grammar.types[d.graph.holes[hid].type].open:
                return hid
    return None
