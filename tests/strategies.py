"""Random grammars for the project's property tests (users get grammarflow.testing).

Every grammar :func:`grammars` makes is well formed by construction: fragments are laid
out on a line (after-parameters, new tasks, before-parameters; see
grammarflow.testing.fragments), edges and holes only go forward along it, and each
type's first production has no holes (so it can finish). If registration refuses one,
the generator or the checker is wrong: the test fails. :func:`cyclic_grammars` makes
the opposite: such a grammar with one cycle put into a production or the start graph,
which registration must refuse.

:func:`exercised` names what a message run exercised, for ``hypothesis.event`` and the
distribution test (tests/test_fuzzing.py): each outcome's tags with accepted or
refused, and the category of each refusal's reason.
"""

from __future__ import annotations

import functools
import operator
import types
from collections.abc import Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal, Union

from annotated_types import Len
from hypothesis import Phase, event
from hypothesis import strategies as st
from typing_extensions import NotRequired, TypedDict  # noqa: UP035 (pydantic: 3.11)

from grammarflow import (
    Fragment,
    Grammar,
    HoleSpec,
    HoleType,
    Role,
    TaskSpec,
    define,
    hole_type,
    optional_edge,
    repeat_parallel,
)
from grammarflow.core.constraints import parse_constraints
from grammarflow.core.guards import parse_guard
from grammarflow.core.productions import open_type
from grammarflow.testing import KINDS, MessageRun, Signature, closed_types, message_runs

#: Phases for a mutation test (a core broken on purpose): find a failure, do not shrink it.
FIND = (Phase.generate,)


@st.composite
def roles(draw: st.DrawFn, min_after: int = 0) -> tuple[Role, ...]:
    """0-2 after and 0-2 before roles (at least one role), in any order."""
    n_after, n_before = draw(st.integers(min_after, 2)), draw(st.integers(0, 2))
    if n_after + n_before == 0:
        n_after = 1
    return tuple(draw(st.permutations([Role.AFTER] * n_after + [Role.BEFORE] * n_before)))


@st.composite
def start_graphs(draw: st.DrawFn, sigs: dict[str, Signature], min_holes: int = 1) -> Fragment:
    """2-4 tasks on a line, edges forward, and ``min_holes``-3 holes, each after a task."""
    names = [f"s{i}" for i in range(draw(st.integers(2, 4)))]
    tasks = tuple(TaskSpec(n, draw(st.sampled_from(KINDS))) for n in names)
    edges = tuple((u, v) for i, u in enumerate(names) for v in names[i + 1:]
                  if draw(st.integers(0, 2)) == 0)
    usable = {n: s for n, s in sigs.items() if s is not None and Role.AFTER in s}
    holes = []
    for _ in range(draw(st.integers(min_holes, 3))):
        htype = draw(st.sampled_from(sorted(usable)))
        sig = usable[htype]
        split = draw(st.integers(1, len(names) - (Role.BEFORE in sig)))
        left, right = names[:split], names[split:]
        holes.append(HoleSpec(htype, tuple(draw(st.sampled_from(left if r is Role.AFTER
                                                                 else right)) for r in sig)))
    return Fragment(tasks, tuple(holes), edges)


