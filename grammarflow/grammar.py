"""Productions, hole types, grammars, and the steps that rewrite a sentential form.

A :class:`Production` ``X(p1..pk) ::= H`` replaces a hole of type ``X`` glued to
``a1..ak`` by the fragment ``H``: new tasks (ids ``<hole>/<local>``), new holes (ids
``<Type>.<n>``), and edges among the new nodes and the parameters. A :class:`Grammar`
is a start fragment plus hole types; a :class:`Derivation` is a grammar being applied
to a graph, one atomic :data:`Step` at a time, keeping the accepted steps as history.

Roles make acyclicity local (proofs/05-acyclicity.md): in a well-formed fragment every
edge leaves an *after* parameter or a new node and enters a new node or a *before*
parameter, so replacing a hole never closes a cycle, whatever the size of the graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from grammarflow.errors import Attempt, BrokenPromise, GrammarError, GrammarflowError
from grammarflow.graph import JSON, NO_ATTRS, Graph, Hole, Role, Task, TaskState, check_name

EVERYWHERE = "*"


# ====================================================================== fragments
@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A new task in a fragment: its local name, its kind, default attributes."""

    local: str
    kind: str
    attrs: Mapping[str, JSON] = NO_ATTRS


@dataclass(frozen=True, slots=True)
class HoleSpec:
    """A new hole in a fragment: its type and its arguments (names in the fragment)."""

    type: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Fragment:
    """A graph fragment: new tasks, new holes, and edges among names.

    Names in ``edges`` and hole ``args`` are the fragment's task locals, or outside
    names (a production's parameters; for open holes, existing task ids).
    """

    tasks: tuple[TaskSpec, ...] = ()
    holes: tuple[HoleSpec, ...] = ()
    edges: tuple[tuple[str, str], ...] = ()

    @property
    def locals(self) -> tuple[str, ...]:
        return tuple(t.local for t in self.tasks)

    def is_empty(self) -> bool:
        return not (self.tasks or self.holes or self.edges)

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": [{"local": t.local, "kind": t.kind, "attrs": dict(t.attrs)}
                      for t in self.tasks],
            "holes": [{"type": h.type, "args": list(h.args)} for h in self.holes],
            "edges": [list(e) for e in self.edges],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fragment:
        return cls(
            tasks=tuple(TaskSpec(t["local"], t["kind"], dict(t.get("attrs", {})))
                        for t in data.get("tasks", ())),
            holes=tuple(HoleSpec(h["type"], tuple(h["args"])) for h in data.get("holes", ())),
            edges=tuple((u, v) for u, v in data.get("edges", ())),
        )


