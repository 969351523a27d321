"""Constraint promises on open holes: which kinds, which edges, how many neighbours.

Each constraint has one text form (``only M, N``, ``at most 100 M``, ``each D has 2 P
before``), used in the notation, the journal and refusals. The forms and when each is
decided: docs/constraints.md; why deciding them then is enough: proofs/10-constraints.md.
How a run keeps them, scope by scope: :mod:`grammarflow.core.scopes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from grammarflow.core.graph import check_name
from grammarflow.errors import GrammarError, NotationError

__all__ = ["AtMost", "Constraint", "Degree", "Each", "NoEdges", "NoTasks", "OnlyEdges",
           "OnlyKinds", "format_constraints", "names_in", "parse_constraint",
           "parse_constraints", "to_constraints", "with_tasks"]

#: How a neighbour count is bounded.
BOUNDS = ("exactly", "at least", "at most")
#: On which side of the task the neighbours are.
SIDES = ("before", "after")


# ====================================================================== value types
@dataclass(frozen=True, slots=True)
class OnlyKinds:
    """``only M, N``: every task made is of one of these kinds."""

    kinds: tuple[str, ...]

    def __str__(self) -> str:
        return f"only {', '.join(self.kinds)}"


@dataclass(frozen=True, slots=True)
class NoTasks:
    """``no new tasks``."""

    def __str__(self) -> str:
        return "no new tasks"


@dataclass(frozen=True, slots=True)
class AtMost:
    """``at most n K`` (tasks of kind K made), or ``at most n tasks`` (kind None)."""

    n: int
    kind: str | None = None

    def __str__(self) -> str:
        return f"at most {self.n} {self.kind or 'tasks'}"


@dataclass(frozen=True, slots=True)
class OnlyEdges:
    """``only a -> M, M -> N``: every edge made is one of these (names: a parameter of
    the hole's type, else a kind)."""

    edges: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return "only " + ", ".join(f"{u} -> {v}" for u, v in self.edges)


@dataclass(frozen=True, slots=True)
class NoEdges:
    """``no new edges`` (both None), ``no edges from A``, ``no edges into B``."""

    source: str | None = None
    target: str | None = None

    def __str__(self) -> str:
        if self.source is None and self.target is None:
            return "no new edges"
        if self.target is None:
            return f"no edges from {self.source}"
        if self.source is None:
            return f"no edges into {self.target}"
        return f"no edges from {self.source} into {self.target}"


@dataclass(frozen=True, slots=True)
class Degree:
    """``2 P before``, ``at least 1 C after``: a bound on a task's neighbours of a kind."""

    bound: str  # one of BOUNDS
    n: int
    kind: str
    side: str  # one of SIDES

    def __str__(self) -> str:
        bound = "" if self.bound == "exactly" else f"{self.bound} "
        return f"{bound}{self.n} {self.kind} {self.side}"

    def too_many(self, count: int) -> bool:
        return self.bound != "at least" and count > self.n

    def too_few(self, count: int) -> bool:
        return self.bound != "at most" and count < self.n


@dataclass(frozen=True, slots=True)
class Each:
    """``each D has 2 P before, 1 C after``: neighbour counts of every D made."""

    kind: str
    degrees: tuple[Degree, ...]

    def __str__(self) -> str:
        return f"each {self.kind} has {', '.join(str(d) for d in self.degrees)}"


Constraint = OnlyKinds | NoTasks | AtMost | OnlyEdges | NoEdges | Each


# ====================================================================== notation
_WORD = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<num>[0-9]+)|(?P<op>->|,))")
_FORMS = ("'only K, ...', 'only a -> K, ...', 'no new tasks', 'no new edges', "
          "'no edges from X', 'no edges into X', 'at most N K', "
          "'each K has N K before, N K after'")


