"""The SQLite journal: runs, and for each run an append-only list of entries.

Also the run's lease (one orchestrator per run, fencing every write), the ``controls``
table and the snapshots. Durability, transactions, the lease, and why plain ``sqlite3``:
docs/architecture.md, "The journal and the store".
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from grammarflow.errors import GrammarflowError
from grammarflow.journal.entries import JournalEntry, StatusChanged, decode, encode

SCHEMA_VERSION = 2  # 2: ids from the derivation tree; the leases table
T = TypeVar("T")

#: Seconds without a heartbeat after which an owner on another host counts as dead.
LEASE_EXPIRY = 60.0
#: How often a running orchestrator refreshes its lease's heartbeat.
HEARTBEAT_EVERY = 5.0

_SCHEMA = """
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
                                     -- | status | error
    data TEXT NOT NULL,              -- JSON
    PRIMARY KEY (run, seq)
);
-- the restarts of a run, found without reading its journal (a fold needs them first)
CREATE INDEX IF NOT EXISTS journal_restarts ON journal (run, seq) WHERE kind = 'restart';
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
    op TEXT NOT NULL,                -- pause | unpause | answer | restart
    data TEXT NOT NULL,              -- JSON: who asked, and what
    at REAL NOT NULL,
    taken INTEGER,                   -- the journal entry that took it (NULL: not yet,
                                     -- 0: refused, the reason in reply, -1: withdrawn)
    reply TEXT                       -- why it was refused (or withdrawn)
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

#: The statuses a run keeps (a restart of a succeeded one, the one operation it takes,
#: opens it again).
FINAL = ("succeeded", "broken")

#: ``controls.taken`` of a request withdrawn before anyone took it: the orchestrator it
#: was asked of ended, died or gave the lease up first (its asker, if it still waits,
#: decides again against the run as it is then), or its asker gave up waiting.
WITHDRAWN = -1

#: Test hook: after this many journal appends (in this process), SIGKILL ourselves.
CRASH_ENV = "GRAMMARFLOW_TEST_CRASH_AFTER_APPENDS"

#: Test hook: journal writes of this process fail (as with an I/O error) — the n-th one
#: ("n"), or the n-th and every later one ("n+": the disk stays broken).
FAIL_WRITES_ENV = "GRAMMARFLOW_TEST_FAIL_WRITES"

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


def _describe_error(path: Path, error: sqlite3.Error) -> str:
    """One line: the file, what SQLite said, and what it means for the user."""
    name = getattr(error, "sqlite_errorname", "") or ""
    meaning = next((m for code, m in _MEANING.items()
                    if name == code or name.startswith(code + "_")), None)
    said = str(error).splitlines()[0] if str(error) else type(error).__name__
    if meaning is None:
        return f"database {str(path)!r}: {said}"
    return f"database {str(path)!r} {meaning} (SQLite: {said})"


def _has_version(db: sqlite3.Connection) -> bool:
    """The database's ``meta`` table keeps a schema version (grammarflow's mark)."""
    try:
        return db.execute("SELECT 1 FROM meta WHERE key='schema_version'").fetchone() \
            is not None
    except sqlite3.OperationalError:  # a look-alike meta table, without those columns
        return False


def _refuse_truncated(path: Path) -> None:
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


@contextlib.contextmanager
def _translated(path: Path, error: type[StoreError] = StoreError) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as e:
        raise error(_describe_error(path, e)) from e


class LeaseHeld(StoreError):
    """Another orchestrator, alive, owns the run."""

    def __init__(self, run_id: int, lease: Lease) -> None:
        super().__init__(
            f"run {run_id} is being run by another orchestrator: {lease.describe()}. "
            f"Wait for it to end, or stop it (kill {lease.holder.pid} on "
            f"{lease.holder.host}), then `grammarflow resume {run_id}`")
        self.lease = lease


