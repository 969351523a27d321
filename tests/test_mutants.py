"""bench/mutants.py stays in step with the source: every planted bug still applies."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "mutants.py"


def load() -> object:
    spec = importlib.util.spec_from_file_location("bench_mutants", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_mutants"] = module
    spec.loader.exec_module(module)
    return module


def test_every_mutant_snippet_occurs_exactly_once_in_the_source() -> None:
    mutants = load()
    assert mutants.check_snippets() == []  # type: ignore[attr-defined]


def test_the_mutants_cover_what_the_checker_must_refuse() -> None:
    mutants = load()
    listed = mutants.MUTANTS  # type: ignore[attr-defined]
    assert len(listed) >= 30
    assert len({m.id for m in listed}) == len(listed)
    categories = {m.category for m in listed}
    assert {"cycles", "started tasks", "kinds", "edges", "refused steps", "narrowing",
            "picture", "widening"} <= categories
