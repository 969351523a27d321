"""Constraint promises on open holes: which kinds, which edges, how many neighbours.

Each constraint has one text form (``only M, N``, ``at most 100 M``, ``each D has 2 P
before``), used in the notation, the journal and refusals. The forms and when each is
decided: docs/constraints.md; why deciding them then is enough: proofs/10-constraints.md.
Pure: :class:`ConstraintState` keeps a derivation's counts and records an undo action
for each change through the hook it is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grammarflow.core.graph import check_name
from grammarflow.errors import BrokenPromise, GrammarError, NotationError

__all__ = ["AtMost", "Constraint", "ConstraintState", "Degree", "Each", "NoEdges",
           "NoTasks", "OnlyEdges", "OnlyKinds", "Scope", "TooFewNeighbours",
           "format_constraints", "names_in", "parse_constraint", "parse_constraints",
           "to_constraints", "with_tasks"]

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


# ====================================================================== run-time state
class TooFewNeighbours(BrokenPromise):
    """A lower bound of an ``each`` constraint broken: ``task`` ends with too few
    neighbours of a kind. Decided by a change when it can be, else when the task would
    start (or its scope closes); then whoever made ``task`` is to name."""

    def __init__(self, reason: str, *, hole: str, task: str) -> None:
        super().__init__(reason, hole=hole)
        self.task = task


@dataclass(frozen=True, slots=True)
class Scope:
    """What a constrained hole promised: started at ``hole`` (of ``type``), with its
    parameters bound to tasks (``bound``)."""

    id: str
    hole: str
    type: str
    constraints: tuple[Constraint, ...]
    bound: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "hole": self.hole, "type": self.type,
                "constraints": constraints_to_json(self.constraints),
                "bound": dict(self.bound)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        return cls(data["id"], data["hole"], data["type"],
                   constraints_from_json(data["constraints"]), dict(data["bound"]))

    def broken(self, c: Constraint, what: str) -> BrokenPromise:
        return BrokenPromise(self._said(c, what), hole=self.hole)

    def too_few(self, c: Each, task: str, what: str) -> TooFewNeighbours:
        return TooFewNeighbours(self._said(c, what), hole=self.hole, task=task)

    def _said(self, c: Constraint, what: str) -> str:
        return f"constraint '{c}' of hole {self.hole} ({self.type}) is broken: {what}"

    def matches(self, name: str, task: str | None, kind: str) -> bool:
        """Does an edge constraint's ``name`` (a parameter, else a kind) name ``task``
        (None: a task not made yet, which no parameter is bound to)?"""
        bound = self.bound.get(name)
        return bound == task if bound is not None else kind == name


Undo = Callable[..., None]
_MISSING = object()


def _restore(table: dict[Any, Any], key: Any, old: Any) -> None:
    if old is _MISSING:
        del table[key]
    else:
        table[key] = old


class ConstraintState:
    """The constraint bookkeeping of one derivation: scopes, the scopes each hole is
    in, counts of what each scope made, and neighbour counts of constrained tasks.

    Every change is recorded with ``on_undo(fn, *args)`` (the graph's undo log), so a
    refused step leaves no trace here either. Each call costs O(size of the change).
    """

    def __init__(self, on_undo: Callable[..., None]) -> None:
        self.on_undo = on_undo
        self.scopes: dict[str, Scope] = {}
        self.live: dict[str, int] = {}  # scope -> its holes in the graph
        self.made: dict[tuple[str, int], int] = {}  # (scope, constraint index) -> tasks
        self.hole_scopes: dict[str, tuple[str, ...]] = {}  # hole -> scopes, outer first
        self.rules: dict[str, tuple[tuple[str, Each], ...]] = {}  # task -> its 'each'
        self.degree: dict[tuple[str, str, str], int] = {}  # (task, side, kind) -> count
        self.closing: dict[str, list[str]] = {}  # scope -> tasks to check when it closes

    def __bool__(self) -> bool:
        return bool(self.scopes)

    # ---------------------------------------------------------------- undoable writes
    def _put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        self.on_undo(_restore, table, key, table.get(key, _MISSING))
        table[key] = value

    def _drop(self, table: dict[Any, Any], key: Any) -> None:
        self.on_undo(_restore, table, key, table.pop(key))

    def _add(self, table: dict[Any, int], key: Any, n: int) -> int:
        value = table.get(key, 0) + n
        self._put(table, key, value)
        return value

    # ---------------------------------------------------------------- scopes
    def scopes_of(self, hole: str) -> tuple[str, ...]:
        return self.hole_scopes.get(hole, ())

    def start(self, hole: str, type_name: str, constraints: tuple[Constraint, ...],
              bound: Mapping[str, str]) -> str:
        """A new scope at ``hole`` (already in the scopes of its parent, if any)."""
        sid = hole
        k = 1
        while sid in self.scopes:
            k += 1
            sid = f"{hole}+{k}"
        self._put(self.scopes, sid, Scope(sid, hole, type_name, constraints, dict(bound)))
        self._put(self.closing, sid, [])
        self._put(self.live, sid, 1)
        self._put(self.hole_scopes, hole, (*self.scopes_of(hole), sid))
        return sid

    def holes_made(self, parent: tuple[str, ...], holes: Iterable[str]) -> None:
        for hid in holes:
            self._put(self.hole_scopes, hid, parent)
            for sid in parent:
                self._add(self.live, sid, 1)

    def hole_gone(self, hole: str, kind_of: Callable[[str], str],
                  succ: Callable[[str], Iterable[str]]) -> None:
        """``hole`` was removed: a scope with no hole left closes (out-degrees decided)."""
        chain = self.hole_scopes.get(hole)
        if not chain:
            return
        self._drop(self.hole_scopes, hole)
        for sid in chain:
            if self._add(self.live, sid, -1) == 0:
                self._close(self.scopes[sid], kind_of, succ)

    def _close(self, scope: Scope, kind_of: Callable[[str], str],
               succ: Callable[[str], Iterable[str]]) -> None:
        for task in self.closing[scope.id]:
            for sid, each in self.rules[task]:
                if sid != scope.id:
                    continue
                for d in each.degrees:
                    if d.side != "after":
                        continue
                    count = sum(1 for v in succ(task) if kind_of(v) == d.kind)
                    if d.too_few(count):
                        raise scope.too_few(each, task, f"task {task} ({each.kind}) has "
                                                        f"{count} {d.kind} after it as the "
                                                        "hole closes")

    # ---------------------------------------------------------------- changes
    def check_change(self, chain: tuple[str, ...], tasks: Sequence[tuple[str, str]],
                     edges: Sequence[tuple[str, str]], kind_of: Callable[[str], str]) -> None:
        """A change made inside the scopes ``chain``: new ``tasks`` (id, kind) and
        new ``edges``. Raises naming the constraint broken; else counts it."""
        for sid in chain:
            scope = self.scopes[sid]
            for i, c in enumerate(scope.constraints):
                self._check(scope, i, c, tasks, edges, kind_of)
        for tid, kind in tasks:
            rules = tuple((sid, c) for sid in chain for c in self.scopes[sid].constraints
                          if isinstance(c, Each) and c.kind == kind)
            if rules:
                self._put(self.rules, tid, rules)
                for sid in {sid for sid, each in rules
                            if any(d.side == "after" and d.too_few(0) for d in each.degrees)}:
                    self.closing[sid].append(tid)
                    self.on_undo(self.closing[sid].pop)

    def _check(self, scope: Scope, i: int, c: Constraint, tasks: Sequence[tuple[str, str]],
               edges: Sequence[tuple[str, str]], kind_of: Callable[[str], str]) -> None:
        match c:
            case OnlyKinds(kinds):
                for tid, kind in tasks:
                    if kind not in kinds:
                        raise scope.broken(c, f"task {tid} of kind {kind}")
            case NoTasks():
                if tasks:
                    raise scope.broken(c, f"task {tasks[0][0]} of kind {tasks[0][1]}")
            case AtMost(n, kind):
                for tid, k in tasks:
                    if kind is None or k == kind:
                        made = self._add(self.made, (scope.id, i), 1)
                        if made > n:
                            raise scope.broken(c, f"task {tid} would be the {_nth(made)} "
                                                  f"{kind or 'task'} made there")
            case NoEdges(source, target):
                for u, v in edges:
                    if (source is None or scope.matches(source, u, kind_of(u))) and \
                            (target is None or scope.matches(target, v, kind_of(v))):
                        raise scope.broken(c, f"edge {u} -> {v}")
            case OnlyEdges(allowed):
                for u, v in edges:
                    ku, kv = kind_of(u), kind_of(v)
                    if not any(scope.matches(a, u, ku) and scope.matches(b, v, kv)
                               for a, b in allowed):
                        raise scope.broken(c, f"edge {u} -> {v} ({ku} -> {kv})")

    def check_edges(self, edges: Sequence[tuple[str, str]], kind_of: Callable[[str], str]
                    ) -> None:
        """New edges anywhere: the upper bounds of constrained tasks' neighbour counts."""
        rules = self.rules
        for u, v in edges:
            if u in rules:
                self._count(u, "after", kind_of(v), f"edge {u} -> {v}")
            if v in rules:
                self._count(v, "before", kind_of(u), f"edge {u} -> {v}")

    def _count(self, task: str, side: str, kind: str, what: str) -> None:
        relevant = [(sid, each, d) for sid, each in self.rules[task] for d in each.degrees
                    if d.side == side and d.kind == kind]
        if not relevant:
            return
        count = self._add(self.degree, (task, side, kind), 1)
        for sid, each, d in relevant:
            if d.too_many(count):
                raise self.scopes[sid].broken(
                    each, f"{what} would be the {_nth(count)} {kind} {side} {task}")

    def check_start(self, task: str) -> None:
        """``task`` would start: its predecessors are final, so decide the lower bounds."""
        self._check_before(task, "would start with {count} {kind} before it")

    def check_final(self, task: str) -> None:
        """``task`` can get no more predecessors — no hole comes before it and none is
        attached everywhere — so decide the lower bounds now: the change that left it
        so is the one that broke the promise, and it is refused."""
        self._check_before(task, "has {count} {kind} before it, and nothing can add one "
                                 "now: no hole comes before it")

    def _check_before(self, task: str, said: str) -> None:
        for sid, each in self.rules.get(task, ()):
            for d in each.degrees:
                if d.side != "before":
                    continue
                count = self.degree.get((task, "before", d.kind), 0)
                if d.too_few(count):
                    raise self.scopes[sid].too_few(
                        each, task, f"task {task} ({each.kind}) "
                                    + said.format(count=count, kind=d.kind))

    # ---------------------------------------------------------------- JSON (snapshots)
    def to_json(self) -> dict[str, Any]:
        return {
            "scopes": [s.to_json() for s in self.scopes.values()],
            "live": self.live,
            "made": [[s, k, n] for (s, k), n in self.made.items()],
            "holes": {h: list(c) for h, c in self.hole_scopes.items() if c},
            "rules": {t: [[sid, str(each)] for sid, each in r] for t, r in self.rules.items()},
            "degree": [[t, s, k, n] for (t, s, k), n in self.degree.items()],
            "closing": self.closing,
        }

    def load_json(self, data: Mapping[str, Any]) -> None:
        self.scopes = {s["id"]: Scope.from_json(s) for s in data["scopes"]}
        self.live = dict(data["live"])
        self.made = {(s, k): n for s, k, n in data["made"]}
        self.hole_scopes = {h: tuple(c) for h, c in data["holes"].items()}
        self.rules = {t: tuple((sid, _each(text)) for sid, text in r)
                      for t, r in data["rules"].items()}
        self.degree = {(t, s, k): n for t, s, k, n in data["degree"]}
        self.closing = {s: list(ts) for s, ts in data["closing"].items()}


def _each(text: str) -> Each:
    c = parse_constraint(text)
    assert isinstance(c, Each)
    return c


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
