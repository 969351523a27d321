"""Hypothesis strategies over a workflow's grammar: property-test your workflow's shape.

:func:`finished_graphs`, :func:`derivations`, :func:`runs`, :func:`partial_runs`,
:func:`message_runs`, and the pieces of random grammars (:func:`fragments`,
:func:`closed_types`): docs/testing.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any, TypeVar

from hypothesis import strategies as st

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph, Hole, Role, TaskState
from grammarflow.core.match import Added, Diff, add
from grammarflow.core.productions import (
    EVERYWHERE,
    Fragment,
    HoleSpec,
    HoleType,
    Production,
    TaskSpec,
    hole_type,
    open_type,
)
from grammarflow.core.simulate import Limits, close_due_holes, derive, due_when_done, run
from grammarflow.core.steps import (
    Applied,
    Expand,
    Grow,
    NarrowHole,
    NarrowType,
    Refine,
    SetState,
    Step,
)
from grammarflow.core.wellformed import productive_types
from grammarflow.errors import BrokenPromise

T = TypeVar("T")

__all__ = [
    "KINDS",
    "TAGS",
    "Batch",
    "Message",
    "MessageRun",
    "Outcome",
    "Signature",
    "apply_message",
    "closed_types",
    "derivations",
    "finished_graphs",
    "fragments",
    "message_runs",
    "partial_runs",
    "production_diff",
    "runs",
]


class _DrawChooser:
    """A simulate.Chooser whose choices Hypothesis draws (and so can shrink)."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self._draw = draw

    def choose(self, options: Sequence[T]) -> T:
        return options[self._draw(st.integers(0, len(options) - 1))]  # type: ignore[no-any-return]

    def coin(self) -> bool:
        return bool(self._draw(st.booleans()))


@st.composite
def derivations(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30) -> Derivation:
    """Complete derivations: holes expanded in any order until none is left."""
    return derive(grammar, _DrawChooser(draw), Limits(max_tasks=max_tasks))


def finished_graphs(grammar: Grammar, max_tasks: int = 30) -> st.SearchStrategy[Graph]:
    """Hole-free graphs in the grammar's language (no task has run yet).

    >>> from hypothesis import given
    >>> from grammarflow import define, repeat_parallel
    >>> grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    >>> @given(finished_graphs(grammar))
    ... def test_b_is_always_last(graph):
    ...     assert not graph.succ["B"]
    >>> test_b_is_always_last()
    """
    return derivations(grammar, max_tasks).map(lambda d: d.graph)


@st.composite
def runs(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30) -> Derivation:
    """Finished runs: every task done, in an order the scheduler could have chosen."""
    return run(grammar, _DrawChooser(draw), Limits(max_tasks=max_tasks))


@st.composite
def partial_runs(draw: st.DrawFn, grammar: Grammar, max_tasks: int = 30) -> Derivation:
    """A run stopped after a random number of its steps (replayed from its history)."""
    finished = draw(runs(grammar, max_tasks))
    cut = draw(st.integers(0, len(finished.history)))
    return Derivation.replay(grammar, finished.history[:cut])


# ====================================================================== random pieces
#: A hole type's roles in order, or None for a type attached everywhere ``X(*)``.
Signature = tuple[Role, ...] | None

#: The task kinds random fragments use unless told otherwise.
KINDS = ("A", "B", "C")


@st.composite
def fragments(draw: st.DrawFn, after: Sequence[str], before: Sequence[str],
              holes: Mapping[str, Signature] | None = None, *, kinds: Sequence[str] = KINDS,
              max_tasks: int = 3, min_holes: int = 0, max_holes: int = 2,
              prefix: str = "N") -> Fragment:
    """Well-formed fragments over parameters in their roles, with holes of ``holes``.

    New tasks lie on a line between the after- and the before-parameters; edges and
    hole attachments only go forward along it, so every fragment glues to its
    parameters in their roles and has no cycle.
    """
    n = draw(st.integers(0, max_tasks))
    new = [f"{prefix}{i}" for i in range(n)]
    tasks = tuple(TaskSpec(name, draw(st.sampled_from(kinds))) for name in new)
    line = [*after, *new, *before]
    edges = []
    for i, u in enumerate(line):
        if u in before:
            continue
        for v in line[i + 1:]:
            if v not in after and draw(st.integers(0, 3)) == 0:
                edges.append((u, v))
    specs: list[HoleSpec] = []
    for _ in range(draw(st.integers(min_holes, max_holes)) if holes else 0):
        htype = draw(st.sampled_from(sorted(holes or {})))
        sig = (holes or {})[htype]
        if sig is None:
            specs.append(HoleSpec(htype, (EVERYWHERE,)))
            continue
        split = draw(st.integers(len(after), len(after) + n))
        left = [x for x in line[:split] if x not in before]
        right = [x for x in line[split:] if x not in after]
        if (Role.AFTER in sig and not left) or (Role.BEFORE in sig and not right):
            continue
        specs.append(HoleSpec(htype, tuple(
            draw(st.sampled_from(left if r is Role.AFTER else right)) for r in sig)))
    return Fragment(tasks, tuple(specs), tuple(edges))


def parameters(roles: Sequence[Role]) -> tuple[str, ...]:
    """Parameter names for roles: ``a<i>`` for after, ``b<i>`` for before."""
    return tuple(f"{'a' if r is Role.AFTER else 'b'}{i}" for i, r in enumerate(roles))


@st.composite
def closed_types(draw: st.DrawFn, signatures: Mapping[str, tuple[Role, ...]],
                 children: Mapping[str, Signature] | None = None, *,
                 kinds: Sequence[str] = KINDS, min_productions: int = 1,
                 max_productions: int = 3, defaults: bool = True) -> dict[str, HoleType]:
    """Closed hole types with these signatures and random productions.

    Each type's first production has no holes, so every type can finish (and is a
    default that ends); the others hold holes of these types and of ``children``
    (mostly: a hole that cannot be attached along the line is left out).
    """
    every: dict[str, Signature] = {**(children or {}), **signatures}
    types: dict[str, HoleType] = {}
    for name, roles in signatures.items():
        params = parameters(roles)
        after = [p for p, r in zip(params, roles, strict=True) if r is Role.AFTER]
        before = [p for p, r in zip(params, roles, strict=True) if r is Role.BEFORE]
        frags = [draw(fragments(after, before, every if k else None, kinds=kinds,
                                min_holes=1 if k else 0))
                 for k in range(draw(st.integers(min_productions, max_productions)))]
        default = draw(st.sampled_from([None, "1"])) if defaults else None
        types[name] = hole_type(name, params, roles, frags, default=default)
    return types


def signature(htype: HoleType) -> Signature:
    return None if htype.everywhere else htype.roles


# ====================================================================== messages
@dataclass(frozen=True, slots=True)
class Batch:
    """Several expansions sent as one message (``task.expand_all``): all or none."""

    steps: tuple[Expand, ...]