@dataclass(frozen=True, slots=True)
class Production:
    """``lhs(params) ::= fragment``; ``name`` identifies it among its type's productions.

    >>> from grammarflow import define
    >>> define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b").types["X"].productions[0]
    X(a, b) ::= a -> A -> b
    """

    lhs: str
    params: tuple[str, ...]
    fragment: Fragment
    name: str = "1"

    def __repr__(self) -> str:
        return f"{self.lhs}({', '.join(self.params)}) ::= {format_fragment(self.fragment)}"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class HoleType:
    """A nonterminal symbol: its parameters with roles, and its productions.

    ``open`` types admit any fragment (``X(..) ::= *``) and default to nothing;
    ``everywhere`` open types are attached to every task. ``removed`` lists the
    productions narrowed away at run time (kept so ids in the journal stay valid).
    """

    name: str
    params: tuple[str, ...]
    roles: tuple[Role, ...]
    productions: tuple[Production, ...] = ()
    default: str | None = None
    open: bool = False
    everywhere: bool = False
    removed: frozenset[str] = frozenset()

    def allowed(self, only: frozenset[str] | None = None) -> Iterator[Production]:
        """The productions still allowed: not removed, and in ``only`` (a hole's own
        narrowing, ``None`` for no narrowing) if given."""
        for p in self.productions:
            if p.name in self.removed:
                continue
            if only is not None and p.name not in only:
                continue
            yield p

    def permits(self, name: str, only: frozenset[str] | None = None) -> bool:
        """Is production ``name`` still allowed (for a hole narrowed to ``only``)?"""
        return name not in self.removed and (only is None or name in only)

    def production(self, name: str) -> Production:
        for p in self.productions:
            if p.name == name:
                return p
        raise BrokenPromise(
            f"hole type {self.name} has no production named {name!r}; "
            f"expected one of {[p.name for p in self.productions]}"
        )

    def signature(self) -> str:
        if self.everywhere:
            return f"{self.name}(*)"
        if self.open and self.params:
            after = [p for p, r in zip(self.params, self.roles, strict=True) if r is Role.AFTER]
            before = [p for p, r in zip(self.params, self.roles, strict=True)
                      if r is Role.BEFORE]
            if self.params == (*after, *before):
                return f"{self.name}({', '.join(after)}; {', '.join(before)})"
        return f"{self.name}({', '.join(self.params)})"

    def __repr__(self) -> str:
        if self.open:
            return f"{self.signature()} ::= *"
        alts = []
        for p in self.productions:
            marks = []
            if p.name != str(self.productions.index(p) + 1):
                marks.append(p.name)
            if p.name == self.default:
                marks.append("default")
            if p.name in self.removed:
                marks.append("removed")
            prefix = f"[{', '.join(marks)}] " if marks else ""
            alts.append(prefix + format_fragment(p.fragment))
        return f"{self.signature()} ::= {' | '.join(alts)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "params": list(self.params),
            "roles": [r.value for r in self.roles],
            "productions": [{"name": p.name, "fragment": p.fragment.to_json()}
                            for p in self.productions],
            "default": self.default, "open": self.open, "everywhere": self.everywhere,
            "removed": sorted(self.removed),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HoleType:
        params = tuple(data["params"])
        return cls(
            name=data["name"], params=params, roles=tuple(Role(r) for r in data["roles"]),
            productions=tuple(Production(data["name"], params,
                                         Fragment.from_json(p["fragment"]), p["name"])
                              for p in data["productions"]),
            default=data.get("default"), open=bool(data.get("open")),
            everywhere=bool(data.get("everywhere")),
            removed=frozenset(data.get("removed", ())),
        )


def hole_type(
    name: str,
    params: Sequence[str],
    roles: Sequence[Role],
    alternatives: Sequence[Fragment] = (),
    *,
    names: Sequence[str] | None = None,
    default: str | None = None,
) -> HoleType:
    """Build a closed hole type from fragments (the Python form of ``X(..) ::= H1 | H2``)."""
    labels = list(names) if names is not None else [str(i + 1) for i in range(len(alternatives))]
    prods = tuple(Production(name, tuple(params), f, n)
                  for f, n in zip(alternatives, labels, strict=True))
    return HoleType(name, tuple(params), tuple(roles), prods, default)


def open_type(name: str, params: Sequence[str] = (), roles: Sequence[Role] = (),
              *, everywhere: bool = False) -> HoleType:
    """An open hole type ``X(..) ::= *``: admits any fragment; its default is nothing."""
    return HoleType(name, tuple(params), tuple(roles), open=True, everywhere=everywhere)


# ====================================================================== grammars
@dataclass(frozen=True, slots=True)
class Grammar:
    """The start graph plus the hole types: the workflow's promises.

    Construction checks the grammar (DESIGN §2): every production well formed, every
    hole type productive, the start graph acyclic. A :class:`GrammarError` says why not.
    """

    start: Fragment
    types: Mapping[str, HoleType]

    def __post_init__(self) -> None:
        check_grammar(self)

    def derivation(self) -> Derivation:
        """A fresh derivation at the start graph."""
        return Derivation(self)

    def kinds(self) -> set[str]:
        """Every task kind the start graph and the productions can create."""
        found = {t.kind for t in self.start.tasks}
        for t in self.types.values():
            for p in t.productions:
                found.update(s.kind for s in p.fragment.tasks)
        return found

    def with_types(self, types: Iterable[HoleType]) -> Grammar:
        merged = dict(self.types)
        for t in types:
            merged[t.name] = t
        return Grammar(self.start, merged)

    def __repr__(self) -> str:
        lines = [f"start: {format_fragment(self.start)}"]
        lines.extend(repr(t) for t in self.types.values())
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start.to_json(),
                "types": [t.to_json() for t in self.types.values()]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Grammar:
        types = [HoleType.from_json(t) for t in data["types"]]
        return cls(Fragment.from_json(data["start"]), {t.name: t for t in types})


