"""Registration checks: a grammar is refused unless it can keep its promises.

Names, well-formed productions (what makes every later step acyclic:
proofs/05-acyclicity.md), the start graph, productive types and defaults that end,
constraints that resolve, a palette kept: docs/notation.md lists them. Pure functions
over :mod:`grammarflow.core.grammar` values; cycles are found by :mod:`graphlib`.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from grammarflow.core.constraints import check_constraint
from grammarflow.core.cosmetics import registration_problem
from grammarflow.core.graph import Role, check_name
from grammarflow.core.guards import Guard
from grammarflow.core.productions import EVERYWHERE, Fragment, HoleType
from grammarflow.core.resolve import grammar_unresolved
from grammarflow.errors import GrammarError, Why

if TYPE_CHECKING:  # annotations only: a grammar is checked by, and built above, this module
    from grammarflow.core.grammar import Grammar

#: Production names: labels like ``[left]`` or the automatic ``1``, ``2``, ...; safe in
#: DOT, HTML and file names.
PRODUCTION_NAME = re.compile(r"[A-Za-z0-9_]{1,64}\Z")


def check_grammar(grammar: Grammar) -> None:
    """Raise :class:`GrammarError` with the reason if ``grammar`` is not well formed."""
    for t in grammar.types.values():
        check_hole_type(t, grammar.types)
    check_start(grammar)
    check_defaults_terminate(grammar.types)
    unproductive = sorted(set(grammar.types) - productive_types(grammar.types))
    if unproductive:
        raise GrammarError(
            f"hole type(s) {', '.join(unproductive)} can never finish: no production "
            "derives a fragment without holes (add a base case, e.g. 'nothing')",
            why=Why.NO_WAY_TO_FINISH)
    unknown = grammar_unresolved(grammar)
    if unknown is not None:
        raise GrammarError(unknown, why=Why.UNKNOWN_NAME)
    looks = registration_problem(grammar.cosmetics, grammar.styles, _given_attrs(grammar))
    if looks is not None:
        raise GrammarError(looks, why=Why.LOOKS)


def _given_attrs(grammar: Grammar) -> Iterator[tuple[str, Mapping[str, object]]]:
    """The attrs the grammar gives its tasks: ``(where, attrs)``."""
    for t in grammar.start.tasks:
        if t.attrs:
            yield f"task {t.local} of the start graph", t.attrs
    for htype in grammar.types.values():
        for p in htype.productions:
            for t in p.fragment.tasks:
                if t.attrs:
                    yield f"task {t.local} of {p!r}", t.attrs


def check_hole_type(t: HoleType, types: Mapping[str, HoleType]) -> None:
    check_name(t.name, "hole type")
    if len(t.params) != len(t.roles):
        raise GrammarError(f"hole type {t.name}: {len(t.params)} parameters but "
                           f"{len(t.roles)} roles")
    if len(set(t.params)) != len(t.params):
        raise GrammarError(f"hole type {t.name}: parameter names repeat: {t.params}")
    for param in t.params:
        check_name(param, f"parameter of {t.name}")
    if t.everywhere and (not t.open or t.params):
        raise GrammarError(f"hole type {t.name}: only an open type with no parameters "
                           "can be attached everywhere ('X(*) ::= *')")
    if t.open and t.productions:
        raise GrammarError(f"hole type {t.name} is open ('::= *'): it has no productions")
    if t.constraints and not t.open:
        raise GrammarError(f"hole type {t.name} has constraints but is not open: "
                           "constraints limit what an open hole ('::= *') may grow")
    for c in t.constraints:
        check_constraint(c, f"hole type {t.name}")
    names = [p.name for p in t.productions]
    for name in names:
        if not isinstance(name, str) or not PRODUCTION_NAME.match(name):
            raise GrammarError(f"hole type {t.name}: production name {name!r} is not valid: "
                               "expected 1 to 64 letters, digits or '_'")
    if len(set(names)) != len(names):
        raise GrammarError(f"hole type {t.name}: production names repeat: {names}")
    if t.default is not None and t.default not in names:
        raise GrammarError(f"hole type {t.name}: default {t.default!r} is not one of {names}")
    check_guards(t)
    roles = dict(zip(t.params, t.roles, strict=True))
    for p in t.productions:
        if p.lhs != t.name or p.params != t.params:
            raise GrammarError(f"production {p!r} does not belong to {t.name}"
                               f"({', '.join(t.params)})")
        check_fragment(p.fragment, roles, types, where=repr(p))


def check_guards(t: HoleType) -> None:
    """Guards (``[when ...]``, ``[else]``): all of a type's productions or none, at
    most one ``else``, no default (the guards choose), reading only parameters the
    hole comes after."""
    for p in t.productions:
        if p.condition is not None:
            _check_reads(t, p.condition)
    guarded = [p for p in t.productions if p.guard is not None]
    if not guarded:
        return
    bare = [p.name for p in t.productions if p.guard is None]
    if bare:
        raise GrammarError(
            f"hole type {t.name}: production(s) {', '.join(bare)} have no guard; when one "
            "production of a type has a guard every one needs one (write [else] for the "
            "production taken when no other guard holds)")
    if t.default is not None:
        raise GrammarError(f"hole type {t.name} has guards, so it has no default: when a "
                           "hole of it is due, the production whose guard holds is taken")
    elses = [p.name for p in guarded if p.guard is not None and p.guard.otherwise]
    if len(elses) > 1:
        raise GrammarError(f"hole type {t.name}: {len(elses)} productions say [else]; "
                           "at most one may")
    for p in guarded:
        assert p.guard is not None
        _check_reads(t, p.guard)


def _check_reads(t: HoleType, g: Guard) -> None:
    """A guard or condition reads only parameters the hole comes after, and counts
    with one parameter and one kind."""
    after = set(t.after)
    read = sorted(g.names - after)
    if read:
        raise GrammarError(
            f"guard {g!r} of {t.name} reads {', '.join(read)}, which {t.name} does not "
            f"come after; a guard reads the outputs of the tasks its hole comes after "
            f"({', '.join(t.after) or 'none'})")
    for left, right in sorted(g.counts):
        if (left in t.params) == (right in t.params):
            raise GrammarError(
                f"guard {g!r} of {t.name}: count({left} -> {right}) needs one parameter "
                f"and one kind: count(a -> K) counts the tasks of kind K that a runs "
                f"right before, count(K -> b) those b runs right after "
                f"(parameters: {', '.join(t.params) or 'none'})")
        check_name(right if left in t.params else left, f"kind in guard {g!r}")


def check_fragment(
    fragment: Fragment,
    outside: Mapping[str, Role | None],
    types: Mapping[str, HoleType],
    *,
    where: str,
    outside_any: bool = False,
) -> None:
    """Check a fragment glues only to ``outside`` names in their roles, without a cycle.

    ``outside`` maps each outside name to its role (``None``: may be used in any role,
    the everywhere case, whose targets the caller checks against the live graph).
    ``outside_any`` accepts any name not local as outside (open holes everywhere).
    """
    locals_ = fragment.locals
    if len(set(locals_)) != len(locals_):
        raise GrammarError(f"{where}: task names repeat in the fragment: {list(locals_)}",
                           why=Why.NAME_OR_ID)
    for t in fragment.tasks:
        check_name(t.local, "task name")
        check_name(t.kind, f"kind of task {t.local}")
        if t.local in outside:
            raise GrammarError(f"{where}: task {t.local!r} has the name of a parameter",
                               why=Why.NAME_OR_ID)
    local_set = set(locals_)

    def role_of(name: str, use: str) -> Role | None:
        if name in local_set:
            return None
        if name in outside:
            return outside[name]
        if outside_any:
            return None
        raise GrammarError(f"{where}: {use} names {name!r}, which is neither a new task "
                           f"nor a parameter ({', '.join(outside) or 'none'})",
                           why=Why.OUTSIDE_THE_ATTACHMENT)

    def check_source(name: str, use: str) -> None:
        if role_of(name, use) is Role.BEFORE:
            raise GrammarError(f"{where}: {use} leaves {name!r}, but the hole comes before "
                               f"{name!r}: nothing it becomes may run after {name!r}",
                               why=Why.OUTSIDE_THE_ATTACHMENT)

    def check_target(name: str, use: str) -> None:
        if role_of(name, use) is Role.AFTER:
            raise GrammarError(f"{where}: {use} enters {name!r}, but the hole comes after "
                               f"{name!r}: nothing it becomes may run before {name!r}",
                               why=Why.OUTSIDE_THE_ATTACHMENT)

    for u, v in fragment.edges:
        if u == v:
            raise GrammarError(f"{where}: edge {u} -> {v} is a cycle", why=Why.CYCLE)
        check_source(u, f"edge {u} -> {v}")
        check_target(v, f"edge {u} -> {v}")
    for h in fragment.holes:
        ht = types.get(h.type)
        if ht is None:
            raise GrammarError(f"{where}: hole type {h.type!r} is not declared",
                               why=Why.NOT_DECLARED)
        if ht.everywhere:
            if h.args not in ((), (EVERYWHERE,)):
                raise GrammarError(f"{where}: {h.type} is attached everywhere; write {h.type}(*)",
                                   why=Why.HOLE_ARGUMENTS)
            continue
        if len(h.args) != len(ht.params):
            raise GrammarError(f"{where}: {h.type} takes {len(ht.params)} argument(s) "
                               f"({', '.join(ht.params)}), got {len(h.args)}",
                               why=Why.HOLE_ARGUMENTS)
        for arg, role in zip(h.args, ht.roles, strict=True):
            use = f"hole {h.type}({', '.join(h.args)})"
            (check_source if role is Role.AFTER else check_target)(arg, use)
    cycle = fragment_cycle(fragment, types)
    if cycle:
        raise GrammarError(f"{where}: the fragment has a cycle: {' -> '.join(cycle)}",
                           why=Why.CYCLE)


def fragment_cycle(fragment: Fragment, types: Mapping[str, HoleType]) -> list[str]:
    """A cycle among the fragment's own nodes (holes drawn between their roles), if any."""
    succ: dict[str, list[str]] = {}
    for u, v in fragment.edges:
        succ.setdefault(u, []).append(v)
    for i, h in enumerate(fragment.holes):
        t = types.get(h.type)
        if t is None or t.everywhere:
            continue
        node = f"{h.type}#{i + 1}"
        for arg, role in zip(h.args, t.roles, strict=True):
            if role is Role.AFTER:
                succ.setdefault(arg, []).append(node)
            else:
                succ.setdefault(node, []).append(arg)
    return find_cycle(succ)


