"""The task-side SDK: what a task process imports to talk to the orchestrator.

Stdlib only and lazy: importing it costs next to nothing. Every request blocks until the
orchestrator replies; a refused one raises :class:`Refused`. Every call:
docs/tutorial.md, "Writing tasks".

    from grammarflow import task

    ctx = task.context()                       # run, task id, kind, attrs, inputs
    task.expand(ctx.hole("X"), "2")            # the hole of type X after this task
"""

from __future__ import annotations

import os
import sys

from grammarflow import wire

TYPE_CHECKING = False  # no `typing`/`dataclasses` at run time: every task pays its imports
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Context", "Refused", "add", "constrain", "context", "expand", "expand_all", "find",
           "log", "narrow", "output", "progress", "refine", "style"]


class Refused(Exception):
    """The orchestrator refused a request; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Context:
    """Who this task is, and what is next to it, as of when it started.

    ``run``, ``task`` (its id), ``kind``, ``attrs``, ``attempt`` (from 1); ``inputs``:
    the values of its declared inputs, bound along its edges (validated outputs of the
    tasks it runs after; see docs/data.md);
    ``params``: the run's parameters (``grammarflow run -p key=value``; docs/operations.md);
    ``holes``: the holes after it (id -> type), the ones it may expand; ``after`` and
    ``before``: the tasks it runs right after and right before (id -> kind, oldest
    first). A task with so many neighbours that they do not fit its environment asks
    the orchestrator for them the first time it reads them: ``after`` is the same (no
    edge enters a started task), ``before`` is as of that moment.
    """

    __slots__ = ("_after", "_before", "_inputs", "attempt", "attrs", "holes", "kind", "params",
                 "run", "task")

    def __init__(self, run: str, task: str, kind: str, attrs: dict[str, Any],
                 attempt: int, holes: dict[str, str] | None = None,
                 after: dict[str, str] | None = None,
                 before: dict[str, str] | None = None,
                 inputs: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None) -> None:
        self.run, self.task, self.kind, self.attrs, self.attempt = (
            run, task, kind, attrs, attempt)
        self.params = params or {}
        self.holes = holes or {}
        self._after, self._before = after, before
        self._inputs = inputs

    @property
    def inputs(self) -> dict[str, Any]:
        """The values of this task's declared inputs: name -> value (none: ``{}``)."""
        if self._inputs is None:
            self._inputs = _chan().request({"op": "inputs"})["inputs"]
        return self._inputs

    @property
    def after(self) -> dict[str, str]:
        """The tasks this one runs right after (its predecessors): id -> kind."""
        if self._after is None:
            self._after = _find({"before": self.task})
        return self._after

    @property
    def before(self) -> dict[str, str]:
        """The tasks this one runs right before (its successors): id -> kind."""
        if self._before is None:
            self._before = _find({"after": self.task})
        return self._before

    def hole(self, type: str) -> str:
        """The id of the one hole of ``type`` that comes after this task."""
        found = [h for h, t in self.holes.items() if t == type]
        if len(found) != 1:
            raise LookupError(f"task {self.task} has {len(found)} hole(s) of type {type!r} "
                              f"after it; holes after it: {self.holes}")
        return found[0]

    def __repr__(self) -> str:
        return (f"Context(run={self.run!r}, task={self.task!r}, kind={self.kind!r}, "
                f"attrs={self.attrs!r}, attempt={self.attempt}, holes={self.holes!r}, "
                f"after={self._after!r}, before={self._before!r})")


class _Channel:
    def __init__(self) -> None:
        # Keep the real stdout for the protocol; send fd 1 (print, child processes)
        # to stderr so nothing else can ever write protocol lines.
        self.out = os.fdopen(os.dup(1), "wb", buffering=0)
        os.dup2(2, 1)
        self.inp = sys.stdin.buffer
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        self.out.write(wire.encode_message(message))

    def request(self, message: dict[str, Any]) -> Any:
        import json

        self.next_id += 1
        message["id"] = self.next_id
        self.send(message)
        line = self.inp.readline()
        if not line:
            raise Refused("the orchestrator closed the channel (the run is ending)")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise Refused(str(reply.get("error")))
        return reply.get("result")


_channel: _Channel | None = None


def _chan() -> _Channel:
    global _channel
    if _channel is None:
        if wire.ENV_TASK not in os.environ:
            raise RuntimeError("not running under grammarflow: no task channel "
                               f"({wire.ENV_TASK} is not set)")
        _channel = _Channel()
    return _channel


def context() -> Context:
    """This task's run id, task id, kind, attributes (inputs), attempt number, and the
    holes and tasks next to it (see :class:`Context`)."""
    import json

    raw = os.environ.get(wire.ENV_TASK)
    if raw is None:
        raise RuntimeError(f"not running under grammarflow ({wire.ENV_TASK} is not set)")
    data = json.loads(raw)
    inputs = None if data.get("inputs_by_request") else data.get("inputs", {})
    return Context(data["run"], data["task"], data["kind"], data.get("attrs", {}),
                   data.get("attempt", 1), data.get("holes", {}), data.get("after"),
                   data.get("before"), inputs, data.get("params"))