@st.composite
def grammars(draw: st.DrawFn, allow_open: bool = True, min_start_holes: int = 2) -> Grammar:
    """Closed types T0-T2 (roles in any order, recursion, defaults), and sometimes a
    potential edge P, an open type Dyn(a0; b0) and an open type Any(*) everywhere,
    in the start graph and in productions."""
    sigs = {f"T{i}": draw(roles(1 if i == 0 else 0)) for i in range(draw(st.integers(1, 3)))}
    children: dict[str, Signature] = dict(sigs)
    extra: dict[str, HoleType] = {}
    bounded = allow_open and draw(st.integers(0, 2)) != 0
    if bounded:
        extra["Dyn"] = open_type("Dyn", ("a0", "b0"), (Role.AFTER, Role.BEFORE))
    if draw(st.booleans()):  # a potential edge: P(u, v) ::= u -> v | nothing
        extra["P"] = hole_type("P", ("a0", "b0"), (Role.AFTER, Role.BEFORE),
                               [Fragment(edges=(("a0", "b0"),)), Fragment()],
                               default=draw(st.sampled_from([None, "2"])))
    anywhere = allow_open and draw(st.booleans())
    if anywhere:
        extra["Any"] = open_type("Any", everywhere=True)
    children.update({n: None if t.everywhere else t.roles for n, t in extra.items()})
    types = {**draw(closed_types(sigs, children, min_productions=2)), **extra}
    start = draw(start_graphs(children, min_start_holes))
    if bounded and draw(st.integers(0, 2)) != 0:
        split = draw(st.integers(1, len(start.tasks) - 1))
        start = replace(start, holes=(*start.holes, HoleSpec("Dyn", (
            draw(st.sampled_from(start.locals[:split])),
            draw(st.sampled_from(start.locals[split:]))))))
    if anywhere and draw(st.integers(0, 3)) != 0:
        start = replace(start, holes=(*start.holes, HoleSpec("Any", ("*",))))
    return Grammar(start, types)


@st.composite
def cyclic_grammars(draw: st.DrawFn) -> tuple[str, Fragment, dict[str, HoleType]]:
    """A well-formed grammar with one cycle put in: ``(where, start, types)``, where
    'production' or 'start graph' says where the cycle is. Registration must refuse it."""
    grammar = draw(grammars())
    types = dict(grammar.types)
    closed = sorted(n for n, t in types.items() if t.productions)
    where = draw(st.sampled_from(["production", "start graph"]))
    if where == "start graph":
        return where, draw(_with_cycle(grammar.start, types)), types
    htype = types[draw(st.sampled_from(closed))]
    i = draw(st.integers(0, len(htype.productions) - 1))
    prod = htype.productions[i]
    looped = replace(prod, fragment=draw(_with_cycle(prod.fragment, types)))
    types[htype.name] = replace(htype, productions=(
        *htype.productions[:i], looped, *htype.productions[i + 1:]))
    return where, grammar.start, types


@st.composite
def _with_cycle(draw: st.DrawFn, fragment: Fragment, types: dict[str, HoleType]) -> Fragment:
    """The fragment with a cycle among new tasks Z0, Z1 (or its own tasks): a task
    before itself, two tasks before each other, an edge back along an edge of the
    fragment, or a hole that comes after Z1 and before Z0 while Z0 -> Z1."""
    local = set(fragment.locals)
    back = [(v, u) for u, v in fragment.edges if u in local and v in local]
    across = sorted(n for n, t in types.items()
                    if Role.AFTER in t.roles and Role.BEFORE in t.roles and not t.everywhere)
    ways = ["self", "two", *(["back"] if back else []), *(["hole"] if across else [])]
    way = draw(st.sampled_from(ways))
    if way == "back":
        return replace(fragment, edges=(*fragment.edges, draw(st.sampled_from(back))))
    z = (TaskSpec("Z0", draw(st.sampled_from(KINDS))), TaskSpec("Z1", draw(st.sampled_from(KINDS))))
    tasks = (*fragment.tasks, *z)
    if way == "self":
        return replace(fragment, tasks=tasks, edges=(*fragment.edges, ("Z0", "Z0")))
    if way == "two":
        return replace(fragment, tasks=tasks,
                       edges=(*fragment.edges, ("Z0", "Z1"), ("Z1", "Z0")))
    htype = types[draw(st.sampled_from(across))]
    args = tuple("Z1" if r is Role.AFTER else "Z0" for r in htype.roles)
    return replace(fragment, tasks=tasks, holes=(*fragment.holes, HoleSpec(htype.name, args)),
                   edges=(*fragment.edges, ("Z0", "Z1")))