Message = Step | Diff | Batch
Result = Added | Applied | tuple[Applied, ...]

#: What a generated message may be built to exercise (:attr:`Outcome.tags`).
TAGS = (
    "expand",                   # a production named for a hole (or a wrong name, hole, attrs)
    "batch",                    # several legal expansions in one message
    "batch/one bad member",     # ... with one member that must be refused, anywhere in it
    "diff/one step",            # a raw diff one production application yields
    "diff/several steps",       # ... that needs several (nested or side by side)
    "diff/edge too many",       # such a diff with one more edge
    "diff/edge too few",        # ... with one edge less
    "diff/wrong kind first",    # ... with the first task of another kind
    "diff/wrong kind later",    # ... with a later task of another kind
    "diff/no hole there",       # a new task after a task, wherever a hole is or not
    "diff/open hole",           # what an open hole may grow, sent as a raw diff
    "grow",                     # a raw fragment through an open hole
    "refine/plain",             # an open hole replaced by tasks and edges
    "refine/holes",             # ... with holes of the grammar's types
    "refine/fresh types",       # ... with holes of fresh closed types
    "refine/fresh open type",   # ... with a hole of a fresh open type
    "refine/fresh everywhere type",  # ... with a hole of a fresh type attached everywhere
    "narrow type",              # productions removed from a hole type
    "narrow hole",              # ... from one hole
    "needs removed by type",    # a change that needs a production narrowed away by type
    "needs removed for hole",   # ... narrowed away for the hole
    "into started",             # an edge into (or a hole before) a task that has started
    "cycle/in one message",     # the message's own new tasks, edges and holes form a cycle
    "cycle/one step",           # an edge back along existing edges closes a cycle
    "cycle/several steps",      # ... along an edge an earlier message added anywhere
    "wrong step for the hole",  # grow or refine a closed hole, expand or narrow an open one
)


def apply_message(d: Derivation, message: Message) -> Result:
    """Apply what a task sent: a step, a batch of expansions, or a raw diff."""
    if isinstance(message, Diff):
        return add(d, message)
    if isinstance(message, Batch):
        return tuple(d.apply_batch(message.steps))
    return d.apply(message)


@dataclass
class Outcome:
    """One message and what became of it.

    ``tags`` say what the message was built to exercise (see :data:`TAGS`);
    ``illegal`` is True if it was built to break a promise (the checker must refuse
    it), ``legal`` if it was built to keep every promise (the checker must accept it);
    neither, if it may go either way.
    """

    message: Message
    result: Result | None
    error: BrokenPromise | None
    before: dict[str, Any]
    after: dict[str, Any]
    grammar_before: dict[str, Any]
    grammar_after: dict[str, Any]
    tags: tuple[str, ...] = ()
    illegal: bool = False
    legal: bool = False

    @property
    def accepted(self) -> bool:
        return self.error is None

    def steps(self) -> tuple[Step, ...]:
        """The steps an accepted message applied (a diff: those the checker found)."""
        if self.error is not None:
            return ()
        if isinstance(self.result, Added):
            return self.result.steps
        if isinstance(self.message, Batch):
            return self.message.steps
        if isinstance(self.message, Diff):
            return ()
        return (self.message,)


@dataclass
class MessageRun:
    """A run with random messages; ``broken`` holds a due hole nobody expanded."""

    grammar: Grammar
    derivation: Derivation
    outcomes: list[Outcome] = field(default_factory=list)
    broken: BrokenPromise | None = None


def production_diff(d: Derivation, hole: Hole, production: str,
                    prefix: str = "n") -> Diff:
    """The raw diff that applying ``production`` to ``hole`` would add (new names)."""
    htype = d.grammar.types[hole.type]
    prod = htype.production(production)
    names = {t.local: f"{prefix}_{t.local}" for t in prod.fragment.tasks}
    binding = dict(zip(prod.params, hole.args, strict=True))

    def node(name: str) -> str:
        return binding.get(name) or names[name]

    edges = []
    for u, v in prod.fragment.edges:
        e = (node(u), node(v))
        if not (e[0] in d.graph.tasks and e[1] in d.graph.tasks and d.graph.has_edge(*e)):
            edges.append(e)
    tasks = tuple(TaskSpec(names[t.local], t.kind) for t in prod.fragment.tasks)
    return Diff(tasks, tuple(edges))


@dataclass(frozen=True, slots=True)
class _Draft:
    message: Message
    tags: tuple[str, ...]
    illegal: bool = False
    legal: bool = False


@dataclass
class _Memory:
    """What the tasks of one run remember between messages."""

    serial: int = 0
    #: (question, answer) pairs :meth:`_Author.vary` has taken in this run
    used: set[tuple[str, str]] = field(default_factory=set)
    #: edges added through holes attached everywhere (a cycle through them takes
    #: several steps)
    wide: set[tuple[str, str]] = field(default_factory=set)
    #: open hole -> local names of the tasks grown in it (the same name again is an id
    #: taken)
    grown: dict[str, list[str]] = field(default_factory=dict)


def _copy(d: Derivation, *, unnarrowed: bool = False) -> Derivation:
    """A scratch copy of a derivation (optionally with every narrowing lifted), without
    constraints (the writers do not read them): the same ids come out of the same
    steps, so a batch can name holes its members make."""
    data = d.graph.to_json()
    grammar = d.grammar
    if unnarrowed:
        for h in data["holes"]:
            h["allowed"] = None
    if unnarrowed or grammar.constrained:
        grammar = Grammar(grammar.start, {
            n: replace(t, removed=frozenset() if unnarrowed else t.removed, constraints=())
            for n, t in grammar.types.items()})
    return Derivation(grammar, Graph.from_json(data))