def check_grammar(grammar: Grammar) -> None:
    for t in grammar.types.values():
        check_hole_type(t, grammar.types)
    _check_start(grammar)
    _check_defaults_terminate(grammar.types)
    unproductive = sorted(set(grammar.types) - productive_types(grammar.types))
    if unproductive:
        raise GrammarError(
            f"hole type(s) {', '.join(unproductive)} can never finish: no production "
            "derives a fragment without holes (add a base case, e.g. 'nothing')"
        )


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
    names = [p.name for p in t.productions]
    if len(set(names)) != len(names):
        raise GrammarError(f"hole type {t.name}: production names repeat: {names}")
    if t.default is not None and t.default not in names:
        raise GrammarError(f"hole type {t.name}: default {t.default!r} is not one of {names}")
    roles = dict(zip(t.params, t.roles, strict=True))
    for p in t.productions:
        if p.lhs != t.name or p.params != t.params:
            raise GrammarError(f"production {p!r} does not belong to {t.signature()}")
        check_fragment(p.fragment, roles, types, where=repr(p))


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
        raise GrammarError(f"{where}: task names repeat in the fragment: {list(locals_)}")
    for t in fragment.tasks:
        check_name(t.local, "task name")
        check_name(t.kind, f"kind of task {t.local}")
        if t.local in outside:
            raise GrammarError(f"{where}: task {t.local!r} has the name of a parameter")
    local_set = set(locals_)

    def role_of(name: str, use: str) -> Role | None:
        if name in local_set:
            return None
        if name in outside:
            return outside[name]
        if outside_any:
            return None
        raise GrammarError(f"{where}: {use} names {name!r}, which is neither a new task "
                           f"nor a parameter ({', '.join(outside) or 'none'})")

    def check_source(name: str, use: str) -> None:
        if role_of(name, use) is Role.BEFORE:
            raise GrammarError(f"{where}: {use} leaves {name!r}, but the hole comes before "
                               f"{name!r}: nothing it becomes may run after {name!r}")

    def check_target(name: str, use: str) -> None:
        if role_of(name, use) is Role.AFTER:
            raise GrammarError(f"{where}: {use} enters {name!r}, but the hole comes after "
                               f"{name!r}: nothing it becomes may run before {name!r}")

    for u, v in fragment.edges:
        if u == v:
            raise GrammarError(f"{where}: edge {u} -> {v} is a cycle")
        check_source(u, f"edge {u} -> {v}")
        check_target(v, f"edge {u} -> {v}")
    for h in fragment.holes:
        ht = types.get(h.type)
        if ht is None:
            raise GrammarError(f"{where}: hole type {h.type!r} is not declared")
        if ht.everywhere:
            if h.args not in ((), (EVERYWHERE,)):
                raise GrammarError(f"{where}: {h.type} is attached everywhere; write {h.type}(*)")
            continue
        if len(h.args) != len(ht.params):
            raise GrammarError(f"{where}: {h.type} takes {len(ht.params)} argument(s) "
                               f"{ht.signature()}, got {len(h.args)}")
        for arg, role in zip(h.args, ht.roles, strict=True):
            use = f"hole {h.type}({', '.join(h.args)})"
            (check_source if role is Role.AFTER else check_target)(arg, use)
    cycle = _fragment_cycle(fragment, types)
    if cycle:
        raise GrammarError(f"{where}: the fragment has a cycle: {' -> '.join(cycle)}")


def _fragment_cycle(fragment: Fragment, types: Mapping[str, HoleType]) -> list[str]:
    """A cycle among the fragment's own nodes (holes drawn between their roles), if any."""
    succ: dict[str, list[str]] = {}
    for u, v in fragment.edges:
        succ.setdefault(u, []).append(v)
    for i, h in enumerate(fragment.holes):
        t = types.get(h.type)
        if t is None or t.everywhere:
            continue
        node = f"{h.type}#{i}"
        for arg, role in zip(h.args, t.roles, strict=True):
            if role is Role.AFTER:
                succ.setdefault(arg, []).append(node)
            else:
                succ.setdefault(node, []).append(arg)
    return find_cycle(succ)