def find_cycle(succ: Mapping[str, Sequence[str]]) -> list[str]:
    """A cycle ``[a, b, ..., a]`` (along the edges) in a graph given by successor
    lists, or ``[]``."""
    preds: dict[str, list[str]] = {}
    for u, vs in succ.items():
        preds.setdefault(u, [])
        for v in vs:
            preds.setdefault(v, []).append(u)
    try:
        graphlib.TopologicalSorter(preds).prepare()
    except graphlib.CycleError as e:
        return list(e.args[1])
    return []


def check_defaults_terminate(types: Mapping[str, HoleType]) -> None:
    """Defaults must end: following default productions never reaches a type twice.

    A default is what happens when nobody chooses; if it could re-create its own type
    (directly or through other defaults) an unattended run would never finish.
    """
    via_default: dict[str, list[str]] = {}
    for t in types.values():
        if t.default is None or t.open:
            continue
        children = [h.type for h in t.production(t.default).fragment.holes
                    if not types[h.type].open]  # an open hole's default is nothing
        if children:
            via_default[t.name] = children
    cycle = find_cycle(via_default)
    if cycle:
        raise GrammarError(
            f"default productions would expand forever: {' -> '.join(cycle)}; a default is "
            "what happens when no task chooses, so it must end (give one of these types a "
            "default without holes)")