# ---------------------------------------------------------------- what was exercised
def exercised(run: MessageRun) -> list[str]:
    """What a message run exercised: 'TAG: accepted|refused' per outcome tag, 'reason:
    CATEGORY' per refusal, 'illegal: accepted' for a message built to break a promise
    that got through, and how the run ended."""
    out = []
    for o in run.outcomes:
        verdict = "accepted" if o.accepted else "refused"
        out += [f"{tag}: {verdict}" for tag in o.tags]
        if o.error is not None:
            out.append(f"reason: {o.error.why}")
        if o.illegal and o.accepted:
            out.append("illegal: accepted")
    if run.broken is not None:
        out.append(f"reason: {run.broken.why}")
    out.append("run: broken" if run.broken is not None else "run: finished")
    return out


def note(run: MessageRun) -> None:
    """Record with hypothesis.event what the run exercised (see --hypothesis-show-statistics)."""
    for label in dict.fromkeys(exercised(run)):
        event(label)


#: Hand-written grammars with every feature at once: alternatives with and without
#: holes, recursion, defaults and none, a repetition, a potential edge; open holes
#: between tasks and attached everywhere, also made by productions. A third of the
#: message runs use one, so that each CI run reaches every kind of message (random
#: grammars, small as they are, often lack one feature or another).
RICH = (
    define("s0 -> s1, s0 -> s2, s3, X(s0, s1), Ms(s0, s2), Y(s1, s3), E(s2, s3)", [
        "X(a, b) ::= a -> A -> b | a -> B -> C -> b, Z(a, b) | [default] nothing",
        "Z(a, b) ::= a -> C -> b | a -> A, Z(A, b) | A -> b, B",
        *repeat_parallel("Ms", "M"),
        "Y(a, b) ::= a -> b | a -> A -> B -> b, Y(B, b) | C, D, W(a, C)",
        "W(a, c) ::= a -> c | a -> B",
        *optional_edge("E"),
    ]),
    define("s0 -> s1, s2, Dyn(s0, s1), Any(*), X(s0, s2), Dyn(s1, s2), Q(s0)", [
        "Dyn(a; b) ::= *",
        "Any(*) ::= *",
        "X(a, b) ::= a -> A -> b | a -> B, Dyn(a, B), Y(B, b) | [default] a -> b",
        "Y(a, b) ::= a -> C -> b | nothing | Any(*)",
        "Q(a) ::= a -> C | a -> D -> E, Q(D) | Any(*)",
    ]),
    # no hole attached everywhere yet, but T1 may make one (through T0): its picture
    # must say so (found by fuzzing: an edge from Dyn's task into Any's was not drawn)
    define("s0 -> s1, Dyn(s0, s1), T1(s0, s1), Dyn(s0, s1)", [
        "Dyn(a; b) ::= *",
        "Any(*) ::= *",
        "T0(a) ::= nothing | Any(*)",
        "T1(a; b) ::= a -> M -> b | a -> b, T0(a) | a -> b, Any(*)",
    ]),
)
#: With constraints on its open holes (message runs, and the picture's properties: a
#: wildcard shows its constraints, and a step it seems to allow may be refused only by
#: one it shows).
CONSTRAINED = (
    define("s0 -> s1, s2, Lim(s0, s1), Wide(*), X(s0, s2)", [
        "Lim(a; b) ::= * where only A, B; at most 2 A; no edges into b; "
        "each B has at most 1 A before",
        "Wide(*) ::= * where no edges from s2",
        "X(a, b) ::= a -> A -> b | a -> B, Lim(a, B) | [default] a -> b",
    ]),
)


@st.composite
def mixed_grammars(draw: st.DrawFn, *, constrained: bool = False) -> Grammar:
    """A random grammar, or (half the time) one of RICH (and CONSTRAINED if asked)."""
    rich = RICH + CONSTRAINED if constrained else RICH
    return draw(st.sampled_from(rich)) if draw(st.booleans()) else draw(grammars())


@st.composite
def grammar_runs(draw: st.DrawFn) -> MessageRun:
    """A grammar (random, or one of RICH or CONSTRAINED) and a run of it in which tasks
    send random messages."""
    return draw(message_runs(draw(mixed_grammars(constrained=True))))


# ---------------------------------------------------------------- data types
# Python types of JSON data, each with the values pydantic accepts for it; and types
# near a given one (test_schema.py, test_data_runs.py).
Typed = tuple[Any, st.SearchStrategy[Any]]  # a type and the values pydantic accepts for it
_counter = iter(range(10**9))