class _Writer:
    """A running task writing one message for the derivation as it stands: the state
    it reads and the ways it chooses (each family of messages is a subclass)."""

    def __init__(self, draw: st.DrawFn, d: Derivation, memory: _Memory) -> None:
        self.draw, self.d, self.g, self.memory = draw, d, d.graph, memory
        self.types = d.grammar.types
        memory.serial += 1
        self.prefix = f"m{memory.serial}"
        while any(t.startswith(self.prefix) for t in self.g.tasks):
            self.prefix += "x"
        holes = [self.g.holes[h] for h in sorted(self.g.holes)]
        self.closed = [h for h in holes if not self.types[h.type].open]
        self.open = [h for h in holes if self.types[h.type].open]
        self.everywhere = [h for h in self.open if h.everywhere]
        self.pending = [t for t in self.g.tasks if self.g.state[t] is TaskState.PENDING]
        self.started = [t for t in self.g.tasks if self.g.state[t] is not TaskState.PENDING]
        self.kinds = sorted(d.grammar.kinds() | {"G"})

    def pick(self, items: Sequence[T]) -> T:
        return self.draw(st.sampled_from(items))

    def later(self, names: Sequence[str]) -> str:
        """A production name, leaning to the later ones: Hypothesis leans to the first
        option, and first productions are often the plain ones that end a hole."""
        return self.pick(names[::-1])

    def vary(self, question: str, options: Sequence[T],
             name: Callable[[T], str] = str) -> T:
        """One of the options, mostly one this run has not taken yet: so each run
        writes many kinds of message, not one kind many times."""
        new = [o for o in options if (question, name(o)) not in self.memory.used]
        choice = self.pick(new if new and not self.coin(4) else options)
        self.memory.used.add((question, name(choice)))
        return choice

    def coin(self, odds: int = 2) -> bool:
        """True with probability 1/odds."""
        return self.draw(st.integers(0, odds - 1)) == 0

    def fresh(self, what: str) -> str:
        """A name no hole type and no task has."""
        n = 0
        while f"{what}{self.prefix}_{n}" in self.types:
            n += 1
        return f"{what}{self.prefix}_{n}"

    def _removed(self) -> list[tuple[Hole, str, str]]:
        """(hole, production, 'by type' | 'for hole') for productions narrowed away."""
        out = []
        for hole in self.closed:
            htype = self.types[hole.type]
            for p in htype.productions:
                if p.name in htype.removed:
                    out.append((hole, p.name, "by type"))
                elif hole.allowed is not None and p.name not in hole.allowed:
                    out.append((hole, p.name, "for hole"))
        return out

    def _cycles_back(self) -> list[tuple[str, str, bool]]:
        """(u, v, wide): v is pending and runs before u, so an edge u -> v closes a
        cycle; wide if the way from v to u takes an edge added through an everywhere
        hole (the cycle then takes several steps)."""
        out = []
        for v in self.pending:
            for u, wide in sorted(_reach(self.g, v, self.memory.wide).items()):
                if u != v and u in self.g.tasks:
                    out.append((u, v, wide))
        return out


class _Expansions(_Writer):
    """Expansions named for holes, alone or in batches."""

    def expand(self) -> _Draft:
        hole = self.pick(self.closed)
        htype = self.types[hole.type]
        allowed = [p.name for p in htype.allowed(hole.allowed)]
        # (a hole narrowed to nothing has no production left: any one must be refused)
        prod = htype.production(self.later(allowed or [p.name for p in htype.productions]))
        attrs: dict[str, dict[str, Any]] = {}
        if prod.fragment.tasks and self.coin(3):
            attrs[self.pick(prod.fragment.locals)] = {"n": self.memory.serial}
        return _Draft(Expand(hole.id, prod.name, attrs), ("expand",), illegal=not allowed,
                      legal=bool(allowed))

    def expand_wrong(self) -> _Draft:
        bad, tags = self._bad_expansion([])
        return _Draft(bad, ("expand", *tags), illegal=True)

    def _bad_expansion(self, earlier: Sequence[Expand]) -> tuple[Expand, tuple[str, ...]]:
        """An expansion that must be refused after ``earlier`` (members of its batch)."""
        ways = ["not a hole"]
        if earlier:
            ways.append("consumed")
        if self.closed:
            ways += ["no such production", "attrs for nothing", "attrs for nothing"]
        if self.open:
            ways.append("open hole")
        if self._removed():
            ways.append("removed")
        way = self.vary("bad expansion", ways)
        if way == "consumed":
            done = self.pick(earlier)
            return Expand(done.hole, done.production), ()
        if way == "open hole":
            return Expand(self.pick(self.open).id, "1"), ("wrong step for the hole",)
        if way == "removed":
            hole, name, level = self.pick(self._removed())
            return Expand(hole.id, name), (f"needs removed {level}",)
        if way == "not a hole":
            return Expand(self.pick(sorted(self.g.tasks)), "1"), ()
        hole = self.pick(self.closed)
        htype = self.types[hole.type]
        names = [p.name for p in htype.productions]
        if way == "no such production":
            return Expand(hole.id, "".join(names) + "x"), ()
        prod = htype.production(self.pick(names))
        local = "".join(prod.fragment.locals) + "x"
        return Expand(hole.id, prod.name, {local: {"n": 1}}), ()

    def _expansions(self, scratch: Derivation, count: int, *, adding: bool = False,
                    away: set[str] | frozenset[str] = frozenset()) -> list[Expand]:
        """Up to ``count`` allowed expansions applied to ``scratch``, often nested (a
        hole the previous one made); ``adding``: each adds a task or a new edge;
        the first on a hole attached to none of the tasks ``away`` (if there is one)."""
        steps: list[Expand] = []
        children: list[str] = []
        for _ in range(count):
            g = scratch.graph
            choices = {}
            for hid in sorted(g.holes):
                hole = g.holes[hid]
                if not steps and away and away.intersection(hole.args) and any(
                        not away.intersection(h.args) for h in g.holes.values()):
                    continue
                names = [p.name for p in scratch.grammar.types[hole.type].allowed(hole.allowed)]
                if adding:
                    names = [n for n in names if _adds(production_diff(scratch, hole, n))]
                if names:
                    choices[hid] = names
            inner = [h for h in children if h in choices]
            pool = inner if inner and not self.coin(4) else sorted(choices)
            if not pool:
                break
            hole = g.holes[self.pick(pool)]
            step = Expand(hole.id, self.later(choices[hole.id]))
            children = list(scratch.apply(step).holes)
            steps.append(step)
        return steps

    def batch(self) -> _Draft:
        steps = self._expansions(_copy(self.d), self.draw(st.integers(2, 3)))
        return _Draft(Batch(tuple(steps)), ("batch",), legal=True)

    def batch_bad(self) -> _Draft:
        steps = self._expansions(_copy(self.d), self.draw(st.integers(0, 2)))
        at = self.draw(st.integers(0, len(steps)))
        bad, tags = self._bad_expansion(steps[:at])
        return _Draft(Batch((*steps[:at], bad, *steps[at:])), ("batch/one bad member", *tags),
                      illegal=True)


