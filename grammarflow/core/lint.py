"""Likely mistakes that registration accepts: names that look like typos.

``grammarflow check`` prints them as warnings (docs/operations.md); they never refuse a
grammar.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from grammarflow.core.constraints import OnlyKinds
from grammarflow.core.formatting import signature
from grammarflow.core.graph import Role
from grammarflow.core.productions import Fragment, HoleType, Production

if TYPE_CHECKING:  # annotations only: a grammar is checked by, and built above, this module
    from grammarflow.core.grammar import Grammar

__all__ = ["near", "open_kinds", "open_types", "typos"]

#: How alike two names must be (difflib's ratio, case and underscores aside) for one
#: to be offered for the other: one letter wrong in five, two letters swapped.
NEAR = 0.75


def typos(grammar: Grammar) -> list[str]:
    """One warning per name that looks like a typo, in the order of the grammar.

    >>> from grammarflow import define
    >>> typos(define("s, e, X(s, e)", "X(a, b) ::= a -> M -> B"))
    ["production 1 of X makes a new task 'B' but X has a parameter 'b': did you mean b?"]
    >>> typos(define("s, e, X(s, e)", "X(a, b) ::= a -> M"))  # doctest: +NORMALIZE_WHITESPACE
    ["X(a, b): parameter 'b' is used by no production (a misspelt parameter makes a new
     task instead); unused, it only makes X's holes wait for it"]
    """
    found = _twins(grammar.start, "the start graph")
    for htype in grammar.types.values():
        if htype.open:
            continue
        meant: set[str] = set()
        for p in htype.productions:
            found.extend(_task_for_parameter(grammar, htype, p, meant))
            found.extend(_twins(p.fragment, f"production {p.name} of {htype.name}"))
        found.extend(_unused_parameters(htype, meant))
    return found


def open_types(grammar: Grammar) -> list[str]:
    """The open hole types: tasks of any kind may appear in them at run time."""
    return [t.name for t in grammar.types.values() if t.open]


def open_kinds(t: HoleType) -> frozenset[str] | None:
    """The kinds open hole type ``t`` may make, if its constraints say (``only K, ...``);
    None: any kind.

    >>> from grammarflow import parse_types
    >>> sorted(open_kinds(parse_types("W(a; ) ::= * where only step, audit")["W"]))
    ['audit', 'step']
    """
    found: frozenset[str] | None = None
    for c in t.constraints:
        if isinstance(c, OnlyKinds):
            found = frozenset(c.kinds) if found is None else found & frozenset(c.kinds)
    return found


def near(name: str, names: Iterable[str], most: int = 3) -> list[str]:
    """The names a person may have meant by ``name`` (a misspelt kind, task or input):
    those equal but for case or underscores, then the closest in spelling.

    >>> near("fecth", ["fetch", "parse", "Fetch"])
    ['Fetch', 'fetch']
    >>> near("Q", ["M", "N"])  # one letter is no spelling to correct
    []
    """
    by_folded: dict[str, list[str]] = {}
    for n in names:
        if n != name:
            by_folded.setdefault(_folded(n), []).append(n)
    close = difflib.get_close_matches(_folded(name), list(by_folded), n=most, cutoff=NEAR)
    return [n for f in close for n in sorted(by_folded[f])][:most]


def _folded(name: str) -> str:
    return name.replace("_", "").casefold()


def _task_for_parameter(grammar: Grammar, htype: HoleType, p: Production,
                        meant: set[str]) -> list[str]:
    """New tasks of ``p`` without an explicit kind, named like a parameter that ``p``
    does not use (in another case) or like a parameter of another type: the
    parameter was meant (its name goes into ``meant``). ``a -> A -> b`` is no typo."""
    found = []
    unused = [q for q in htype.params if q not in p.fragment.outside_names()]
    for task in p.fragment.tasks:
        if task.kind != task.local:
            continue  # `name:Kind` says a task is meant
        own = [q for q in unused if _folded(q) == _folded(task.local)]
        if own:
            meant.add(own[0])
            found.append(f"production {p.name} of {htype.name} makes a new task "
                         f"{task.local!r} but {htype.name} has a parameter {own[0]!r}: "
                         f"did you mean {own[0]}?")
            continue
        others = [t.name for t in grammar.types.values()
                  if t is not htype and task.local in t.params]
        if others:
            found.append(f"production {p.name} of {htype.name} makes a new task "
                         f"{task.local!r}, a parameter of {', '.join(others)} but not of "
                         f"{signature(htype)}: a parameter of {htype.name} meant?")
    return found


def _twins(fragment: Fragment, where: str) -> list[str]:
    """Two new tasks whose names differ only in case or underscores."""
    seen: dict[str, str] = {}
    found = []
    for task in fragment.tasks:
        first = seen.setdefault(_folded(task.local), task.local)
        if first != task.local:
            found.append(f"{where} makes tasks {first!r} and {task.local!r}, which differ "
                         "only in case or underscores: one task meant?")
    return found


def _unused_parameters(htype: HoleType, meant: set[str]) -> list[str]:
    """Parameters no production uses (those a typo warning already named aside)."""
    if not htype.productions:
        return []
    used = {n for p in htype.productions for n in p.fragment.outside_names()}
    return [f"{signature(htype)}: parameter {q!r} is used by no production (a misspelt "
            f"parameter makes a new task instead); unused, it only {_waits(htype, q)}"
            for q in htype.params if q not in used and q not in meant]


def _waits(htype: HoleType, param: str) -> str:
    if htype.roles[htype.params.index(param)] is Role.AFTER:
        return f"makes {htype.name}'s holes wait for it"
    return f"waits for {htype.name}'s holes"