SCALARS: list[Typed] = [
    (int, st.integers(-10**6, 10**6)),
    (float, st.floats(allow_nan=False, allow_infinity=False, width=32)),
    (str, st.text(max_size=5)),
    (bool, st.booleans()),
    (type(None), st.none()),
]


def literal() -> st.SearchStrategy[Typed]:
    values = st.lists(st.one_of(st.integers(-2, 2), st.sampled_from(["a", "b"]),
                                st.booleans()), min_size=1, max_size=3, unique=True)
    return values.map(lambda vs: (Literal[tuple(vs)], st.sampled_from(vs)))


def typed_dict(fields: list[Typed], required: list[bool]) -> Typed:
    """A TypedDict of these fields (``NotRequired`` where not ``required``); its values
    lean to the edges: every optional field there, none of them, or any mix."""
    names = [f"f{i}" for i in range(len(fields))]
    hints = {n: (t if req else NotRequired[t]) for n, (t, _), req
             in zip(names, fields, required, strict=True)}
    cls = TypedDict(f"TD{next(_counter)}", hints)  # type: ignore[operator]
    must = {n: v for n, (_, v), req in zip(names, fields, required, strict=True) if req}
    may = {n: v for n, (_, v), req in zip(names, fields, required, strict=True) if not req}
    values = st.one_of(st.fixed_dictionaries(must), st.fixed_dictionaries({**must, **may}),
                       st.fixed_dictionaries(must, optional=may))
    return cls, values


def bounded_list(item: Typed, least: int, most: int) -> Typed:
    """``list[T]`` of ``least`` to ``most`` elements; its values as often as not at a bound."""
    hint = Annotated[list[item[0]], Len(least, most)]  # type: ignore[name-defined]
    return hint, st.one_of(st.lists(item[1], min_size=least, max_size=least),
                           st.lists(item[1], min_size=most, max_size=most),
                           st.lists(item[1], min_size=least, max_size=most))


#: Longest list an unbounded list's values have: longer than any bound a list is given.
LONGEST = 4


def compound(inner: st.SearchStrategy[Typed]) -> st.SearchStrategy[Typed]:
    return st.one_of(
        inner.map(lambda t: (list[t[0]], st.lists(t[1], max_size=LONGEST))),  # type: ignore[valid-type]
        st.tuples(inner, st.integers(0, 1), st.integers(0, 2)).map(
            lambda p: bounded_list(p[0], p[1], p[1] + p[2])),
        inner.map(lambda t: (dict[str, t[0]],  # type: ignore[valid-type]
                             st.dictionaries(st.sampled_from("kq"), t[1], max_size=2))),
        inner.map(lambda t: (t[0] | None, st.none() | t[1])),
        st.tuples(inner, inner).map(lambda p: (tuple[p[0][0], p[1][0]],  # type: ignore[valid-type]
                                               st.tuples(p[0][1], p[1][1]))),
        st.tuples(inner, inner).map(lambda p: (p[0][0] | p[1][0], p[0][1] | p[1][1])),
        st.tuples(st.lists(inner, min_size=1, max_size=3), st.lists(st.booleans(), min_size=3,
                                                                   max_size=3)).map(
            lambda p: typed_dict(p[0], p[1][:len(p[0])])),
    )


TYPES = st.recursive(st.sampled_from(SCALARS) | literal(), compound, max_leaves=4)
#: Lists (bounded or not) and objects (fields required or not) of any TYPES: where a
#: type fits another or not by a bound or by a field (a fifth of TYPES is one).
CONTAINERS = st.one_of(
    st.tuples(st.lists(TYPES, min_size=1, max_size=3),
              st.lists(st.booleans(), min_size=3, max_size=3)).map(
        lambda p: typed_dict(p[0], p[1][:len(p[0])])),
    st.tuples(TYPES, st.integers(0, 1), st.integers(0, 2)).map(
        lambda p: bounded_list(p[0], p[1], p[1] + p[2])),
    TYPES.map(lambda t: (list[t[0]], st.lists(t[1], max_size=LONGEST))),  # type: ignore[valid-type]
)