class LeaseLost(StoreError):
    """The run's lease was taken from this orchestrator: it may write nothing more."""

    def __init__(self, run_id: int, lease: Lease | None) -> None:
        now = "nobody holds it now" if lease is None else f"it is {lease.describe()}"
        super().__init__(f"run {run_id} is no longer this orchestrator's: its lease was "
                         f"taken ({now}); the journal refuses this orchestrator's writes")
        self.lease = lease


@dataclass(frozen=True, slots=True)
class Holder:
    """An orchestrator process, as a lease names it.

    >>> me = Holder.this_process()
    >>> me.pid == os.getpid() and me.alive()
    True
    """

    token: str  # random: tells apart two orchestrators of one process
    pid: int
    host: str
    started: str  # process_started(pid) when the lease was taken; '' if unknown

    @classmethod
    def this_process(cls) -> Holder:
        pid = os.getpid()
        return cls(secrets.token_hex(8), pid, socket.gethostname(),
                   process_started(pid) or "")

    def alive(self) -> bool:
        """On this host: the very process (not a reused pid) still runs."""
        now = process_started(self.pid)
        return now is not None and (not self.started or now == self.started)


@dataclass(frozen=True, slots=True)
class Lease:
    run: int
    holder: Holder
    heartbeat: float

    def alive(self, now: float | None = None) -> bool:
        """False only if the owner is provably dead (docs/architecture.md, "The
        journal and the store")."""
        if self.holder.host != socket.gethostname():
            return (time.time() if now is None else now) - self.heartbeat < LEASE_EXPIRY
        return self.holder.alive()

    def describe(self, now: float | None = None) -> str:
        age = (time.time() if now is None else now) - self.heartbeat
        return (f"pid {self.holder.pid} on {self.holder.host}, "
                f"heartbeat {age:.1f} s ago")