class _Diffs(_Expansions):
    """Raw diffs: what expansions add, and the same spoilt."""

    def _diff(self, scratch: Derivation) -> Diff:
        """What ``scratch`` has that the derivation has not, as a raw diff under fresh
        names, its tasks and edges in a random order."""
        g = self.g
        new = [t for t in scratch.graph.tasks.values() if t.id not in g.tasks]
        names = {t.id: f"{self.prefix}_{i}" for i, t in enumerate(new)}
        edges = [(names.get(u, u), names.get(v, v)) for u, v in sorted(scratch.graph.edges())
                 if not g.has_edge(u, v)]
        tasks = [TaskSpec(names[t.id], t.kind) for t in new]
        return Diff(self.shuffled(tasks), self.shuffled(edges))

    def shuffled(self, items: Sequence[T]) -> tuple[T, ...]:
        """The items rotated, maybe reversed: any one may come first (two draws, where
        a permutation takes one a item and runs cost Hypothesis its size limit)."""
        if len(items) < 2:
            return tuple(items)
        k = self.draw(st.integers(0, len(items) - 1))
        turned = [*items[k:], *items[:k]]
        return tuple(turned[::-1] if self.coin() else turned)

    def _legal_diff(self, *, near_miss: bool = False,
                    least: int = 1) -> tuple[Diff, tuple[str, ...]] | None:
        """The diff of ``least``-3 allowed expansions that add something. ``near_miss``:
        it is to be spoilt, so mostly away from open holes (which might take it)."""
        scratch = _copy(self.d)
        away = near_miss and not self.everywhere and not self.coin(4)
        steps = self._expansions(scratch, self.draw(st.integers(least, 3)), adding=True,
                                 away=self._near_open() if away else set())
        if not steps:
            return None
        return self._diff(scratch), ("diff/one step" if len(steps) == 1 else "diff/several steps",)

    def _near_open(self) -> set[str]:
        """Tasks an open hole is attached to."""
        return {a for h in self.open for a in h.args}

    def diff_steps(self) -> _Draft:
        legal = self._legal_diff()
        if legal is None:
            return self.expand()
        return _Draft(legal[0], legal[1], legal=True)

    def diff_extra_edge(self) -> _Draft:
        legal = self._legal_diff(near_miss=True)
        if legal is None:
            return self.diff_nowhere()
        diff, tags = legal
        new = [t.local for t in diff.tasks]
        ahead = _downstream(new, diff.edges)
        pairs = [(u, v) for u in [*new, *self.g.tasks] for v in [*new, *self.pending]
                 if u != v and (u, v) not in diff.edges and not self.g.has_edge(u, v)
                 and not (u in new and v in new and u in ahead[v])]
        near = [(u, v) for u, v in pairs if u in new or v in new]
        if near and not self.coin(8):
            pairs = near
        if not pairs:
            return _Draft(diff, tags)
        return _Draft(Diff(diff.tasks, (*diff.edges, self.pick(pairs))),
                      (*tags, "diff/edge too many"))

    def diff_missing_edge(self) -> _Draft:
        legal = self._legal_diff(near_miss=True)
        if legal is None or not legal[0].edges:
            return self.diff_extra_edge()
        diff, tags = legal
        drop = self.draw(st.integers(0, len(diff.edges) - 1))
        return _Draft(Diff(diff.tasks, diff.edges[:drop] + diff.edges[drop + 1:]),
                      (*tags, "diff/edge too few"))

    def diff_wrong_kind(self) -> _Draft:
        where = self.vary("wrong kind", ["first", "later"])
        for _ in range(3):  # a later task needs a diff with two tasks or more
            legal = self._legal_diff(near_miss=True, least=2)
            if legal is None or where == "first" or len(legal[0].tasks) > 1:
                break
        if legal is None or not legal[0].tasks:
            return self.diff_missing_edge()
        diff, tags = legal
        first = len(diff.tasks) == 1 or where == "first"
        at = 0 if first else self.draw(st.integers(1, len(diff.tasks) - 1))
        task = diff.tasks[at]
        kind = self.pick([k for k in self.kinds if k != task.kind])
        tasks = (*diff.tasks[:at], TaskSpec(task.local, kind), *diff.tasks[at + 1:])
        where = "diff/wrong kind first" if at == 0 else "diff/wrong kind later"
        return _Draft(Diff(tasks, diff.edges), (*tags, where))

    def diff_nowhere(self) -> _Draft:
        name = f"{self.prefix}_0"
        edges = [(self.pick(sorted(self.g.tasks)), name)]
        if self.pending and self.coin():
            edges.append((name, self.pick(self.pending)))
        diff = Diff((TaskSpec(name, self.pick(self.kinds)),), tuple(edges))
        return _Draft(diff, ("diff/no hole there",))


class _Narrowings(_Diffs):
    """Narrowings, and the changes that need what they removed."""

    def narrow_type(self) -> _Draft:
        closed = sorted(n for n, t in self.types.items() if not t.open)
        opened = sorted(n for n, t in self.types.items() if t.open)
        way = self.vary("narrow type", ["some", "some", "some", "all", "unknown",
                                        "no type", *(["open"] if opened else [])])
        if way == "no type" or not closed:
            return _Draft(NarrowType(self.fresh("T"), ("1",)), ("narrow type",), illegal=True)
        if way == "open":
            return _Draft(NarrowType(self.pick(opened), ("1",)),
                          ("narrow type", "wrong step for the hole"), illegal=True)
        # mostly a type some hole has, and a narrowing that leaves every type a way to
        # finish (the checker's own rule, used to aim, not to judge: the oracles judge)
        live = sorted({h.type for h in self.closed})
        kept = {n: self._narrowings(n) for n in live}
        aims = [n for n in live if kept[n]]
        htype = self.types[self.pick(aims if aims and not self.coin(4) else closed)]
        names = [p.name for p in htype.allowed()]
        if way == "some" and kept.get(htype.name):
            remove = list(self.pick(kept[htype.name]))
        else:
            remove = names if way == "all" else [self.pick(names)]
        if way == "unknown":
            remove.append("".join(p.name for p in htype.productions) + "x")
        illegal = not set(names) - set(remove) or not set(remove) <= set(names)
        # legal: every type keeps a way to finish, and every hole of this one too
        legal = tuple(remove) in kept.get(htype.name, []) and all(
            set(names) - set(remove) - ({p.name for p in htype.productions} - h.allowed
                                        if h.allowed is not None else set())
            for h in self.closed if h.type == htype.name)
        return _Draft(NarrowType(htype.name, tuple(remove)), ("narrow type",), illegal, legal)

    def _narrowings(self, name: str) -> list[tuple[str, ...]]:
        """Ways to remove some of a type's productions that leave every type productive."""
        htype = self.types[name]
        names = [p.name for p in htype.allowed()]
        out = []
        for k in range(1, len(names)):
            for remove in combinations(names, k):
                types = {**self.types, name: replace(htype, removed=htype.removed | set(remove))}
                if set(types) == productive_types(types):
                    out.append(remove)
        return out

    def narrow_hole(self) -> _Draft:
        if self.open and self.vary("narrow hole", ["closed"] * 5 + ["open"]) == "open":
            return _Draft(NarrowHole(self.pick(self.open).id, ("1",)),
                          ("narrow hole", "wrong step for the hole"), illegal=True)
        choice = [h for h in self.closed
                  if len(list(self.types[h.type].allowed(h.allowed))) > 1]
        hole = self.pick(choice if choice and not self.coin(4) else self.closed)
        names = [p.name for p in self.types[hole.type].allowed(hole.allowed)]
        if len(names) > 1 and self.vary("narrow hole names", ["some", "some", "all"]) == "some":
            remove = self.draw(st.lists(st.sampled_from(names[::-1]), min_size=1,
                                        max_size=len(names) - 1, unique=True))
        else:
            remove = names or [p.name for p in self.types[hole.type].productions]
        left = set(names) - set(remove)
        return _Draft(NarrowHole(hole.id, tuple(remove)), ("narrow hole",),
                      illegal=not left, legal=bool(left) and set(remove) <= set(names))

    def needs_removed(self, level: str | None = None) -> _Draft:
        """A change that needs a production narrowed away (by type or for the hole)."""
        hole, name, level = self.pick([r for r in self._removed() if level in (None, r[2])])
        self.memory.used.add(("needs removed", level))
        tag = f"needs removed {level}"
        how = self.vary(tag, ["expand", "batch", "diff", "diff"])
        if how == "batch":
            scratch = _copy(self.d)
            steps = self._expansions(scratch, self.draw(st.integers(0, 2)))
            at = self.draw(st.integers(0, len(steps)))
            return _Draft(Batch((*steps[:at], Expand(hole.id, name), *steps[at:])),
                          ("batch/one bad member", tag), illegal=True)
        scratch = _copy(self.d, unnarrowed=True)
        if how == "expand" or not _adds(production_diff(scratch, hole, name)):
            return _Draft(Expand(hole.id, name), ("expand", tag), illegal=True)
        steps = [Expand(hole.id, name)]
        scratch.apply(steps[0])
        steps += self._expansions(scratch, self.draw(st.integers(0, 2)), adding=True)
        many = "diff/several steps" if len(steps) > 1 else "diff/one step"
        return _Draft(self._diff(scratch), (many, tag))


