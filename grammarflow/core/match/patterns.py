"""The grammar compiled for matching: holes and moves as the search sees them,
productions numbered into patterns (also *through* productions that make only holes),
and the index of a grammar's hole types that the search asks about."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Generic, NamedTuple, TypeVar

from grammarflow.core.productions import Fragment, HoleType, Production
from grammarflow.core.wellformed import reachable_types

__all__ = ["PARAM", "Index", "Lifted", "Move", "Pattern", "SearchHole", "index_of", "likeness",
           "one_of_each", "pattern_of"]


K = TypeVar("K")
V = TypeVar("V")


class SearchHole(NamedTuple):
    """A hole as the search sees it: existing (``ref`` is its id) or planned."""

    ref: str | tuple[int, int]
    type: str
    args: tuple[str, ...]
    allowed: frozenset[str] | None


class Move(NamedTuple):
    """One production application the search may take (a tuple: cheap to make by the
    thousand)."""

    hole: SearchHole
    pattern: Pattern
    binding: tuple[str, ...]  # the diff task each new task of the fragment becomes
    covers: tuple[int, ...]  # the elements it produces
    new_holes: tuple[SearchHole, ...]
    delta: int  # what it adds to the state's hash

    def touches(self) -> set[str]:
        """The tasks it makes, and the tasks its new holes are attached to."""
        names = set(self.binding)
        for h in self.new_holes:
            names.update(h.args)
        names.discard("*")
        return names


def one_of_each(holes: list[SearchHole]) -> list[SearchHole]:
    """The first of each set of holes alike: expanding one or its twin the same way
    leads to the same state but for ids, so trying both only multiplies the search."""
    seen: set[tuple[str, tuple[str, ...], frozenset[str] | None]] = set()
    out = []
    for h in holes:
        what = likeness(h)
        if what not in seen:
            seen.add(what)
            out.append(h)
    return out


def likeness(hole: SearchHole) -> tuple[str, tuple[str, ...], frozenset[str] | None]:
    """What a hole is, apart from its id: holes alike are interchangeable."""
    return hole.type, hole.args, hole.allowed


class Pattern:
    """A production numbered for matching: slots ``0 .. first-1`` are its parameters,
    the next ones its new tasks; edges and hole arguments are slots (-1: ``*``).

    A pattern may also reach its production *through* productions that make only holes
    (``via``: each such production and the index of its hole the next step expands):
    ``Lanes(a, b) ::= Lane(a, b), Lanes_more(a, b)`` then ``Lane(a, b) ::= a -> X -> b``
    is one pattern of ``Lanes`` that makes an X. Its holes are those the steps leave:
    each via production's other holes, in order, then the production's own."""

    __slots__ = ("adjacent", "edges", "first", "free", "holes", "kinds", "locals",
                 "production", "reach", "slots_of_kind", "via")

    def __init__(self, prod: Production,
                 via: tuple[tuple[Production, int], ...] = ()) -> None:
        first = len(via[0][0].params) if via else len(prod.params)
        tasks = prod.fragment.tasks
        slot: dict[str, int] = {name: i for i, name in enumerate(prod.params)}
        holes: list[tuple[str, tuple[int, ...]]] = []
        if via:  # each next production's parameters: what the step before glued it to
            params = {name: i for i, name in enumerate(via[0][0].params)}
            nexts = [step.params for step, _ in via[1:]] + [prod.params]
            for (step, k), after in zip(via, nexts, strict=True):
                made = step.fragment.holes
                holes.extend((h.type, tuple(params.get(a, -1) for a in h.args))
                             for j, h in enumerate(made) if j != k)
                params = dict(zip(after, (params.get(a, -1) for a in made[k].args),
                                  strict=True))
            slot = params
        slot.update((t.local, first + j) for j, t in enumerate(tasks))
        self.production = prod
        self.via = via
        self.first = first
        self.locals = tuple(t.local for t in tasks)
        self.kinds = ("",) * first + tuple(t.kind for t in tasks)
        by_kind: dict[str, list[int]] = {}
        for j, t in enumerate(tasks):
            by_kind.setdefault(t.kind, []).append(first + j)
        self.slots_of_kind = {k: tuple(v) for k, v in by_kind.items()}
        self.edges = tuple((slot[x], slot[y]) for x, y in prod.fragment.edges)
        holes.extend((h.type, tuple(slot.get(a, -1) for a in h.args))
                     for h in prod.fragment.holes)
        self.holes = tuple(holes)
        adjacent: list[list[tuple[int, bool]]] = [[] for _ in self.kinds]
        for x, y in self.edges:
            adjacent[x].append((y, True))
            adjacent[y].append((x, False))
        #: per slot, the slots at the other end of its edges (True: it is the source)
        self.adjacent = tuple(map(tuple, adjacent))
        distance = _distances(self.adjacent, first)
        #: how many edges away from a parameter its new tasks joined to one lie, at most
        self.reach = max((distance[s] for s in range(first, len(self.kinds))
                          if s in distance), default=0)
        #: kinds of its new tasks joined to no parameter by any path: they may be any task
        self.free = frozenset(t.kind for j, t in enumerate(tasks) if first + j not in distance)

    def steps(self) -> tuple[Production, ...]:
        """The productions applied, in order: the via ones, then its own."""
        return (*(step for step, _ in self.via), self.production)


def _distances(adjacent: tuple[tuple[tuple[int, bool], ...], ...],
               first: int) -> dict[int, int]:
    """Edges between each slot joined to a parameter and the nearest parameter."""
    distance = dict.fromkeys(range(first), 0)
    todo = list(range(first))
    for s in todo:  # breadth first: todo grows as it is read
        for other, _ in adjacent[s]:
            if other not in distance:
                distance[other] = distance[s] + 1
                todo.append(other)
    return distance


class _Once(Generic[K, V]):
    """``make(key)``, worked out once per key: keys are immutable (productions,
    grammars' types), so they are looked up by id and checked by identity. Past
    ``_CACHED`` entries the cache starts over, so that a long run's narrowed grammars
    do not pile up."""

    def __init__(self, make: Callable[[K], V]) -> None:
        self._make = make
        self._hits: dict[int, tuple[K, V]] = {}

    def __call__(self, key: K) -> V:
        hit = self._hits.get(id(key))
        if hit is None or hit[0] is not key:
            if len(self._hits) >= _CACHED:
                self._hits.clear()
            hit = self._hits[id(key)] = (key, self._make(key))
        return hit[1]


_CACHED = 256
pattern_of: _Once[Production, Pattern] = _Once(Pattern)


class Index:
    """A grammar's hole types as the search asks about them: which are closed, which
    compiled productions a hole allows, which types can make a task of a kind."""

    def __init__(self, types: Mapping[str, HoleType]) -> None:
        self.types = types
        self.closed = frozenset(name for name, t in types.items() if not t.open)
        self._allowed: dict[tuple[str, frozenset[str] | None], tuple[Pattern, ...]] = {}
        self._of: dict[str, frozenset[str]] = {}
        self._free: dict[str, frozenset[str]] = {}
        self._reach: dict[str, int] = {}
        self._derivable: dict[str, frozenset[str]] = {}
        self._shapes: dict[str, frozenset[tuple[str, str]]] = {}
        self._degrees: dict[str, frozenset[tuple[str, int, int]]] = {}

    def allowed(self, hole: SearchHole) -> tuple[Pattern, ...]:
        """The productions still allowed for ``hole``, compiled: each one, and each one
        reached through productions that make only holes (see :class:`Pattern`)."""
        return self._patterns(hole.type, hole.allowed)

    def _patterns(self, name: str, allowed: frozenset[str] | None) -> tuple[Pattern, ...]:
        key = (name, allowed)
        found = self._allowed.get(key)
        if found is None:
            productions = tuple(self.types[name].allowed(allowed))
            found = self._allowed[key] = (
                *map(pattern_of, productions),
                *(pattern for prod in productions if _only_holes(prod)
                  for k in _holes_apart(prod)
                  for pattern in self._through(((prod, k),))))
        return found

    def _through(self, via: tuple[tuple[Production, int], ...]) -> Iterator[Pattern]:
        """Patterns that go ``via`` productions making only holes (each with the hole of
        it the next step expands), then a production of that hole's type; or through at
        most ``_THROUGH`` such productions in all. A path never enters a type it has been
        through, nor a hole alike (type and attachment) to one it left behind: either
        would only change which of two holes a plan uses, and the plan that uses the
        first stays."""
        step, k = via[-1]
        hole = step.fragment.holes[k]
        child = self.types[hole.type]
        if child.open or not set(hole.args) <= set(step.params):
            return  # open, or glued to '*': nothing to match through
        if hole.type in {prod.lhs for prod, _ in via} or _entered_again(via):
            return
        for prod in child.allowed():
            if not _only_holes(prod):
                yield Pattern(prod, via)
            elif len(via) < _THROUGH:
                for j in _holes_apart(prod):
                    yield from self._through((*via, (prod, j)))

    def of(self, kind: str) -> frozenset[str]:
        """Closed types with a pattern (a production, or one reached through productions
        that make only holes) that has a task of ``kind``."""
        found = self._of.get(kind)
        if found is None:
            found = self._of[kind] = frozenset(
                t.name for t in self.types.values()
                if not t.open and any(kind in p.slots_of_kind
                                      for p in self._patterns(t.name, None)))
        return found

    def derivable_kinds(self, types: Iterable[str]) -> set[str]:
        """The kinds of task that holes of ``types`` can make, in any number of steps."""
        out: set[str] = set()
        for name in types:
            out |= self._reached(self._derivable, name, _kinds)
        return out

    def edge_shapes(self, types: Iterable[str]) -> set[tuple[str, str]]:
        """(from, to) of every edge of a production that holes of ``types`` can reach:
        each end the kind of a new task, or "" for a parameter."""
        out: set[tuple[str, str]] = set()
        for name in types:
            out |= self._reached(self._shapes, name, _shapes)
        return out

    def least_edges(self, types: Iterable[str]) -> dict[str, set[tuple[int, int]]]:
        """For each kind, the (in, out) edges that some production a hole of ``types``
        can reach gives a new task of it at least: a task of the change with fewer has
        no production to make it."""
        out: dict[str, set[tuple[int, int]]] = {}
        for name in types:
            for kind, n_in, n_out in self._reached(self._degrees, name, _least_edges):
                out.setdefault(kind, set()).add((n_in, n_out))
        return out

    def _reached(self, cache: dict[str, frozenset[V]], name: str,
                 of: Callable[[Fragment], Iterable[V]]) -> frozenset[V]:
        """``of`` every fragment of a production that a hole of type ``name`` can reach
        (worked out once per type, in ``cache``)."""
        found = cache.get(name)
        if found is None:
            found = cache[name] = frozenset(
                x for t in reachable_types(self.types, (name,))
                for p in self.types[t].allowed() for x in of(p.fragment))
        return found

    def free(self, kind: str) -> frozenset[str]:
        """Closed types with a production that has a task of ``kind`` joined to none of
        its parameters: only such a task may be made far from every available task."""
        found = self._free.get(kind)
        if found is None:
            found = self._free[kind] = frozenset(
                t.name for t in self.types.values()
                if not t.open and any(kind in p.free for p in self._patterns(t.name, None)))
        return found

    def reach(self, types: Iterable[str]) -> int:
        """How far from its arguments (in edges) a hole of ``types`` can make a task."""
        out = 0
        for name in types:
            found = self._reach.get(name)
            if found is None:
                found = self._reach[name] = max(
                    (p.reach for p in self._patterns(name, None)), default=0)
            out = max(out, found)
        return out


index_of: _Once[Mapping[str, HoleType], Index] = _Once(Index)
#: Productions that make only holes a pattern may go through (see :class:`Pattern`).
_THROUGH = 3


def _entered_again(via: tuple[tuple[Production, int], ...]) -> bool:
    """Does the last step of ``via`` enter a hole alike to one an earlier step left
    (same type, glued to the same parameters of the first production)?"""
    glued = via[0][0].params  # what each step's parameters are glued to, in the first's
    left: set[tuple[str, tuple[str, ...]]] = set()
    for step, k in via:
        params = dict(zip(step.params, glued, strict=True))
        made = [(h.type, tuple(params.get(a, "*") for a in h.args))
                for h in step.fragment.holes]
        if made[k] in left:
            return True
        left.update(h for j, h in enumerate(made) if j != k)
        glued = made[k][1]
    return False


def _holes_apart(prod: Production) -> list[int]:
    """The index of each hole ``prod`` makes but those alike to an earlier one (same
    type and arguments): going through either is the same."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out = []
    for k, hole in enumerate(prod.fragment.holes):
        if (hole.type, hole.args) not in seen:
            seen.add((hole.type, hole.args))
            out.append(k)
    return out


def _only_holes(prod: Production) -> bool:
    """Does ``prod`` make holes and nothing else (no task, no edge), unguarded?"""
    fragment = prod.fragment
    return (bool(fragment.holes) and not fragment.tasks and not fragment.edges
            and prod.guard is None and prod.condition is None)


class Lifted(Index):
    """The index of a grammar with every narrowing lifted, of types and of holes: what
    the search would find had no promise been narrowed (for a refusal to name one)."""

    def __init__(self, types: Mapping[str, HoleType]) -> None:
        super().__init__({name: replace(t, removed=frozenset()) for name, t in types.items()})

    def allowed(self, hole: SearchHole) -> tuple[Pattern, ...]:
        return super().allowed(hole._replace(allowed=None))


PARAM = ""  # an edge end that is a production's parameter: it may be any task


def _kinds(fragment: Fragment) -> Iterator[str]:
    return (t.kind for t in fragment.tasks)


def _shapes(fragment: Fragment) -> Iterator[tuple[str, str]]:
    kinds = {t.local: t.kind for t in fragment.tasks}
    for u, v in fragment.edges:
        yield kinds.get(u, PARAM), kinds.get(v, PARAM)


def _least_edges(fragment: Fragment) -> Iterator[tuple[str, int, int]]:
    """(kind, in, out) for each new task of ``fragment``: the edges it surely has. Edges
    from two parameters count once: both may be bound to the same task."""
    for t in fragment.tasks:
        ins = [u for u, v in fragment.edges if v == t.local]
        outs = [v for u, v in fragment.edges if u == t.local]
        yield t.kind, _distinct(ins, fragment), _distinct(outs, fragment)


def _distinct(ends: list[str], fragment: Fragment) -> int:
    tasks = sum(1 for e in ends if e in fragment.locals)
    return tasks + (len(ends) > tasks)
