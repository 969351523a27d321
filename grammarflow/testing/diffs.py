"""Raw diffs: what allowed expansions add, sent under fresh names, and the same spoilt
(an edge too many or too few, a task of another kind, a task where no hole is)."""

from __future__ import annotations

from hypothesis import strategies as st

from grammarflow.core.derivation import Derivation
from grammarflow.core.match import Diff
from grammarflow.core.productions import TaskSpec
from grammarflow.testing.expansions import allowed_expansions, expand
from grammarflow.testing.walks import downstream
from grammarflow.testing.writer import Draft, Writer, scratch_copy

__all__ = ["diff_extra_edge", "diff_missing_edge", "diff_nowhere", "diff_steps",
           "diff_wrong_kind", "legal_diff", "near_miss_diff", "scratch_diff"]


def scratch_diff(w: Writer, scratch: Derivation) -> Diff:
    """What ``scratch`` has that the derivation has not, as a raw diff under fresh
    names, its tasks and edges in a random order."""
    g = w.g
    new = [t for t in scratch.graph.tasks.values() if t.id not in g.tasks]
    names = {t.id: f"{w.prefix}_{i}" for i, t in enumerate(new)}
    edges = [(names.get(u, u), names.get(v, v)) for u, v in sorted(scratch.graph.edges())
             if not g.has_edge(u, v)]
    tasks = [TaskSpec(names[t.id], t.kind) for t in new]
    return Diff(w.shuffled(tasks), w.shuffled(edges))


def legal_diff(w: Writer) -> tuple[Diff, tuple[str, ...]] | None:
    """The diff of 1-3 allowed expansions that add something, with its tag."""
    return _expansions_diff(w, 1, set())


def near_miss_diff(w: Writer, least: int = 1) -> tuple[Diff, tuple[str, ...]] | None:
    """The diff of ``least``-3 allowed expansions that add something, to be spoilt: so
    mostly away from open holes (which might take it)."""
    away = not w.everywhere and not w.coin(4)
    return _expansions_diff(w, least, {a for h in w.open for a in h.args} if away else set())


def _expansions_diff(w: Writer, least: int, away: set[str]
                     ) -> tuple[Diff, tuple[str, ...]] | None:
    scratch = scratch_copy(w.d)
    steps = allowed_expansions(w, scratch, w.draw(st.integers(least, 3)), adding=True,
                               away=away)
    if not steps:
        return None
    return scratch_diff(w, scratch), ("diff/one step" if len(steps) == 1 else "diff/several steps",)


def diff_steps(w: Writer) -> Draft:
    legal = legal_diff(w)
    if legal is None:
        return expand(w)
    return Draft(legal[0], legal[1], legal=True)


def diff_extra_edge(w: Writer) -> Draft:
    legal = near_miss_diff(w)
    if legal is None:
        return diff_nowhere(w)
    diff, tags = legal
    new = [t.local for t in diff.tasks]
    ahead = downstream(new, diff.edges)
    pairs = [(u, v) for u in [*new, *w.g.tasks] for v in [*new, *w.pending]
             if u != v and (u, v) not in diff.edges and not w.g.has_edge(u, v)
             and not (u in new and v in new and u in ahead[v])]
    near = [(u, v) for u, v in pairs if u in new or v in new]
    if near and not w.coin(8):
        pairs = near
    if not pairs:
        return Draft(diff, tags)
    return Draft(Diff(diff.tasks, (*diff.edges, w.pick(pairs))),
                 (*tags, "diff/edge too many"))


def diff_missing_edge(w: Writer) -> Draft:
    legal = near_miss_diff(w)
    if legal is None or not legal[0].edges:
        return diff_extra_edge(w)
    diff, tags = legal
    drop = w.draw(st.integers(0, len(diff.edges) - 1))
    return Draft(Diff(diff.tasks, diff.edges[:drop] + diff.edges[drop + 1:]),
                 (*tags, "diff/edge too few"))


def diff_wrong_kind(w: Writer) -> Draft:
    where = w.vary("wrong kind", ["first", "later"])
    for _ in range(3):  # a later task needs a diff with two tasks or more
        legal = near_miss_diff(w, least=2)
        if legal is None or where == "first" or len(legal[0].tasks) > 1:
            break
    if legal is None or not legal[0].tasks:
        return diff_missing_edge(w)
    diff, tags = legal
    first = len(diff.tasks) == 1 or where == "first"
    at = 0 if first else w.draw(st.integers(1, len(diff.tasks) - 1))
    task = diff.tasks[at]
    kind = w.pick([k for k in w.kinds if k != task.kind])
    tasks = (*diff.tasks[:at], TaskSpec(task.local, kind), *diff.tasks[at + 1:])
    where = "diff/wrong kind first" if at == 0 else "diff/wrong kind later"
    return Draft(Diff(tasks, diff.edges), (*tags, where))


def diff_nowhere(w: Writer) -> Draft:
    name = f"{w.prefix}_0"
    edges = [(w.pick(sorted(w.g.tasks)), name)]
    if w.pending and w.coin():
        edges.append((name, w.pick(w.pending)))
    diff = Diff((TaskSpec(name, w.pick(w.kinds)),), tuple(edges))
    return Draft(diff, ("diff/no hole there",))
