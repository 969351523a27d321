"""Type compatibility on JSON Schemas (grammarflow.schema): sound — when it says an
output type fits an input type, every value pydantic accepts as the one it accepts as
the other — and it says why when it does not fit.
"""

from __future__ import annotations

import functools
import json
import operator
import types
from dataclasses import dataclass
from typing import Any, Literal, Union

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict  # noqa: UP035 (pydantic: 3.11)

from grammarflow.schema import describe, element, incompatibility


def schema(hint: Any) -> dict[str, Any]:
    return TypeAdapter(hint).json_schema()


@dataclass
class Point:
    x: int
    y: int = 0


@dataclass
class Point3:
    x: float
    y: float
    z: float = 0.0


class Named(TypedDict):
    name: str
    tags: list[str]


class Tree(TypedDict):
    value: int
    children: list[Tree]


@pytest.mark.parametrize(("source", "target", "why"), [
    (int, float, None),
    (float, int, "a float is not an int"),
    (bool, int, "a bool is not an int"),
    (Literal["a", "b"], str, None),
    (str, Literal["a"], "str is not Literal[\"a\"]: not every value is allowed"),
    (Literal["a", "b"], Literal["a", "b", "c"], None),
    (Literal["a", "z"], Literal["a", "b"], "\"z\" is not Literal[\"a\", \"b\"]"),
    (int | None, int, "None is not an int"),
    (int, int | None, None),
    (list[int], list[float], None),
    (list[float], list[int], "elements: a float is not an int"),
    (tuple[int, str], list[int | str], None),
    (tuple[int, str], list[int], "element 1: a str is not an int"),
    (set[int], list[int], None),
    (list[int], set[int], "may repeat elements"),
    (Point, Point3, None),
    (Point3, Point, "field 'x': a float is not an int"),
    (Point, Named, "field 'name': required by Named, not always there in Point"),
    (dict[str, int], dict[str, float], None),
    (dict[str, int], Point, "field 'x': required by Point"),
    (Tree, Tree, None),
    (list[Tree], list[Tree], None),
    (Any, int, "any value is not int"),
    (int, Any, None),
])
def test_compatibility_and_its_reasons(source: Any, target: Any, why: str | None) -> None:
    found = incompatibility(schema(source), schema(target))
    if why is None:
        assert found is None
    else:
        assert found is not None and why in found


def test_names_of_types() -> None:
    assert describe(schema(list[str] | None)) == "list[str] | None"
    assert describe(schema(Point)) == "Point"
    assert describe(schema(dict[str, int])) == "dict[str, int]"
    assert describe(schema(tuple[int, str])) == "tuple[int, str]"
    assert describe(schema(Literal[1, 2])) == "Literal[1, 2]"


def test_the_element_of_a_list() -> None:
    assert element(schema(list[Point])) is not None
    assert incompatibility(element(schema(list[Point])), schema(Point)) is None  # type: ignore[arg-type]
    assert element(schema(int)) is None
    assert incompatibility(element(schema(tuple[int, str])), schema(str)) is not None  # type: ignore[arg-type]


# ---------------------------------------------------------------- soundness, fuzzed
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
    names = [f"f{i}" for i in range(len(fields))]
    hints = {n: (t if req else NotRequired[t]) for n, (t, _), req
             in zip(names, fields, required, strict=True)}
    cls = TypedDict(f"TD{next(_counter)}", hints)  # type: ignore[operator]
    values = st.fixed_dictionaries(
        {n: v for n, (_, v), req in zip(names, fields, required, strict=True) if req},
        optional={n: v for n, (_, v), req in zip(names, fields, required, strict=True)
                  if not req})
    return cls, values


def compound(inner: st.SearchStrategy[Typed]) -> st.SearchStrategy[Typed]:
    return st.one_of(
        inner.map(lambda t: (list[t[0]], st.lists(t[1], max_size=3))),  # type: ignore[valid-type]
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


def accepts(hint: Any, value: Any) -> bool:
    try:
        TypeAdapter(hint).validate_json(json.dumps(value), strict=True)
    except ValidationError:
        return False
    return True


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
                                     tuple[inner, ...]]))  # type: ignore[valid-type]
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
            req = (name in required) != (draw(st.integers(0, 4)) == 0)
            fields[name] = inner if req else NotRequired[inner]
        return TypedDict(f"TD{next(_counter)}", fields)  # type: ignore[operator]
    return hint


def _unwrapped(hint: Any) -> Any:
    import typing

    return typing.get_args(hint)[0] if typing.get_origin(hint) is NotRequired else hint


def _hashable(hint: Any) -> bool:
    import typing

    return hint in SCALAR_TYPES or typing.get_origin(hint) in (Literal, tuple)


@given(source=TYPES, target=TYPES, data=st.data())
def test_compatible_types_accept_every_value_of_the_source(source: Typed, target: Typed,
                                                           data: Any) -> None:
    """Soundness: if the check says S fits T, a value pydantic accepts (and dumps) as S
    is accepted as T. Most targets are made near the source (``perturbed``), so that
    compatible and incompatible pairs are both common, and close."""
    s_hint, s_values = source
    adapter = TypeAdapter(s_hint)
    values = [adapter.dump_python(adapter.validate_python(data.draw(s_values)), mode="json")
              for _ in range(4)]
    assert all(accepts(s_hint, v) for v in values)
    for t_hint in [target[0], *(perturbed(s_hint, data.draw) for _ in range(8))]:
        why = incompatibility(schema(s_hint), schema(t_hint))
        note(f"{s_hint} -> {t_hint}: {why}")
        if why is None:
            for value in values:
                assert accepts(t_hint, value), f"{value!r} is a {s_hint}, not a {t_hint}"
