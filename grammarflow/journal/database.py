"""The journal's SQLite file: opened only if it is grammarflow's, its schema and version,
one transaction, and SQLite's errors said in one line naming the file.

Which file each command opens, and how: docs/architecture.md, "The journal and the store".
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grammarflow.errors import GrammarflowError

SCHEMA_VERSION = 2  # 2: ids from the derivation tree; the leases table

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    workflow TEXT NOT NULL,          -- JSON: path, grammar, kinds (frozen at start)
    status TEXT NOT NULL,            -- running | succeeded | failed | broken | interrupted | error
    reason TEXT,                     -- why it ended, in plain words
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    run INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,            -- 1, 2, 3, ... per run, no gaps
    at REAL NOT NULL,
    kind TEXT NOT NULL,              -- step | attempt | refused | control | restart
                                     -- | upgrade | status | error
    data TEXT NOT NULL,              -- JSON
    PRIMARY KEY (run, seq)
);
-- the restarts of a run, found without reading its journal (a fold needs them first)
CREATE INDEX IF NOT EXISTS journal_restarts ON journal (run, seq) WHERE kind = 'restart';
-- its upgrades (a fold needs them too: each re-derives the run under a new version)
CREATE INDEX IF NOT EXISTS journal_upgrades ON journal (run, seq) WHERE kind = 'upgrade';
-- its refusals, for `status` (a database made before this index scans the journal)
CREATE INDEX IF NOT EXISTS journal_refused ON journal (run, seq) WHERE kind = 'refused';
CREATE TABLE IF NOT EXISTS snapshots (  -- caches of a run's state: derived, never the truth
    run INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,            -- the state is the fold of the journal up to seq
    data TEXT NOT NULL,              -- JSON: graph, grammar, attempts (grammarflow.journal.status)
    PRIMARY KEY (run, seq)
);
CREATE TABLE IF NOT EXISTS controls (  -- operations asked for by other processes
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run INTEGER NOT NULL REFERENCES runs(id),
    op TEXT NOT NULL,                -- pause | unpause | answer | restart | upgrade
    data TEXT NOT NULL,              -- JSON: who asked, and what
    at REAL NOT NULL,
    taken INTEGER,                   -- the journal entry that took it (NULL: not yet,
                                     -- 0: refused, the reason in reply, -1: withdrawn)
    reply TEXT                       -- why it was refused (or withdrawn)
);
CREATE TABLE IF NOT EXISTS progress (  -- what running tasks last reported: not the
    run INTEGER NOT NULL,               -- journal (a hint for the pages, never replayed)
    task TEXT NOT NULL,
    done REAL NOT NULL,
    total REAL,
    at REAL NOT NULL,
    PRIMARY KEY (run, task)
);
CREATE TABLE IF NOT EXISTS leases (  -- the orchestrator that owns a running run
    run INTEGER PRIMARY KEY REFERENCES runs(id),
    owner TEXT NOT NULL,             -- random token of that orchestrator
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    started TEXT NOT NULL,           -- boot id/start ticks of the pid ('' if unknown)
    heartbeat REAL NOT NULL          -- time.time() of its last sign of life
);
"""

#: Test hook: a writer's database may grow to this many pages (``PRAGMA max_page_count``);
#: past it SQLite really fails with SQLITE_FULL, as on a full disk.
MAX_PAGES_ENV = "GRAMMARFLOW_TEST_MAX_PAGES"


class StoreError(GrammarflowError):
    """The database is missing, unreadable, of another schema version, or holds no such
    run; the message is one line naming the file."""


class JournalWriteError(StoreError):
    """A write to the journal failed (disk full, read-only, locked, I/O error); nothing
    of it was written, so the journal stays a consistent prefix of the run."""


#: SQLite's error (``sqlite_errorname``, its prefix before ``_`` extensions) -> what it
#: means for the user and what to do.
_MEANING = {
    "SQLITE_NOTADB": "is not a grammarflow database (not an SQLite file)",
    "SQLITE_CORRUPT": "is damaged or truncated; restore it from a copy",
    "SQLITE_READONLY": "is read-only here; `runs`, `status`, `history` and `render` "
                       "still read it",
    "SQLITE_FULL": "cannot grow: the disk is full",
    "SQLITE_BUSY": "is locked by another process; try again when it is done",
    "SQLITE_LOCKED": "is locked by another connection; try again when it is done",
    "SQLITE_IOERR": "could not be read or written (an I/O error of the disk)",
    "SQLITE_CANTOPEN": "cannot be opened (check that its directory exists and is readable)",
    "SQLITE_PERM": "may not be accessed (permission denied)",
}