def find_cycle(succ: Mapping[str, Sequence[str]]) -> list[str]:
    """A cycle in a small graph given by successor lists, or [] (iterative DFS)."""
    colour: dict[str, int] = {}
    for root in succ:
        if colour.get(root):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(succ.get(root, ())))]
        path = [root]
        colour[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif not colour.get(nxt):
                colour[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(succ.get(nxt, ()))))
    return []


def _check_defaults_terminate(types: Mapping[str, HoleType]) -> None:
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


def _check_start(grammar: Grammar) -> None:
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


# ====================================================================== steps
@dataclass(frozen=True, slots=True)
class Expand:
    """Apply production ``production`` (by name) to ``hole``; ``attrs`` set task inputs."""

    hole: str
    production: str
    attrs: Mapping[str, Mapping[str, JSON]] = NO_ATTRS


@dataclass(frozen=True, slots=True)
class Grow:
    """Add a raw fragment through an open hole, which stays open (``X ::= H, X``).

    For a hole attached to named tasks, the new tasks join its *after* role, so what
    grows inside the hole stays between its attachment.
    """

    hole: str
    fragment: Fragment


@dataclass(frozen=True, slots=True)
class Refine:
    """Replace an open hole by a fragment, possibly with fresh hole ``types``."""

    hole: str
    fragment: Fragment
    types: tuple[HoleType, ...] = ()


@dataclass(frozen=True, slots=True)
class NarrowType:
    """Remove productions from a hole type, for every hole of it now and later."""

    type: str
    remove: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NarrowHole:
    """Remove productions from one hole."""

    hole: str
    remove: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetState:
    """A task's run state changed (the scheduler's step, journaled like the others)."""

    task: str
    state: TaskState


Step = Expand | Grow | Refine | NarrowType | NarrowHole | SetState


@dataclass(frozen=True, slots=True)
class Applied:
    """What an accepted step did: the ids it created (by local name) and removed."""

    step: Step
    tasks: Mapping[str, str] = NO_ATTRS
    holes: tuple[str, ...] = ()
    removed: str | None = None


def step_to_json(step: Step) -> dict[str, Any]:
    match step:
        case Expand(hole, production, attrs):
            return {"op": "expand", "hole": hole, "production": production,
                    "attrs": {k: dict(v) for k, v in attrs.items()}}
        case Grow(hole, fragment):
            return {"op": "grow", "hole": hole, "fragment": fragment.to_json()}
        case Refine(hole, fragment, types):
            return {"op": "refine", "hole": hole, "fragment": fragment.to_json(),
                    "types": [t.to_json() for t in types]}
        case NarrowType(type_, remove):
            return {"op": "narrow_type", "type": type_, "remove": list(remove)}
        case NarrowHole(hole, remove):
            return {"op": "narrow_hole", "hole": hole, "remove": list(remove)}
        case SetState(task, state):
            return {"op": "state", "task": task, "state": state.value}
    raise TypeError(f"not a step: {step!r}")


def step_from_json(data: Mapping[str, Any]) -> Step:
    op = data.get("op")
    if op == "expand":
        return Expand(data["hole"], data["production"],
                      {k: dict(v) for k, v in data.get("attrs", {}).items()})
    if op == "grow":
        return Grow(data["hole"], Fragment.from_json(data["fragment"]))
    if op == "refine":
        return Refine(data["hole"], Fragment.from_json(data["fragment"]),
                      tuple(HoleType.from_json(t) for t in data.get("types", ())))
    if op == "narrow_type":
        return NarrowType(data["type"], tuple(data["remove"]))
    if op == "narrow_hole":
        return NarrowHole(data["hole"], tuple(data["remove"]))
    if op == "state":
        return SetState(data["task"], TaskState(data["state"]))
    raise GrammarflowError(f"unknown step op {op!r}; expected expand, grow, refine, "
                           "narrow_type, narrow_hole or state")


