"""A workflow: a grammar (its promises) plus kinds (what each task kind runs).

A workflow file defines ``grammar`` and, optionally, ``kinds``; a kind's command is a
script, a module, a function of a file or a container, and a kind ``kinds`` does not
name runs the file's function of that name (docs/tutorial.md, "A workflow file").
Reading one from its file is :mod:`grammarflow.workflow.reading`; whether each of its
kinds can start, :mod:`grammarflow.workflow.checking`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grammarflow.core.grammar import Grammar
from grammarflow.core.lint import near
from grammarflow.errors import BrokenPromise, GrammarflowError, Why
from grammarflow.workflow import parameters
from grammarflow.workflow.annotations import (
    NOTHING,
    DataTypeError,
    KindTypes,
    Validator,
)
from grammarflow.workflow.containers import Container

__all__ = ["CALL", "Kind", "Workflow", "either", "no_command"]

#: The program a spawned function task runs (``python -c CALL FILE FUNCTION ARGS...``):
#: :func:`grammarflow.workflow.call.main`, the same as ``python -m grammarflow.workflow.call``.
CALL = "import sys; from grammarflow.workflow.call import main; sys.exit(main(sys.argv[1:]))"


@dataclass(frozen=True, slots=True)
class Kind:
    """How to run tasks of one kind: a command, arguments, a timeout, retries; and,
    for a script or module, the types of its inputs and output (a function declares
    them with annotations)."""

    run: str = ""
    args: tuple[str, ...] = ()
    timeout: float | None = None  # seconds per attempt; None: no limit
    retries: int = 0  # attempts after the first one fails
    #: Seconds before the first retry; each next one waits ``backoff`` times longer.
    retry_delay: float = 0.0
    backoff: float = 2.0
    inputs: Mapping[str, Any] | None = field(default=None, compare=False)
    output: Any = field(default=NOTHING, compare=False)
    #: A question for a person: the task runs no process, it waits for
    #: `grammarflow answer RUN TASK VALUE` (the value is its output).
    ask: str | None = None
    #: A function task is forked from the run's warm zygote (:mod:`grammarflow.runtime.zygote`);
    #: False: spawned fresh, for code that is not fork-safe.
    zygote: bool = True
    #: A container image: the task runs ``command`` in a container of it, through podman
    #: or docker; mounts, env, cpus, memory and network as :mod:`grammarflow.workflow.containers`.
    image: str | None = None
    command: Sequence[str] = ()
    mounts: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    cpus: float | None = None
    memory: str | int | None = None
    network: str | None = None

    def __post_init__(self) -> None:
        if self.retry_delay < 0 or self.backoff < 1:
            raise GrammarflowError(f"Kind(retry_delay={self.retry_delay}, backoff="
                                   f"{self.backoff}): a delay is at least 0 s, and each "
                                   "retry waits at least as long as the one before "
                                   "(backoff at least 1)")
        ways = [way for way, given in (("run", self.run), ("ask", self.ask is not None),
                                       ("image", self.image is not None)) if given]
        if not ways:
            raise GrammarflowError("Kind(): give what it runs (a script, a module, "
                                   "file.py:function), ask=\"a question\" for a person, "
                                   "or image= and command=[...] for a container")
        if len(ways) > 1:
            raise GrammarflowError(f"Kind({self.run or ''!r}, {', '.join(ways[1:])}=...): a "
                                   "task is run, asked or run in a container: one of them")
        container = self.container
        if container is not None:  # immutable from here on: a Kind is a value
            object.__setattr__(self, "command", container.command)
            object.__setattr__(self, "mounts", tuple(str(m) for m in container.mounts))
        else:
            given = [name for name in ("command", "mounts", "env", "cpus", "memory", "network")
                     if getattr(self, name)]
            if given:
                raise GrammarflowError(f"Kind({self.run or ''!r}, {'=..., '.join(given)}=...): "
                                       "these apply to a task run in a container: give "
                                       "image= too")

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (2: the first retry), in a run.

        >>> [Kind(":f", retries=3, retry_delay=1.5).delay_before(n) for n in (2, 3, 4)]
        [1.5, 3.0, 6.0]
        """
        return self.retry_delay * self.backoff ** (attempt - 2) if attempt > 1 else 0.0

    @property
    def container(self) -> Container | None:
        """How its task runs in a container (None: not in one); GrammarflowError if a
        setting is wrong."""
        if self.image is None:
            return None
        try:
            return Container.of(self.image, self.command, self.mounts, self.env, self.cpus,
                                self.memory, self.network)
        except ValueError as e:
            raise GrammarflowError(f"Kind(image={self.image!r}): {e}") from None

    def function(self, base: Path, workflow_file: Path) -> tuple[Path, str] | None:
        """The file and function a function task runs (``:f`` or ``file.py:f``, the
        file relative to ``base``); None for a script or a module."""
        if ":" not in self.run:
            return None
        file, func = self.run.rsplit(":", 1)
        return (workflow_file if not file else base / file), func

    def argv(self, python: str, base: Path, workflow_file: Path) -> list[str]:
        """The command line for one attempt (``python`` is the interpreter to use)."""
        run = self.run
        function = self.function(base, workflow_file)
        if function is not None:
            # `-c`, not `-m grammarflow.workflow.call`: runpy alone costs every task ~10 ms
            return [python, "-c", CALL, str(function[0]), function[1], *self.args]
        if run.endswith(".py"):
            return [python, str(base / run), *self.args]
        return [python, "-m", run, *self.args]

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "args": list(self.args), "timeout": self.timeout,
                "retries": self.retries, **({"ask": self.ask} if self.ask is not None else {}),
                **({"retry_delay": self.retry_delay, "backoff": self.backoff}
                   if self.retry_delay else {}),
                **({} if self.zygote else {"zygote": False}),
                **({"container": c.to_json()} if (c := self.container) is not None else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Kind:
        return cls(data["run"], tuple(data.get("args", ())), data.get("timeout"),
                   int(data.get("retries", 0)), ask=data.get("ask"),
                   retry_delay=float(data.get("retry_delay", 0.0)),
                   backoff=float(data.get("backoff", 2.0)),
                   zygote=bool(data.get("zygote", True)), **data.get("container", {}))


@dataclass(frozen=True)
class Workflow:
    """A grammar and how to run each kind of task in it (and, when read from its
    file, the Python types each kind declares: ``types``, to validate outputs).
    ``max_parallel``: how many tasks it runs at once unless told (the file's
    ``max_parallel = N``; None: one at a time); ``params``: its run parameters, their
    defaults (of a run: their values; :mod:`grammarflow.workflow.parameters`)."""

    grammar: Grammar
    kinds: dict[str, Kind]
    path: Path
    functions: frozenset[str] = field(default=frozenset())
    types: dict[str, KindTypes] = field(default_factory=dict, compare=False)
    max_parallel: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    _validators: dict[str, Validator] = field(default_factory=dict, compare=False,
                                              repr=False)

    def _repr_svg_(self) -> str | None:
        """Jupyter's picture: the start graph, every hole a wildcard for its futures."""
        return self.grammar._repr_svg_()

    def validator(self, kind: str) -> Validator | None:
        """Checks the outputs of ``kind`` (``None``: it declares no output type)."""
        found = self._validators.get(kind)
        if found is None:
            types = self.types.get(kind)
            if types is None or types.output in (NOTHING, None, type(None)):
                return None
            found = self._validators[kind] = Validator(types.output)
        return found

    def checked_output(self, task: str, kind: str, value: Any) -> Any:
        """A task's output as it will be journaled: validated against its kind's declared
        type (pydantic), or BrokenPromise with the path to what is wrong."""
        validator = self.validator(kind)
        if validator is None:
            return value
        try:
            return validator(value)
        except DataTypeError as e:
            raise BrokenPromise(f"the output of task {task} is not of the type kind {kind} "
                                f"declares: {e}", why=Why.OUTPUT, task=task) from None

    def with_types_of(self, other: Workflow) -> Workflow:
        """This workflow (as journaled) with the Python types of ``other`` (its file as
        it is now), refused if they are not the types the run began with."""
        now = other.grammar.data
        was = self.grammar.data
        if {k: s.to_json() for k, s in now.items()} != {k: s.to_json() for k, s in was.items()}:
            changed = sorted(k for k in set(now) | set(was)
                             if (now.get(k) and now[k].to_json()) != (was.get(k) and
                                                                      was[k].to_json()))
            shown = ", ".join(f"{k}: {was[k].shown(k) if k in was else 'untyped'} -> "
                              f"{now[k].shown(k) if k in now else 'untyped'}"
                              for k in changed[:3])
            raise GrammarflowError(
                f"the types declared in {self.path.name} changed since the run began "
                f"({shown}); a run keeps the promises it began with: restore them, or "
                "start a new run")
        return replace(self, types=dict(other.types), _validators={})

    def with_params(self, values: Mapping[str, Any]) -> Workflow:
        """This workflow for a run given ``values`` for some of its parameters."""
        return replace(self, params=parameters.given(self.params, values))

    def kind(self, name: str) -> Kind:
        found = self.kinds.get(name)
        if found is None:
            meant = near(name, self.kinds)
            hint = f"; did you mean kind {either(meant)}, which has one?" if meant else ""
            raise GrammarflowError(no_command(name, self.path.name) + hint)
        return found

    @property
    def version(self) -> str:
        """What names this version of the workflow: a digest of its grammar and kinds
        (not of its path, nor of a run's parameters) — equal for an unchanged file."""
        text = json.dumps({"grammar": self.grammar.to_json(),
                           "kinds": {k: v.to_json() for k, v in self.kinds.items()}},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "grammar": self.grammar.to_json(),
                "kinds": {k: v.to_json() for k, v in sorted(self.kinds.items())},
                **({"max_parallel": self.max_parallel} if self.max_parallel else {}),
                **({"params": self.params} if self.params else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workflow:
        return cls(Grammar.from_json(data["grammar"], checked=False),  # checked when it ran
                   {k: Kind.from_json(v) for k, v in data["kinds"].items()}, Path(data["path"]),
                   max_parallel=data.get("max_parallel"), params=data.get("params") or {})


def no_command(kind: str, workflow_name: str) -> str:
    """Why a kind that neither ``kinds`` nor a function of the workflow file names
    cannot run (the same words before a run and when it first appears in one)."""
    return (f"kind {kind!r} has no command: add it to 'kinds' in {workflow_name} "
            f"(e.g. kinds = {{{kind!r}: 'tasks/{kind.lower()}.py'}}) or define a "
            f"function {kind}() in the workflow file")


def either(names: list[str]) -> str:
    return " or ".join(repr(n) for n in names)
