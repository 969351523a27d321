"""A workflow: a grammar (its promises) plus kinds (what each task kind runs).

A workflow file is Python that defines ``grammar`` and, optionally, ``kinds``::

    from grammarflow import Kind, define
    grammar = define("A, B, Ms(A, B)", repeat_parallel("Ms", "M"))
    kinds = {
        "A": "tasks/fan_out.py",                          # a script, beside the file
        "M": Kind("tasks/work.py", timeout=30, retries=2),
        "B": "mypkg.finish",                              # a module (python -m)
    }
    def C(): ...                                          # kind C: this function

A kind's command is a script (``*.py``), a module (``pkg.mod``), a function in a file
(``file.py:function``, or ``:function`` for the workflow file itself). A kind that
``kinds`` does not name runs the workflow file's function of the same name.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grammarflow.errors import GrammarError, GrammarflowError
from grammarflow.grammar import Grammar


@dataclass(frozen=True, slots=True)
class Kind:
    """How to run tasks of one kind: a command, arguments, a timeout, retries."""

    run: str
    args: tuple[str, ...] = ()
    timeout: float | None = None  # seconds per attempt; None: no limit
    retries: int = 0  # attempts after the first one fails

    def argv(self, python: str, base: Path, workflow_file: Path) -> list[str]:
        """The command line for one attempt (``python`` is the interpreter to use)."""
        run = self.run
        if ":" in run:
            file, func = run.rsplit(":", 1)
            path = workflow_file if not file else (base / file)
            return [python, "-m", "grammarflow.call", str(path), func, *self.args]
        if run.endswith(".py"):
            return [python, str(base / run), *self.args]
        return [python, "-m", run, *self.args]

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "args": list(self.args), "timeout": self.timeout,
                "retries": self.retries}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Kind:
        return cls(data["run"], tuple(data.get("args", ())), data.get("timeout"),
                   int(data.get("retries", 0)))


@dataclass(frozen=True)
class Workflow:
    """A grammar and how to run each kind of task in it."""

    grammar: Grammar
    kinds: dict[str, Kind]
    path: Path
    functions: frozenset[str] = field(default=frozenset())

    def kind(self, name: str) -> Kind:
        found = self.kinds.get(name)
        if found is None:
            raise GrammarflowError(f"kind {name!r} has no command; known: {sorted(self.kinds)}")
        return found

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "grammar": self.grammar.to_json(),
                "kinds": {k: v.to_json() for k, v in sorted(self.kinds.items())}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workflow:
        return cls(Grammar.from_json(data["grammar"]),
                   {k: Kind.from_json(v) for k, v in data["kinds"].items()}, Path(data["path"]))


def load_module(path: Path) -> Any:
    name = f"grammarflow_workflow_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GrammarflowError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_workflow(path: str | Path) -> Workflow:
    """Import a workflow file; resolve every kind its grammar can create to a command.

    Open holes can create tasks of any kind: those resolve when they appear (a kind
    with no command then fails its task with that reason).
    """
    file = Path(path).resolve()
    if not file.is_file():
        raise GrammarflowError(f"workflow file {str(path)!r} does not exist")
    module = load_module(file)
    grammar = _grammar_of(module, path)
    given = getattr(module, "kinds", {}) or {}
    if not isinstance(given, dict):
        raise GrammarflowError(f"{str(path)!r}: 'kinds' must be a dict of kind -> command")
    kinds: dict[str, Kind] = {}
    for name, value in given.items():
        kinds[name] = value if isinstance(value, Kind) else Kind(str(value))
    # Every function of the file may run as a task of its name: kinds that first
    # appear at run time (through open holes) resolve the same way.
    functions = frozenset(n for n, v in vars(module).items()
                          if isinstance(v, types.FunctionType)
                          and v.__module__ == module.__name__ and not n.startswith("_"))
    for name in sorted(functions):
        kinds.setdefault(name, Kind(f":{name}"))
    for name in sorted(grammar.kinds()):
        if name not in kinds:
            raise GrammarError(
                f"kind {name!r} has no command: add it to 'kinds' in {file.name} "
                f"(e.g. kinds = {{{name!r}: 'tasks/{name.lower()}.py'}}) or define a "
                f"function {name}() in the workflow file")
    return Workflow(grammar, kinds, file, functions)


def load_grammar(path: str | Path) -> Grammar:
    """Only the grammar of a workflow file (for check, simulate, render)."""
    file = Path(path)
    if not file.is_file():
        raise GrammarflowError(f"workflow file {str(path)!r} does not exist")
    return _grammar_of(load_module(file), path)


def _grammar_of(module: Any, path: str | Path) -> Grammar:
    grammar = getattr(module, "grammar", None)
    if not isinstance(grammar, Grammar):
        found = type(grammar).__name__ if grammar is not None else "nothing"
        raise GrammarflowError(f"{str(path)!r} must define 'grammar = define(...)' "
                               f"(a grammarflow Grammar); found {found}")
    return grammar
