"""What an upgrade changes of a run's possible futures: the run as it stands under the old
version against the same run re-derived under the new one.

For each hole still open, the alternatives added and removed (a production compared by
its name, its guard and what it makes, hole types renamed as the upgrade renames them);
holes that appear or go; tasks still to run that appear or go; kinds that could run
before and no longer can (or the reverse), and the bounds of the analysis
(:mod:`grammarflow.core.analysis`) before and after. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from grammarflow.core.analysis import Analysis, Bounds, analyze_graph
from grammarflow.core.derivation import Derivation
from grammarflow.core.formatting import format_fragment
from grammarflow.core.graph import Hole, TaskState
from grammarflow.core.productions import Fragment, HoleType, Production
from grammarflow.core.upgrade import rename_id

__all__ = ["Futures", "HoleChange", "compare"]


@dataclass(frozen=True, slots=True)
class HoleChange:
    """A hole whose alternatives changed: those of the new version it did not have
    (``added``, by production name), those it had that the new one lacks (``removed``,
    the old productions themselves, to be drawn), and those of one name that make or
    guard something else now (``changed``: name, what it was, what it is)."""

    hole: str
    type: str
    added: tuple[str, ...]
    removed: tuple[Production, ...]
    changed: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class Futures:
    """The difference of possible futures (see the module)."""

    holes: tuple[HoleChange, ...] = ()
    holes_new: tuple[str, ...] = ()
    holes_gone: tuple[str, ...] = ()
    tasks_new: tuple[str, ...] = ()  # still to run, made by the new version only
    tasks_gone: tuple[str, ...] = ()  # were still to run; the new version never makes them
    kinds_lost: tuple[str, ...] = ()  # could run before, can no longer
    kinds_gained: tuple[str, ...] = ()
    tasks: tuple[Bounds, Bounds] = (Bounds(0, 0), Bounds(0, 0))  # before, after
    chain: tuple[int | None, int | None] = (0, 0)
    kinds: Mapping[str, tuple[Bounds | None, Bounds | None]] = field(default_factory=dict)

    @property
    def same(self) -> bool:
        """Nothing of the run's futures changes."""
        return not (self.holes or self.holes_new or self.holes_gone or self.tasks_new
                    or self.tasks_gone or self.kinds_lost or self.kinds_gained
                    or self.tasks[0] != self.tasks[1] or self.chain[0] != self.chain[1]
                    or self.kinds)

    def lines(self) -> list[str]:
        """The difference in words, a line each."""
        out = []
        for c in self.holes:
            if c.added:
                out.append(f"+ hole {c.hole} ({c.type}) may now become: {', '.join(c.added)}")
            if c.removed:
                shown = "; ".join(f"({p.name}) {format_fragment(p.fragment)}"
                                  for p in c.removed)
                out.append(f"- hole {c.hole} ({c.type}) may no longer become: {shown}")
            out += [f"~ hole {c.hole} ({c.type}): production {name} was {was}, is {now}"
                    for name, was, now in c.changed]
        out += [f"+ hole {h} appears" for h in self.holes_new]
        out += [f"- hole {h} goes" for h in self.holes_gone]
        out += [f"+ task {t} is still to run" for t in self.tasks_new]
        out += [f"- task {t} no longer runs" for t in self.tasks_gone]
        out += [f"- kind {k} can no longer run" for k in self.kinds_lost]
        out += [f"+ kind {k} can now run" for k in self.kinds_gained]
        for k, (a, b) in sorted(self.kinds.items()):
            if a is not None and b is not None:
                out.append(f"~ tasks of kind {k}: {a} -> {b}")
        if self.tasks[0] != self.tasks[1]:
            out.append(f"~ tasks in all: {self.tasks[0]} -> {self.tasks[1]}")
        if self.chain[0] != self.chain[1]:
            out.append(f"~ longest chain: {_chain(self.chain[0])} -> {_chain(self.chain[1])}")
        return out or ["= the run's possible futures are the same"]

    def to_json(self) -> dict[str, object]:
        return {
            "holes": [{"hole": c.hole, "type": c.type, "added": list(c.added),
                       "removed": [p.name for p in c.removed],
                       "changed": [name for name, _, _ in c.changed]} for c in self.holes],
            "holes_new": list(self.holes_new), "holes_gone": list(self.holes_gone),
            "tasks_new": list(self.tasks_new), "tasks_gone": list(self.tasks_gone),
            "kinds_lost": list(self.kinds_lost), "kinds_gained": list(self.kinds_gained),
            "kinds": {k: [a.to_json() if a else None, b.to_json() if b else None]
                      for k, (a, b) in sorted(self.kinds.items())},
            "tasks": [self.tasks[0].to_json(), self.tasks[1].to_json()],
            "longest_chain": list(self.chain), "same": self.same}


