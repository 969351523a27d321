"""Journals written by earlier versions are read the same way by this one.

Each ``tests/fixtures/journal-v<N>.db`` was written by the version of grammarflow that
introduced schema N (``tests/fixtures/make_fixtures.py``), with what ``status`` said of
each run beside it. This version must fold every run of every fixture to exactly that:
a change that reads an old journal differently fails here (a later version may report
more fields, never different ones). A new schema version keeps these tests passing by
migrating old databases, and adds its own fixture.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from grammarflow.journal.state import fold_from_start, fold_run
from grammarflow.journal.status import fold, run_view
from grammarflow.journal.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DATABASES = sorted(FIXTURES.glob("journal-v*.db"))
VOLATILE = ("created", "updated", "orchestrator")


def as_reported(new: Any, old: Any) -> Any:
    """``new`` cut to the shape of ``old``: the fields an earlier version reported."""
    if isinstance(old, dict) and isinstance(new, dict):
        return {k: as_reported(new.get(k), v) for k, v in old.items()}
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [as_reported(n, o) for n, o in zip(new, old, strict=True)]
    return new


def test_there_is_a_fixture_of_the_current_schema() -> None:
    from grammarflow.journal.database import SCHEMA_VERSION

    assert FIXTURES / f"journal-v{SCHEMA_VERSION}.db" in DATABASES


@pytest.mark.parametrize("db", DATABASES, ids=lambda p: p.name)
def test_every_run_of_a_fixture_folds_to_what_its_version_reported(
        db: Path, tmp_path: Path) -> None:
    copy = tmp_path / db.name  # reading creates -shm beside it: never in the repository
    shutil.copy(db, copy)
    expected = json.loads(db.with_suffix(".expected.json").read_text())
    store = Store(copy, readonly=True)
    runs = store.runs()
    assert {str(r.id) for r in runs} == set(expected)
    statuses = set()
    for r in runs:
        view = {k: v for k, v in run_view(store, r.id).items() if k not in VOLATILE}
        reported = expected[str(r.id)]
        assert as_reported(view, reported) == reported, (
            f"run {r.id} of {db.name} reads differently")
        blamed = [x["task"] for x in reported["refused"]]  # the new fields, of old journals
        assert view["verdict"]["tasks"] == (
            blamed if r.status == "broken" else
            [t["id"] for t in reported["tasks"] if t["state"] == "failed"])
        assert [t["id"] for t in view["tasks"] if t["refused"]] == blamed
        _, d = fold(store, r.id)
        assert {t: s.value for t, s in d.graph.state.items()} == {
            t["id"]: t["state"] for t in view["tasks"]}
        whole = fold_from_start(store, r.id)  # the snapshots are only a cache
        assert whole.d.graph == d.graph and whole.d.grammar == d.grammar
        cached = fold_run(store, r.id)
        assert (whole.attempts, whole.failures, whole.refusal) == (
            cached.attempts, cached.failures, cached.refusal)
        statuses.add(view["status"])
    assert {"succeeded", "broken", "failed", "running"} <= statuses
    assert store.snapshot(1) is not None, "the fixture was written with snapshots"
