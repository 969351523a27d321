"""A workflow: a grammar (its promises) plus kinds (what each task kind runs).

A workflow file defines ``grammar`` and, optionally, ``kinds``; a kind's command is a
script, a module, a function of a file or a container, and a kind ``kinds`` does not
name runs the file's function of that name (docs/tutorial.md, "A workflow file").
"""

from __future__ import annotations

import ast
import contextlib
import importlib.machinery
import importlib.util
import io
import re
import sys
import tokenize
import traceback
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grammarflow.core.grammar import Grammar
from grammarflow.core.lint import near, open_types, typos
from grammarflow.core.resolve import grammar_unresolved
from grammarflow.errors import (
    BrokenPromise,
    GrammarError,
    GrammarflowError,
    KindError,
    NotationError,
    Why,
    WorkflowFileError,
)
from grammarflow.workflow.annotations import (
    NOTHING,
    DataTypeError,
    KindTypes,
    Validator,
    function_types,
)
from grammarflow.workflow.containers import Container

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
                **({} if self.zygote else {"zygote": False}),
                **({"container": c.to_json()} if (c := self.container) is not None else {})}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Kind:
        return cls(data["run"], tuple(data.get("args", ())), data.get("timeout"),
                   int(data.get("retries", 0)), ask=data.get("ask"),
                   zygote=bool(data.get("zygote", True)), **data.get("container", {}))


@dataclass(frozen=True)
class Workflow:
    """A grammar and how to run each kind of task in it (and, when read from its
    file, the Python types each kind declares: ``types``, to validate outputs)."""

    grammar: Grammar
    kinds: dict[str, Kind]
    path: Path
    functions: frozenset[str] = field(default=frozenset())
    types: dict[str, KindTypes] = field(default_factory=dict, compare=False)
    _validators: dict[str, Validator] = field(default_factory=dict, compare=False,
                                              repr=False)

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
        return Workflow(self.grammar, self.kinds, self.path, self.functions,
                        dict(other.types))

    def kind(self, name: str) -> Kind:
        found = self.kinds.get(name)
        if found is None:
            meant = near(name, self.kinds)
            hint = f"; did you mean kind {_either(meant)}, which has one?" if meant else ""
            raise GrammarflowError(no_command(name, self.path.name) + hint)
        return found

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "grammar": self.grammar.to_json(),
                "kinds": {k: v.to_json() for k, v in sorted(self.kinds.items())}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Workflow:
        return cls(Grammar.from_json(data["grammar"], checked=False),  # checked when it ran
                   {k: Kind.from_json(v) for k, v in data["kinds"].items()}, Path(data["path"]))


def no_command(kind: str, workflow_name: str) -> str:
    """Why a kind that neither ``kinds`` nor a function of the workflow file names
    cannot run (the same words before a run and when it first appears in one)."""
    return (f"kind {kind!r} has no command: add it to 'kinds' in {workflow_name} "
            f"(e.g. kinds = {{{kind!r}: 'tasks/{kind.lower()}.py'}}) or define a "
            f"function {kind}() in the workflow file")


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
    if open_types(grammar):
        notes = (f"kinds made at run time in open holes ({', '.join(open_types(grammar))}) "
                 "cannot be checked before a run; one with no command fails its task "
                 "when it appears",)
    return Findings(workflow, kind_problems(workflow),
                    (*typos(grammar), *_unmade_kinds(workflow)), notes)


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


def _either(names: list[str]) -> str:
    return " or ".join(repr(n) for n in names)


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
        hint = f": did you mean {_either(meant)}?" if meant else ""
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
                self.names[path] = _one_line(str(e))
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


def read_workflow(path: str | Path) -> Workflow:
    """Import a workflow file: its grammar and the command of each kind it names
    (``kinds``, then its functions); the commands are not checked."""
    file = Path(path).resolve()
    if not file.is_file():
        raise GrammarflowError(f"workflow file {str(path)!r} does not exist")
    module = load_module(file, str(path))
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
    unknown = grammar_unresolved(grammar, kinds)  # now every kind a run can make is known
    if unknown is not None:
        raise WorkflowFileError(str(path), _line_naming(file, unknown), unknown)
    declared = _declared_types(module, grammar, kinds, functions, str(path))
    if declared:
        try:
            grammar = grammar.with_data({k: t.signature(k) for k, t in declared.items()})
        except (GrammarError, DataTypeError) as e:
            raise WorkflowFileError(str(path), None, _one_line(str(e))
                                    if isinstance(e, DataTypeError) else str(e)) from None
    return Workflow(grammar, kinds, file, functions, declared)