def _chain(n: int | None) -> str:
    return "unbounded" if n is None else str(n)


def compare(old: Derivation, new: Derivation, renamed: Mapping[str, str]) -> Futures:
    """The futures of the run ``old`` against those of ``new``, the same run re-derived
    under the new version (old ids re-mapped by ``renamed``)."""
    og, ng = old.graph, new.graph
    old_holes = {rename_id(h, renamed): hole for h, hole in og.holes.items()}
    changes = []
    for hid, hole in ng.holes.items():
        was = old_holes.get(hid)
        if was is None:
            continue
        before = _alternatives(was, old.grammar.types[was.type], renamed)
        after = _alternatives(hole, new.grammar.types[hole.type], {})
        added = tuple(n for n in after if n not in before)
        removed = tuple(p for n, (_, p) in before.items() if n not in after)
        changed = tuple((n, before[n][0], text) for n, (text, _) in after.items()
                        if n in before and before[n][0] != text)
        if added or removed or changed:
            changes.append(HoleChange(hid, hole.type, added, removed, changed))
    old_pending = {rename_id(t, renamed) for t, s in og.state.items() if s is TaskState.PENDING}
    new_pending = {t for t, s in ng.state.items() if s is TaskState.PENDING}
    a, b = analyze_graph(old.grammar, og), analyze_graph(new.grammar, ng)
    return Futures(
        holes=tuple(changes),
        holes_new=tuple(sorted(set(ng.holes) - set(old_holes))),
        holes_gone=tuple(sorted(set(old_holes) - set(ng.holes))),
        tasks_new=tuple(sorted(new_pending - {rename_id(t, renamed) for t in og.tasks})),
        tasks_gone=tuple(sorted(old_pending - set(ng.tasks))),
        kinds_lost=tuple(sorted(set(a.kinds) - set(b.kinds))),
        kinds_gained=tuple(sorted(set(b.kinds) - set(a.kinds))),
        tasks=(a.tasks, b.tasks), chain=(a.chain, b.chain), kinds=_kind_bounds(a, b))


def _kind_bounds(a: Analysis, b: Analysis) -> dict[str, tuple[Bounds | None, Bounds | None]]:
    """Kinds whose count in a finished run changed, and were possible before and after."""
    return {k: (a.kinds[k], b.kinds[k]) for k in set(a.kinds) & set(b.kinds)
            if a.kinds[k] != b.kinds[k]}


def _alternatives(hole: Hole, t: HoleType, renamed: Mapping[str, str]
                  ) -> dict[str, tuple[str, Production]]:
    """The hole's productions still allowed, by name: what each is in words (its guard,
    what it makes, the hole types in it renamed), and itself."""
    out = {}
    for p in t.allowed(hole.allowed):
        marks = ", ".join(g.label() for g in (p.guard, p.condition) if g is not None)
        made = format_fragment(_rename_types(p.fragment, renamed))
        out[p.name] = (f"[{marks}] {made}" if marks else made, p)
    return out


def _rename_types(fragment: Fragment, renamed: Mapping[str, str]) -> Fragment:
    if not renamed or not any(h.type in renamed for h in fragment.holes):
        return fragment
    data = fragment.to_json()
    data["holes"] = [{**h, "type": renamed.get(h["type"], h["type"])} for h in data["holes"]]
    return Fragment.from_json(data)