class _OpenHoles(_Narrowings):
    """Growing and refining open holes (fresh types too), and the same done wrong."""

    def _endpoints(self, hole: Hole) -> tuple[list[str], list[str]]:
        """Existing tasks a legal fragment in ``hole`` may leave, and enter."""
        if not hole.everywhere:
            return list(hole.after), list(hole.before)
        targets = sorted({self.pick(self.pending)
                          for _ in range(self.draw(st.integers(0, 2)) if self.pending else 0)})
        below: set[str] = set()
        for after in _downstream(targets, (), self.g).values():
            below |= after
        return [t for t in self.g.tasks if t not in below and t not in targets], targets

    def _fragment(self, hole: Hole, holes: Mapping[str, Signature] | None = None,
                  min_holes: int = 0) -> Fragment:
        """A fragment the open ``hole`` admits: new tasks on a line from its after- to
        its before-tasks, and holes of ``holes`` attached forward along it."""
        sources, targets = self._endpoints(hole)
        new = [f"{self.prefix}_{i}" for i in range(self.draw(st.integers(0, 3)))]
        edges: list[tuple[str, str]] = []
        for i, x in enumerate(new):
            if sources and self.coin():
                edges.append((self.pick(sources), x))
            edges += [(x, y) for y in new[i + 1:] if self.coin(3)]
            if targets and self.coin():
                edges.append((x, self.pick(targets)))
        if not new and sources and targets and self.coin():
            edges.append((self.pick(sources), self.pick(targets)))
        specs = []
        for _ in range(self.draw(st.integers(min_holes, 2)) if holes else 0):
            name = self.pick(sorted(holes or {}))
            sig = (holes or {})[name]
            if sig is None:
                specs.append(HoleSpec(name, (EVERYWHERE,)))
                continue
            split = self.draw(st.integers(0, len(new)))
            left, right = [*sources, *new[:split]], [*new[split:], *targets]
            if (Role.AFTER in sig and not left) or (Role.BEFORE in sig and not right):
                continue
            specs.append(HoleSpec(name, tuple(self.pick(left if r is Role.AFTER else right)
                                              for r in sig)))
        tasks = tuple(TaskSpec(x, self.pick(self.kinds)) for x in new)
        return Fragment(tasks, tuple(specs), tuple(dict.fromkeys(edges)))

    def _outside(self, hole: Hole, fragment: Fragment) -> Fragment:
        """The fragment with one edge a bounded hole does not admit: from a task it
        comes before, into a task it comes after, or to a task it is not attached to."""
        x = fragment.tasks[0].local if fragment.tasks else f"{self.prefix}_x"
        tasks = fragment.tasks or (TaskSpec(x, self.pick(self.kinds)),)
        ways = {"into after": [(x, a) for a in hole.after],
                "from before": [(b, x) for b in hole.before],
                "elsewhere": [(x, t) for t in self.pending if t not in hole.args][:3]}
        way = self.vary("outside", [w for w in ("into after", "from before", "elsewhere",
                                                "elsewhere") if ways[w]])
        return Fragment(tasks, fragment.holes, (*fragment.edges, self.pick(ways[way])))

    def grow(self) -> _Draft:
        hole = self.pick(self.open)
        grown = self.memory.grown.get(hole.id, [])
        way = self.vary("grow", ["legal", "legal", "holes",
                                 *([] if hole.everywhere else ["outside"]),
                                 *(["reused id"] if grown else [])])
        if way == "legal":
            return _Draft(Grow(hole.id, self._fragment(hole)), ("grow",), legal=True)
        if way == "reused id":  # a task again under a name this hole gave before
            local = self.pick(grown)
            return _Draft(Grow(hole.id, Fragment((TaskSpec(local, self.pick(self.kinds)),))),
                          ("grow",), illegal=True)
        if way == "outside":
            return _Draft(Grow(hole.id, self._outside(hole, self._fragment(hole))), ("grow",),
                          illegal=True)
        # a raw change takes no holes (refine does)
        known = {n: signature(t) for n, t in self.types.items()}
        fragment = self._fragment(hole, known, min_holes=1)
        return _Draft(Grow(hole.id, fragment), ("grow",), illegal=bool(fragment.holes))

    def diff_open(self) -> _Draft:
        """What an open hole may grow, as a raw diff: it (or another open hole) takes it,
        surely if an edge joins it to the hole's tasks or a hole is attached everywhere."""
        hole = self.pick(self.open)
        fragment = self._fragment(hole)
        touches = any(u in hole.args or v in hole.args for u, v in fragment.edges)
        legal = bool(fragment.tasks) and (bool(self.everywhere) or touches)
        return _Draft(Diff(fragment.tasks, fragment.edges), ("diff/open hole",), legal=legal)

    def wrong_arity(self) -> _Draft:
        """A refinement with a hole given one argument too many (attached everywhere:
        given any argument)."""
        hole = self.pick(self.open)
        name = self.pick(sorted(self.types))
        htype = self.types[name]
        task = self.pick(sorted(self.g.tasks))
        args = (task,) if htype.everywhere else (*(task,) * len(htype.params), task)
        return _Draft(Refine(hole.id, Fragment(holes=(HoleSpec(name, args),))),
                      ("refine/holes",), illegal=True)

    def open_step_on_closed(self) -> _Draft:
        """Grow or refine a closed hole: it only becomes one of its productions."""
        hole = self.pick(self.closed)
        fragment = Fragment((TaskSpec(f"{self.prefix}_0", self.pick(self.kinds)),),
                            (), tuple((a, f"{self.prefix}_0") for a in hole.after[:1]))
        if self.vary("on closed", ["grow", "refine"]) == "grow":
            return _Draft(Grow(hole.id, fragment), ("grow", "wrong step for the hole"), True)
        return _Draft(Refine(hole.id, fragment), ("refine/plain", "wrong step for the hole"),
                      True)

    def refine(self) -> _Draft:
        how, bad = self.vary("refine", [
            *((how, bad) for how in ("plain", "holes", "fresh types", "fresh open type",
                                     "fresh everywhere type") for bad in (False, True)),
            ("fresh open type", False), ("fresh everywhere type", False)])
        tag = f"refine/{how}"
        # A hole attached everywhere may surely hold one that is too; the others go
        # mostly to bounded holes (a hole attached everywhere, once refined, is gone).
        bounded = [h for h in self.open if not h.everywhere]
        if how == "fresh everywhere type" and self.everywhere and not self.coin(8):
            hole = self.pick(self.everywhere)
        else:
            hole = self.pick(bounded if bounded and not self.coin(3) else self.open)
        if how == "plain":
            fragment = self._fragment(hole)
            if bad and not hole.everywhere:
                return _Draft(Refine(hole.id, self._outside(hole, fragment)), (tag,), True)
            return _Draft(Refine(hole.id, fragment), (tag,), legal=True)
        if how == "holes":
            known = {n: signature(t) for n, t in self.types.items()}
            fragment = self._fragment(hole, known, min_holes=1)
            if bad and fragment.holes:
                return self._bad_holes(hole, fragment, tag)
            return _Draft(Refine(hole.id, fragment), (tag,),
                          legal=not self._widens(hole, fragment, self.types))
        fresh = self._fresh_types(how)
        fragment = self._fragment(hole, {n: signature(t) for n, t in fresh.items()},
                                  min_holes=1)
        if bad:
            return self._bad_types(hole, fragment, fresh, tag)
        if hole.everywhere and not self.coin(3):  # and anything may still go anywhere
            fragment = replace(fragment, holes=(*fragment.holes, HoleSpec(hole.type, ("*",))))
        return _Draft(Refine(hole.id, fragment, tuple(fresh.values())), (tag,),
                      legal=not self._widens(hole, fragment, {**self.types, **fresh}))

    def _widens(self, hole: Hole, fragment: Fragment, types: Mapping[str, HoleType]) -> bool:
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

    def _fresh_types(self, how: str) -> dict[str, HoleType]:
        if how == "fresh open type":
            name = self.fresh("O")
            return {name: open_type(name, ("a0", "b1"), (Role.AFTER, Role.BEFORE))}
        if how == "fresh everywhere type":
            name = self.fresh("E")
            return {name: open_type(name, everywhere=True)}
        signatures = {}
        for i in range(self.draw(st.integers(1, 2))):
            roles = [Role.AFTER] * self.draw(st.integers(1, 2))
            roles += [Role.BEFORE] * self.draw(st.integers(0, 2))
            signatures[f"{self.fresh('F')}{i}"] = tuple(self.draw(st.permutations(roles)))
        known = {n: signature(t) for n, t in self.types.items()}
        return self.draw(closed_types(signatures, known, kinds=self.kinds, max_productions=2))

    def _bad_holes(self, hole: Hole, fragment: Fragment, tag: str) -> _Draft:
        """One hole of the fragment attached wrongly: an argument too many, a type
        nobody declared, one attached everywhere given a task, or (bounded) an argument
        in the wrong role or outside the attachment."""
        spec = fragment.holes[0]
        htype = self.types[spec.type]
        swaps = [] if hole.everywhere or htype.everywhere else [
            (i, a) for i, r in enumerate(htype.roles)
            for a in (hole.after if r is Role.BEFORE else hole.before)]
        elsewhere = [] if hole.everywhere or htype.everywhere else [
            t for t in self.g.tasks if t not in hole.args]
        everywhere = sorted(n for n, t in self.types.items() if t.everywhere)
        way = self.vary("bad holes", [
            "count", "count", "undeclared", *(["role"] if swaps else []),
            *(["elsewhere"] if elsewhere and spec.args else []),
            *(["everywhere"] if everywhere else [])])
        if way == "everywhere":
            wrong = HoleSpec(self.pick(everywhere), (self.pick(sorted(self.g.tasks)),))
        elif way == "count":
            wrong = HoleSpec(spec.type, (*spec.args, self.pick(sorted(self.g.tasks))))
        elif way == "undeclared":
            wrong = HoleSpec(self.fresh("U"), spec.args)
        else:
            i, arg = self.pick(swaps) if way == "role" else (
                self.draw(st.integers(0, len(spec.args) - 1)), self.pick(elsewhere))
            wrong = HoleSpec(spec.type, (*spec.args[:i], arg, *spec.args[i + 1:]))
        holes = (wrong, *fragment.holes[1:])
        return _Draft(Refine(hole.id, replace(fragment, holes=holes)), (tag,), illegal=True)

    def _bad_types(self, hole: Hole, fragment: Fragment, fresh: dict[str, HoleType],
                   tag: str) -> _Draft:
        """Fresh types a refinement must not declare: a name that exists, a type that
        can never finish, a production with a cycle; or an everywhere hole with args;
        or good fresh types in a fragment that fails only once it is being applied."""
        name, htype = next(iter(fresh.items()))
        late = self._fails_late(hole, fragment)
        ways = ["clash", *(["late", "late"] if late else [])]
        if htype.everywhere:
            ways += ["args", "args"]
        elif not htype.open:
            ways += ["unproductive", "cycle", "undeclared", "count", "count"]
        way = self.vary("bad types", ways)
        types = dict(fresh)
        holes = fragment.holes
        if way == "late" and late:
            return _Draft(Refine(hole.id, late[0], tuple(fresh.values())), (tag, *late[1]),
                          illegal=True)
        if way == "clash":
            clash = self.pick(sorted(self.types))
            types[name] = replace(htype, name=clash, productions=tuple(
                replace(p, lhs=clash) for p in htype.productions))
            holes = tuple(HoleSpec(clash if h.type == name else h.type, h.args) for h in holes)
        elif way == "args":
            holes = tuple(HoleSpec(h.type, (self.pick(sorted(self.g.tasks)),))
                          if h.type == name else h for h in holes)
        elif way == "unproductive":
            again = Production(name, htype.params, Fragment(holes=(
                HoleSpec(name, htype.params),)), "1")
            types[name] = replace(htype, productions=(again,), default=None)
        else:
            wrong = {"cycle": Fragment((TaskSpec("N0", "A"), TaskSpec("N1", "B")), (),
                                       (("N0", "N1"), ("N1", "N0"))),
                     "undeclared": Fragment(holes=(HoleSpec(self.fresh("U"), ()),)),
                     "count": Fragment(holes=(HoleSpec(name, (*htype.params,
                                                              htype.params[0])),))}[way]
            types[name] = replace(htype, productions=(
                *htype.productions, Production(name, htype.params, wrong, "wrong")))
        tags = (tag, "cycle/in one message") if way == "cycle" else (tag,)
        return _Draft(Refine(hole.id, replace(fragment, holes=holes), tuple(types.values())),
                      tags, illegal=True)

    def _fails_late(self, hole: Hole, fragment: Fragment
                    ) -> tuple[Fragment, tuple[str, ...]] | None:
        """The fragment changed so that it passes every check on its own and fails only
        when applied (after its fresh types are in): a new task under an id the hole
        gave before, an edge into a task that has started, or one closing a cycle."""
        grown = self.memory.grown.get(hole.id, [])
        ways = [*(["reused id"] if grown else []),
                *(["into started", "cycle"] if hole.everywhere else [])]
        if not ways:
            return None
        way = self.pick(ways)
        x = f"{self.prefix}_late"
        if way == "reused id":
            local = self.pick(grown)
            tasks = (*fragment.tasks, TaskSpec(local, self.pick(self.kinds)))
            return replace(fragment, tasks=tasks), ()
        if way == "into started" and self.started:
            tasks = (*fragment.tasks, TaskSpec(x, self.pick(self.kinds)))
            edges = (*fragment.edges, (x, self.pick(self.started)))
            return replace(fragment, tasks=tasks, edges=edges), ("into started",)
        cycles = self._cycles_back()
        if not cycles:
            return None
        u, v, wide = self.pick(cycles)
        tag = "cycle/several steps" if wide else "cycle/one step"
        return replace(fragment, edges=(*fragment.edges, (u, v))), (tag,)


