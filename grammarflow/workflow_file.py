"""Load a workflow definition: a Python file that builds a grammar with the public API.

The file defines a module-level ``grammar`` (a :class:`~grammarflow.grammar.Grammar`).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from grammarflow.errors import GrammarflowError
from grammarflow.grammar import Grammar


def load_grammar(path: str | Path) -> Grammar:
    """Import ``path`` and return its ``grammar``; the error says what was found instead."""
    file = Path(path)
    if not file.is_file():
        raise GrammarflowError(f"workflow file {str(file)!r} does not exist")
    name = f"grammarflow_workflow_{abs(hash(file.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise GrammarflowError(f"cannot import {str(file)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    grammar = getattr(module, "grammar", None)
    if not isinstance(grammar, Grammar):
        found = type(grammar).__name__ if grammar is not None else "nothing"
        raise GrammarflowError(f"{str(file)!r} must define 'grammar = define(...)' "
                               f"(a grammarflow Grammar); found {found}")
    return grammar
