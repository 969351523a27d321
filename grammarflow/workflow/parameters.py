"""A run's parameters: the workflow file declares them with their defaults
(``params = {"n": 3, "mode": "fast"}``), a run is given values (``grammarflow run WF.py
-p n=5``, ``grammarflow.run(..., params={"n": 5})``), each checked against its default's
type; the run journals them, and a function task gets the one a parameter names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from grammarflow.core.graph import check_name
from grammarflow.core.lint import near
from grammarflow.errors import GrammarflowError

__all__ = ["declared", "given", "parse_assignment"]

#: The types a parameter's default may have (JSON's).
TYPES = (bool, int, float, str, list, dict)


def declared(value: object, where: str) -> dict[str, Any]:
    """The file's ``params``: names (valid ones) with JSON defaults, or why not."""
    if not isinstance(value, dict):
        raise GrammarflowError(f"{where}: 'params' must be a dict of name -> default value "
                               "(e.g. params = {\"n\": 3})")
    for name, default in value.items():
        check_name(name, f"{where}: run parameter")
        if default is None or not isinstance(default, TYPES):
            raise GrammarflowError(f"{where}: run parameter {name!r} has default "
                                   f"{default!r}; a default is a number, a string, a bool, "
                                   "a list or a dict (its type is the parameter's)")
        try:
            json.dumps(default)
        except (TypeError, ValueError) as e:
            raise GrammarflowError(f"{where}: run parameter {name!r}: {e}") from None
    return dict(value)


def given(defaults: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The run's parameters: ``defaults``, with ``values`` given for some of them (a
    value given as text, as on the command line, is read as its default's type).

    >>> given({"n": 3, "mode": "fast"}, {"n": "5"})
    {'n': 5, 'mode': 'fast'}
    >>> given({"n": 3}, {"size": 5})
    Traceback (most recent call last):
    ...
    grammarflow.errors.GrammarflowError: no run parameter 'size': the workflow declares n
    """
    out = dict(defaults)
    for name, value in values.items():
        if name not in defaults:
            known = ", ".join(sorted(defaults)) or "none"
            meant = near(name, defaults)
            hint = f" (did you mean {' or '.join(repr(m) for m in meant)}?)" if meant else ""
            raise GrammarflowError(f"no run parameter {name!r}: the workflow declares "
                                   f"{known}{hint}")
        out[name] = _typed(name, defaults[name], value)
    return out


def parse_assignment(text: str) -> tuple[str, str]:
    """``key=value`` (the command line's ``-p``) as ``(key, value)``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise GrammarflowError(f"-p {text!r}: expected NAME=VALUE")
    return name.strip(), value


def _typed(name: str, default: Any, value: Any) -> Any:
    want = type(default)
    if isinstance(value, str) and want is not str:
        try:
            value = json.loads(value)
        except ValueError:
            raise GrammarflowError(f"run parameter {name}={value!r}: expected "
                                   f"{want.__name__} (as its default {default!r})") from None
    ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise GrammarflowError(f"run parameter {name}={value!r}: expected {want.__name__} "
                               f"(as its default {default!r})")
    return value