def _declared_types(module: Any, grammar: Grammar, kinds: dict[str, Kind],
                    functions: frozenset[str], shown: str) -> dict[str, KindTypes]:
    """The types each kind declares: a function of the workflow file by its
    annotations, a script or module by ``Kind(inputs=..., output=...)``. Only kinds
    the grammar makes (or names in ``kinds``), unless an open hole may make any."""
    wanted = grammar.kinds() | {k for k, v in kinds.items() if v.inputs is not None
                                or v.output is not NOTHING}
    everything = bool(open_types(grammar))
    found: dict[str, KindTypes] = {}
    for name, kind in kinds.items():
        if name not in wanted and not everything:
            continue
        try:
            types: KindTypes | None = None
            if kind.inputs is not None or kind.output is not NOTHING:
                types = KindTypes(dict(kind.inputs or {}), kind.output)
            elif kind.run.startswith(":") and kind.run[1:] in functions:
                types = function_types(getattr(module, kind.run[1:]), skip=len(kind.args))
            if types is None:
                continue
            types.signature(name)  # every type has a schema
            found[name] = types
        except DataTypeError as e:
            if name in wanted:
                raise WorkflowFileError(shown, _line_of(module, kind), str(e)) from None
            found.pop(name, None)  # a helper function, not a task: left untyped
    return found


def _line_of(module: Any, kind: Kind) -> int | None:
    func = getattr(module, kind.run[1:], None) if kind.run.startswith(":") else None
    code = getattr(func, "__code__", None)
    return code.co_firstlineno if code is not None else None


def load_grammar(path: str | Path) -> Grammar:
    """Only the grammar of a workflow file (for simulate, render)."""
    file = Path(path)
    if not file.is_file():
        raise GrammarflowError(f"workflow file {str(path)!r} does not exist")
    return _grammar_of(load_module(file, str(path)), path)


def load_module(path: Path, shown: str | None = None) -> Any:
    """Import a Python file. A syntax error or an exception while it runs becomes a
    ``WorkflowFileError`` naming the file (as ``shown``) and the line to look at."""
    name = f"grammarflow_workflow_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise GrammarflowError(f"cannot import {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        if not (e.filename and Path(e.filename).is_file()):  # eval() of a string, ...
            raise _located(e, path, shown or str(path)) from e
        file = _shown(e.filename, path, shown)
        raise WorkflowFileError(file, e.lineno, _one_line(e.msg)) from e
    except (Exception, SystemExit) as e:
        raise _located(e, path, shown or str(path)) from e
    return module


def _located(error: BaseException, path: Path, shown: str) -> WorkflowFileError:
    """The line of the workflow file that was running when ``error`` was raised, and
    the reason in one line (naming the user's other file where it was raised)."""
    frames = traceback.extract_tb(error.__traceback__)
    own = path.resolve()
    running = next((f for f in reversed(frames) if Path(f.filename).resolve() == own), None)
    line = running.lineno if running is not None else None
    if isinstance(error, NotationError) and running is not None:
        line = _line_written(own, running, error.source, error.offset) or line
    if isinstance(error, SystemExit):
        reason = f"the workflow file called sys.exit({error.code!r}) while being imported"
    else:
        reason = _reason(error)
    deeper = next((f for f in reversed(frames)
                   if _users(Path(f.filename).resolve(), own.parent)), None)
    if deeper is not None and Path(deeper.filename).resolve() != own:
        reason += f" (in {_shown(deeper.filename, path, shown)}, line {deeper.lineno})"
    return WorkflowFileError(shown, line, reason)


def _line_written(file: Path, running: traceback.FrameSummary, source: str, offset: int
                  ) -> int | None:
    """The line of ``file`` on which character ``offset`` of ``source`` is written, when
    ``source`` is a string literal of the file (adjacent literals joined) — one the call
    ``running`` spans first (``define(`` and its arguments, over many lines), else
    anywhere (a text named by a variable); None if the text was built some other way."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(file.read_text()).readline))
    except (OSError, SyntaxError, tokenize.TokenError, UnicodeDecodeError):
        return None
    first, last = running.lineno or 0, running.end_lineno or running.lineno or 0
    literals = [lit for lit in _string_literals(tokens) if lit.value == source]
    inside = [lit for lit in literals if first <= lit.pieces[0][1].start[0] <= last]
    return next((lit.line_of(offset) for lit in inside or literals), None)


def _line_naming(file: Path, why: str) -> int | None:
    """The line of ``file`` on which a constraint that ``why`` refuses (``... constraint
    'only Wrok' names 'Wrok', ...``) writes the name, in a string literal with a
    ``where`` (a production's constraints) if one has it; None if none is found."""
    named = re.search(r"names '([^']+)'", why)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(file.read_text()).readline))
    except (OSError, SyntaxError, tokenize.TokenError, UnicodeDecodeError):
        return None
    if named is None:
        return None
    word = re.compile(rf"(?<![\w.]){re.escape(named.group(1))}(?![\w.])")
    found = [(lit, m.start()) for lit in _string_literals(tokens)
             for m in [word.search(lit.value)] if m is not None]
    found.sort(key=lambda f: "where" not in f[0].value)
    return found[0][0].line_of(found[0][1]) if found else None