# ====================================================================== derivations
class Derivation:
    """A grammar applied to a graph: every change goes through :meth:`apply`.

    >>> from grammarflow import define
    >>> d = define("s, e, X(s, e)", "X(a, b) ::= a -> A -> b | a -> B -> b").derivation()
    >>> d.apply(Expand("X.1", "2")).tasks
    {'B': 'X.1/B'}
    >>> sorted(d.graph.edges())
    [('X.1/B', 'e'), ('s', 'X.1/B')]
    """

    def __init__(self, grammar: Grammar, graph: Graph | None = None) -> None:
        self.grammar = grammar
        self.history: list[Step] = []
        self._pending: list[Step] | None = None
        self._speculation: tuple[int, Grammar] | None = None
        if graph is None:
            graph = Graph()
            _instantiate_start(grammar, graph)
        self.graph = graph

    # ---------------------------------------------------------------- public
    def apply(self, step: Step) -> Applied:
        """Apply one step atomically, or raise :class:`BrokenPromise` and change nothing."""
        if self._pending is not None:  # inside atomic(): the block owns the rollback
            applied = self._apply_one(step)
            self._pending.append(step)
            return applied
        # The same as `with self.atomic()`, without two generator frames per step.
        g = self.graph
        mark = g.open_or_savepoint()
        saved = self.grammar
        try:
            applied = self._apply_one(step)
        except BaseException:
            g.undo_to(mark)
            self.grammar = saved
            raise
        g.close(mark)
        self.history.append(step)
        return applied

    def apply_batch(self, steps: Sequence[Step]) -> list[Applied]:
        """Apply several steps as one: all of them, or (on any refusal) none."""
        with self.atomic():
            return [self.apply(s) for s in steps]

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Every step applied inside the block is kept, or (on any exception) none is."""
        if self._pending is not None:
            yield
            return
        saved = self.grammar
        self._pending = []
        g = self.graph
        mark = g.open_or_savepoint()
        try:
            yield
        except BaseException:
            g.undo_to(mark)
            self.grammar = saved
            self._pending = None
            raise
        g.close(mark)
        self.history.extend(self._pending)
        self._pending = None

    # ---------------------------------------------------------------- speculation
    def speculate(self) -> None:
        """Apply the next steps tentatively: :meth:`keep` them, or :meth:`discard` them
        (graph, grammar and history back as they were). Used for a running task's
        changes, which become permanent only when the task succeeds."""
        if self._speculation is not None:
            raise GrammarflowError("a speculation is already open")
        self.graph.begin()
        self._speculation = (len(self.history), self.grammar)

    def is_speculating(self) -> bool:
        return self._speculation is not None

    def keep(self) -> list[Step]:
        """End the speculation, keeping its steps; returns them."""
        if self._speculation is None:
            raise GrammarflowError("no speculation is open")
        start, _ = self._speculation
        self.graph.commit()
        self._speculation = None
        return self.history[start:]

    def discard(self) -> None:
        """End the speculation, undoing every step applied since it began."""
        if self._speculation is None:
            raise GrammarflowError("no speculation is open")
        start, grammar = self._speculation
        self.graph.rollback()
        del self.history[start:]
        self.grammar = grammar
        self._speculation = None

    def close(self, hole_id: str) -> Applied:
        """Apply the default production of a due hole, or raise naming the hole."""
        hole = self._hole(hole_id)
        htype = self.grammar.types[hole.type]
        if htype.open:
            return self.apply(Refine(hole_id, Fragment()))
        allowed = {p.name for p in htype.allowed(hole.allowed)}
        if htype.default is None or htype.default not in allowed:
            raise BrokenPromise(
                f"hole {hole_id} ({hole.type}) is due (every task it comes after is done) "
                f"but was not expanded, and its type has no default production "
                f"among {sorted(allowed)}",
                hole=hole_id,
            )
        return self.apply(Expand(hole_id, htype.default))

    def close_due(self) -> list[Applied]:
        """Close due holes with their defaults until none is due (may raise)."""
        out: list[Applied] = []
        while True:
            due = next(self.graph.due(), None)
            if due is None:
                return out
            out.append(self.close(due))

    def is_finished(self) -> bool:
        return not self.graph.holes and all(
            s is TaskState.DONE for s in self.graph.state.values())

    @classmethod
    def replay(cls, grammar: Grammar, steps: Iterable[Step]) -> Derivation:
        """Fold accepted steps over the start graph (DESIGN §6.7)."""
        d = cls(grammar)
        for s in steps:
            d.apply(s)
        return d

    # ---------------------------------------------------------------- dispatch
    def _apply_one(self, step: Step) -> Applied:
        match step:
            case Expand():
                return self._expand(step)
            case Grow():
                return self._grow(step)
            case Refine():
                return self._refine(step)
            case NarrowType():
                return self._narrow_type(step)
            case NarrowHole():
                return self._narrow_hole(step)
            case SetState(task, state):
                if task not in self.graph.tasks:
                    raise BrokenPromise(f"no task {task!r} in the graph")
                self.graph.set_state(task, state)
                return Applied(step)
        raise TypeError(f"not a step: {step!r}")

    def _hole(self, hole_id: str) -> Hole:
        hole = self.graph.holes.get(hole_id)
        if hole is None:
            raise BrokenPromise(f"no hole {hole_id!r} in the graph (it may have been "
                                "expanded already)", hole=hole_id)
        return hole

    def _expand(self, step: Expand) -> Applied:
        hole = self.graph.holes.get(step.hole)
        if hole is None:
            hole = self._hole(step.hole)  # raises with the reason
        htype = self.grammar.types[hole.type]
        if htype.open:
            raise BrokenPromise(f"hole {hole.id} ({hole.type}) is open: it is changed by "
                                "'add' or 'refine', not by a production", hole=hole.id)
        prod, plan = _compiled(htype, step.production, self.grammar.types)
        if not htype.permits(prod.name, hole.allowed):
            allowed = [p.name for p in htype.allowed(hole.allowed)]
            raise BrokenPromise(
                f"production {prod!r} was narrowed away for hole {hole.id}; still allowed: "
                f"{allowed}", hole=hole.id,
                attempts=(Attempt(repr(prod), "removed by a narrowing promise"),))
        attrs = step.attrs
        if attrs is not NO_ATTRS and attrs:
            unknown = set(attrs) - set(prod.fragment.locals)
            if unknown:
                raise BrokenPromise(f"attrs name {sorted(unknown)}, which {prod!r} does not "
                                    "create", hole=hole.id)
        else:
            attrs = NO_ATTRS
        return self._instantiate_plan(step, hole, plan, attrs)

    def _instantiate_plan(self, step: Step, hole: Hole, plan: _Plan,
                          attrs: Mapping[str, Mapping[str, JSON]]) -> Applied:
        """The hot path of :meth:`_instantiate` for a production compiled once."""
        g = self.graph
        g.remove_hole(hole.id)
        nodes = list(hole.args)  # parameters first, then new tasks, by plan index
        prefix = hole.id + "/"
        created: dict[str, str] = {}
        for local, kind, task_attrs in plan.tasks:
            tid = prefix + local
            extra = attrs.get(local) if attrs is not NO_ATTRS else None
            g.add_task(Task(tid, kind, {**task_attrs, **extra} if extra else task_attrs))
            nodes.append(tid)
            created[local] = tid
        new_holes = []
        for htype, arg_index, roles, everywhere in plan.holes:
            hid = g.fresh_hole_id(htype)
            if everywhere:
                g.add_hole(Hole(hid, htype, everywhere=True))
            else:
                g.add_hole(Hole(hid, htype, tuple([nodes[i] for i in arg_index]), roles))
            new_holes.append(hid)
        for u, v in plan.edges:
            g.add_edge(nodes[u], nodes[v])
        return Applied(step, created, tuple(new_holes), hole.id)

    def _instantiate(self, step: Step, hole: Hole, fragment: Fragment,
                     binding: dict[str, str],
                     attrs: Mapping[str, Mapping[str, JSON]]) -> Applied:
        g = self.graph
        g.remove_hole(hole.id)
        created: dict[str, str] = {}
        for t in fragment.tasks:
            tid = f"{hole.id}/{t.local}"
            extra = attrs.get(t.local)
            g.add_task(Task(tid, t.kind, {**t.attrs, **extra} if extra else t.attrs))
            binding[t.local] = tid
            created[t.local] = tid
        new_holes = []
        for h in fragment.holes:
            ht = self.grammar.types[h.type]
            hid = g.fresh_hole_id(h.type)
            if ht.everywhere:
                g.add_hole(Hole(hid, h.type, everywhere=True))
            else:
                g.add_hole(Hole(hid, h.type, tuple(_bind(binding, a) for a in h.args), ht.roles))
            new_holes.append(hid)
        for u, v in fragment.edges:
            g.add_edge(_bind(binding, u), _bind(binding, v))
        return Applied(step, created, tuple(new_holes), hole.id)

    # ---------------------------------------------------------------- open holes
    def _open_hole(self, hole_id: str, what: str) -> tuple[Hole, HoleType]:
        hole = self._hole(hole_id)
        htype = self.grammar.types[hole.type]
        if not htype.open:
            raise BrokenPromise(
                f"hole {hole.id} ({hole.type}) is not open: it only becomes one of its "
                f"productions, so it cannot take a {what}", hole=hole.id,
                attempts=tuple(Attempt(repr(p), f"a {what} is not a production")
                               for p in htype.allowed(hole.allowed)))
        return hole, htype

    def _check_open_fragment(self, hole: Hole, fragment: Fragment,
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
            raise BrokenPromise(str(e), hole=hole.id) from None
        for u, v in fragment.edges:
            for name in (u, v):
                if name not in fragment.locals and name not in self.graph.tasks:
                    raise BrokenPromise(f"edge {u} -> {v}: no task {name!r} in the graph",
                                        hole=hole.id)

    def _grow(self, step: Grow) -> Applied:
        hole, _ = self._open_hole(step.hole, "raw fragment")
        if step.fragment.holes:
            raise BrokenPromise(f"a raw change through open hole {hole.id} adds tasks and "
                                "edges only; use 'refine' to add holes", hole=hole.id)
        self._check_open_fragment(hole, step.fragment, self.grammar.types)
        binding = {a: a for a in hole.args}
        applied = self._instantiate(step, hole, step.fragment, binding, {})
        new_ids = tuple(applied.tasks.values())
        grown = hole if hole.everywhere else replace(
            hole, args=hole.args + new_ids, roles=hole.roles + (Role.AFTER,) * len(new_ids))
        self.graph.add_hole(grown)
        if hole.everywhere:
            self._check_acyclic(step.fragment, applied.tasks)
        return Applied(step, applied.tasks, (), None)

    def _refine(self, step: Refine) -> Applied:
        hole, _ = self._open_hole(step.hole, "refinement")
        types = self._with_new_types(step.types, hole)
        self._check_open_fragment(hole, step.fragment, types.types)
        self.grammar = types
        binding = {a: a for a in hole.args}
        applied = self._instantiate(step, hole, step.fragment, binding, {})
        if hole.everywhere:
            self._check_acyclic(step.fragment, applied.tasks)
            self._check_holes_acyclic(applied.holes, set(applied.tasks.values()))
        return applied

    def _with_new_types(self, new: Sequence[HoleType], hole: Hole) -> Grammar:
        clash = [t.name for t in new if t.name in self.grammar.types]
        if clash:
            raise BrokenPromise(f"refining {hole.id}: hole type(s) {clash} already exist; "
                                "a refinement may only declare fresh types", hole=hole.id)
        try:
            return self.grammar.with_types(new)
        except GrammarflowError as e:
            raise BrokenPromise(f"refining {hole.id}: {e}", hole=hole.id) from None

    def _check_acyclic(self, fragment: Fragment, created: Mapping[str, str]) -> None:
        """Edges and holes that may end at an existing task: search for a cycle."""
        g = self.graph
        for u, v in fragment.edges:
            if v in created:
                continue
            src = created.get(u, u)
            if g.reaches(v, src):
                raise BrokenPromise(f"edge {src} -> {v} would close a cycle: {v} already "
                                    f"runs before {src}")

    def _check_holes_acyclic(self, hole_ids: Iterable[str], created: set[str]) -> None:
        g = self.graph
        for hid in hole_ids:
            hole = g.holes[hid]
            for b in hole.before:
                if b in created:
                    continue
                for a in hole.after:
                    if g.reaches(b, a):
                        raise BrokenPromise(f"hole {hid} ({hole.type}) would come after {a} "
                                            f"and before {b}, but {b} already runs before "
                                            f"{a}: a cycle", hole=hid)

    # ---------------------------------------------------------------- narrowing
    def _narrow_type(self, step: NarrowType) -> Applied:
        htype = self.grammar.types.get(step.type)
        if htype is None:
            raise BrokenPromise(f"no hole type {step.type!r}; expected one of "
                                f"{sorted(self.grammar.types)}")
        for name in step.remove:
            htype.production(name)
        removed = htype.removed | frozenset(step.remove)
        default = htype.default if htype.default not in removed else None
        narrowed = replace(htype, removed=removed, default=default)
        types = dict(self.grammar.types)
        types[htype.name] = narrowed
        lost = set(types) - productive_types(types)
        if lost:
            raise BrokenPromise(
                f"narrowing {htype.name} by removing {list(step.remove)} would leave "
                f"{sorted(lost)} with no way to finish; a promise may narrow the futures "
                "but must leave at least one")
        self.grammar = Grammar(self.grammar.start, types)
        return Applied(step)

    def _narrow_hole(self, step: NarrowHole) -> Applied:
        hole = self._hole(step.hole)
        htype = self.grammar.types[hole.type]
        if htype.open:
            raise BrokenPromise(f"hole {hole.id} is open; narrow it with 'refine'",
                                hole=hole.id)
        for name in step.remove:
            htype.production(name)
        left = frozenset(p.name for p in htype.allowed(hole.allowed)) - frozenset(step.remove)
        productive = productive_types(self.grammar.types)
        if not any(all(h.type in productive for h in p.fragment.holes)
                   for p in htype.productions if p.name in left):
            raise BrokenPromise(f"narrowing hole {hole.id} by removing {list(step.remove)} "
                                "would leave it no way to finish", hole=hole.id)
        self.graph.replace_hole(replace(hole, allowed=left))
        return Applied(step)


@dataclass(frozen=True, slots=True)
class _Plan:
    """A production compiled for instantiation: names replaced by indices into
    [parameters..., new tasks...], child hole roles looked up once."""

    tasks: tuple[tuple[str, str, Mapping[str, JSON]], ...]
    holes: tuple[tuple[str, tuple[int, ...], tuple[Role, ...], bool], ...]
    edges: tuple[tuple[int, int], ...]


# Keyed by id(production); the production is kept alive in the value so ids stay unique.
_PLANS: dict[int, tuple[Production, _Plan]] = {}


# Keyed by (id(hole type), production name); the type is kept to check identity.
_COMPILED: dict[tuple[int, str], tuple[HoleType, Production, _Plan]] = {}


def _compiled(htype: HoleType, name: str, types: Mapping[str, HoleType]
              ) -> tuple[Production, _Plan]:
    """The production named ``name`` of ``htype`` and its plan, looked up once."""
    key = (id(htype), name)
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is htype:
        return hit[1], hit[2]
    prod = htype.production(name)  # raises with the names that exist
    plan = _plan(prod, types)
    _COMPILED[key] = (htype, prod, plan)
    return prod, plan


def _plan(prod: Production, types: Mapping[str, HoleType]) -> _Plan:
    cached = _PLANS.get(id(prod))
    if cached is not None and cached[0] is prod:
        return cached[1]
    index = {p: i for i, p in enumerate(prod.params)}
    for t in prod.fragment.tasks:
        index[t.local] = len(index)
    holes = []
    for h in prod.fragment.holes:
        ht = types[h.type]
        args = () if ht.everywhere else tuple(index[a] for a in h.args)
        holes.append((h.type, args, ht.roles, ht.everywhere))
    plan = _Plan(tuple((t.local, t.kind, t.attrs) for t in prod.fragment.tasks), tuple(holes),
                 tuple((index[u], index[v]) for u, v in prod.fragment.edges))
    _PLANS[id(prod)] = (prod, plan)
    return plan


def _bind(binding: Mapping[str, str], name: str) -> str:
    return binding.get(name, name)


def _instantiate_start(grammar: Grammar, graph: Graph) -> None:
    start = grammar.start
    for t in start.tasks:
        graph.add_task(Task(t.local, t.kind, t.attrs))
    for h in start.holes:
        ht = grammar.types[h.type]
        hid = graph.fresh_hole_id(h.type)
        if ht.everywhere:
            graph.add_hole(Hole(hid, h.type, everywhere=True))
        else:
            graph.add_hole(Hole(hid, h.type, h.args, ht.roles))
    for u, v in start.edges:
        graph.add_edge(u, v)


# ====================================================================== notation (format)
def format_fragment(fragment: Fragment) -> str:
    """The short notation of a fragment: chains, lone tasks and holes, or ``nothing``."""
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
