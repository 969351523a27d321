"""The SQLite journal: appends, atomic batches, versions, and replay from it."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import grammars

from grammarflow.derivation import Derivation
from grammarflow.status import fold
from grammarflow.steps import step_to_json
from grammarflow.store import MAX_PAGES_ENV, SCHEMA_VERSION, JournalWriteError, Store, StoreError
from grammarflow.testing import MessageRun, message_runs
from grammarflow.workflow import Workflow


def test_sequence_numbers_have_no_gaps_across_reopens(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.create_run({"path": "x"})
    store.append(run, "log", {"n": 1})
    store.append_many(run, [("log", {"n": 2}), ("log", {"n": 3})])
    store.close()
    again = Store(tmp_path / "db")
    assert again.append(run, "log", {"n": 4}) == 4
    assert [e.seq for e in again.entries(run)] == [1, 2, 3, 4]
    assert again.integrity() == "ok"


class FailingConnection:
    """Fails the n-th statement, as a full disk or a busy database would."""

    def __init__(self, db: sqlite3.Connection, fail_at: int) -> None:
        self.db, self.fail_at, self.count = db, fail_at, 0

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    def execute(self, sql: str, params: Any = ()) -> Any:
        if not sql.startswith(("BEGIN", "ROLLBACK")):
            self.count += 1
            if self.count == self.fail_at:
                raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, params)


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5])
def test_a_failed_write_leaves_nothing_half_written(tmp_path: Path, fail_at: int) -> None:
    store = Store(tmp_path / "db")
    run = store.create_run({"path": "x"})
    store.append(run, "log", {"before": True})
    real = store.db
    store.db = FailingConnection(real, fail_at)  # type: ignore[assignment]
    entries = [("step", {"i": i}) for i in range(3)]
    try:
        store.append_many(run, entries)
        wrote = True
    except JournalWriteError as e:
        assert str(tmp_path / "db") in str(e) and "disk is full" in str(e)
        wrote = False
    store.db = real
    seen = [e.data for e in store.entries(run)]
    if wrote:  # the failure came after the batch (the commit): all of it is there
        assert seen == [{"before": True}] + [{"i": i} for i in range(3)]
    else:
        assert seen == [{"before": True}]
    assert store.append(run, "log", {"after": True}) == len(seen) + 1  # no gap
    assert store.integrity() == "ok"


def test_another_schema_version_is_refused_with_both_versions(tmp_path: Path) -> None:
    Store(tmp_path / "db").close()
    db = sqlite3.connect(tmp_path / "db")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    expected = f"schema version 99; this grammarflow reads version {SCHEMA_VERSION}"
    with pytest.raises(StoreError, match=expected):
        Store(tmp_path / "db")


def test_a_database_killed_while_being_created_reads_as_empty(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "db").close()  # the file exists, the schema does not
    store = Store(tmp_path / "db", readonly=True)
    assert store.runs() == []
    with pytest.raises(StoreError, match="holds no runs yet"):
        store.run(1)
    Store(tmp_path / "db").create_run({"path": "x"})  # a writer initialises it
    assert [r.id for r in Store(tmp_path / "db", readonly=True).runs()] == [1]


@pytest.mark.parametrize("readonly", [False, True], ids=["writer", "reader"])
def test_a_file_of_random_bytes_is_refused_in_one_line_naming_it(
        tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "db"
    path.write_bytes(random.Random(1).randbytes(8192))
    with pytest.raises(StoreError) as caught:
        Store(path, readonly=readonly)
    assert str(caught.value).startswith(f"database {str(path)!r} is not a grammarflow database")
    assert "\n" not in str(caught.value)


def a_store_of(path: Path, entries: int) -> int:
    store = Store(path)
    run = store.create_run({"path": "x"})
    store.append_many(run, [("log", {"n": i, "pad": "p" * 200}) for i in range(entries)])
    store.close()
    return run


@pytest.mark.parametrize("readonly", [False, True], ids=["writer", "reader"])
def test_a_database_cut_in_half_is_refused_before_it_is_misread(
        tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "db"
    a_store_of(path, 2000)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(StoreError, match=f"database {str(path)!r} is truncated: its header "
                                         f"says {len(data) // 4096} pages of 4096 bytes"):
        Store(path, readonly=readonly)


def test_a_full_database_fails_a_write_whole_and_names_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db"
    run = a_store_of(path, 10)
    monkeypatch.setenv(MAX_PAGES_ENV, "1")  # no room to grow at all
    store = Store(path)
    with pytest.raises(JournalWriteError) as caught:
        store.append_many(run, [("log", {"big": "b" * 100_000})])
    assert str(caught.value) == (f"database {str(path)!r} cannot grow: the disk is full "
                                 "(SQLite: database or disk is full)")
    monkeypatch.delenv(MAX_PAGES_ENV)
    again = Store(path)  # space returns
    assert again.append(run, "log", {"after": True}) == 11  # nothing was half written
    assert again.integrity() == "ok"


def test_reading_a_missing_database_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database"):
        Store(tmp_path / "nope.db", readonly=True)


@given(st.data())
def test_folding_the_stored_journal_reproduces_the_live_state(data: st.DataObject) -> None:
    """Theorem 7 (replay) through the store: steps as JSON in SQLite, folded back."""
    import tempfile

    grammar = data.draw(grammars())
    run: MessageRun = data.draw(message_runs(grammar))
    live: Derivation = run.derivation
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "db")
        workflow = Workflow(grammar, {}, Path(tmp) / "wf.py")
        run_id = store.create_run(workflow.to_json())
        store.append_many(run_id, [("step", step_to_json(s)) for s in live.history])
        _, folded = fold(store, run_id)
        assert folded.graph == live.graph
        assert folded.grammar == live.grammar
        store.close()