@dataclass(frozen=True, slots=True)
class _Literal:
    """A string written in a file: adjacent literals (``"a" "b"``, over lines) joined."""

    value: str
    pieces: tuple[tuple[str, tokenize.TokenInfo], ...]  # each literal's value and token

    def line_of(self, offset: int) -> int:
        """The line on which character ``offset`` of the value is written (a literal
        over several lines counts its newlines; an escape ``\\n`` would miscount)."""
        *before, last = self.pieces
        for value, token in before:
            if offset < len(value):
                return _line_in(value, token, offset)
            offset -= len(value)
        return _line_in(*last, offset)


def _line_in(value: str, token: tokenize.TokenInfo, offset: int) -> int:
    if token.end[0] == token.start[0]:
        return token.start[0]
    return token.start[0] + value[:offset].count("\n")


def _string_literals(tokens: list[tokenize.TokenInfo]) -> Iterator[_Literal]:
    """Every string literal of a file's tokens, adjacent ones joined; f-strings and
    bytes, whose value is not in the text, end a literal and are left out."""
    pieces: list[tuple[str, tokenize.TokenInfo]] = []
    for token in tokens:  # the last is ENDMARKER: no literal is left in pieces
        if token.type in (tokenize.NL, tokenize.COMMENT):
            continue
        value = _literal_value(token)
        if value is not None:
            pieces.append((value, token))
            continue
        if pieces:
            yield _Literal("".join(v for v, _ in pieces), tuple(pieces))
        pieces = []


def _literal_value(token: tokenize.TokenInfo) -> str | None:
    if token.type != tokenize.STRING:
        return None
    try:
        value = ast.literal_eval(token.string)
    except (ValueError, SyntaxError):  # an f-string: built when the file ran
        return None
    return value if isinstance(value, str) else None


def _users(file: Path, project: Path) -> bool:
    """Whether ``file`` is one of the user's own (below the workflow's directory and
    neither grammarflow's nor an installed library's)."""
    import sysconfig  # only when a workflow file fails: `run` starts without it

    libraries = [Path(__file__).resolve().parent,
                 *(Path(p) for p in {sysconfig.get_path(n) for n in ("stdlib", "purelib")})]
    # Code made at run time names no file ('<string>': a dataclass's __init__), and
    # resolved it would look like one in the current directory.
    return file.is_file() and file.is_relative_to(project) and \
        not any(file.is_relative_to(p) for p in libraries)


def _reason(error: BaseException) -> str:
    if isinstance(error, NotationError):
        return f"expected {error.expected} at column {error.position + 1} of {error.text!r}"
    if isinstance(error, GrammarflowError):
        return _one_line(str(error))
    return _one_line(f"{type(error).__name__}: {error}")


def _shown(filename: str, path: Path, shown: str | None) -> str:
    """A file as a person knows it: the workflow file as they named it, another file
    relative to the current directory when it is below it."""
    file = Path(filename).resolve()
    if shown is not None and file == path.resolve():
        return shown
    with contextlib.suppress(ValueError):
        return str(file.relative_to(Path.cwd()))
    return str(file)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _grammar_of(module: Any, path: str | Path) -> Grammar:
    grammar = getattr(module, "grammar", None)
    if not isinstance(grammar, Grammar):
        found = type(grammar).__name__ if grammar is not None else "nothing"
        raise GrammarflowError(f"{str(path)!r} must define 'grammar = define(...)' "
                               f"(a grammarflow Grammar); found {found}")
    return grammar
