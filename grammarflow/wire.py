"""The wire protocol between a task and the orchestrator (stdlib only; both ends).

Version 1: JSON lines over the task's stdio, a protocol line being :data:`PREFIX` then
one JSON object; a request gets exactly one reply, ``log`` and ``progress`` none. The
messages, the task's context and the limits: docs/architecture.md, "The protocol".
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: tasks import this module; keep it light
if TYPE_CHECKING:
    from typing import Any

VERSION = 1
PREFIX = "\x1egf1 "
PREFIX_BYTES = PREFIX.encode()

#: The largest protocol line the orchestrator reads; a longer one fails the attempt.
MAX_LINE = 8 * 1024 * 1024
#: The largest attrs of one task, in bytes of JSON (they reach it in its environment).
MAX_ATTRS = 64 * 1024
#: The deepest nesting of a task's attrs (deeper would exhaust the stack later on).
MAX_DEPTH = 64
#: The largest ``after`` (and ``before``) of a task's context, in bytes of JSON; a
#: larger one is left out of the environment (and asked for with ``find``).
MAX_NEIGHBOURS = 16 * 1024

#: The largest ``inputs`` of a task's context, in bytes of JSON (else asked for).
MAX_INPUTS = 64 * 1024

REQUESTS = frozenset({"expand", "add", "narrow", "refine", "constrain", "find", "output",
                      "inputs", "style"})
ONE_WAY = frozenset({"log", "progress"})
OPS = REQUESTS | ONE_WAY

#: JSON: {"run", "task", "kind", "attrs", "attempt", "holes", "after"?, "before"?}
ENV_TASK = "GRAMMARFLOW_TASK"


class WireError(ValueError):
    """A protocol line that is not a valid message; the text says what was expected."""


def encode_message(message: dict[str, Any]) -> bytes:
    import json

    return PREFIX_BYTES + json.dumps(message, separators=(",", ":")).encode() + b"\n"


def encode_reply(reply: dict[str, Any]) -> bytes:
    import json

    return json.dumps(reply, separators=(",", ":")).encode() + b"\n"


def decode_message(line: bytes) -> dict[str, Any]:
    """Parse and validate one protocol line (with its prefix); raise WireError if bad."""
    import json

    body = line[len(PREFIX_BYTES):].strip()
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise WireError(f"not JSON ({e.__class__.__name__}: {e}); expected one JSON object "
                        f"after the prefix, got {_preview(body)}") from None
    except RecursionError:
        raise WireError(f"JSON nested too deeply; the limit is {MAX_DEPTH} levels") from None
    if not isinstance(message, dict):
        raise WireError(f"expected a JSON object, got {type(message).__name__}")
    op = message.get("op")
    if op not in OPS:
        raise WireError(f"unknown op {op!r}; expected one of {sorted(OPS)}")
    if op in REQUESTS and not isinstance(message.get("id"), int):
        raise WireError(f"op {op!r} needs an integer 'id' to reply to")
    _CHECKS[op](message)
    return message


def attrs_problem(task: str, attrs: Any) -> str | None:
    """Why ``attrs`` cannot be a task's attributes (too large or too deep), or None."""
    import json

    if not attrs:
        return None
    depth = _depth(attrs)
    if depth > MAX_DEPTH:
        return (f"attrs of task {task!r} nest {depth} levels deep; the limit is "
                f"{MAX_DEPTH}")
    size = len(json.dumps(attrs, separators=(",", ":")))
    if size <= MAX_ATTRS:
        return None
    return (f"attrs of task {task!r} are {_kib(size)} of JSON; the limit is "
            f"{_kib(MAX_ATTRS)}: pass large data another way (e.g. a file path in attrs)")


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KiB" if size >= 10 * 1024 else f"{size / 1024:.1f} KiB"


