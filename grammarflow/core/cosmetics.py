"""Cosmetics: how a task or an edge is drawn — never what runs or when.

Every way a style enters a run keeps the grammar's cosmetic promises, checked in one
place (:func:`promise_refusal`); a ``Style`` step's values are checked
(:func:`style_refusal`), and what a workflow registers keeps its palette
(:func:`registration_problem`). The rules: docs/picture.md, "Cosmetics".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from grammarflow.errors import GrammarflowError

SAFE_SHAPES = frozenset({"box", "ellipse", "oval", "circle", "diamond", "note", "tab",
                         "folder", "component", "cylinder", "plain"})
EDGE_STYLES = frozenset({"solid", "dashed", "dotted", "bold"})
COLOR = re.compile(r"#[0-9a-fA-F]{6}\Z|[a-zA-Z]{1,20}\Z")
MAX_TEXT = 200

TASK_KEYS = ("label", "color", "shape", "tooltip")
EDGE_KEYS = ("label", "color", "style")


def cosmetics_problem(attrs: Mapping[str, Any], *, edge: bool) -> str | None:
    """Why ``attrs`` cannot style a task (or an edge), or None.

    >>> cosmetics_problem({"color": "#ff0000", "label": "fetch"}, edge=False) is None
    True
    >>> cosmetics_problem({"shape": "star"}, edge=False)[:40]
    "shape 'star' is not one of box, circle, "
    """
    keys = EDGE_KEYS if edge else TASK_KEYS
    what = "an edge" if edge else "a task"
    if not attrs:
        return f"no style given; {what} takes {', '.join(keys)}"
    for key, value in attrs.items():
        if key not in keys:
            return f"{key!r} does not style {what}; it takes {', '.join(keys)}"
        if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
            return (f"{key} must be a text of 1 to {MAX_TEXT} characters, got "
                    f"{type(value).__name__ if not isinstance(value, str) else len(value)}")
        if key == "color" and not COLOR.match(value):
            return f"color {value!r} is not #rrggbb or a colour name"
        if key == "shape" and value not in SAFE_SHAPES:
            return f"shape {value!r} is not one of {', '.join(sorted(SAFE_SHAPES))}"
        if key == "style" and value not in EDGE_STYLES:
            return f"style {value!r} is not one of {', '.join(sorted(EDGE_STYLES))}"
    return None


def edge_key(u: str, v: str) -> str:
    """The key of a registered edge style: the kinds at its ends, ``"fetch -> report"``."""
    return f"{u} -> {v}"


def registered_styles(styles: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Styles given at registration, checked: a key is a kind (its tasks' style) or
    ``"A -> B"`` (the style of every edge from a task of kind A to one of kind B).
    Raises GrammarflowError naming the key and what is wrong."""
    out: dict[str, dict[str, Any]] = {}
    for key, attrs in styles.items():
        ends = [k.strip() for k in str(key).split("->")]
        if len(ends) > 2 or not all(_KIND.match(k) for k in ends):
            raise GrammarflowError(f"styles: {key!r} is neither a kind nor an edge between "
                                   "kinds ('fetch' or 'fetch -> report')")
        if not isinstance(attrs, Mapping):
            raise GrammarflowError(f"styles[{key!r}]: expected a dict of attributes, got "
                                   f"{type(attrs).__name__}")
        why = cosmetics_problem(attrs, edge=len(ends) == 2)
        if why is not None:
            raise GrammarflowError(f"styles[{key!r}]: {why}")
        out[edge_key(*ends) if len(ends) == 2 else ends[0]] = dict(attrs)
    return out


_KIND = re.compile(r"[A-Za-z_][\w.]*\Z")


# ====================================================================== promises
_RULES = (
    (re.compile(r"no cosmetic changes\Z"), "none"),
    (re.compile(r"colou?rs from (?P<colors>.+)\Z"), "colors"),
    (re.compile(r"only tasks inside (?P<type>[A-Za-z_]\w*) may (?P<what>restyle|relabel)\Z"),
     "inside"),
)


def parse_cosmetic_promise(text: str) -> str:
    """A cosmetic promise in its canonical text (GrammarflowError if it is none):
    ``no cosmetic changes``, ``colors from red, #16a34a``, ``only tasks inside X may
    restyle`` (any style of a task), ``only tasks inside X may relabel`` (its label)."""
    said = " ".join(text.split())
    for pattern, kind in _RULES:
        m = pattern.match(said)
        if m is None:
            continue
        if kind == "colors":
            colors = [c.strip() for c in m.group("colors").split(",")]
            bad = [c for c in colors if not COLOR.match(c)]
            if bad or not colors:
                raise GrammarflowError(f"cosmetic promise {text!r}: {bad} are not colours "
                                       "(#rrggbb or a name)")
            return "colors from " + ", ".join(colors)
        return said
    raise GrammarflowError(
        f"{text!r} is not a cosmetic promise; expected 'no cosmetic changes', 'colors "
        "from C1, C2', 'only tasks inside X may restyle' or 'only tasks inside X may "
        "relabel'")