def process_started(pid: int) -> str | None:
    """Who ``pid`` is: "<boot id>/<start time in clock ticks>", or None if no process
    (or only a zombie) has that pid. Where /proc is missing: "" if the pid exists."""
    if not _HAS_PROC:
        return _exists(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat.rsplit(b")", 1)[1].split()  # the name, in parentheses, may hold spaces
    if fields[0] in (b"Z", b"X"):
        return None
    return f"{_boot_id()}/{fields[19].decode()}"


def _exists(pid: int) -> str | None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return ""
    return ""


_HAS_PROC = os.path.exists("/proc/self/stat")


@functools.cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(slots=True)
class _Batch:
    """A :meth:`Store.batch` under way: its run, writes done, the first that failed."""

    run: int
    begun: bool = False  # its transaction (at its first write)
    writes: int = 0
    failure: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry as the journal holds it: its number, time, and encoding."""

    run: int
    seq: int
    at: float
    kind: str
    data: dict[str, Any]

    @property
    def record(self) -> JournalEntry:
        """What it records (:mod:`grammarflow.journal.entries`)."""
        return decode(self.kind, self.data, self.seq)


def _encoded(entry: JournalEntry) -> tuple[str, str]:
    kind, data = encode(entry)
    return kind, json.dumps(data)


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
    >>> s.append(run, StatusChanged("paused", "by hand"))
    1
    >>> [e.record for e in s.entries(run)]
    [StatusChanged(status='paused', reason='by hand')]
    """

    def __init__(self, path: str | Path, *, durable: bool = False, readonly: bool = False
                 ) -> None:
        self._setup(path)
        if readonly:
            self.db = self._open_readonly()
            self._refuse_foreign(self.db)
        else:
            self.db = self._open_writable(durable)
        self._opened()

    @classmethod
    def existing(cls, path: str | Path, *, durable: bool = False) -> Store:
        """A journal that exists, opened to be written: nothing is created, and nothing
        written — not even the switch to WAL — before the file is known to be
        grammarflow's (its ``meta`` table keeps a schema version). A missing file, an
        empty one or another program's database is refused (StoreError) and left as it
        was. Every command but `run` opens its database so."""
        store = cls.__new__(cls)
        store._setup(path)
        store.db = store._open_existing(durable)
        store._opened()
        return store

    def _setup(self, path: str | Path) -> None:
        self.path = Path(path)
        self._batch: _Batch | None = None  # a group commit under way (batch())
        _refuse_truncated(self.path)

    def _opened(self) -> None:
        with self._reading():
            self._check_version()
        self._next_seq: dict[int, int] = {}
        self._held: dict[int, Holder] = {}  # run -> the lease this store took for it
        self._appends = 0
        crash = os.environ.get(CRASH_ENV)
        self._crash_after = int(crash) if crash else None
        fail = os.environ.get(FAIL_WRITES_ENV, "")
        self._fail_from = int(fail.rstrip("+")) if fail else None
        self._fail_on = None if not fail or fail.endswith("+") else self._fail_from
        self._writes = 0

    def close(self) -> None:
        self.db.close()

    def _open_writable(self, durable: bool) -> sqlite3.Connection:
        """The journal at ``path``, created (with its directory) where there is none."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the directory of database {str(self.path)!r}: "
                             f"{e.strerror or e}") from e
        with _translated(self.path):
            db = sqlite3.connect(self.path, isolation_level=None)
        self._refuse_foreign(db)
        return self._as_journal(db, durable)

    def _open_existing(self, durable: bool) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreError(f"no database at {str(self.path)!r}: `grammarflow run` creates "
                             "it; give another with --db")
        with _translated(self.path):  # mode=rw: SQLite creates no file
            db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=rw", uri=True,
                                 isolation_level=None)
        if self._refuse_foreign(db) == "blank":
            db.close()
            raise StoreError(f"no run in {str(self.path)!r}: it holds no runs yet (an empty "
                             "database); `grammarflow run` makes one")
        return self._as_journal(db, durable)

    def _refuse_foreign(self, db: sqlite3.Connection) -> Literal["journal", "blank"]:
        """What the file holds, read before anything is written to it: a journal, or
        nothing ("blank": no table at all, a new file or one a `run` killed while
        creating it left). Another program's database — tables, but no grammarflow
        schema version — is refused (the connection closed), untouched."""
        try:
            with _translated(self.path):
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
        raise StoreError(f"database {str(self.path)!r} is not a grammarflow journal: it holds "
                         f"tables ({shown}) but no grammarflow schema version, and is left "
                         "as it was; give another file with --db")

    def _as_journal(self, db: sqlite3.Connection, durable: bool) -> sqlite3.Connection:
        """Open a journal (or a blank file, made one) to be written: WAL, the schema."""
        self.db = db
        try:
            with _translated(self.path):
                self._check_version()  # another version: refused before anything is written
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            with _translated(self.path, JournalWriteError):
                self._migrate()
        except BaseException:
            db.close()
            raise
        pages = os.environ.get(MAX_PAGES_ENV)
        if pages:  # test hook (see MAX_PAGES_ENV)
            db.execute(f"PRAGMA max_page_count={int(pages)}")
        return db

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise StoreError(f"no database at {str(self.path)!r}: `grammarflow run` creates "
                             "it; give another with --db")
        uri = self.path.absolute().as_uri()
        if self._hot_journal() and os.access(self.path.parent, os.W_OK):
            # A writer died mid-transaction before the database was in WAL mode: only a
            # connection that may write can roll its journal back (as any SQLite reader
            # does); read-only, the half-written file would look like no database at all.
            with _translated(self.path):
                sqlite3.connect(f"{uri}?mode=rw", uri=True).execute(
                    "SELECT count(*) FROM sqlite_master").fetchone()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens the WAL
            return db
        except sqlite3.Error as e:
            name = getattr(e, "sqlite_errorname", "")
            if not name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
                raise StoreError(_describe_error(self.path, e)) from e
        # A read-only copy: WAL would need to create the -shm file beside it.
        wal = Path(f"{self.path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreError(
                f"database {str(self.path)!r} cannot be read here: its write-ahead log "
                f"{str(wal)!r} holds changes, and SQLite needs to create "
                f"'{self.path.name}-shm' in a directory that is read-only here; copy the "
                "database with its -wal file to a writable directory and read it there")
        with _translated(self.path):
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db

    def _hot_journal(self) -> bool:
        journal = Path(f"{self.path}-journal")
        return journal.exists() and journal.stat().st_size > 0

    def _reading(self) -> AbstractContextManager[None]:
        """SQLite errors of a read as a StoreError naming the file."""
        return _translated(self.path)

    def _migrate(self) -> None:
        """Create the schema in a new database, or what a journal of this version made
        by an earlier grammarflow lacks (a table, an index)."""
        with self._tx():  # (_check_version refused a journal of another version)
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
            why = (" (version 1 journals name holes by per-type serials, which ids from "
                   "the derivation tree replaced: they cannot be replayed; finish those runs "
                   "with grammarflow 0.1, or start them again)") if found == "1" else ""
            raise StoreError(f"{str(self.path)!r} has schema version {found}; this "
                             f"grammarflow reads version {SCHEMA_VERSION}{why}")

    class _Tx:
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

    def _tx(self) -> Store._Tx:
        if self._batch is not None and self._batch.begun:  # a bug of ours, said as one
            raise RuntimeError("a transaction of its own asked for inside a batch of run "
                               f"{self._batch.run} (only that run's writes may join it)")
        return Store._Tx(self.db)

    # ---------------------------------------------------------------- runs
    def create_run(self, workflow: dict[str, Any]) -> int:
        """A run without a lease (orchestrators use :meth:`create_owned_run`)."""
        with _translated(self.path, JournalWriteError), self._tx():
            return self._insert_run(workflow, time.time())

    def _insert_run(self, workflow: dict[str, Any], now: float) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (workflow, status, created, updated) "
            "VALUES (?, 'running', ?, ?)", (json.dumps(workflow), now, now))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def run(self, run_id: int, *, start: bool = True) -> RunRow:
        """The run's row; ``start=False``: its workflow without the start graph (which
        a 100k-task static workflow makes megabytes long), for what needs only its
        path, kinds or hole types."""
        if self.empty:
            raise StoreError(f"no run {run_id} in {str(self.path)!r}: it holds no runs yet")
        with self._reading():
            row = self.db.execute(f"SELECT id, {self._workflow_column(start)}, status, "
                                  "reason, created, updated FROM runs WHERE id=?",
                                  (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"no run {run_id} in {str(self.path)!r}; "
                             "`grammarflow runs` lists them")
        return RunRow(row[0], json.loads(row[1]), row[2], row[3], row[4], row[5])

    def runs(self) -> list[RunRow]:
        """Every run's row, its workflow without the start graph (as ``run(start=False)``)."""
        if self.empty:
            return []
        with self._reading():
            rows = self.db.execute(f"SELECT id, {self._workflow_column(False)}, status, "
                                   "reason, created, updated FROM runs ORDER BY id").fetchall()
        return [RunRow(r[0], json.loads(r[1]), r[2], r[3], r[4], r[5]) for r in rows]

    @functools.cached_property
    def _has_json(self) -> bool:
        """SQLite's JSON functions are built in (a library built without them: no)."""
        try:
            self.db.execute("SELECT json_remove('{}', '$.a')").fetchone()
        except sqlite3.Error:
            return False
        return True

    def _workflow_column(self, start: bool) -> str:
        # SQLite cuts the start graph out in C: json.loads of megabytes is not paid
        if start or not self._has_json:
            return "workflow"
        return "json_remove(workflow, '$.grammar.start')"

    def set_status(self, run_id: int, status: str, reason: str | None = None) -> None:
        """Record the run's status (with a journal entry saying so), atomically."""
        self._write(run_id, lambda: self._record_status(run_id, status, reason))

    def _record_status(self, run_id: int, status: str, reason: str | None) -> None:
        if reason is not None:  # it may quote a task's text: lone surrogates as escapes
            reason = reason.encode("utf-8", "backslashreplace").decode("utf-8")
        self.db.execute("UPDATE runs SET status=?, reason=?, updated=? WHERE id=?",
                        (status, reason, time.time(), run_id))
        self._insert(run_id, StatusChanged(status, reason))

    # ---------------------------------------------------------------- the run lease
    def create_owned_run(self, workflow: dict[str, Any], holder: Holder) -> int:
        """Create a run owned by ``holder``: the run and its lease in one transaction."""
        now = time.time()
        with _translated(self.path, JournalWriteError), self._tx():
            run_id = self._insert_run(workflow, now)
            self._put_lease(run_id, holder, now)
        self._held[run_id] = holder
        return run_id

    def acquire(self, run_id: int, holder: Holder) -> Lease | None:
        """Take the run's lease for ``holder``; return the dead owner's lease it took
        over (None if nobody held it). Raise :class:`LeaseHeld` if its owner lives."""
        with _translated(self.path, JournalWriteError), self._tx():
            current = self._lease(run_id)
            if current is not None and current.holder.token != holder.token \
                    and current.alive():
                raise LeaseHeld(run_id, current)
            self._put_lease(run_id, holder, time.time())
            # asked of an owner that is gone: a request never outlives its orchestrator
            self._withdraw_asked(run_id, "the orchestrator it was asked of was gone")
        self._held[run_id] = holder
        self._next_seq.pop(run_id, None)  # another may have written while it was not ours
        return current

    def heartbeat(self, run_id: int) -> None:
        """Refresh this store's lease on the run; :class:`LeaseLost` if it was taken."""
        holder = self._held.get(run_id)
        if holder is None:
            raise StoreError(f"run {run_id}: this store holds no lease on it to refresh; "
                             "take one with create_owned_run() or acquire()")
        with _translated(self.path, JournalWriteError), self._tx():
            updated = self.db.execute(
                "UPDATE leases SET heartbeat=? WHERE run=? AND owner=?",
                (time.time(), run_id, holder.token)).rowcount
            if updated != 1:
                raise LeaseLost(run_id, self._lease(run_id))

    def finish_run(self, run_id: int, status: str, reason: str | None = None) -> None:
        """Record the run's final status and release its lease, in one transaction."""
        def write() -> None:
            self._record_status(run_id, status, reason)
            self._drop_lease(run_id)
            self._withdraw_asked(run_id, f"run {run_id} ended ({status}) first")
        self._write(run_id, write)
        self._held.pop(run_id, None)

    def release(self, run_id: int) -> None:
        """Give the run's lease up without a word in the journal (nothing ran)."""
        with _translated(self.path, JournalWriteError), self._tx():
            self._drop_lease(run_id)
            self._withdraw_asked(run_id, "its lease was given up first")
        self._held.pop(run_id, None)

    def lease(self, run_id: int) -> Lease | None:
        """Who owns the run now (None: nobody; the run is not running, or never had a
        lease)."""
        if self.empty:
            return None
        with self._reading():
            return self._lease(run_id)

    def _lease(self, run_id: int) -> Lease | None:
        row = self.db.execute("SELECT owner, pid, host, started, heartbeat FROM leases "
                              "WHERE run=?", (run_id,)).fetchone()
        if row is None:
            return None
        return Lease(run_id, Holder(row[0], row[1], row[2], row[3]), row[4])

    def _put_lease(self, run_id: int, holder: Holder, now: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?, ?)",
                        (run_id, holder.token, holder.pid, holder.host, holder.started,
                         now))

    def _drop_lease(self, run_id: int) -> None:
        holder = self._held.get(run_id)
        if holder is not None:
            self.db.execute("DELETE FROM leases WHERE run=? AND owner=?",
                            (run_id, holder.token))

    def _fence(self, run_id: int) -> None:
        """Inside a write's transaction: the run's lease, if we took one, is still ours."""
        holder = self._held.get(run_id)
        if holder is None:
            return
        row = self.db.execute("SELECT owner FROM leases WHERE run=?", (run_id,)).fetchone()
        if row is None or row[0] != holder.token:
            raise LeaseLost(run_id, self._lease(run_id))

    # ---------------------------------------------------------------- controls
    # A request lives while the orchestrator it was asked of holds the run's lease: when
    # that lease ends (finish_run, release) or is taken over (acquire), whatever it had
    # not taken is withdrawn in the same transaction.
    def ask(self, run_id: int, op: str, data: dict[str, Any]) -> int:
        """Ask the run's orchestrator for an operation (any process may): a row it takes
        and journals (:meth:`take`). Returns the request's id. Inside a
        :meth:`transaction` of the run: part of it."""
        with _translated(self.path, JournalWriteError), self._controls_tx(run_id):
            cursor = self.db.execute(
                "INSERT INTO controls (run, op, data, at) VALUES (?, ?, ?, ?)",
                (run_id, op, json.dumps(data), time.time()))
        return int(cursor.lastrowid or 0)

    def cancel_asked(self, run_id: int, ops: Sequence[str], reason: str) -> int:
        """Refuse the run's requests of these ``ops`` not taken yet, with ``reason`` (a
        later request made them moot); how many. Inside a :meth:`transaction` of the
        run: part of it."""
        with _translated(self.path, JournalWriteError), self._controls_tx(run_id):
            cursor = self.db.execute(
                f"UPDATE controls SET taken=0, reply=? WHERE run=? AND taken IS NULL AND op "
                f"IN ({','.join('?' * len(ops))})", (reason, run_id, *ops))
        return cursor.rowcount

    def _withdraw_asked(self, run_id: int, why: str) -> None:
        """Inside a transaction: withdraw every request of the run not taken yet."""
        self.db.execute("UPDATE controls SET taken=?, reply=? WHERE run=? AND taken IS NULL",
                        (WITHDRAWN, f"withdrawn: {why}", run_id))

    def _controls_tx(self, run_id: int) -> AbstractContextManager[None]:
        """A write of the controls table: in the run's open :meth:`transaction`, if
        there is one, else in a transaction of its own."""
        batch = self._batch
        if batch is not None and batch.begun and batch.run == run_id:
            return contextlib.nullcontext()
        return self._tx()

    def asked(self, run_id: int) -> list[tuple[int, str, dict[str, Any]]]:
        """The requests not taken yet, oldest first: (id, op, data)."""
        if self.empty:
            return []
        with self._reading():
            try:
                rows = self.db.execute("SELECT id, op, data FROM controls WHERE run=? AND "
                                       "taken IS NULL ORDER BY id", (run_id,)).fetchall()
            except sqlite3.OperationalError:  # a read-only copy made before the table
                return []
        return [(i, op, json.loads(data)) for i, op, data in rows]

    def taken(self, request: int) -> tuple[int, str | None] | None:
        """What became of request ``request``: (the journal entry that took it, None),
        (0, why it was refused) or (:data:`WITHDRAWN`, why); None while it waits."""
        with self._reading():
            row = self.db.execute("SELECT taken, reply FROM controls WHERE id=?",
                                  (request,)).fetchone()
        return None if row is None or row[0] is None else (row[0], row[1])

    def take(self, run_id: int, request: int | None, entry: JournalEntry) -> int:
        """Journal what a request did and mark it taken, in one transaction (fenced by
        the lease like any journal write). ``request`` None: an entry nobody asked for
        through the table (the asking process holds the lease itself)."""
        return self.take_many(run_id, request, [entry])[-1]

    def take_many(self, run_id: int, request: int | None,
                  entries: Sequence[JournalEntry],
                  status: tuple[str, str] | None = None) -> list[int]:
        """:meth:`take` with several entries (all or none); ``status``: the run's new
        status and its reason, recorded in the same transaction."""
        def write() -> list[int]:
            seqs = self._insert_many(run_id, entries)
            if request is not None:
                self.db.execute("UPDATE controls SET taken=? WHERE id=?", (seqs[-1], request))
            if status is not None:
                self._record_status(run_id, *status)
            return seqs
        return self._write(run_id, write)

    def withdraw(self, request: int) -> bool:
        """Withdraw a request nobody has taken (its asker gives up, or saw its
        orchestrator die): True if withdrawn, False if it was taken, refused or
        withdrawn meanwhile."""
        with _translated(self.path, JournalWriteError), self._tx():
            cursor = self.db.execute("UPDATE controls SET taken=?, reply='withdrawn: its "
                                     "asker gave up' WHERE id=? AND taken IS NULL",
                                     (WITHDRAWN, request))
        return cursor.rowcount == 1

    def refuse(self, request: int, reason: str) -> None:
        """Mark a request refused, with the reason (nothing journaled: nothing changed)."""
        with _translated(self.path, JournalWriteError), self._tx():
            self.db.execute("UPDATE controls SET taken=0, reply=? WHERE id=?",
                            (reason, request))

    # ---------------------------------------------------------------- journal
    def append(self, run_id: int, entry: JournalEntry) -> int:
        return self._write(run_id, lambda: self._insert(run_id, entry))

    def append_many(self, run_id: int, entries: Sequence[JournalEntry]) -> list[int]:
        """Several entries in one transaction: after a crash, all or none are there."""
        return self._write(run_id, lambda: self._insert_many(run_id, entries))

    @contextlib.contextmanager
    def batch(self, run_id: int) -> Iterator[None]:
        """Group commit: every write of the run inside the block goes into one transaction
        (begun and fenced at the first, committed at the block's end) — the journal
        after it is as if each had been its own transaction, and a crash keeps all of
        them or none. A write that fails dooms the batch: later writes in it raise at
        once (SQLite may have ended the transaction, and they must not commit alone)
        and nothing of it is committed (the block's end raises a JournalWriteError, or
        the LeaseLost again). The block must not await: nothing else may write
        meanwhile. Nested, a batch is part of the outer one."""
        if self._batch is not None:
            yield
            return
        batch = self._batch = _Batch(run_id)
        try:
            yield
            if batch.failure is not None:
                if isinstance(batch.failure, LeaseLost):
                    raise batch.failure
                raise JournalWriteError(
                    f"{self.path}: a transaction was not committed: one of its writes "
                    f"failed ({batch.failure})") from batch.failure
            if batch.begun:
                with _translated(self.path, JournalWriteError):
                    Store._Tx.commit(self.db)
        except BaseException:
            if batch.begun and self.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            self._next_seq.pop(run_id, None)
            raise
        finally:
            self._batch = None
        for _ in range(batch.writes):
            self._count_append()

    @contextlib.contextmanager
    def transaction(self, run_id: int) -> Iterator[None]:
        """One transaction of the run, begun at once (and fenced by its lease, if this
        store holds it): what is read inside it is the run as it is when what is
        written inside it commits — an operation is decided against the state it is
        journaled on. Its writes are a :meth:`batch` (requests of the controls table
        join it too); an exception rolls all of it back. The block must not await."""
        with self.batch(run_id):
            batch = self._batch
            assert batch is not None and batch.run == run_id, "inside a batch of another run"
            if not batch.begun:
                with _translated(self.path, JournalWriteError):
                    self._begin(batch)
            yield

    def _begin(self, batch: _Batch) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        batch.begun = True
        self._fence(batch.run)

    def _write(self, run_id: int, write: Callable[[], T]) -> T:
        """Do one write in one transaction, fenced by the run's lease if this store took
        it; if it fails nothing was written, so re-read the next seq. Inside a
        :meth:`batch` of the run: in the batch's transaction."""
        if self._batch is not None and self._batch.run == run_id:
            return self._batched(write)
        try:
            with _translated(self.path, JournalWriteError), self._tx():
                self._fence(run_id)
                self._injected_fault()
                result = write()
        except BaseException:
            self._next_seq.pop(run_id, None)
            raise
        self._count_append()
        return result

    def _batched(self, write: Callable[[], T]) -> T:
        batch = self._batch
        assert batch is not None
        if batch.failure is not None:
            raise JournalWriteError(f"not written: an earlier write of the same transaction "
                                    f"failed ({batch.failure})")
        try:
            with _translated(self.path, JournalWriteError):
                if not batch.begun:
                    self._begin(batch)
                self._injected_fault()
                result = write()
        except BaseException as e:  # maybe half written: the batch must not commit
            batch.failure = e
            raise
        batch.writes += 1
        return result

    def _insert(self, run_id: int, entry: JournalEntry) -> int:
        return self._insert_many(run_id, [entry])[0]

    def _insert_many(self, run_id: int, entries: Sequence[JournalEntry]) -> list[int]:
        first = self._next_seq.get(run_id)
        if first is None:
            row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal WHERE run=?",
                                  (run_id,)).fetchone()
            first = row[0] + 1
        at = time.time()
        self.db.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?)",
                            [(run_id, first + i, at, *_encoded(entry))
                             for i, entry in enumerate(entries)])
        self._next_seq[run_id] = first + len(entries)
        return list(range(first, first + len(entries)))

    def _injected_fault(self) -> None:
        """The test hook FAIL_WRITES_ENV: this write fails inside its transaction."""
        self._writes += 1
        if self._fail_from is None or self._writes < self._fail_from:
            return
        if self._fail_on is None or self._writes == self._fail_on:
            raise sqlite3.OperationalError(
                f"disk I/O error (test hook {FAIL_WRITES_ENV}, write {self._writes})")

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
        # The consumer's code runs outside this frame: only SQLite's errors come here.
        with self._reading():
            for r in self.db.execute(query + " ORDER BY seq", params):
                yield Entry(r[0], r[1], r[2], r[3], json.loads(r[4]))

    def restarts(self, run_id: int, upto: int | None = None) -> list[Entry]:
        """The run's ``restart`` entries (at or before ``upto``), oldest first."""
        return self._rare_entries(run_id, "restart", upto)

    def refusals(self, run_id: int, upto: int | None = None) -> list[Entry]:
        """The run's ``refused`` entries (at or before ``upto``), oldest first."""
        return self._rare_entries(run_id, "refused", upto)

    def _rare_entries(self, run_id: int, kind: str, upto: int | None) -> list[Entry]:
        """Entries of a kind with a partial index of its own (found without reading the
        journal; the kind must be a literal of the query for SQLite to use it)."""
        if self.empty:
            return []
        assert kind in ("restart", "refused"), kind
        query = ("SELECT run, seq, at, kind, data FROM journal WHERE run=? AND "
                 f"kind='{kind}' AND seq<=? ORDER BY seq")
        with self._reading():
            rows = self.db.execute(query, (run_id, upto if upto is not None else 2 ** 62)
                                   ).fetchall()
        return [Entry(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    # ---------------------------------------------------------------- snapshots
    def last_seq(self, run_id: int) -> int:
        """The sequence number of the run's newest journal entry (0: none)."""
        seq = self._next_seq.get(run_id)
        if seq is not None:
            return seq - 1
        with self._reading():
            row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal WHERE run=?",
                                  (run_id,)).fetchone()
        return int(row[0])

    def put_snapshot(self, run_id: int, seq: int, data: dict[str, Any]) -> None:
        """Cache the run's state as of journal entry ``seq`` (keeping the newest two)."""
        def write() -> None:
            self.db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)",
                            (run_id, seq, json.dumps(data, separators=(",", ":"))))
            self.db.execute("DELETE FROM snapshots WHERE run=? AND seq < (SELECT seq FROM "
                            "snapshots WHERE run=? ORDER BY seq DESC LIMIT 1 OFFSET 1)",
                            (run_id, run_id))
        self._write(run_id, write)

    def snapshot(self, run_id: int, upto: int | None = None
                 ) -> tuple[int, dict[str, Any]] | None:
        """The newest cached state of the run as of an entry <= ``upto``, if any."""
        if self.empty:
            return None
        with self._reading():
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' "
                                   "AND name='snapshots'").fetchone():
                return None  # a database written before snapshots: fold from the start
            row = self.db.execute(
                "SELECT seq, data FROM snapshots WHERE run=? AND seq<=? ORDER BY seq DESC "
                "LIMIT 1", (run_id, upto if upto is not None else 2 ** 62)).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    def integrity(self) -> str:
        with self._reading():
            return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])
