"""The wire protocol between a task and the orchestrator (stdlib only; both ends).

Framing, version 1:

* **task -> orchestrator**: lines on the task's stdout. A protocol line starts with
  :data:`PREFIX` (the ASCII record separator U+001E, then ``gf1 ``) followed by one JSON
  object. Any other line on stdout is ordinary output: it is logged, never parsed.
  The task SDK moves file descriptor 1 onto stderr when it connects, so ``print()``
  and child processes cannot interleave with protocol lines at all.
* **orchestrator -> task**: replies on the task's stdin, one JSON object per line.

Requests carry an ``id`` and get exactly one reply ``{"id", "ok", "result"|"error"}``;
``log`` and ``progress`` are one-way (no reply, so a burst of them never blocks).
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

REQUESTS = frozenset({"expand", "add", "narrow", "refine"})
ONE_WAY = frozenset({"log", "progress"})
OPS = REQUESTS | ONE_WAY

ENV_TASK = "GRAMMARFLOW_TASK"  # JSON: {"run", "task", "kind", "attrs", "attempt"}


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
    if not isinstance(message, dict):
        raise WireError(f"expected a JSON object, got {type(message).__name__}")
    op = message.get("op")
    if op not in OPS:
        raise WireError(f"unknown op {op!r}; expected one of {sorted(OPS)}")
    if op in REQUESTS and not isinstance(message.get("id"), int):
        raise WireError(f"op {op!r} needs an integer 'id' to reply to")
    _CHECKS[op](message)
    return message


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
    return type(value).__name__


def _list(message: dict[str, Any], key: str) -> list[Any]:
    value = message.get(key, [])
    if not isinstance(value, list):
        raise WireError(f"{message['op']}: '{key}' must be a list, got {_kind(value)}")
    return value


def _attrs(op: str, value: Any, where: str) -> None:
    if value is not None and not isinstance(value, dict):
        raise WireError(f"{op}: {where} must be an object, got {_kind(value)}")


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
        _attrs("expand", s.get("attrs"), "'attrs'")


def _check_add(m: dict[str, Any]) -> None:
    for t in _list(m, "tasks"):
        if not isinstance(t, dict):
            raise WireError(f"add: each task must be an object, got {_kind(t)}")
        t.setdefault("op", "add")
        _str(t, "name")
        _str(t, "kind")
        _attrs("add", t.get("attrs"), f"attrs of task {t['name']!r}")
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
                and isinstance(h.get("args", []), list)):
            raise WireError(f"refine: each hole must be {{'type': str, 'args': [str]}}, "
                            f"got {_kind(h)}")
    if not all(isinstance(t, str) for t in _list(m, "types")):
        raise WireError("refine: 'types' must be a list of productions in the notation")


def _check_log(m: dict[str, Any]) -> None:
    if not isinstance(m.get("msg"), str):
        raise WireError(f"log: 'msg' must be a string, got {_kind(m.get('msg'))}")


def _check_progress(m: dict[str, Any]) -> None:
    for key in ("done", "total"):
        value = m.get(key)
        if value is not None and (not isinstance(value, int | float) or value < 0):
            raise WireError(f"progress: '{key}' must be a number >= 0, got {_kind(value)}")


_CHECKS = {"expand": _check_expand, "add": _check_add, "narrow": _check_narrow,
           "refine": _check_refine, "log": _check_log, "progress": _check_progress}