SCALAR_TYPES = [int, float, str, bool, type(None)]


def perturbed(hint: Any, draw: Any) -> Any:
    """A type near ``hint``: each part of it kept, or changed a little (a scalar for
    another, a Literal's values for a subset or superset, Optional added or dropped, a
    list for a set, a field made required or not) — so that the pairs checked sit on
    both sides of the line, where a wrong answer would be."""
    import typing

    from typing_extensions import is_typeddict

    if draw(st.integers(0, 9)) == 0:
        return hint | None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in SCALAR_TYPES:
        near = {int: [float, bool], float: [int], bool: [int], str: [], type(None): []}[hint]
        return draw(st.sampled_from([hint, hint, *near, *SCALAR_TYPES]))
    if origin is Literal:
        extra = draw(st.sampled_from([0, 1, "a", "z", True]))
        keep = draw(st.lists(st.sampled_from(args), min_size=1, unique=True))
        return Literal[tuple(dict.fromkeys([*keep, *([extra] if draw(st.booleans()) else [])]))]
    if origin is list:
        inner = perturbed(args[0], draw)
        return draw(st.sampled_from([list[inner], set[inner] if _hashable(inner) else list[inner],
                                     tuple[inner, ...],  # type: ignore[valid-type]
                                     Annotated[list[inner], Len(0, draw(st.integers(0, 3)))]]))
    if origin is Annotated:  # a bounded list: each bound moved by one, or dropped
        (inner,), bounds = typing.get_args(args[0]), args[1]
        least = max(0, bounds.min_length + draw(st.integers(-1, 1)))
        most = None if draw(st.integers(0, 3)) == 0 else \
            max(least, bounds.max_length + draw(st.integers(-1, 1)))
        return Annotated[list[perturbed(inner, draw)], Len(least, most)]
    if origin is dict:
        return dict[str, perturbed(args[1], draw)]  # type: ignore[misc]
    if origin is tuple:
        return tuple[tuple(perturbed(a, draw) for a in args)]  # type: ignore[misc]
    if origin in (Union, types.UnionType):
        kept = [perturbed(a, draw) for a in args if draw(st.integers(0, 3)) > 0] or [args[0]]
        return functools.reduce(operator.or_, kept)
    if is_typeddict(hint):
        required = hint.__required_keys__
        fields = {}
        for name, field_hint in typing.get_type_hints(hint).items():
            inner = perturbed(_unwrapped(field_hint), draw)
            req = (name in required) != (draw(st.integers(0, 2)) == 0)
            fields[name] = inner if req else NotRequired[inner]
        return TypedDict(f"TD{next(_counter)}", fields)  # type: ignore[operator]
    return hint


def neighbours(hint: Any) -> list[Any]:
    """Every type one step from ``hint`` across a line: a list (bounded or not) with
    each bound from 0 to 3, or none; an object with one field made required, or
    optional. (Other types: none.)"""
    import typing

    from typing_extensions import is_typeddict

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Annotated:
        origin, args = list, typing.get_args(args[0])
    if origin is list:
        return [Annotated[list[args[0]], Len(least, most)]  # type: ignore[valid-type]
                for least in range(3) for most in (*range(least, 4), None)]
    if not is_typeddict(hint):
        return []
    fields = typing.get_type_hints(hint)
    required = hint.__required_keys__
    out = []
    for flipped in fields:
        hints = {name: (_unwrapped(h) if (name in required) != (name == flipped)
                        else NotRequired[_unwrapped(h)]) for name, h in fields.items()}
        out.append(TypedDict(f"TD{next(_counter)}", hints))  # type: ignore[operator]
    return out


def _unwrapped(hint: Any) -> Any:
    import typing

    return typing.get_args(hint)[0] if typing.get_origin(hint) is NotRequired else hint


def _hashable(hint: Any) -> bool:
    import typing

    return hint in SCALAR_TYPES or typing.get_origin(hint) in (Literal, tuple)


