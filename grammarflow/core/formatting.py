"""The notation, written: every fragment, hole type and grammar prints as the text
:mod:`grammarflow.core.notation` reads back (``X(a, b) ::= a -> A -> b | a -> B -> b``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from grammarflow.core.constraints import format_constraints

if TYPE_CHECKING:  # annotations only: the values call these to print themselves
    from grammarflow.core.grammar import Grammar
    from grammarflow.core.productions import Fragment, HoleType

__all__ = ["format_fragment", "format_grammar", "format_hole_type", "pretty", "signature"]

def pretty(value: object, p: Any, cycle: bool) -> None:
    """``_repr_pretty_`` of a value whose ``repr`` is meant to be read (Hypothesis and
    IPython print dataclasses field by field otherwise)."""
    p.text(repr(value))


def format_fragment(fragment: Fragment) -> str:
    """The short notation of a fragment: chains, lone tasks and holes, or ``nothing``.

    >>> from grammarflow import parse_fragment
    >>> format_fragment(parse_fragment("a -> b -> c, d, X(a, d)"))
    'a -> b -> c, d, X(a, d)'
    """
    if fragment.is_empty():
        return "nothing"
    kinds = {t.local: t.kind for t in fragment.tasks}

    def atom(name: str) -> str:
        kind = kinds.get(name)
        return name if kind is None or kind == name else f"{name}:{kind}"

    items: list[str] = []
    used: set[int] = set()
    out: dict[str, list[int]] = {}
    for i, (u, _) in enumerate(fragment.edges):
        out.setdefault(u, []).append(i)
    mentioned: set[str] = set()
    for i, (u, v) in enumerate(fragment.edges):
        if i in used:
            continue
        used.add(i)
        chain = [u, v]
        while chain[-1] in kinds:
            nxt = next((j for j in out.get(chain[-1], ()) if j not in used), None)
            if nxt is None:
                break
            used.add(nxt)
            chain.append(fragment.edges[nxt][1])
        # a task's kind is written once, where it first appears
        parts = []
        for n in chain:
            parts.append(n if n in mentioned else atom(n))
            mentioned.add(n)
        items.append(" -> ".join(parts))
    items.extend(atom(t.local) for t in fragment.tasks if t.local not in mentioned)
    items.extend(f"{h.type}({', '.join(h.args)})" for h in fragment.holes)
    return ", ".join(items)


def signature(htype: HoleType) -> str:
    """``X(a, b)``; ``X(a; b)`` where its roles cannot be inferred from its productions
    (an open type; a closed type with a parameter it comes before that no edge of its
    enters); ``X(*)`` for a type attached everywhere."""
    if htype.everywhere:
        return f"{htype.name}(*)"
    if htype.params and htype.params == (*htype.after, *htype.before) \
            and (htype.open or not _roles_inferred(htype)):
        return f"{htype.name}({', '.join(htype.after)}; {', '.join(htype.before)})"
    return f"{htype.name}({', '.join(htype.params)})"


def _roles_inferred(htype: HoleType) -> bool:
    """Does reading the type's productions back give its roles? Every parameter it
    comes before must be entered by an edge of one (one a child hole comes before is
    too, but the child's roles are not known here: then the roles are written)."""
    entered = {v for p in htype.productions for _, v in p.fragment.edges}
    return set(htype.before) <= entered


def format_hole_type(htype: HoleType) -> str:
    """A hole type in the notation: ``X(a, b) ::= [left] a -> A -> b | ...``."""
    if htype.open:
        where = f" where {format_constraints(htype.constraints)}" if htype.constraints else ""
        return f"{signature(htype)} ::= *{where}"
    alts = []
    for i, p in enumerate(htype.productions):
        marks = []
        if p.name != str(i + 1):
            marks.append(p.name)
        if p.name == htype.default:
            marks.append("default")
        if p.guard is not None:
            marks.append(p.guard.label())
        if p.condition is not None:
            marks.append(p.condition.label())
        if p.name in htype.removed:
            marks.append("removed")
        prefix = f"[{', '.join(marks)}] " if marks else ""
        alts.append(prefix + format_fragment(p.fragment))
    return f"{signature(htype)} ::= {' | '.join(alts)}"


def format_grammar(grammar: Grammar) -> str:
    """The start graph and every hole type, one per line."""
    lines = [f"start: {format_fragment(grammar.start)}"]
    lines.extend(format_hole_type(t) for t in grammar.types.values())
    return "\n".join(lines)