def check_start(grammar: Grammar) -> None:
    start = grammar.start
    if not start.tasks and any(grammar.types[h.type].open for h in start.holes
                               if h.type in grammar.types):
        raise GrammarError("start graph: an open hole in a workflow with no task can never "
                           "grow, since no task runs to grow it; add a first task")
    for h in start.holes:
        t = grammar.types.get(h.type)
        if t is None:
            raise GrammarError(f"start graph: hole type {h.type!r} is not declared")
        if t.everywhere or (t.open and not t.params):
            continue
        if Role.AFTER not in t.roles:
            raise GrammarError(
                f"start graph: hole {h.type}({', '.join(h.args)}) comes after no task, so it "
                "is due before anything runs and no task could ever choose its production; "
                "attach it after a task")
    check_fragment(start, {}, grammar.types, where="start graph")


def productive_types(types: Mapping[str, HoleType]) -> set[str]:
    """Hole types that can derive a fragment with no holes (least fixpoint)."""
    productive = {n for n, t in types.items() if t.open}
    changed = True
    while changed:
        changed = False
        for n, t in types.items():
            if n in productive:
                continue
            if any(all(h.type in productive for h in p.fragment.holes) for p in t.allowed()):
                productive.add(n)
                changed = True
    return productive


def reachable_types(types: Mapping[str, HoleType], roots: Iterable[str]) -> set[str]:
    """The hole types that holes of ``roots`` can derive (``roots`` included), through
    productions not narrowed away."""
    seen: set[str] = set()
    stack = [r for r in roots if r in types]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for p in types[name].allowed():
            stack.extend(h.type for h in p.fragment.holes if h.type in types)
    return seen


def finishing_depth(types: Mapping[str, HoleType]) -> dict[str, tuple[int, str | None]]:
    """For each productive type: (steps to finish, production to take) on a shortest way."""
    best: dict[str, tuple[int, str | None]] = {n: (1, None) for n, t in types.items() if t.open}
    changed = True
    while changed:
        changed = False
        for n, t in types.items():
            if t.open:
                continue
            for p in t.allowed():
                if all(h.type in best for h in p.fragment.holes):
                    cost = 1 + sum(best[h.type][0] for h in p.fragment.holes)
                    if n not in best or cost < best[n][0]:
                        best[n] = (cost, p.name)
                        changed = True
    return best


__all__ = [
    "PRODUCTION_NAME",
    "check_defaults_terminate",
    "check_fragment",
    "check_grammar",
    "check_guards",
    "check_hole_type",
    "check_start",
    "find_cycle",
    "finishing_depth",
    "fragment_cycle",
    "productive_types",
    "reachable_types",
]
