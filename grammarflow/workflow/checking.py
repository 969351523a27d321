"""Whether a workflow can run: every kind its grammar can create has a command that
can start (its script, module or function exists; read, never imported), and what
``grammarflow check`` reports beyond that (names that look like typos, what only a
run can tell).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.machinery
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from grammarflow.core.lint import near, open_kinds, open_types, typos
from grammarflow.errors import KindError
from grammarflow.workflow.definition import Kind, Workflow, either, no_command
from grammarflow.workflow.reading import one_line, read_workflow

__all__ = ["Findings", "check_workflow", "kind_problems", "load_workflow"]


@dataclass(frozen=True, slots=True)
class Findings:
    """What ``grammarflow check`` finds in a workflow file, beyond registration."""

    workflow: Workflow
    errors: tuple[str, ...]  # kinds with no command that starts: `run` refuses them
    warnings: tuple[str, ...]  # names that look like typos
    notes: tuple[str, ...]  # what cannot be checked before a run


def load_workflow(path: str | Path) -> Workflow:
    """Import a workflow file; resolve every kind its grammar can create to a command
    that can start (``KindError`` lists those that cannot).

    Open holes can create tasks of any kind: those resolve when they appear (a kind
    with no command then fails its task with that reason).
    """
    workflow = read_workflow(path)
    problems = kind_problems(workflow)
    if problems:
        raise KindError(problems)
    return workflow


def check_workflow(path: str | Path) -> Findings:
    """Everything ``load_workflow`` checks, reported rather than raised, plus the
    names that look like typos and what only a run can tell."""
    workflow = read_workflow(path)
    grammar = workflow.grammar
    notes: tuple[str, ...] = ()
    unlimited = [t for t in open_types(grammar) if open_kinds(grammar.types[t]) is None]
    if unlimited:
        notes = (f"kinds made at run time in open holes ({', '.join(unlimited)}) "
                 "cannot be checked before a run; one with no command fails its task "
                 "when it appears",)
    return Findings(workflow, kind_problems(workflow),
                    (*typos(grammar), *_unmade_kinds(workflow), *_open_kinds(workflow)),
                    notes)


def _open_kinds(workflow: Workflow) -> list[str]:
    """The kinds an open hole's ``only`` names that have no command that starts: a task
    of one would fail when it appears (a warning: the hole may never make one)."""
    grammar, sources = workflow.grammar, _Sources(workflow.path)
    found = []
    for name in open_types(grammar):
        for kind in sorted((open_kinds(grammar.types[name]) or set()) - grammar.kinds()):
            given = workflow.kinds.get(kind)
            problem = (no_command(kind, workflow.path.name) if given is None
                       else None if given.ask is not None or given.image is not None
                       else sources.problem(kind, given))
            if problem is not None:
                found.append(f"open hole type {name} may make {kind!r} tasks, and {problem}")
    return found


def kind_problems(workflow: Workflow) -> tuple[str, ...]:
    """Why each kind the grammar can create cannot run, one message a kind (none:
    every one has a command that can start)."""
    sources = _Sources(workflow.path)
    made = workflow.grammar.kinds()
    found = []
    for name in sorted(made):
        kind = workflow.kinds.get(name)
        problem = (_no_command_here(workflow, name, made) if kind is None
                   else None if kind.ask is not None or kind.image is not None
                   else sources.problem(name, kind))
        if problem is not None:
            found.append(problem)
    return tuple(found)


def _no_command_here(workflow: Workflow, kind: str, made: set[str]) -> str:
    """:func:`no_command`, and the command given for a kind no task is, when its name
    is ``kind`` misspelt."""
    given = [k for k in workflow.kinds if k not in made]
    said = no_command(kind, workflow.path.name)
    for meant in near(kind, given, most=1):
        where = (f"{workflow.path.name} defines a function {meant}()"
                 if workflow.kinds[meant].run == f":{meant}" and meant in workflow.functions
                 else f"'kinds' in {workflow.path.name} names {meant!r}")
        said += f"; {where}, which no task of the grammar is: did you mean {kind!r} there?"
    return said



def _unmade_kinds(workflow: Workflow) -> list[str]:
    """Names in ``kinds`` that the grammar never makes (only when nothing is open:
    an open hole may make any kind)."""
    made = workflow.grammar.kinds()
    if open_types(workflow.grammar):
        return []
    found = []
    for name in workflow.kinds:
        if name in made or name in workflow.functions:
            continue
        meant = near(name, made)
        hint = f": did you mean {either(meant)}?" if meant else ""
        found.append(f"'kinds' in {workflow.path.name} names {name!r}, a kind no task of "
                     f"the grammar has{hint}")
    return found


class _Sources:
    """Whether a kind's command can start: its script, module or function exists.
    Reads (never imports) each Python file once."""

    def __init__(self, workflow_file: Path) -> None:
        self.file = workflow_file
        self.base = workflow_file.parent
        self.names: dict[Path, set[str] | str] = {}

    def problem(self, name: str, kind: Kind) -> str | None:
        run = kind.run
        if ":" in run:
            file, func = run.rsplit(":", 1)
            return self._function_problem(name, run, file, func)
        if run.endswith(".py"):
            if (self.base / run).is_file():
                return None
            return (f"kind {name!r} runs {run!r}, which does not exist beside "
                    f"{self.file.name} (looked for {self.base / run})")
        return _module_problem(name, run, self.base)

    def _function_problem(self, name: str, run: str, file: str, func: str) -> str | None:
        path = self.base / file if file else self.file
        shown = file or self.file.name
        if not path.is_file():
            return (f"kind {name!r} runs {run!r}, but {shown} does not exist beside "
                    f"{self.file.name} (looked for {path})")
        names = self._top_level_names(path)
        if isinstance(names, str):
            return f"kind {name!r} runs {run!r}, but {shown} cannot be read: {names}"
        if func in names or "*" in names:
            return None
        return f"kind {name!r} runs {run!r}, but {shown} defines no {func!r}"

    def _top_level_names(self, path: Path) -> set[str] | str:
        """The names a file binds at its top level (``*`` for a star import), or why
        it cannot be parsed."""
        if path not in self.names:
            try:
                tree = ast.parse(path.read_bytes(), str(path))
            except (SyntaxError, ValueError, OSError) as e:
                self.names[path] = one_line(str(e))
            else:
                self.names[path] = _bound_names(tree.body)
        return self.names[path]


def _bound_names(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
        match node:
            case ast.FunctionDef(name=n) | ast.AsyncFunctionDef(name=n) | ast.ClassDef(name=n):
                names.add(n)
            case ast.Import(names=aliases) | ast.ImportFrom(names=aliases):
                names.update((a.asname or a.name).split(".")[0] for a in aliases)
            case ast.If() | ast.Try() | ast.With() | ast.For() | ast.While():
                names |= _bound_names([*node.body, *getattr(node, "orelse", []),
                                       *getattr(node, "finalbody", []),
                                       *(s for h in getattr(node, "handlers", [])
                                         for s in h.body)])
            case _:
                names.update(n.id for n in ast.walk(node)
                             if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return names


def _module_problem(name: str, module: str, base: Path) -> str | None:
    """Whether ``python -m module`` finds the module, run from ``base`` (searched
    without importing anything; a package needs its ``__main__``)."""
    parts = module.split(".")
    if not all(p.isidentifier() for p in parts):
        return (f"kind {name!r} runs {module!r}: not a script (*.py), a module "
                "(pkg.mod) or a function (file.py:function)")
    spec = importlib.machinery.PathFinder.find_spec(parts[0], [str(base)])
    if spec is None:
        with contextlib.suppress(ImportError, ValueError):  # ValueError: no __spec__
            spec = importlib.util.find_spec(parts[0])
    for part in parts[1:]:
        if spec is None or spec.submodule_search_locations is None:
            spec = None
            break
        spec = importlib.machinery.PathFinder.find_spec(
            f"{spec.name}.{part}", list(spec.submodule_search_locations))
    if spec is None:
        return (f"kind {name!r} runs module {module!r} (python -m), which is found "
                f"neither beside {base} nor on the interpreter's path")
    if spec.submodule_search_locations is not None and importlib.machinery.PathFinder.find_spec(
            f"{spec.name}.__main__", list(spec.submodule_search_locations)) is None:
        return f"kind {name!r} runs package {module!r} (python -m), which has no __main__.py"
    return None
