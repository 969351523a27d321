"""Every name in a constraint resolves: to a parameter of its hole's type, or to a kind.

A name that resolves to nothing would make its constraint void without a word, so
registration refuses it, saying what the name could be (docs/constraints.md, "Names").
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from grammarflow.core.constraints import Constraint, names_in
from grammarflow.core.lint import near

if TYPE_CHECKING:  # annotations only: a grammar is checked by, and built above, this module
    from grammarflow.core.grammar import Grammar

__all__ = ["Vocabulary", "grammar_unresolved", "unresolved"]

#: Names that "did you mean" offers at most.
_SUGGESTED = 3


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What a name in a constraint of one hole type may stand for.

    ``type``: the hole type's name; ``params``: its parameters; ``glued``: for each,
    the task it is glued to where that is known (a hole of the start graph, or the hole
    being constrained); ``kinds()``: the kinds known (called only when needed: it may
    cost the size of the grammar); ``complete``: they are every kind a run can make (a
    workflow's), else only the grammar's, and an unknown name may be a kind made at run
    time; ``start_kind(name)``: the kind of the start graph's task so named, or None.
    """

    type: str
    params: Sequence[str]
    glued: Mapping[str, str]
    kinds: Callable[[], Collection[str]]
    complete: bool
    start_kind: Callable[[str], str | None]


def unresolved(constraints: Sequence[Constraint], where: str, names: Vocabulary
               ) -> str | None:
    """Why a name in ``constraints`` resolves to nothing, or None (the first such name;
    ``where`` says whose constraints they are: ``hole type Dyn``)."""
    for c in constraints:
        for name, edge in names_in(c):
            why = _why_not(name, edge, names)
            if why is not None:
                return f"{where}: constraint '{c}' names '{name}', {why}"
    return None


def grammar_unresolved(grammar: Grammar, kinds: Collection[str] | None = None) -> str | None:
    """Why a name in a constraint of ``grammar``'s types resolves to nothing, or None;
    ``kinds``: every kind a run can make besides the grammar's (a workflow's), None
    when they are unknown (docs/constraints.md, "Names").

    >>> from grammarflow import define
    >>> define("s, fin:B, Dyn(s, fin)", "Dyn(a; b) ::= * where no edges into fin")
    Traceback (most recent call last):
      ...
    grammarflow.errors.GrammarError: hole type Dyn: constraint 'no edges into fin' names \
    'fin', a task of the start graph (kind B), not a parameter of Dyn (a, b) or a kind: \
    did you mean b (the parameter glued to fin) or B?
    """
    constrained = [t for t in grammar.types.values() if t.constraints]
    if not constrained:
        return None
    start = {t.local: t.kind for t in grammar.start.tasks}
    known: list[Collection[str]] = []

    def every_kind() -> Collection[str]:
        if not known:
            known.append(grammar.kinds() | set(kinds or ()))
        return known[0]

    for htype in constrained:
        glued = next((dict(zip(htype.params, h.args, strict=False))
                      for h in grammar.start.holes if h.type == htype.name), {})
        names = Vocabulary(htype.name, htype.params, glued, every_kind, kinds is not None,
                           start.get)
        why = unresolved(htype.constraints, f"hole type {htype.name}", names)
        if why is not None:
            return why
    return None


def _why_not(name: str, edge: bool, names: Vocabulary) -> str | None:
    """Why ``name`` resolves to nothing (docs/constraints.md, "Names"), or
    None."""
    if edge and name in names.params:
        return None
    task_kind = names.start_kind(name)
    if not names.complete and task_kind is None:
        return None  # a kind an open hole may make at run time
    kinds = names.kinds()
    if name in kinds:
        return None
    what = _expected(edge, names)
    if task_kind is not None:
        said = f"a task of the start graph (kind {task_kind}), not {what}"
        meant = [f"{p} (the parameter glued to {name})" for p in names.params
                 if edge and names.glued.get(p) == name] + [task_kind]
    else:
        said = (f"which is not {what}: no task of the workflow can have that kind (it is "
                "no kind of the grammar, 'kinds' does not name it and the workflow file "
                "defines no function so called)")
        meant = near(name, [*(names.params if edge else ()), *sorted(kinds)], _SUGGESTED)
    return said + (f": did you mean {' or '.join(meant)}?" if meant else "")


def _expected(edge: bool, names: Vocabulary) -> str:
    if not edge:
        return "a kind"
    shown = ", ".join(names.params) or "none"
    return f"a parameter of {names.type} ({shown}) or a kind"