class _Author(_OpenHoles):
    """A running task writing one message for the derivation as it stands: legal or
    not, by design, with tags saying what it exercises."""

    def into_started(self) -> _Draft:
        """An edge into a task that has started (or a hole before one): never allowed."""
        target = self.pick(self.started)
        x = f"{self.prefix}_x"
        if self.everywhere and self.coin():
            hole = self.pick(self.everywhere)
            if self.coin():
                fragment = Fragment((TaskSpec(x, self.pick(self.kinds)),), (),
                                    ((x, target),))
                return _Draft(Grow(hole.id, fragment), ("grow", "into started"), True)
            typed = [n for n, t in self.types.items()
                     if not t.everywhere and Role.BEFORE in t.roles]
            if typed:
                htype = self.types[self.pick(sorted(typed))]
                args = tuple(target if r is Role.BEFORE else x for r in htype.roles)
                fragment = Fragment((TaskSpec(x, self.pick(self.kinds)),),
                                    (HoleSpec(htype.name, args),))
                return _Draft(Refine(hole.id, fragment), ("refine/holes", "into started"),
                              True)
        legal = self._legal_diff() if self.closed else None
        diff, tags = legal if legal is not None else (
            Diff((TaskSpec(x, self.pick(self.kinds)),)), ("diff/no hole there",))
        sources = [t for t in self.g.tasks if t != target and not self.g.has_edge(t, target)]
        source = self.pick([t.local for t in diff.tasks] or sources or [x])
        if source == x:
            diff = Diff((TaskSpec(x, self.pick(self.kinds)),), diff.edges)
        return _Draft(Diff(diff.tasks, (*diff.edges, (source, target))), (*tags, "into started"),
                      True)

    def cycle_in_message(self) -> _Draft:
        """New tasks (and a hole) that form a cycle among themselves."""
        xs = [f"{self.prefix}_{i}" for i in range(self.draw(st.integers(1, 3)))]
        tasks = tuple(TaskSpec(x, self.pick(self.kinds)) for x in xs)
        loop = tuple(zip(xs, [*xs[1:], xs[0]], strict=True))
        if self.open and self.coin():
            hole = self.pick(self.open)
            sources, _ = self._endpoints(hole)
            edges = ((self.pick(sources), xs[0]), *loop) if sources else loop
            via = [n for n, t in self.types.items()
                   if not t.everywhere and Role.AFTER in t.roles and Role.BEFORE in t.roles]
            if via and len(xs) > 1 and self.coin():
                # xs[0] -> ... -> xs[-1], then a hole after xs[-1] and before xs[0]
                htype = self.types[self.pick(sorted(via))]
                args = tuple(xs[-1] if r is Role.AFTER else xs[0] for r in htype.roles)
                fragment = Fragment(tasks, (HoleSpec(htype.name, args),), edges[:-1])
                return _Draft(Refine(hole.id, fragment),
                              ("refine/holes", "cycle/in one message"), True)
            step: Step = (Grow if self.coin() else Refine)(hole.id, Fragment(tasks, (), edges))
            tag = "grow" if isinstance(step, Grow) else "refine/plain"
            return _Draft(step, (tag, "cycle/in one message"), True)
        edges = ((self.pick(sorted(self.g.tasks)), xs[0]), *loop)
        return _Draft(Diff(tasks, edges), ("cycle/in one message",), True)

    def cycle_back(self) -> _Draft:
        cycles = self._cycles_back()
        wide = [c for c in cycles if c[2]]
        plain = [c for c in cycles if not c[2]]
        way_back = self.vary("way back", [*(["wide"] if wide else []),
                                          *(["plain"] if plain else [])])
        u, v, through = self.pick(wide if way_back == "wide" else plain)
        tag = "cycle/several steps" if through else "cycle/one step"
        hole = self.pick(self.everywhere)
        x = f"{self.prefix}_0"
        way = self.vary("cycle back", ["edge", "task", "diff", "hole"])
        if way == "edge":
            return _Draft(Grow(hole.id, Fragment(edges=((u, v),))), ("grow", tag), True)
        if way == "task":
            fragment = Fragment((TaskSpec(x, self.pick(self.kinds)),), (), ((u, x), (x, v)))
            return _Draft(Grow(hole.id, fragment), ("grow", tag), True)
        typed = [n for n, t in self.types.items()
                 if not t.everywhere and Role.AFTER in t.roles and Role.BEFORE in t.roles]
        if way == "hole" and typed:
            htype = self.types[self.pick(sorted(typed))]
            args = tuple(u if r is Role.AFTER else v for r in htype.roles)
            return _Draft(Refine(hole.id, Fragment(holes=(HoleSpec(htype.name, args),))),
                          ("refine/holes", tag), True)
        diff = Diff((TaskSpec(x, self.pick(self.kinds)),), ((u, x), (x, v)))
        return _Draft(diff, ("diff/no hole there", tag), True)

    def write(self) -> _Draft:
        # Right after a narrowing: a change that needs what it removed.
        levels = sorted({level for _, _, level in self._removed()})
        urgent = [lv for lv in levels if ("needs removed", lv) not in self.memory.used]
        if urgent and not self.coin(4):
            return self.needs_removed(self.pick(urgent))
        # Hypothesis leans to the first options (and shrinks towards them): legal
        # changes first, the rarest cases weighted up, the always-possible ones last.
        # (Names, not bound methods: Hypothesis labels a choice by the options' repr,
        # and a method's repr holds its address, which changes between processes.)
        options: list[str] = []
        if self.closed:
            options += ["expand", "diff_steps", "batch", "diff_steps", "batch_bad",
                        "diff_extra_edge", "diff_missing_edge", "diff_wrong_kind",
                        "diff_wrong_kind", "narrow_type", "narrow_hole", "diff_steps",
                        "narrow_hole", "narrow_type", "diff_wrong_kind", "diff_missing_edge",
                        "narrow_type", "diff_extra_edge"]
        if self.open:
            options += ["refine", "grow", "refine", "refine", "grow", "refine", "refine",
                        "refine", "diff_open", "wrong_arity"]
        if self.closed and self.open:
            options += ["open_step_on_closed"] * 2
        if self._removed():
            options += ["needs_removed"] * 8
        cycles = self._cycles_back() if self.everywhere else []
        if cycles:
            options += ["cycle_back"] * (6 if any(wide for _, _, wide in cycles) else 2)
        options += ["expand_wrong", "diff_nowhere", "cycle_in_message"]
        if self.started:
            options.append("into_started")
        builder: Callable[[], _Draft] = getattr(self, self.vary("message", options))
        return builder()