def same_color(a: str, b: str) -> bool:
    """Whether two colours are the same: ``#rrggbb`` codes and names, each in any case.

    >>> same_color("#16A34A", "#16a34a"), same_color("Red", "red")
    (True, True)
    >>> same_color("red", "#ff0000")
    False
    """
    return a.casefold() == b.casefold()


def promise_broken(promise: str, task: str | None, attrs: Mapping[str, Any]) -> str | None:
    """Why a style of ``task`` (None: of an edge) with ``attrs`` breaks ``promise``."""
    if promise == "no cosmetic changes":
        return "the grammar promises no cosmetic changes"
    if promise.startswith("colors from "):
        return _off_palette(promise, attrs)
    m = _RULES[2][0].match(promise)
    assert m is not None
    if task is None:
        return None  # a promise about tasks
    if m.group("what") == "relabel" and "label" not in attrs:
        return None
    hole_path = task.rpartition("/")[0]
    inside = any(seg.split(".")[0] == m.group("type") for seg in hole_path.split("/") if seg)
    return None if inside else f"task {task} was not made inside a {m.group('type')} hole"


def _off_palette(promise: str, attrs: Mapping[str, Any]) -> str | None:
    """Why ``attrs`` break the palette ``promise`` ('colors from ...'), or None."""
    allowed = promise.removeprefix("colors from ").split(", ")
    color = attrs.get("color")
    if isinstance(color, str) and not any(same_color(color, c) for c in allowed):
        return f"color {color!r} is not among the promised {', '.join(allowed)}"
    return None


def cosmetic_part(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The attrs of a task that style it (a task's attrs also carry its own data).

    >>> cosmetic_part({"color": "red", "item": 3})
    {'color': 'red'}
    """
    return {k: attrs[k] for k in TASK_KEYS if k in attrs}


def style_refusal(promises: Sequence[str], what: str, task: str | None,
                  attrs: Mapping[str, Any]) -> str | None:
    """Why a ``Style`` step of ``what`` — task ``task``, or an edge when ``task`` is
    None — with ``attrs`` is refused, or None: values that could break the picture,
    then the promises (:func:`promise_refusal`).

    >>> print(style_refusal([], "x", "x", {"shape": "star"})[:34])
    style of x: shape 'star' is not on
    """
    why = cosmetics_problem(attrs, edge=task is None)
    if why is not None:
        return f"style of {what}: {why}"
    return promise_refusal(promises, what, task, attrs)


def promise_refusal(promises: Sequence[str], what: str, task: str | None,
                    attrs: Mapping[str, Any]) -> str | None:
    """Why styling ``what`` — task ``task``, or an edge when ``task`` is None — with
    ``attrs`` at run time breaks a cosmetic promise, or None: the one check of every
    way a style enters a run (a ``Style`` step, the attrs of a task a change makes).

    >>> promise_refusal(["colors from red"], "x", "x", {"color": "RED"}) is None
    True
    >>> print(promise_refusal(["colors from red"], "x", "x", {"color": "blue"}))
    style of x breaks the cosmetic promise 'colors from red': color 'blue' is not among the
    promised red
    """
    for promise in promises:
        why = promise_broken(promise, task, attrs)
        if why is not None:
            return f"style of {what} breaks the cosmetic promise '{promise}': {why}"
    return None


def registration_problem(promises: Sequence[str], styles: Mapping[str, Mapping[str, Any]],
                         given: Iterable[tuple[str, Mapping[str, Any]]]) -> str | None:
    """Why what a grammar registers breaks its palette, or None: the ``styles`` of
    kinds and edges, and the attrs ``given`` to tasks of its start graph and productions
    (``(where, attrs)``). Only a palette binds them: they are the workflow's own look,
    not changes, so 'no cosmetic changes' and 'only tasks inside X ...' allow them.

    >>> print(registration_problem(["colors from red"], {"fetch": {"color": "blue"}}, []))
    styles['fetch'] break the cosmetic promise 'colors from red': color 'blue' is not among
    the promised red
    """
    palettes = [p for p in promises if p.startswith("colors from ")]
    if not palettes:
        return None
    looks = [(f"styles[{key!r}]", attrs) for key, attrs in styles.items()]
    looks += [(f"the attrs of {where}", attrs) for where, attrs in given]
    for where, attrs in looks:
        for promise in palettes:
            why = _off_palette(promise, attrs)
            if why is not None:
                return f"{where} break the cosmetic promise '{promise}': {why}"
    return None


__all__ = ["COLOR", "EDGE_KEYS", "EDGE_STYLES", "MAX_TEXT", "SAFE_SHAPES", "TASK_KEYS",
           "cosmetic_part", "cosmetics_problem", "edge_key", "parse_cosmetic_promise",
           "promise_broken", "promise_refusal", "registered_styles", "registration_problem",
           "same_color", "style_refusal"]