def _depth(value: Any) -> int:
    """How deeply ``value`` nests (a scalar is 0); iterative, so depth costs no stack."""
    deepest = 0
    todo = [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        todo.extend((child, level + 1) for child in children)
    return deepest


def _preview(body: bytes, limit: int = 80) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return repr(text) + (f" ... ({len(body)} bytes)" if len(body) > limit else "")


def _str(message: dict[str, Any], key: str, *, optional: bool = False) -> None:
    value = message.get(key)
    if value is None and optional:
        return
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise WireError(f"{message['op']}: '{key}' must be a non-empty string "
                        f"(at most 1024 characters), got {_kind(value)}")


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return f"a string of {len(value)} characters" if len(value) > 40 else repr(value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    if isinstance(value, int | float):
        return repr(value)
    return type(value).__name__


def _list(message: dict[str, Any], key: str) -> list[Any]:
    value = message.get(key, [])
    if not isinstance(value, list):
        raise WireError(f"{message['op']}: '{key}' must be a list, got {_kind(value)}")
    return value


def _attrs(op: str, value: Any, task: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise WireError(f"{op}: attrs of task {task!r} must be an object, got {_kind(value)}")
    problem = attrs_problem(task, value)
    if problem is not None:
        raise WireError(f"{op}: {problem}")


def _check_expand(m: dict[str, Any]) -> None:
    steps = m.get("expansions")
    if steps is None:
        steps = [m]
    elif not isinstance(steps, list) or not steps:
        raise WireError("expand: 'expansions' must be a non-empty list")
    for s in steps:
        if not isinstance(s, dict):
            raise WireError(f"expand: each expansion must be an object, got {_kind(s)}")
        s.setdefault("op", "expand")
        _str(s, "hole")
        _str(s, "production")
        attrs = s.get("attrs")
        if attrs is not None and not isinstance(attrs, dict):
            raise WireError(f"expand: 'attrs' must be an object {{task: attrs}}, "
                            f"got {_kind(attrs)}")
        for local, task_attrs in (attrs or {}).items():
            _attrs("expand", task_attrs, local)


def _check_add(m: dict[str, Any]) -> None:
    for t in _list(m, "tasks"):
        if not isinstance(t, dict):
            raise WireError(f"add: each task must be an object, got {_kind(t)}")
        t.setdefault("op", "add")
        _str(t, "name")
        _str(t, "kind")
        _attrs(m["op"], t.get("attrs"), t["name"])
    for e in _list(m, "edges"):
        if not (isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e)):
            raise WireError(f"add: each edge must be [from, to] (two strings), got {_kind(e)}")


def _check_narrow(m: dict[str, Any]) -> None:
    if (m.get("type") is None) == (m.get("hole") is None):
        raise WireError("narrow: give exactly one of 'type' (a hole type) or 'hole' (a hole id)")
    _str(m, "type", optional=True)
    _str(m, "hole", optional=True)
    remove = _list(m, "remove")
    if not remove or not all(isinstance(r, str) for r in remove):
        raise WireError("narrow: 'remove' must be a non-empty list of production names")


def _check_refine(m: dict[str, Any]) -> None:
    _str(m, "hole")
    _check_add({"op": "refine", "tasks": m.get("tasks", []), "edges": m.get("edges", [])})
    for h in _list(m, "holes"):
        if not (isinstance(h, dict) and isinstance(h.get("type"), str)
                and isinstance(h.get("args", []), list)
                and all(isinstance(a, str) for a in h.get("args", []))):
            raise WireError(f"refine: each hole must be {{'type': str, 'args': [str]}}, "
                            f"got {_kind(h)}")
    if not all(isinstance(t, str) for t in _list(m, "types")):
        raise WireError("refine: 'types' must be a list of productions in the notation")


def _check_constrain(m: dict[str, Any]) -> None:
    _str(m, "hole")
    given = _list(m, "constraints")
    if not given or not all(isinstance(c, str) and c.strip() for c in given):
        raise WireError("constrain: 'constraints' must be a non-empty list of constraints "
                        "in the notation, e.g. [\"only M, N\", \"no new edges\"]")


def _check_find(m: dict[str, Any]) -> None:
    for key in ("kind", "after", "before"):
        _str(m, key, optional=True)


def _check_output(m: dict[str, Any]) -> None:
    if "value" not in m:
        raise WireError("output: 'value' is missing (the task's output, a JSON value)")
    value = m["value"]
    depth = _depth(value)
    if depth > MAX_DEPTH:
        raise WireError(f"output: the value nests {depth} levels deep; the limit is "
                        f"{MAX_DEPTH}")
    bad = _not_finite(value)
    if bad is not None:
        raise WireError(f"output: the value holds {bad}, which is not a JSON number")


def _not_finite(value: Any) -> str | None:
    """A number in ``value`` that JSON cannot carry (NaN, Infinity, a huge integer)."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
        elif isinstance(item, float) and (item != item or item in (float("inf"),
                                                                   float("-inf"))):
            return repr(item)
        elif isinstance(item, int) and not isinstance(item, bool) and item.bit_length() > 1000:
            return _kind(item)
    return None


def _check_inputs(m: dict[str, Any]) -> None:
    return None


def _check_style(m: dict[str, Any]) -> None:
    _str(m, "task", optional=True)
    edge = m.get("edge")
    if edge is not None and not (isinstance(edge, list) and len(edge) == 2
                                 and all(isinstance(x, str) for x in edge)):
        raise WireError(f"style: 'edge' must be [from, to] (two strings), got {_kind(edge)}")
    attrs = m.get("attrs")
    if not isinstance(attrs, dict):
        raise WireError(f"style: 'attrs' must be an object, got {_kind(attrs)}")
    _attrs("style", attrs, m.get("task") or "edge")


def _check_log(m: dict[str, Any]) -> None:
    if not isinstance(m.get("msg"), str):
        raise WireError(f"log: 'msg' must be a string, got {_kind(m.get('msg'))}")


def _check_progress(m: dict[str, Any]) -> None:
    for key in ("done", "total"):
        value = m.get(key)
        if value is not None and not _sane_number(value):
            raise WireError(f"progress: '{key}' must be a finite number >= 0 (at most "
                            f"1e300), got {_kind(value)}")


def _sane_number(value: Any) -> bool:
    """A finite number >= 0 that every display can format (``10**400`` overflows a
    float, NaN and Infinity are valid JSON to Python)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int) and value.bit_length() > 1000:
        return False
    return 0 <= value <= 1e300


_CHECKS = {"expand": _check_expand, "add": _check_add, "narrow": _check_narrow,
           "refine": _check_refine, "constrain": _check_constrain,
           "find": _check_find, "output": _check_output, "inputs": _check_inputs,
           "style": _check_style,
           "log": _check_log,
           "progress": _check_progress}


__all__ = [
    "ENV_TASK",
    "MAX_ATTRS",
    "MAX_DEPTH",
    "MAX_INPUTS",
    "MAX_LINE",
    "MAX_NEIGHBOURS",
    "ONE_WAY",
    "OPS",
    "PREFIX",
    "PREFIX_BYTES",
    "REQUESTS",
    "VERSION",
    "WireError",
    "attrs_problem",
    "decode_message",
    "encode_message",
    "encode_reply",
]
