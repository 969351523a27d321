"""Changes against the order of a run: a cycle (among the message's own new tasks, or
back along existing edges), and an edge into a task that has started."""

from __future__ import annotations

from hypothesis import strategies as st

from grammarflow.core.graph import Role
from grammarflow.core.match import Diff
from grammarflow.core.productions import Fragment, HoleSpec, TaskSpec
from grammarflow.core.steps import Grow, Refine, Step
from grammarflow.testing.diffs import legal_diff
from grammarflow.testing.open_fragments import endpoints
from grammarflow.testing.writer import Draft, Writer

__all__ = ["cycle_back", "cycle_in_message", "into_started"]


def into_started(w: Writer) -> Draft:
    """An edge into a task that has started (or a hole before one): never allowed."""
    target = w.pick(w.started)
    x = f"{w.prefix}_x"
    if w.everywhere and w.coin():
        hole = w.pick(w.everywhere)
        if w.coin():
            fragment = Fragment((TaskSpec(x, w.pick(w.kinds)),), (),
                                ((x, target),))
            return Draft(Grow(hole.id, fragment), ("grow", "into started"), True)
        typed = [n for n, t in w.types.items()
                 if not t.everywhere and Role.BEFORE in t.roles]
        if typed:
            htype = w.types[w.pick(sorted(typed))]
            args = tuple(target if r is Role.BEFORE else x for r in htype.roles)
            fragment = Fragment((TaskSpec(x, w.pick(w.kinds)),),
                                (HoleSpec(htype.name, args),))
            return Draft(Refine(hole.id, fragment), ("refine/holes", "into started"),
                         True)
    legal = legal_diff(w) if w.closed else None
    diff, tags = legal if legal is not None else (
        Diff((TaskSpec(x, w.pick(w.kinds)),)), ("diff/no hole there",))
    sources = [t for t in w.g.tasks if t != target and not w.g.has_edge(t, target)]
    source = w.pick([t.local for t in diff.tasks] or sources or [x])
    if source == x:
        diff = Diff((TaskSpec(x, w.pick(w.kinds)),), diff.edges)
    return Draft(Diff(diff.tasks, (*diff.edges, (source, target))), (*tags, "into started"),
                 True)


def cycle_in_message(w: Writer) -> Draft:
    """New tasks (and a hole) that form a cycle among themselves."""
    xs = [f"{w.prefix}_{i}" for i in range(w.draw(st.integers(1, 3)))]
    tasks = tuple(TaskSpec(x, w.pick(w.kinds)) for x in xs)
    loop = tuple(zip(xs, [*xs[1:], xs[0]], strict=True))
    if w.open and w.coin():
        hole = w.pick(w.open)
        sources, _ = endpoints(w, hole)
        edges = ((w.pick(sources), xs[0]), *loop) if sources else loop
        via = [n for n, t in w.types.items()
               if not t.everywhere and Role.AFTER in t.roles and Role.BEFORE in t.roles]
        if via and len(xs) > 1 and w.coin():
            # xs[0] -> ... -> xs[-1], then a hole after xs[-1] and before xs[0]
            htype = w.types[w.pick(sorted(via))]
            args = tuple(xs[-1] if r is Role.AFTER else xs[0] for r in htype.roles)
            fragment = Fragment(tasks, (HoleSpec(htype.name, args),), edges[:-1])
            return Draft(Refine(hole.id, fragment),
                         ("refine/holes", "cycle/in one message"), True)
        step: Step = (Grow if w.coin() else Refine)(hole.id, Fragment(tasks, (), edges))
        tag = "grow" if isinstance(step, Grow) else "refine/plain"
        return Draft(step, (tag, "cycle/in one message"), True)
    edges = ((w.pick(sorted(w.g.tasks)), xs[0]), *loop)
    return Draft(Diff(tasks, edges), ("cycle/in one message",), True)


def cycle_back(w: Writer) -> Draft:
    """An edge back from a task to one that runs before it and has not started, in one
    step or along an edge an earlier message added through a hole attached everywhere."""
    cycles = w.cycles_back()
    wide = [c for c in cycles if c[2]]
    plain = [c for c in cycles if not c[2]]
    way_back = w.vary("way back", [*(["wide"] if wide else []),
                                   *(["plain"] if plain else [])])
    u, v, through = w.pick(wide if way_back == "wide" else plain)
    tag = "cycle/several steps" if through else "cycle/one step"
    hole = w.pick(w.everywhere)
    x = f"{w.prefix}_0"
    way = w.vary("cycle back", ["edge", "task", "diff", "hole"])
    if way == "edge":
        return Draft(Grow(hole.id, Fragment(edges=((u, v),))), ("grow", tag), True)
    if way == "task":
        fragment = Fragment((TaskSpec(x, w.pick(w.kinds)),), (), ((u, x), (x, v)))
        return Draft(Grow(hole.id, fragment), ("grow", tag), True)
    typed = [n for n, t in w.types.items()
             if not t.everywhere and Role.AFTER in t.roles and Role.BEFORE in t.roles]
    if way == "hole" and typed:
        htype = w.types[w.pick(sorted(typed))]
        args = tuple(u if r is Role.AFTER else v for r in htype.roles)
        return Draft(Refine(hole.id, Fragment(holes=(HoleSpec(htype.name, args),))),
                     ("refine/holes", tag), True)
    diff = Diff((TaskSpec(x, w.pick(w.kinds)),), ((u, x), (x, v)))
    return Draft(diff, ("diff/no hole there", tag), True)
