"""Open holes refined: replaced by tasks, edges and holes of the grammar's types or of
fresh ones, and the same done wrong (holes attached wrongly, fresh types that must not
be declared, a fragment that fails only once applied)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from hypothesis import strategies as st

from grammarflow.core.graph import Hole, Role
from grammarflow.core.productions import (
    Fragment,
    HoleSpec,
    HoleType,
    Production,
    TaskSpec,
    open_type,
)
from grammarflow.core.steps import Refine
from grammarflow.testing.open_fragments import fragment_in, outside
from grammarflow.testing.pieces import closed_types, signature
from grammarflow.testing.writer import Draft, Writer

__all__ = ["refine", "wrong_arity"]


def refine(w: Writer) -> Draft:
    """An open hole replaced by tasks, edges and holes (of the grammar's types or of
    fresh ones), or the same done wrong."""
    how, bad = w.vary("refine", [
        *((how, bad) for how in ("plain", "holes", "fresh types", "fresh open type",
                                 "fresh everywhere type") for bad in (False, True)),
        ("fresh open type", False), ("fresh everywhere type", False)])
    tag = f"refine/{how}"
    # A hole attached everywhere may surely hold one that is too; the others go
    # mostly to bounded holes (a hole attached everywhere, once refined, is gone).
    bounded = [h for h in w.open if not h.everywhere]
    if how == "fresh everywhere type" and w.everywhere and not w.coin(8):
        hole = w.pick(w.everywhere)
    else:
        hole = w.pick(bounded if bounded and not w.coin(3) else w.open)
    if how == "plain":
        fragment = fragment_in(w, hole)
        if bad and not hole.everywhere:
            return Draft(Refine(hole.id, outside(w, hole, fragment)), (tag,), True)
        return Draft(Refine(hole.id, fragment), (tag,), legal=True)
    if how == "holes":
        known = {n: signature(t) for n, t in w.types.items()}
        fragment = fragment_in(w, hole, known, min_holes=1)
        if bad and fragment.holes:
            return _bad_holes(w, hole, fragment, tag)
        return Draft(Refine(hole.id, fragment), (tag,),
                     legal=not _widens(hole, fragment, w.types))
    fresh = _fresh_types(w, how)
    fragment = fragment_in(w, hole, {n: signature(t) for n, t in fresh.items()},
                           min_holes=1)
    if bad:
        return _bad_types(w, hole, fragment, fresh, tag)
    if hole.everywhere and not w.coin(3):  # and anything may still go anywhere
        fragment = replace(fragment, holes=(*fragment.holes, HoleSpec(hole.type, ("*",))))
    return Draft(Refine(hole.id, fragment, tuple(fresh.values())), (tag,),
                 legal=not _widens(hole, fragment, {**w.types, **fresh}))


def wrong_arity(w: Writer) -> Draft:
    """A refinement with a hole given one argument too many (attached everywhere:
    given any argument)."""
    hole = w.pick(w.open)
    name = w.pick(sorted(w.types))
    htype = w.types[name]
    task = w.pick(sorted(w.g.tasks))
    args = (task,) if htype.everywhere else (*(task,) * len(htype.params), task)
    return Draft(Refine(hole.id, Fragment(holes=(HoleSpec(name, args),))),
                 ("refine/holes",), illegal=True)


def _widens(hole: Hole, fragment: Fragment, types: Mapping[str, HoleType]) -> bool:
    """Could the fragment, in a hole between named tasks, lead to a hole attached
    everywhere (through its holes' productions)? That would widen the promise, so a
    checker may refuse it (or bound what grows there): not built to be legal."""
    if hole.everywhere:
        return False
    seen: set[str] = set()
    todo = [h.type for h in fragment.holes if h.type in types]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if types[name].everywhere:
            return True
        todo += [c.type for p in types[name].productions for c in p.fragment.holes
                 if c.type in types]
    return False


def _fresh_types(w: Writer, how: str) -> dict[str, HoleType]:
    """New hole types for a refinement: one open, one attached everywhere, or 1-2
    closed ones with random productions."""
    if how == "fresh open type":
        name = w.fresh("O")
        return {name: open_type(name, ("a0", "b1"), (Role.AFTER, Role.BEFORE))}
    if how == "fresh everywhere type":
        name = w.fresh("E")
        return {name: open_type(name, everywhere=True)}
    signatures = {}
    for i in range(w.draw(st.integers(1, 2))):
        roles = [Role.AFTER] * w.draw(st.integers(1, 2))
        roles += [Role.BEFORE] * w.draw(st.integers(0, 2))
        signatures[f"{w.fresh('F')}{i}"] = tuple(w.draw(st.permutations(roles)))
    known = {n: signature(t) for n, t in w.types.items()}
    return w.draw(closed_types(signatures, known, kinds=w.kinds, max_productions=2))


def _bad_holes(w: Writer, hole: Hole, fragment: Fragment, tag: str) -> Draft:
    """One hole of the fragment attached wrongly: an argument too many, a type
    nobody declared, one attached everywhere given a task, or (bounded) an argument
    in the wrong role or outside the attachment."""
    spec = fragment.holes[0]
    htype = w.types[spec.type]
    swaps = [] if hole.everywhere or htype.everywhere else [
        (i, a) for i, r in enumerate(htype.roles)
        for a in (hole.after if r is Role.BEFORE else hole.before)]
    elsewhere = [] if hole.everywhere or htype.everywhere else [
        t for t in w.g.tasks if t not in hole.args]
    everywhere = sorted(n for n, t in w.types.items() if t.everywhere)
    way = w.vary("bad holes", [
        "count", "count", "undeclared", *(["role"] if swaps else []),
        *(["elsewhere"] if elsewhere and spec.args else []),
        *(["everywhere"] if everywhere else [])])
    if way == "everywhere":
        wrong = HoleSpec(w.pick(everywhere), (w.pick(sorted(w.g.tasks)),))
    elif way == "count":
        wrong = HoleSpec(spec.type, (*spec.args, w.pick(sorted(w.g.tasks))))
    elif way == "undeclared":
        wrong = HoleSpec(w.fresh("U"), spec.args)
    else:
        i, arg = w.pick(swaps) if way == "role" else (
            w.draw(st.integers(0, len(spec.args) - 1)), w.pick(elsewhere))
        wrong = HoleSpec(spec.type, (*spec.args[:i], arg, *spec.args[i + 1:]))
    holes = (wrong, *fragment.holes[1:])
    return Draft(Refine(hole.id, replace(fragment, holes=holes)), (tag,), illegal=True)


def _bad_types(w: Writer, hole: Hole, fragment: Fragment, fresh: dict[str, HoleType],
               tag: str) -> Draft:
    """Fresh types a refinement must not declare: a name that exists, a type that
    can never finish, a production with a cycle; or an everywhere hole with args;
    or good fresh types in a fragment that fails only once it is being applied."""
    name, htype = next(iter(fresh.items()))
    late = _fails_late(w, hole, fragment)
    ways = ["clash", *(["late", "late"] if late else [])]
    if htype.everywhere:
        ways += ["args", "args"]
    elif not htype.open:
        ways += ["unproductive", "cycle", "undeclared", "count", "count"]
    way = w.vary("bad types", ways)
    types = dict(fresh)
    holes = fragment.holes
    if way == "late" and late:
        return Draft(Refine(hole.id, late[0], tuple(fresh.values())), (tag, *late[1]),
                     illegal=True)
    if way == "clash":
        clash = w.pick(sorted(w.types))
        types[name] = replace(htype, name=clash, productions=tuple(
            replace(p, lhs=clash) for p in htype.productions))
        holes = tuple(HoleSpec(clash if h.type == name else h.type, h.args) for h in holes)
    elif way == "args":
        holes = tuple(HoleSpec(h.type, (w.pick(sorted(w.g.tasks)),))
                      if h.type == name else h for h in holes)
    elif way == "unproductive":
        again = Production(name, htype.params, Fragment(holes=(
            HoleSpec(name, htype.params),)), "1")
        types[name] = replace(htype, productions=(again,), default=None)
    else:
        wrong = {"cycle": Fragment((TaskSpec("N0", "A"), TaskSpec("N1", "B")), (),
                                   (("N0", "N1"), ("N1", "N0"))),
                 "undeclared": Fragment(holes=(HoleSpec(w.fresh("U"), ()),)),
                 "count": Fragment(holes=(HoleSpec(name, (*htype.params,
                                                          htype.params[0])),))}[way]
        types[name] = replace(htype, productions=(
            *htype.productions, Production(name, htype.params, wrong, "wrong")))
    tags = (tag, "cycle/in one message") if way == "cycle" else (tag,)
    return Draft(Refine(hole.id, replace(fragment, holes=holes), tuple(types.values())),
                 tags, illegal=True)


def _fails_late(w: Writer, hole: Hole, fragment: Fragment
                ) -> tuple[Fragment, tuple[str, ...]] | None:
    """The fragment changed so that it passes every check on its own and fails only
    when applied (after its fresh types are in): a new task under an id the hole
    gave before, an edge into a task that has started, or one closing a cycle."""
    grown = w.memory.grown.get(hole.id, [])
    ways = [*(["reused id"] if grown else []),
            *(["into started", "cycle"] if hole.everywhere else [])]
    if not ways:
        return None
    way = w.pick(ways)
    x = f"{w.prefix}_late"
    if way == "reused id":
        local = w.pick(grown)
        tasks = (*fragment.tasks, TaskSpec(local, w.pick(w.kinds)))
        return replace(fragment, tasks=tasks), ()
    if way == "into started" and w.started:
        tasks = (*fragment.tasks, TaskSpec(x, w.pick(w.kinds)))
        edges = (*fragment.edges, (x, w.pick(w.started)))
        return replace(fragment, tasks=tasks, edges=edges), ("into started",)
    cycles = w.cycles_back()
    if not cycles:
        return None
    u, v, wide = w.pick(cycles)
    tag = "cycle/several steps" if wide else "cycle/one step"
    return replace(fragment, edges=(*fragment.edges, (u, v))), (tag,)
