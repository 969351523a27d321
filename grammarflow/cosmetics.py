"""Cosmetics: how a task or an edge is drawn — never what runs or when.

A task may carry ``label``, ``color``, ``shape`` and ``tooltip``; an edge ``label``,
``color`` and ``style``. They are set at registration (a task's attrs) or at run time
by a :class:`~grammarflow.steps.Style` step (``task.style(...)`` in a task), journaled
like every step and drawn by the picture. Values are checked here, so that nothing a
task sends can break the picture: a colour is ``#rrggbb`` or a name, a shape one of a
safe set, a text at most :data:`MAX_TEXT` characters.

>>> cosmetics_problem({"color": "#ff0000", "label": "fetch"}, edge=False) is None
True
>>> cosmetics_problem({"shape": "star"}, edge=False)[:40]
"shape 'star' is not one of box, circle, "
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SAFE_SHAPES = frozenset({"box", "ellipse", "oval", "circle", "diamond", "note", "tab",
                         "folder", "component", "cylinder", "plain"})
EDGE_STYLES = frozenset({"solid", "dashed", "dotted", "bold"})
COLOR = re.compile(r"#[0-9a-fA-F]{6}\Z|[a-zA-Z]{1,20}\Z")
MAX_TEXT = 200

TASK_KEYS = ("label", "color", "shape", "tooltip")
EDGE_KEYS = ("label", "color", "style")


def cosmetics_problem(attrs: Mapping[str, Any], *, edge: bool) -> str | None:
    """Why ``attrs`` cannot style a task (or an edge), or None."""
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
    from grammarflow.errors import GrammarflowError

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
    from grammarflow.errors import GrammarflowError

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


def promise_broken(promise: str, task: str | None, attrs: Mapping[str, Any]) -> str | None:
    """Why a style of ``task`` (None: of an edge) with ``attrs`` breaks ``promise``."""
    if promise == "no cosmetic changes":
        return "the grammar promises no cosmetic changes"
    if promise.startswith("colors from "):
        allowed = promise.removeprefix("colors from ").split(", ")
        color = attrs.get("color")
        if color is not None and color not in allowed:
            return f"color {color!r} is not among the promised {', '.join(allowed)}"
        return None
    m = _RULES[2][0].match(promise)
    assert m is not None
    if task is None:
        return None  # a promise about tasks
    if m.group("what") == "relabel" and "label" not in attrs:
        return None
    hole_path = task.rpartition("/")[0]
    inside = any(seg.split(".")[0] == m.group("type") for seg in hole_path.split("/") if seg)
    return None if inside else f"task {task} was not made inside a {m.group('type')} hole"


__all__ = ["COLOR", "EDGE_KEYS", "EDGE_STYLES", "MAX_TEXT", "SAFE_SHAPES", "TASK_KEYS",
           "cosmetics_problem", "edge_key", "parse_cosmetic_promise", "promise_broken",
           "registered_styles"]
