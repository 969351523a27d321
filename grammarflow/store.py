"""The SQLite journal: runs, and for each run an append-only list of entries.

The state of a run is a fold over its journal (DESIGN §7): ``step`` entries are the
accepted steps of the core (productions applied, narrowings, task state changes),
replayed with :meth:`~grammarflow.grammar.Derivation.replay`; the other entries
(attempts, refusals, logs, status changes) are the record of what happened and why.

Durability (a deliberate choice, measured in bench/runtime.py): WAL with
``synchronous=NORMAL``. A committed transaction survives a crash of the orchestrator
(``kill -9``) whatever the setting; only a power loss may drop the last commits (never
corrupt). ``durable=True`` selects ``synchronous=FULL`` (an fsync per commit, ~0.35 ms
here). Plain ``sqlite3`` is used on the event loop's thread: a commit costs ~20 us,
where an ``aiosqlite`` await costs 200-400 us in thread hops.

Each ``append`` is one transaction; ``append_many`` writes several entries (a task's
accepted steps and its completion) atomically: all or none after a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from grammarflow.errors import GrammarflowError

SCHEMA_VERSION = 1
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    workflow TEXT NOT NULL,          -- JSON: path, grammar, kinds (frozen at start)
    status TEXT NOT NULL,            -- running | succeeded | failed | broken | interrupted
    reason TEXT,                     -- why it ended, in plain words
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    run INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,            -- 1, 2, 3, ... per run, no gaps
    at REAL NOT NULL,
    kind TEXT NOT NULL,              -- step | attempt | refused | log | status
    data TEXT NOT NULL,              -- JSON
    PRIMARY KEY (run, seq)
);
"""

#: Test hook: after this many journal appends (in this process), SIGKILL ourselves.
CRASH_ENV = "GRAMMARFLOW_TEST_CRASH_AFTER_APPENDS"
#: Test hook: a writer's database may grow to this many pages (``PRAGMA max_page_count``);
#: past it SQLite really fails with SQLITE_FULL, as on a full disk.
MAX_PAGES_ENV = "GRAMMARFLOW_TEST_MAX_PAGES"


class StoreError(GrammarflowError):
    """The database is missing, of another schema version, or holds no such run."""


@dataclass(frozen=True, slots=True)
class Entry:
    run: int
    seq: int
    at: float
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RunRow:
    id: int
    workflow: dict[str, Any]
    status: str
    reason: str | None
    created: float
    updated: float


class Store:
    """One SQLite file holding any number of runs.

    >>> import tempfile, os
    >>> s = Store(os.path.join(tempfile.mkdtemp(), "db.sqlite"))
    >>> run = s.create_run({"path": "wf.py"})
    >>> s.append(run, "log", {"msg": "hi"})
    1
    >>> [e.data for e in s.entries(run)]
    [{'msg': 'hi'}]
    """

    def __init__(self, path: str | Path, *, durable: bool = False, readonly: bool = False
                 ) -> None:
        self.path = Path(path)
        if readonly:
            if not self.path.exists():
                raise StoreError(f"no database at {str(self.path)!r}")
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                      isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self.db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
            pages = os.environ.get(MAX_PAGES_ENV)
            if pages:  # test hook (see MAX_PAGES_ENV)
                self.db.execute(f"PRAGMA max_page_count={int(pages)}")
        self._check_version()
        self._next_seq: dict[int, int] = {}
        self._appends = 0
        crash = os.environ.get(CRASH_ENV)
        self._crash_after = int(crash) if crash else None

    def close(self) -> None:
        self.db.close()

    def _migrate(self) -> None:
        with self._tx():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),))

    def _check_version(self) -> None:
        has_meta = self.db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if has_meta is None:
            # Created but never initialised (e.g. killed while creating it): no runs.
            self.empty = True
            return
        self.empty = False
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or int(row[0]) != SCHEMA_VERSION:
            found = None if row is None else row[0]
            raise StoreError(f"{str(self.path)!r} has schema version {found}; this "
                             f"grammarflow reads version {SCHEMA_VERSION}")

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            if exc_type is not None:
                self.db.execute("ROLLBACK")
                return
            try:
                self.db.execute("COMMIT")
            except BaseException:  # a failed commit (disk full, busy) must not linger
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                raise

    def _tx(self) -> Store._Tx:
        return Store._Tx(self.db)

    # ---------------------------------------------------------------- runs
    def create_run(self, workflow: dict[str, Any]) -> int:
        now = time.time()
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO runs (workflow, status, created, updated) "
                "VALUES (?, 'running', ?, ?)", (json.dumps(workflow), now, now))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def run(self, run_id: int) -> RunRow:
        if self.empty:
            raise StoreError(f"no run {run_id} in {str(self.path)!r}: it holds no runs yet")
        row = self.db.execute("SELECT id, workflow, status, reason, created, updated "
                              "FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id} in {str(self.path)!r}; "
                             "`grammarflow runs` lists them")
        return RunRow(row[0], json.loads(row[1]), row[2], row[3], row[4], row[5])

    def runs(self) -> list[RunRow]:
        if self.empty:
            return []
        rows = self.db.execute("SELECT id, workflow, status, reason, created, updated "
                               "FROM runs ORDER BY id").fetchall()
        return [RunRow(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    def set_status(self, run_id: int, status: str, reason: str | None = None) -> None:
        """Record the run's status (with a journal entry saying so), atomically."""
        def write() -> None:
            with self._tx():
                self.db.execute("UPDATE runs SET status=?, reason=?, updated=? WHERE id=?",
                                (status, reason, time.time(), run_id))
                self._insert(run_id, "status", {"status": status, "reason": reason})
        self._write(run_id, write)

    # ---------------------------------------------------------------- journal
    def append(self, run_id: int, kind: str, data: dict[str, Any]) -> int:
        # one statement: its own transaction
        return self._write(run_id, lambda: self._insert(run_id, kind, data))

    def append_many(self, run_id: int, entries: Sequence[tuple[str, dict[str, Any]]]
                    ) -> list[int]:
        """Several entries in one transaction: after a crash, all or none are there."""
        def write() -> list[int]:
            with self._tx():
                return [self._insert(run_id, kind, data) for kind, data in entries]
        return self._write(run_id, write)

    def _write(self, run_id: int, write: Callable[[], T]) -> T:
        """Do one write; if it fails nothing was written, so re-read the next seq."""
        try:
            result = write()
        except BaseException:
            self._next_seq.pop(run_id, None)
            raise
        self._count_append()
        return result

    def _insert(self, run_id: int, kind: str, data: dict[str, Any]) -> int:
        seq = self._next_seq.get(run_id)
        if seq is None:
            row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal WHERE run=?",
                                  (run_id,)).fetchone()
            seq = row[0] + 1
        self.db.execute("INSERT INTO journal VALUES (?, ?, ?, ?, ?)",
                        (run_id, seq, time.time(), kind, json.dumps(data)))
        self._next_seq[run_id] = seq + 1
        return seq

    def _count_append(self) -> None:
        self._appends += 1
        if self._crash_after is not None and self._appends >= self._crash_after:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)

    def entries(self, run_id: int, kinds: Sequence[str] | None = None,
                after: int = 0) -> Iterator[Entry]:
        query = "SELECT run, seq, at, kind, data FROM journal WHERE run=? AND seq>?"
        params: list[Any] = [run_id, after]
        if kinds:
            query += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        for r in self.db.execute(query + " ORDER BY seq", params):
            yield Entry(r[0], r[1], r[2], r[3], json.loads(r[4]))

    def integrity(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])
