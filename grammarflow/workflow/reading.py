"""Reading a workflow file: import it (its ``grammar``, ``kinds`` and functions) into a
:class:`~grammarflow.workflow.definition.Workflow`, with the types each kind declares;
the commands are not checked (:mod:`grammarflow.workflow.checking` does). A file that
fails to import becomes a ``WorkflowFileError`` naming the line to look at.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import re
import sys
import tokenize
import traceback
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grammarflow.core.grammar import Grammar
from grammarflow.core.lint import open_types
from grammarflow.core.resolve import grammar_unresolved
from grammarflow.errors import (
    GrammarError,
    GrammarflowError,
    NotationError,
    WorkflowFileError,
)
from grammarflow.workflow import parameters
from grammarflow.workflow.annotations import (
    NOTHING,
    DataTypeError,
    KindTypes,
    function_types,
)
from grammarflow.workflow.definition import Kind, Workflow

__all__ = ["load_grammar", "load_module", "one_line", "read_workflow"]


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
    try:
        params = parameters.declared(getattr(module, "params", {}) or {}, str(path))
    except GrammarflowError as e:
        raise WorkflowFileError(str(path), _line_starting(file, "params"), str(e)) from None
    declared = _declared_types(module, grammar, kinds, functions, str(path), set(params))
    if declared:
        try:
            grammar = grammar.with_data({k: t.signature(k) for k, t in declared.items()})
        except (GrammarError, DataTypeError) as e:
            raise WorkflowFileError(str(path), None, one_line(str(e))
                                    if isinstance(e, DataTypeError) else str(e)) from None
    most = getattr(module, "max_parallel", None)
    if most is not None and (not isinstance(most, int) or isinstance(most, bool) or most < 1):
        raise WorkflowFileError(str(path), _line_starting(file, "max_parallel"),
                                f"max_parallel = {most!r}: how many tasks may run at once "
                                "is a whole number, at least 1")
    return Workflow(grammar, kinds, file, functions, declared, max_parallel=most,
                    params=params)


def _line_starting(file: Path, name: str) -> int | None:
    """The line of ``file`` that assigns ``name`` (None: none does)."""
    return next((n for n, text in enumerate(file.read_text().splitlines(), 1)
                 if text.startswith(name)), None)


def _declared_types(module: Any, grammar: Grammar, kinds: dict[str, Kind],
                    functions: frozenset[str], shown: str,
                    params: set[str]) -> dict[str, KindTypes]:
    """The types each kind declares: a function of the workflow file by its
    annotations (a parameter named as a run parameter is no input), a script or module
    by ``Kind(inputs=..., output=...)``. Only kinds the grammar makes (or names in
    ``kinds``), unless an open hole may make any."""
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
                types = function_types(getattr(module, kind.run[1:]), skip=len(kind.args),
                                       params=params)
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
        raise WorkflowFileError(file, e.lineno, one_line(e.msg)) from e
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
        return one_line(str(error))
    return one_line(f"{type(error).__name__}: {error}")


def _shown(filename: str, path: Path, shown: str | None) -> str:
    """A file as a person knows it: the workflow file as they named it, another file
    relative to the current directory when it is below it."""
    file = Path(filename).resolve()
    if shown is not None and file == path.resolve():
        return shown
    with contextlib.suppress(ValueError):
        return str(file.relative_to(Path.cwd()))
    return str(file)


def one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _grammar_of(module: Any, path: str | Path) -> Grammar:
    grammar = getattr(module, "grammar", None)
    if not isinstance(grammar, Grammar):
        found = type(grammar).__name__ if grammar is not None else "nothing"
        raise GrammarflowError(f"{str(path)!r} must define 'grammar = define(...)' "
                               f"(a grammarflow Grammar); found {found}")
    return grammar