def _adds(diff: Diff) -> bool:
    return bool(diff.tasks or diff.edges)


def _downstream(starts: Sequence[str], edges: Sequence[tuple[str, str]],
                graph: Graph | None = None) -> dict[str, set[str]]:
    """For each start, the nodes after it along ``edges`` (and the graph's, if given)."""
    succ: dict[str, set[str]] = {}
    for u, v in edges:
        succ.setdefault(u, set()).add(v)
    out = {}
    for s in starts:
        seen: set[str] = set()
        stack = [s]
        while stack:
            x = stack.pop()
            nexts = set(succ.get(x, ()))
            if graph is not None:
                nexts |= set(_successors(graph, x))
            for y in nexts - seen:
                seen.add(y)
                stack.append(y)
        out[s] = seen | {s}
    return out


def _successors(graph: Graph, x: str) -> list[str]:
    """Tasks that run after ``x``: along edges, and across the holes it comes before."""
    out = sorted(graph.succ.get(x, ()))  # sorted: a set's order changes between runs
    for hid in sorted(graph.holes_at(x)):
        hole = graph.holes[hid]
        if x in hole.after:
            out.extend(hole.before)
    return out


def _reach(graph: Graph, start: str, wide: set[tuple[str, str]]) -> dict[str, bool]:
    """Tasks after ``start``, each with True if some way there takes a ``wide`` edge."""
    seen = {(start, False)}
    stack = [(start, False)]
    out: dict[str, bool] = {}
    while stack:
        x, through = stack.pop()
        for y in _successors(graph, x):
            state = (y, through or (x, y) in wide)
            if state not in seen:
                seen.add(state)
                stack.append(state)
                out[y] = out.get(y, False) or state[1]
    return out