def describe_error(path: Path, error: sqlite3.Error) -> str:
    """One line: the file, what SQLite said, and what it means for the user."""
    name = getattr(error, "sqlite_errorname", "") or ""
    meaning = next((m for code, m in _MEANING.items()
                    if name == code or name.startswith(code + "_")), None)
    said = str(error).splitlines()[0] if str(error) else type(error).__name__
    if meaning is None:
        return f"database {str(path)!r}: {said}"
    return f"database {str(path)!r} {meaning} (SQLite: {said})"


@contextlib.contextmanager
def translated(path: Path, error: type[StoreError] = StoreError) -> Iterator[None]:
    """SQLite's errors inside the block as ``error`` (one line naming the file)."""
    try:
        yield
    except sqlite3.Error as e:
        raise error(describe_error(path, e)) from e


def _has_version(db: sqlite3.Connection) -> bool:
    """The database's ``meta`` table keeps a schema version (grammarflow's mark)."""
    try:
        return db.execute("SELECT 1 FROM meta WHERE key='schema_version'").fetchone() \
            is not None
    except sqlite3.OperationalError:  # a look-alike meta table, without those columns
        return False


def refuse_truncated(path: Path) -> None:
    """A file shorter than its SQLite header says is truncated. SQLite itself notices
    only when it reads a missing page, so `runs` would list a half file as if whole.

    The header's page count is valid when its "version valid for" field equals its
    change counter (https://sqlite.org/fileformat.html#in_header_database_size). While
    a ``-wal`` file holds changes the main file may lag behind it: no check then.
    """
    try:
        with open(path, "rb") as f:
            header = f.read(100)
        size = path.stat().st_size
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return
    except OSError:
        return  # missing or unreadable: SQLite's own error says which
    if len(header) < 100 or not header.startswith(b"SQLite format 3\0"):
        return  # empty (a new database) or not SQLite at all: SQLite says so
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    valid = header[24:28] == header[92:96] and pages > 0
    if valid and size < pages * page_size:
        raise StoreError(f"database {str(path)!r} is truncated: its header says "
                         f"{pages} pages of {page_size} bytes, the file holds {size} "
                         "bytes; restore it from a copy")


@dataclass(slots=True)
class Handle:
    """A store's connection, shared by the store's parts: one that replaces it (a test,
    to make writes fail) replaces it for all of them."""

    db: sqlite3.Connection


class Transaction:
    """``BEGIN IMMEDIATE`` on entry; ``COMMIT`` at the end of the block, or ``ROLLBACK``
    if it raised."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            # SQLite may have rolled back already (disk full, I/O error): then a
            # ROLLBACK fails and would hide the error that matters.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            return
        self.commit(self.db)

    @staticmethod
    def commit(db: sqlite3.Connection) -> None:
        try:
            db.execute("COMMIT")
        except BaseException:  # a failed commit (disk full, busy) must not linger
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise


# ---------------------------------------------------------------- opening
def open_writable(path: Path, durable: bool) -> sqlite3.Connection:
    """The journal at ``path``, created (with its directory) where there is none."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the directory of database {str(path)!r}: "
                         f"{e.strerror or e}") from e
    with translated(path):
        db = sqlite3.connect(path, isolation_level=None)
    refuse_foreign(db, path)
    return _as_journal(db, path, durable)


def open_existing(path: Path, durable: bool) -> sqlite3.Connection:
    """The journal at ``path``, to be written, if one is there (``Store.existing``)."""
    if not path.is_file():
        raise StoreError(f"no database at {str(path)!r}: `grammarflow run` creates "
                         "it; give another with --db")
    with translated(path):  # mode=rw: SQLite creates no file
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True,
                             isolation_level=None)
    if refuse_foreign(db, path) == "blank":
        db.close()
        raise StoreError(f"no run in {str(path)!r}: it holds no runs yet (an empty "
                         "database); `grammarflow run` makes one")
    return _as_journal(db, path, durable)