class _Words:
    def __init__(self, text: str) -> None:
        self.text = text
        self.items: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _WORD.match(text, pos)
            if m is None:
                where = len(text) - len(text[pos:].lstrip())
                raise NotationError(text, where, "a name, a number, '->' or ','")
            kind = "name" if m.group("name") else "num" if m.group("num") else m.group("op")
            self.items.append((kind, m.group(kind if kind in ("name", "num") else "op"),
                               m.start(kind if kind in ("name", "num") else "op")))
            pos = m.end()
        self.i = 0

    def peek(self, ahead: int = 0) -> str | None:
        j = self.i + ahead
        return self.items[j][1] if j < len(self.items) else None

    def where(self) -> int:
        return self.items[self.i][2] if self.i < len(self.items) else len(self.text)

    def word(self, *words: str) -> bool:
        """Take these words if they come next."""
        if all(self.peek(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def take(self, kind: str, expected: str) -> str:
        if self.i >= len(self.items) or self.items[self.i][0] != kind:
            raise NotationError(self.text, self.where(), expected)
        value = self.items[self.i][1]
        self.i += 1
        return value

    def name(self, what: str) -> str:
        return self.take("name", what)

    def number(self) -> int:
        return int(self.take("num", "a number"))

    def done(self) -> bool:
        return self.i >= len(self.items)


def parse_constraint(text: str) -> Constraint:
    """One constraint from its text.

    >>> parse_constraint("each D has 2 P before, at least 1 C after")
    Each(kind='D', degrees=(Degree(bound='exactly', n=2, kind='P', side='before'), \
Degree(bound='at least', n=1, kind='C', side='after')))
    >>> str(parse_constraint("only  a->M ,M -> b"))
    'only a -> M, M -> b'
    """
    w = _Words(text)
    c = _parse_one(w)
    if not w.done():
        raise NotationError(text, w.where(), f"the end of constraint '{c}'")
    return c


def _parse_one(w: _Words) -> Constraint:
    if w.word("only"):
        return _parse_only(w)
    if w.word("no", "new", "tasks"):
        return NoTasks()
    if w.word("no", "new", "edges"):
        return NoEdges()
    if w.word("no", "edges"):
        source = w.name("a kind or parameter after 'from'") if w.word("from") else None
        target = w.name("a kind or parameter after 'into'") if w.word("into") else None
        if source is None and target is None:
            raise NotationError(w.text, w.where(), "'from X' or 'into X' after 'no edges'")
        return NoEdges(source, target)
    if w.word("at", "most"):
        n = w.number()
        kind = w.name("a kind (or 'tasks') after the number")
        return AtMost(n, None if kind == "tasks" else kind)
    if w.word("each"):
        kind = w.name("a kind after 'each'")
        if not w.word("has"):
            raise NotationError(w.text, w.where(), "'has' after the kind")
        degrees = [_parse_degree(w)]
        while w.word(","):
            degrees.append(_parse_degree(w))
        return Each(kind, tuple(degrees))
    raise NotationError(w.text, w.where(), f"a constraint: one of {_FORMS}")


def _parse_only(w: _Words) -> Constraint:
    first = w.name("a kind or an edge after 'only'")
    if w.peek() != "->":
        kinds = [first]
        while w.word(","):
            kinds.append(w.name("a kind"))
        return OnlyKinds(tuple(kinds))
    w.take("->", "'->'")
    edges = [(first, w.name("a kind or parameter after '->'"))]
    while w.word(","):
        u = w.name("a kind or parameter")
        w.take("->", "'->' (after 'only a -> b', every item is an edge)")
        edges.append((u, w.name("a kind or parameter after '->'")))
    return OnlyEdges(tuple(edges))


def _parse_degree(w: _Words) -> Degree:
    bound = "exactly"
    for b in BOUNDS:
        if w.word(*b.split()):
            bound = b
            break
    n = w.number()
    kind = w.name("a kind after the number")
    side = w.peek()
    if side not in SIDES:
        raise NotationError(w.text, w.where(), "'before' or 'after'")
    w.i += 1
    return Degree(bound, n, kind, side)


def parse_constraints(text: str) -> tuple[Constraint, ...]:
    """Constraints separated by ``;``.

    >>> format_constraints(parse_constraints("only M, N;no new edges"))
    'only M, N; no new edges'
    """
    out = []
    start = 0
    for part in text.split(";"):
        if part.strip():
            try:
                out.append(parse_constraint(part))
            except NotationError as e:  # placed in the whole text, not in its piece
                raise NotationError(text, start + e.position, e.expected) from None
        start += len(part) + 1
    return tuple(out)


def format_constraints(constraints: Iterable[Constraint]) -> str:
    return "; ".join(str(c) for c in constraints)


def to_constraints(items: Iterable[str | Constraint] | str, where: str) -> tuple[Constraint, ...]:
    """Constraints from texts or values (the Python API); checked: names valid."""
    if isinstance(items, str):
        items = [items]
    out: list[Constraint] = []
    for item in items:
        if isinstance(item, str):
            out.extend(parse_constraints(item))
        elif isinstance(item, OnlyKinds | NoTasks | AtMost | OnlyEdges | NoEdges | Each):
            out.append(item)
        else:
            raise GrammarError(f"{where}: a constraint is a text such as 'only M, N' or a "
                               f"value of grammarflow.core.constraints; got {item!r}")
    for c in out:
        check_constraint(c, where)
    return tuple(out)


def check_constraint(c: Constraint, where: str) -> None:
    """Names valid, numbers not negative."""
    for name, _ in names_in(c):
        check_name(name, f"{where}: name in constraint '{c}'")
    numbers = [c.n] if isinstance(c, AtMost) else [d.n for d in c.degrees] \
        if isinstance(c, Each) else []
    if any(not isinstance(n, int) or n < 0 for n in numbers):
        raise GrammarError(f"{where}: constraint '{c}' needs counts that are whole "
                           "numbers >= 0")


def names_in(c: Constraint) -> list[tuple[str, bool]]:
    """The names ``c`` holds, each with whether it stands in an edge (where a parameter
    may stand as well as a kind).

    >>> names_in(parse_constraint("no edges from a into M"))
    [('a', True), ('M', True)]
    """
    match c:
        case OnlyKinds(kinds):
            return [(k, False) for k in kinds]
        case AtMost(_, kind):
            return [(kind, False)] if kind else []
        case OnlyEdges(edges):
            return [(n, True) for e in edges for n in e]
        case NoEdges(source, target):
            return [(n, True) for n in (source, target) if n]
        case Each(kind, degrees):
            return [(kind, False), *((d.kind, False) for d in degrees)]
    return []


def with_tasks(c: Constraint, bound: Mapping[str, str]) -> Constraint:
    """``c`` with each parameter it names replaced by the task ``bound`` to it: for a
    person to read (a task id is no name the notation parses).

    >>> str(with_tasks(parse_constraint("only a -> M, M -> b"), {"a": "s", "b": "Dyn.1/e"}))
    'only s -> M, M -> Dyn.1/e'
    """
    match c:
        case OnlyEdges(edges):
            return OnlyEdges(tuple((bound.get(u, u), bound.get(v, v)) for u, v in edges))
        case NoEdges(source, target):
            return NoEdges(source and bound.get(source, source),
                           target and bound.get(target, target))
    return c


def constraints_to_json(constraints: Sequence[Constraint]) -> list[str]:
    return [str(c) for c in constraints]


def constraints_from_json(data: Iterable[str]) -> tuple[Constraint, ...]:
    return tuple(parse_constraint(text) for text in data)


# ====================================================================== static checks
def fragment_breaks(c: Constraint, kinds: Sequence[str],
                    edges: Sequence[tuple[str | None, str | None]]) -> str | None:
    """Why a production's fragment, made inside a scope, breaks ``c`` whatever it is
    glued to (``kinds``: its tasks' kinds; ``edges``: kinds of both ends, None for an
    end that is a parameter, unknown until run time); None if it may not."""
    match c:
        case OnlyKinds(allowed):
            bad = [k for k in kinds if k not in allowed]
            return f"it makes a task of kind {bad[0]}" if bad else None
        case NoTasks():
            return f"it makes a task of kind {kinds[0]}" if kinds else None
        case AtMost(n, kind):
            made = sum(1 for k in kinds if kind is None or k == kind)
            return f"it makes {made} {kind or 'tasks'} at once" if made > n else None
        case NoEdges(None, None):
            return "it makes an edge" if edges else None
        case NoEdges(source, target):
            for u, v in edges:
                if (source is None or u == source) and (target is None or v == target) \
                        and (u is not None or source is None) \
                        and (v is not None or target is None):
                    return f"it makes an edge {u} -> {v}"
            return None
        case OnlyEdges(allowed):
            for u, v in edges:
                if u is not None and v is not None and (u, v) not in allowed:
                    return f"it makes an edge {u} -> {v}"
            return None
    return None