_MESSAGE_WEIGHT = 12


@st.composite
def message_runs(draw: st.DrawFn, grammar: Grammar, max_messages: int = 32,
                 max_tasks: int = 30) -> MessageRun:
    """A run in which tasks send random messages (legal and not) between scheduling steps.

    The run goes on until every task is done, a due hole breaks the promise, or
    ``max_messages`` have been sent (then the remaining tasks just run, taking defaults).
    Every kind of message in :data:`TAGS` is written where the graph allows it.
    """
    d = grammar.derivation()
    out = MessageRun(grammar, d)
    memory = _Memory()
    try:
        close_due_holes(d)
    except BrokenPromise as e:
        out.broken = e
        return out
    sent = 0
    careless = draw(st.integers(0, 3)) == 0  # its tasks never expand a hole due as they end
    while True:
        running = [t for t, s in d.graph.state.items() if s is TaskState.RUNNING]
        ready = d.graph.ready_in_order()
        actions = []
        if running and sent < max_messages and len(d.graph.tasks) < max_tasks \
                and d.graph.holes:
            # messages while holes are left (where the graph can change), and first:
            # Hypothesis leans to the first option
            actions += ["message"] * _MESSAGE_WEIGHT
        if ready:
            actions.append("start")
        if running:
            actions.append("finish")
        if not actions:
            return out
        action = draw(st.sampled_from(actions))
        if action == "start":
            try:  # a constraint on the task's predecessors is decided now
                d.apply(SetState(draw(st.sampled_from(ready)), TaskState.RUNNING))
            except BrokenPromise as e:
                out.broken = e
                return out
        elif action == "finish":
            task = draw(st.sampled_from(running))
            _keep_promises(draw, d, task, out, careless)
            d.apply(SetState(task, TaskState.DONE))
            try:
                close_due_holes(d)
            except BrokenPromise as e:
                out.broken = e
                return out
        else:
            sent += 1
            wide_holes = set(d.graph.everywhere_holes())
            outcome = _send(d, _Author(draw, d, memory).write())
            _remember(memory, outcome, wide_holes)
            out.outcomes.append(outcome)


def _remember(memory: _Memory, outcome: Outcome, wide_holes: set[str]) -> None:
    for step in outcome.steps():
        if isinstance(step, Grow):
            memory.grown.setdefault(step.hole, []).extend(step.fragment.locals)
        if isinstance(step, Grow | Refine) and step.hole in wide_holes:
            memory.wide |= {(u, v) for u, v in outcome.after["edges"]} - {
                (u, v) for u, v in outcome.before["edges"]}


def _keep_promises(draw: st.DrawFn, d: Derivation, task: str, out: MessageRun,
                   careless: bool) -> None:
    """A task about to end expands the holes that will then be due and have no default
    (else the promise breaks: now and then it forgets, in a careless run always), and
    maybe some that have one."""
    if careless or draw(st.integers(0, 3)) == 0:
        return
    for _ in range(20):
        due = [h for h in due_when_done(d, task) if not d.grammar.types[h.type].open]
        need = [h for h in due if d.grammar.types[h.type].default not in
                {p.name for p in d.grammar.types[h.type].allowed(h.allowed)}]
        if need:
            pool = need
        elif due and draw(st.integers(0, 1)) == 0:
            pool = due
        else:
            return
        hole = draw(st.sampled_from(pool))
        names = [p.name for p in d.grammar.types[hole.type].allowed(hole.allowed)]
        if not names:  # nothing left to choose: the promise breaks when the task ends
            return
        step = Expand(hole.id, draw(st.sampled_from(names)))
        out.outcomes.append(_send(d, _Draft(step, ("expand",), legal=True)))


def _send(d: Derivation, draft: _Draft) -> Outcome:
    before, grammar_before = d.graph.to_json(), d.grammar.to_json()
    try:
        result: Result | None = apply_message(d, draft.message)
        error = None
    except BrokenPromise as e:
        result, error = None, e
    # Built to keep the grammar's promises, a message may still break a constraint
    # (the writers do not read them): "legal" only where none is in force.
    legal = draft.legal and not d.limits
    return Outcome(draft.message, result, error, before, d.graph.to_json(), grammar_before,
                   d.grammar.to_json(), draft.tags, draft.illegal, legal)
