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


__all__ = ["COLOR", "EDGE_KEYS", "EDGE_STYLES", "MAX_TEXT", "SAFE_SHAPES", "TASK_KEYS",
           "cosmetics_problem"]