def refuse_foreign(db: sqlite3.Connection, path: Path) -> Literal["journal", "blank"]:
    """What the file holds, read before anything is written to it: a journal, or
    nothing ("blank": no table at all, a new file or one a `run` killed while
    creating it left). Another program's database — tables, but no grammarflow
    schema version — is refused (the connection closed), untouched."""
    try:
        with translated(path):
            db.execute("PRAGMA busy_timeout=5000")
            tables = sorted(r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table'"))
            if not tables:
                return "blank"
            if "meta" in tables and _has_version(db):
                return "journal"
    except BaseException:
        db.close()
        raise
    db.close()
    shown = ", ".join(tables[:5]) + (" ..." if len(tables) > 5 else "")
    raise StoreError(f"database {str(path)!r} is not a grammarflow journal: it holds "
                     f"tables ({shown}) but no grammarflow schema version, and is left "
                     "as it was; give another file with --db")


def _as_journal(db: sqlite3.Connection, path: Path, durable: bool) -> sqlite3.Connection:
    """Open a journal (or a blank file, made one) to be written: WAL, the schema."""
    try:
        with translated(path):
            check_version(db, path)  # another version: refused before anything is written
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        with translated(path, JournalWriteError):
            _migrate(db)
    except BaseException:
        db.close()
        raise
    pages = os.environ.get(MAX_PAGES_ENV)
    if pages:  # test hook (see MAX_PAGES_ENV)
        db.execute(f"PRAGMA max_page_count={int(pages)}")
    return db


def open_readonly(path: Path) -> sqlite3.Connection:
    """The journal at ``path``, to be read only (from a read-only copy too)."""
    if not path.exists():
        raise StoreError(f"no database at {str(path)!r}: `grammarflow run` creates "
                         "it; give another with --db")
    uri = path.absolute().as_uri()
    if _hot_journal(path) and os.access(path.parent, os.W_OK):
        # A writer died mid-transaction before the database was in WAL mode: only a
        # connection that may write can roll its journal back (as any SQLite reader
        # does); read-only, the half-written file would look like no database at all.
        with translated(path):
            sqlite3.connect(f"{uri}?mode=rw", uri=True).execute(
                "SELECT count(*) FROM sqlite_master").fetchone()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL
        return db
    except sqlite3.Error as e:
        name = getattr(e, "sqlite_errorname", "")
        if not name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
            raise StoreError(describe_error(path, e)) from e
    # A read-only copy: WAL would need to create the -shm file beside it.
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise StoreError(
            f"database {str(path)!r} cannot be read here: its write-ahead log "
            f"{str(wal)!r} holds changes, and SQLite needs to create "
            f"'{path.name}-shm' in a directory that is read-only here; copy the "
            "database with its -wal file to a writable directory and read it there")
    with translated(path):
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return db


def _hot_journal(path: Path) -> bool:
    journal = Path(f"{path}-journal")
    return journal.exists() and journal.stat().st_size > 0


# ---------------------------------------------------------------- schema
def _migrate(db: sqlite3.Connection) -> None:
    """Create the schema in a new database, or what a journal of this version made
    by an earlier grammarflow lacks (a table, an index)."""
    with Transaction(db):  # (check_version refused a journal of another version)
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                   (str(SCHEMA_VERSION),))


def check_version(db: sqlite3.Connection, path: Path) -> bool:
    """Whether the database is empty (created but never initialised: no runs); a
    journal of another schema version is refused (StoreError)."""
    has_meta = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if has_meta is None:
        # Created but never initialised (e.g. killed while creating it): no runs.
        return True
    row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None or int(row[0]) != SCHEMA_VERSION:
        found = None if row is None else row[0]
        why = (" (version 1 journals name holes by per-type serials, which ids from "
               "the derivation tree replaced: they cannot be replayed; finish those runs "
               "with grammarflow 0.1, or start them again)") if found == "1" else ""
        raise StoreError(f"{str(path)!r} has schema version {found}; this "
                         f"grammarflow reads version {SCHEMA_VERSION}{why}")
    return False


#: Where the journal is unless a command or a call says: ``$GRAMMARFLOW_DB``, else this.
DEFAULT_DB = ".grammarflow/grammarflow.db"
DB_ENV = "GRAMMARFLOW_DB"


def default_db() -> str:
    """The journal's place: ``$GRAMMARFLOW_DB`` if set, else ``.grammarflow/grammarflow.db``."""
    return os.environ.get(DB_ENV) or DEFAULT_DB


__all__ = ["DB_ENV", "DEFAULT_DB", "MAX_PAGES_ENV", "SCHEMA", "SCHEMA_VERSION", "Handle",
           "JournalWriteError", "StoreError", "Transaction", "check_version", "default_db",
           "describe_error", "open_existing",
           "open_readonly", "open_writable", "refuse_foreign", "refuse_truncated",
           "translated"]