def expand(hole: str, production: str, attrs: dict[str, dict[str, Any]] | None = None
           ) -> dict[str, Any]:
    """Apply production ``production`` (its name, e.g. ``"2"``) to ``hole``.

    Returns ``{"tasks": {local: id}, "holes": [new hole ids]}``.
    """
    result: dict[str, Any] = _chan().request({"op": "expand", "hole": hole,
                                              "production": production, "attrs": attrs or {}})
    return result


def expand_all(expansions: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Several expansions, applied atomically (all or none)."""
    return _chan().request({  # type: ignore[no-any-return]
        "op": "expand",
        "expansions": [{"hole": h, "production": p} for h, p in expansions]})


def add(tasks: dict[str, str] | None = None, edges: list[tuple[str, str]] | None = None,
        attrs: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """A raw change: new tasks ``{name: kind}`` and edges; returns ``{name: task id}``.

    Accepted only if some production application(s) yield exactly this change.
    """
    attrs = attrs or {}
    result = _chan().request({
        "op": "add",
        "tasks": [{"name": n, "kind": k, "attrs": attrs.get(n, {})}
                  for n, k in (tasks or {}).items()],
        "edges": [list(e) for e in (edges or [])]})
    return result["ids"]  # type: ignore[no-any-return]


def narrow(*, type: str | None = None, hole: str | None = None,
           remove: list[str]) -> None:
    """A run-time promise: remove productions from a hole type, or from one hole."""
    _chan().request({"op": "narrow", "type": type, "hole": hole, "remove": remove})


def constrain(hole: str, *constraints: str) -> None:
    """A run-time promise: from now on, what open hole ``hole`` grows keeps these
    constraints (in the notation: ``"only M, N"``, ``"no edges into b"``, ...).
    Constraints are only ever added; none is taken back."""
    if not constraints:
        raise ValueError("constrain(hole, *constraints): give at least one constraint")
    _chan().request({"op": "constrain", "hole": hole, "constraints": list(constraints)})


def refine(hole: str, *, tasks: dict[str, str] | None = None,
           edges: list[tuple[str, str]] | None = None,
           holes: list[tuple[str, list[str]]] | None = None,
           types: list[str] | None = None) -> dict[str, Any]:
    """Replace an open hole by a fragment; ``types`` declares fresh hole types in the
    notation (``"Only(a, b) ::= a -> M -> b | [default] nothing"``)."""
    return _chan().request({  # type: ignore[no-any-return]
        "op": "refine", "hole": hole,
        "tasks": [{"name": n, "kind": k} for n, k in (tasks or {}).items()],
        "edges": [list(e) for e in (edges or [])],
        "holes": [{"type": t, "args": list(a)} for t, a in (holes or [])],
        "types": list(types or [])})


def find(kind: str | None = None, *, after: str | None = None,
         before: str | None = None) -> list[str]:
    """Ids of the tasks of ``kind`` that run right after task ``after`` and right
    before task ``before`` (each optional; none: every task), oldest first.

    It sees what this task may build on: every task that is committed (made at the
    start, by the orchestrator, or by a task that has finished) and those this task's
    own requests made; not those of tasks still running beside it (``--max-parallel``).
    Naming a task it cannot see in ``after`` or ``before`` is refused.

        task.find(kind="parse_a")               # ['Any.1/parse_a']
        task.find(kind="M", before=ctx.task)    # the Ms this task runs right after
    """
    return list(_find({"kind": kind, "after": after, "before": before}))


def _find(query: dict[str, str | None]) -> dict[str, str]:
    message = {"op": "find", **{k: v for k, v in query.items() if v is not None}}
    return _chan().request(message)["tasks"]  # type: ignore[no-any-return]


def output(value: Any) -> Any:
    """Give this task's output: a JSON value, of its kind's declared type if it has one
    (checked by the orchestrator: a value of another type breaks the promise). Once
    per task; it counts only if the task succeeds. Returns the value as journaled."""
    return _chan().request({"op": "output", "value": value})["value"]


def style(task: str | None = None, *, edge: tuple[str, str] | None = None,
          **attrs: str) -> None:
    """How a task (default: this one) or an edge is drawn: ``label``, ``color``,
    ``shape``, ``tooltip`` for a task; ``label``, ``color``, ``style`` for an edge.
    Journaled with this task's other changes; only how it looks, never what runs."""
    if edge is not None:
        message = {"op": "style", "edge": list(edge), "attrs": attrs}
    else:
        message = {"op": "style", "task": task or context().task, "attrs": attrs}
    _chan().request(message)


def log(msg: str) -> None:
    """A line for the run's journal of this attempt (one-way, no reply)."""
    _chan().send({"op": "log", "msg": str(msg)})


def progress(done: float, total: float | None = None) -> None:
    """Progress of this task, shown live by `grammarflow run` (one-way)."""
    _chan().send({"op": "progress", "done": done, "total": total})
