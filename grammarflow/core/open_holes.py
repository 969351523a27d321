"""Open holes: a raw change grows one, a refinement replaces one (with fresh hole types
and holes), a constraint narrows what it admits — each checked against its attachment,
its constraints and acyclicity (proofs/01-soundness.md, proofs/05-acyclicity.md).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from grammarflow.core.constraints import Constraint, check_constraint, fragment_breaks
from grammarflow.core.cosmetics import cosmetic_part, promise_refusal
from grammarflow.core.graph import Hole, Role, TaskState
from grammarflow.core.plans import compile_fragment
from grammarflow.core.productions import Fragment, HoleType
from grammarflow.core.resolve import Vocabulary, unresolved
from grammarflow.core.steps import Applied, Constrain, Grow, Refine
from grammarflow.core.wellformed import check_fragment, reachable_types
from grammarflow.errors import Attempt, BrokenPromise, GrammarflowError, Why, why_of

if TYPE_CHECKING:  # annotations only: the derivation calls these, passing itself
    from grammarflow.core.derivation import Derivation
    from grammarflow.core.grammar import Grammar


def open_hole(d: Derivation, hole_id: str, what: str) -> tuple[Hole, HoleType]:
    hole = d.hole(hole_id)
    htype = d.grammar.types[hole.type]
    if not htype.open:
        raise BrokenPromise(
            f"hole {hole.id} ({hole.type}) is not open: it only becomes one of its "
            f"productions, so it cannot take a {what}", why=Why.WRONG_STEP, hole=hole.id,
            attempts=tuple(Attempt(repr(p), f"a {what} is not a production")
                           for p in htype.allowed(hole.allowed)))
    return hole, htype


def check_open_fragment(d: Derivation, hole: Hole, fragment: Fragment,
                         types: Mapping[str, HoleType]) -> None:
    if hole.everywhere:
        outside: dict[str, Role | None] = {}
        outside_any = True
    else:
        outside = dict(zip(hole.args, hole.roles, strict=True))
        outside_any = False
    try:
        check_fragment(fragment, outside, types, where=f"change to open hole {hole.id}",
                       outside_any=outside_any)
    except GrammarflowError as e:
        raise BrokenPromise(str(e), why=why_of(e, Why.NAME_OR_ID), hole=hole.id) from None
    for u, v in fragment.edges:
        for name in (u, v):
            if name not in fragment.locals and name not in d.graph.tasks:
                raise BrokenPromise(f"edge {u} -> {v}: no task {name!r} in the graph",
                                    why=Why.UNKNOWN_TASK, hole=hole.id, task=name,
                                    edge=(u, v))


def open_instantiate(d: Derivation, hole: Hole, fragment: Fragment, types: Mapping[str, HoleType],
                      *, replaced: bool) -> tuple[dict[str, str], tuple[str, ...]]:
    """Instantiate a one-off fragment sent for an open hole (its outside names are
    task ids, bound to themselves)."""
    outside = fragment.outside_names()
    return d.instantiate_plan(compile_fragment(fragment, outside, types), outside, hole,
                             {t.local: t.attrs for t in fragment.tasks if t.attrs},
                             replaced=replaced)


def constrain(d: Derivation, step: Constrain) -> Applied:
    hole, htype = open_hole(d, step.hole, "constraint")
    if not step.constraints:
        raise BrokenPromise(f"constraining {hole.id}: no constraint given",
                            why=Why.MESSAGE, hole=hole.id)
    for c in step.constraints:
        try:
            check_constraint(c, f"constraining {hole.id}")
        except GrammarflowError as e:
            raise BrokenPromise(str(e), why=why_of(e, Why.ILL_FORMED), hole=hole.id) from None
    check_names(d, f"constraining {hole.id}", htype, step.constraints,
                      dict(zip(htype.params, hole.args, strict=False)), hole.id)
    d.limits.start(hole.id, htype.name, step.constraints,
                      dict(zip(htype.params, hole.args, strict=False)))
    return Applied(step)


def check_names(d: Derivation, where: str, htype: HoleType, constraints: Sequence[Constraint],
                 glued: Mapping[str, str], hole: str) -> None:
    """Every name in ``constraints`` (of a hole of ``htype``) resolves: to a
    parameter or a kind (:mod:`grammarflow.core.resolve`)."""
    g = d.graph

    def start_kind(name: str) -> str | None:
        task = g.tasks.get(name) if "/" not in name else None  # start tasks keep names
        return task.kind if task is not None else None

    def kinds() -> Collection[str]:
        return d.workflow_kinds if d.workflow_kinds is not None \
            else d.grammar.kinds()

    names = Vocabulary(htype.name, htype.params, glued, kinds,
                       d.workflow_kinds is not None, start_kind)
    why = unresolved(constraints, where, names)
    if why is not None:
        raise BrokenPromise(why, why=Why.UNKNOWN_NAME, hole=hole)


def check_refine_constraints(d: Derivation, hole: Hole, step: Refine, grammar: Grammar) -> None:
    """A refinement of a constrained hole may not promise a production that breaks
    one of its constraints whatever it is glued to (checked statically; the rest
    is checked when the production is applied)."""
    scopes = [d.limits.scopes[s] for s in d.limits.scopes_of(hole.id)]
    if not scopes:
        return
    for name in sorted(reachable_types(grammar.types, (h.type for h in step.fragment.holes))):
        htype = grammar.types[name]
        for prod in htype.allowed():
            frag = prod.fragment
            kinds = {t.local: t.kind for t in frag.tasks}
            edges = [(kinds.get(u), kinds.get(v)) for u, v in frag.edges]
            for scope in scopes:
                for c in scope.constraints:
                    why = fragment_breaks(c, list(kinds.values()), edges)
                    if why is not None:
                        raise BrokenPromise(
                            f"refining {hole.id} with {prod!r} would break constraint "
                            f"'{c}' of hole {scope.hole} ({scope.type}): {why}; a "
                            "refinement keeps the constraints of the hole it refines",
                            why=Why.CONSTRAINT, hole=hole.id, constraint=str(c))


def grow(d: Derivation, step: Grow) -> Applied:
    hole, _ = open_hole(d, step.hole, "raw fragment")
    if step.fragment.holes:
        raise BrokenPromise(f"a raw change through open hole {hole.id} adds tasks and "
                            "edges only; use 'refine' to add holes", why=Why.WRONG_STEP,
                            hole=hole.id)
    check_open_fragment(d, hole, step.fragment, d.grammar.types)
    d.graph.remove_hole(hole.id)
    created, _ = open_instantiate(d, hole, step.fragment, d.grammar.types,
                                        replaced=False)
    new_ids = tuple(created.values())
    grown = hole if hole.everywhere else replace(
        hole, args=hole.args + new_ids, roles=hole.roles + (Role.AFTER,) * len(new_ids))
    d.graph.add_hole(grown)
    if hole.everywhere:
        check_acyclic(d, step.fragment, created)
    return Applied(step, created, (), None)


def refine(d: Derivation, step: Refine) -> Applied:
    hole, _ = open_hole(d, step.hole, "refinement")
    grammar = with_new_types(d, step.types, hole)
    check_fresh_looks(d, hole, step.types)
    if d.workflow_kinds is not None:  # the grammar's own check knew only its kinds
        for t in step.types:
            check_names(d, f"refining {hole.id}: hole type {t.name}", t,
                              t.constraints, {}, hole.id)
    check_open_fragment(d, hole, step.fragment, grammar.types)
    if not hole.everywhere:
        check_not_widened(d, hole, step, grammar)
    check_refine_constraints(d, hole, step, grammar)
    d.grammar = grammar
    d.graph.remove_hole(hole.id)
    created, holes = open_instantiate(d, hole, step.fragment, grammar.types,
                                            replaced=True)
    if hole.everywhere:
        check_acyclic(d, step.fragment, created)
        check_holes_acyclic(d, holes, set(created.values()))
    elif step.fragment == Fragment() and not step.types:
        keep_order(d, hole)
    return Applied(step, created, holes, hole.id)


def keep_order(d: Derivation, hole: Hole) -> None:
    """An open hole closed as nothing leaves the order it imposed while it stood: each
    task it came before runs after each task it came after that is done by then (a mark
    of the graph's ``order``, where no path says so: no edge, and no part of the shape
    its grammar promised; a task not done yet is no longer waited for)."""
    g = d.graph
    done = [a for a in dict.fromkeys(hole.after) if g.state[a] is TaskState.DONE]
    for b in dict.fromkeys(hole.before):
        for a in done:
            if not g.reaches(a, b):
                g.keep_order(a, b)


def check_not_widened(d: Derivation, hole: Hole, step: Refine, grammar: Grammar) -> None:
    """A hole attached to some tasks may not become one attached everywhere: that
    would admit changes anywhere in the graph, a wider promise than it made."""
    fresh = [t.name for t in step.types if t.everywhere]
    reach = reachable_types(grammar.types, (h.type for h in step.fragment.holes))
    wide = sorted(set(fresh) | {t for t in reach if grammar.types[t].everywhere})
    if wide:
        raise BrokenPromise(
            f"refining {hole.id} ({hole.type}, attached to {', '.join(hole.args)}) "
            f"with hole type(s) {wide} attached everywhere would widen its promise: a "
            "refinement may narrow the futures, never widen them", why=Why.WIDENS,
            hole=hole.id)


def with_new_types(d: Derivation, new: Sequence[HoleType], hole: Hole) -> Grammar:
    clash = [t.name for t in new if t.name in d.grammar.types]
    if clash:
        raise BrokenPromise(f"refining {hole.id}: hole type(s) {clash} already exist; "
                            "a refinement may only declare fresh types",
                            why=Why.TYPE_EXISTS, hole=hole.id)
    if not new:
        return d.grammar
    try:
        return d.grammar.with_types(new)
    except GrammarflowError as e:
        raise BrokenPromise(f"refining {hole.id}: {e}", why=why_of(e, Why.ILL_FORMED),
                            hole=hole.id) from None


def check_acyclic(d: Derivation, fragment: Fragment, created: Mapping[str, str]) -> None:
    """Edges and holes that may end at an existing task: search for a cycle."""
    g = d.graph
    for u, v in fragment.edges:
        if v in created:
            continue
        src = created.get(u, u)
        if g.reaches(v, src):
            raise BrokenPromise(f"edge {src} -> {v} would close a cycle: {v} already "
                                f"runs before {src}", why=Why.CYCLE, edge=(src, v))


def check_holes_acyclic(d: Derivation, hole_ids: Iterable[str], created: set[str]) -> None:
    g = d.graph
    for hid in hole_ids:
        hole = g.holes[hid]
        for b in hole.before:
            if b in created:
                continue
            for a in hole.after:
                if g.reaches(b, a):
                    raise BrokenPromise(f"hole {hid} ({hole.type}) would come after {a} "
                                        f"and before {b}, but {b} already runs before "
                                        f"{a}: a cycle", why=Why.CYCLE, hole=hid)


def check_fresh_looks(d: Derivation, hole: Hole, types: Sequence[HoleType]) -> None:
    """What the tasks of a refinement's fresh types look like is a change too (not
    registered): it keeps the cosmetic promises a ``Style`` step keeps, judged as
    a style of a task inside ``hole`` (where those tasks will be made)."""
    for fresh in types:
        for prod in fresh.productions:
            for t in prod.fragment.tasks:
                looks = cosmetic_part(t.attrs)
                why = looks and promise_refusal(
                    d.grammar.cosmetics, f"task {t.local} of fresh hole type "
                    f"{fresh.name} (refining {hole.id})", f"{hole.id}/{t.local}", looks)
                if why:
                    raise BrokenPromise(why, why=Why.LOOKS, hole=hole.id,
                                        task=f"{hole.id}/{t.local}")


__all__ = ["constrain", "grow", "refine"]
