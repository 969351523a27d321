"""Type compatibility on JSON Schemas (grammarflow.core.schema): sound — when it says an
output type fits an input type, every value pydantic accepts as the one it accepts as
the other — and it says why when it does not fit.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from strategies import CONTAINERS, SCALAR_TYPES, SCALARS, TYPES, Typed, neighbours, perturbed
from typing_extensions import TypedDict

from grammarflow.core.schema import describe, element, incompatibility


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
def accepts(hint: Any, value: Any) -> bool:
    try:
        TypeAdapter(hint).validate_json(json.dumps(value), strict=True)
    except ValidationError:
        return False
    return True


@given(source=TYPES | CONTAINERS, target=TYPES, data=st.data())
def test_compatible_types_accept_every_value_of_the_source(source: Typed, target: Typed,
                                                           data: Any) -> None:
    """Type compatibility is containment (proofs/11-data.md, 2): if the check says S
    fits T, every value pydantic accepts (and dumps) as S is accepted as T — values
    drawn at the edges of S (lists as long or as short as S allows, objects with all
    of their optional fields or none; and every pair of scalars); and every S fits
    itself, and S | None. Most
    targets are made near the source (``perturbed``: a bound moved or dropped, a field
    made required or optional, ...; and every ``neighbours`` one step across a bound
    or a field's line), so that compatible and incompatible pairs are both common,
    and close; half the sources are lists or objects."""
    s_hint, s_values = source
    adapter = TypeAdapter(s_hint)
    values = [adapter.dump_python(adapter.validate_python(data.draw(s_values)), mode="json")
              for _ in range(6)]
    assert all(accepts(s_hint, v) for v in values)
    for (scalar, of_it), target_scalar in itertools.product(SCALARS, SCALAR_TYPES):
        if incompatibility(schema(scalar), schema(target_scalar)) is None:  # a float's 1.5
            assert accepts(target_scalar, data.draw(of_it)), f"{scalar} -> {target_scalar}"
    assert incompatibility(schema(s_hint), schema(s_hint)) is None
    assert incompatibility(schema(s_hint), schema(s_hint | None)) is None
    for t_hint in [target[0], *neighbours(s_hint),
                   *(perturbed(s_hint, data.draw) for _ in range(8))]:
        why = incompatibility(schema(s_hint), schema(t_hint))
        note(f"{s_hint} -> {t_hint}: {why}")
        event(f"pair: {_line(why)}")
        if why is None:
            for value in values:
                assert accepts(t_hint, value), f"{value!r} is a {s_hint}, not a {t_hint}"


def _line(why: str | None) -> str:
    """Which line between types a pair sits on, in a word (for ``event``)."""
    if why is None:
        return "fits"
    for words, line in (("required by", "a required field"), ("more than", "a longest list"),
                        ("fewer than", "a shortest list"), ("repeat", "unique elements")):
        if words in why:
            return f"refused: {line}"
    return "refused: other"