# ---------------------------------------------------------------- guards and constraints
#: A guard's expression tree (grammarflow.core.guards: nested tuples) and a text of it.
Written = tuple[tuple[Any, ...], str]

#: Characters a guard's strings may hold: quotes, escapes and the notation's own marks.
_STRING_CHARS = "ab '\"\\#|,;[]()"


def _quoted(text: str, quote: str) -> str:
    return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


def guard_strings() -> st.SearchStrategy[Written]:
    """String literals holding quotes, escapes and the notation's own marks, quoted
    either way."""
    return st.tuples(st.text(_STRING_CHARS, min_size=1, max_size=6),
                     st.sampled_from("'\"")).map(lambda p: (("lit", p[0]), _quoted(*p)))


def _guard_atoms(names: Sequence[str], params: Sequence[str],
                 kinds: Sequence[str]) -> st.SearchStrategy[Written]:
    numbers = st.one_of(st.integers(0, 99).map(lambda n: (("lit", n), str(n))),
                        st.floats(0, 1e20, allow_nan=False, allow_infinity=False).map(
                            lambda x: (("lit", x), repr(x))))
    strings = guard_strings()
    words = st.sampled_from([(("lit", True), "true"), (("lit", False), "false"),
                             (("lit", None), "null"), (("depth",), "depth")])
    atoms = [numbers, strings, words]
    if names:
        atoms.append(st.sampled_from([(("name", n), n) for n in names]))
    if params:
        atoms.append(st.tuples(st.sampled_from(params), st.sampled_from(kinds),
                               st.booleans()).map(_count))
    return st.one_of(*atoms)


def _count(p: tuple[str, str, bool]) -> Written:
    param, kind, before = p
    left, right = (kind, param) if before else (param, kind)
    return ("count", left, right), f"count({left} -> {right})"


#: Operations of two operands: (head, operator) as the tree says them.
BINARY: tuple[tuple[str, str | None], ...] = (
    ("and", None), ("or", None),
    *(("cmp", op) for op in ("==", "!=", "<", "<=", ">", ">=", "in", "not in")),
    ("arith", "+"), ("arith", "-"))
#: Operations of one operand (and a field's name, or an index).
UNARY = ("not", "neg", "len", "field", "index", "list")


def written_binary(head: str, op: str | None, a: Written, b: Written) -> Written:
    """``a op b``, its tree and its text in full parentheses."""
    tree = (head, a[0], b[0]) if op is None else (head, op, a[0], b[0])
    return tree, f"(({a[1]}) {op or head} ({b[1]}))"


def written_unary(head: str, a: Written, b: Written | None = None) -> Written:
    """``not a``, ``-a``, ``len(a)``, ``a.count``, ``a[b]``, ``[a, b]`` (b: the index,
    or the list's second element; a field's name is ``count``, a keyword that is a name
    there)."""
    x = a[1]
    match head:
        case "not":
            return ("not", a[0]), f"(not ({x}))"
        case "neg":
            return ("neg", a[0]), f"(-({x}))"
        case "len":
            return ("len", a[0]), f"len({x})"
        case "field":
            return ("field", a[0], "count"), f"({x}).count"
        case "index":
            key = b if b is not None else (("lit", 0), "0")
            return ("index", a[0], key[0]), f"({x})[{key[1]}]"
    items = [a] if b is None else [a, b]
    return ("list", *(w[0] for w in items)), "[" + ", ".join(w[1] for w in items) + "]"


def _guard_compounds(inner: st.SearchStrategy[Written]) -> st.SearchStrategy[Written]:
    return st.one_of(
        st.tuples(st.sampled_from(BINARY), inner, inner).map(
            lambda p: written_binary(p[0][0], p[0][1], p[1], p[2])),
        st.tuples(st.sampled_from(UNARY), inner, st.none() | inner).map(
            lambda p: written_unary(*p)),
        st.tuples(inner, st.sampled_from(["f", "len"])).map(
            lambda p: (("field", p[0][0], p[1]), f"({p[0][1]}).{p[1]}")),
        st.lists(inner, max_size=3).map(
            lambda ws: (("list", *(w[0] for w in ws)), "[" + ", ".join(w[1] for w in ws) + "]")),
    )


def guard_atoms(names: Sequence[str] = ("a", "b"), params: Sequence[str] = ("a", "b"),
                kinds: Sequence[str] = KINDS) -> st.SearchStrategy[Written]:
    """The leaves of guard expressions: literals, parameters, ``depth``, counts."""
    return _guard_atoms(names, params, kinds)


def guard_exprs(names: Sequence[str] = ("a", "b"), params: Sequence[str] = ("a", "b"),
                kinds: Sequence[str] = KINDS) -> st.SearchStrategy[Written]:
    """Guard expressions of every form, each with a text that says its tree in full
    (every operation in parentheses): reading the text gives exactly the tree, so the
    canonical text can be checked against what was meant. ``names``: the parameters a
    guard may read; ``params``: those it may count next to (with ``kinds``)."""
    return st.recursive(_guard_atoms(names, params, kinds), _guard_compounds, max_leaves=8)


@st.composite
def constraint_texts(draw: st.DrawFn, params: Sequence[str],
                     kinds: Sequence[str] = KINDS) -> str:
    """1-3 constraints of every form, over a hole type's parameters and kinds."""
    names = [*params, *kinds]
    kind, name = st.sampled_from(kinds), st.sampled_from(names)
    forms = [
        st.lists(kind, min_size=1, max_size=3, unique=True).map(lambda ks: "only " + ", ".join(ks)),
        st.just("no new tasks"), st.just("no new edges"),
        st.tuples(st.integers(0, 3), kind | st.just("tasks")).map(
            lambda p: f"at most {p[0]} {p[1]}"),
        st.lists(st.tuples(name, name), min_size=1, max_size=2, unique=True).map(
            lambda es: "only " + ", ".join(f"{u} -> {v}" for u, v in es)),
        name.map(lambda n: f"no edges from {n}"), name.map(lambda n: f"no edges into {n}"),
        st.tuples(name, name).map(lambda p: f"no edges from {p[0]} into {p[1]}"),
        st.tuples(kind, st.lists(st.tuples(
            st.sampled_from(["", "at least ", "at most "]), st.integers(0, 3), kind,
            st.sampled_from(["before", "after"])), min_size=1, max_size=2)).map(
            lambda p: f"each {p[0]} has " + ", ".join(f"{b}{n} {k} {s}" for b, n, k, s in p[1])),
    ]
    return "; ".join(draw(st.lists(st.one_of(*forms), min_size=1, max_size=3)))


@st.composite
def promised_grammars(draw: st.DrawFn) -> Grammar:
    """A random grammar (:func:`grammars`) whose closed types choose on data now and
    then (every production guarded, an ``[else]`` maybe; an ``[if ...]`` condition on
    some) and whose open types keep constraints: every promise the notation writes."""
    grammar = draw(grammars())
    types = {}
    for name, htype in grammar.types.items():
        if htype.open:
            if draw(st.booleans()):
                text = draw(constraint_texts(htype.params))
                htype = replace(htype, constraints=parse_constraints(text))
        elif draw(st.booleans()):
            types[name] = _guarded(draw, htype)
            continue
        types[name] = htype
    return Grammar(grammar.start, types)


def _guarded(draw: st.DrawFn, htype: HoleType) -> HoleType:
    """The type with guards (all its productions, or none) and conditions (any)."""
    exprs = guard_exprs(htype.after, htype.params)
    chooses = draw(st.booleans())
    otherwise = draw(st.sampled_from([None, *range(len(htype.productions))]))
    productions = []
    for i, p in enumerate(htype.productions):
        guard = None
        if chooses:
            guard = parse_guard("else") if i == otherwise else \
                parse_guard(f"when {draw(exprs)[1]}")
        condition = parse_guard(f"if {draw(exprs)[1]}") if draw(st.booleans()) else None
        productions.append(replace(p, guard=guard, condition=condition))
    return replace(htype, productions=tuple(productions),
                   default=None if chooses else htype.default)
