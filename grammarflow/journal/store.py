"""The SQLite journal: runs, and for each run an append-only list of entries.

Also the run's lease (one orchestrator per run, fencing every write: :mod:`.lease`), the
requests of other processes (:mod:`.requests`) and the snapshots. The file and its schema
are :mod:`.database`'s, transactions and group commits :mod:`.transactions`'.
Durability, transactions, the lease, and why plain ``sqlite3``: docs/architecture.md,
"The journal and the store".
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grammarflow.journal.database import (
    Handle,
    JournalWriteError,
    StoreError,
    check_version,
    open_existing,
    open_readonly,
    open_writable,
    refuse_foreign,
    refuse_truncated,
    translated,
)
from grammarflow.journal.entries import JournalEntry, StatusChanged, decode, encode
from grammarflow.journal.lease import Holder, Lease, LeaseHeld, LeaseLost, Leases
from grammarflow.journal.requests import Requests
from grammarflow.journal.transactions import Transactions

#: The statuses a run keeps (a restart of a succeeded one, the one operation it takes,
#: opens it again).
FINAL = ("succeeded", "broken")


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
            db = open_readonly(self.path)
            refuse_foreign(db, self.path)
        else:
            db = open_writable(self.path, durable)
        self._opened(db)

    @classmethod
    def existing(cls, path: str | Path, *, durable: bool = False) -> Store:
        """A journal that exists, opened to be written: nothing is created, and nothing
        written — not even the switch to WAL — before the file is known to be
        grammarflow's (its ``meta`` table keeps a schema version). A missing file, an
        empty one or another program's database is refused (StoreError) and left as it
        was. Every command but `run` opens its database so."""
        store = cls.__new__(cls)
        store._setup(path)
        store._opened(open_existing(store.path, durable))
        return store

    def _setup(self, path: str | Path) -> None:
        self.path = Path(path)
        refuse_truncated(self.path)

    def _opened(self, db: sqlite3.Connection) -> None:
        # Its parts share the connection, and none refers back to the store: a store
        # nobody holds is closed at once, not when the garbage collector finds a cycle.
        self._handle = Handle(db)
        with self._reading():
            self.empty = check_version(self.db, self.path)
        self._next_seq: dict[int, int] = {}  # run -> the seq of its next journal entry
        #: The run leases this store took (its writes of those runs are fenced by them).
        self.leases = Leases(self._handle)
        #: Its transactions: one per write, or a run's batch (group commit).
        self.transactions = Transactions(self.path, self._handle, self.leases.fence,
                                         self._next_seq)
        #: Requests to a run's orchestrator from other processes (the controls table).
        self.requests = Requests(self.path, self._handle, self.transactions, self.empty)

    @property
    def db(self) -> sqlite3.Connection:
        """The connection to the file."""
        return self._handle.db

    @db.setter
    def db(self, db: sqlite3.Connection) -> None:
        self._handle.db = db

    def close(self) -> None:
        self.db.close()

    def _reading(self) -> contextlib.AbstractContextManager[None]:
        """SQLite errors of a read as a StoreError naming the file."""
        return translated(self.path)

    # ---------------------------------------------------------------- runs
    def create_run(self, workflow: dict[str, Any]) -> int:
        """A run without a lease (orchestrators use :meth:`create_owned_run`)."""
        with translated(self.path, JournalWriteError), self.transactions.own():
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
        self.transactions.write(run_id, lambda: self._record_status(run_id, status, reason))

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
        with translated(self.path, JournalWriteError), self.transactions.own():
            run_id = self._insert_run(workflow, now)
            self.leases.put(run_id, holder, now)
        self.leases.held[run_id] = holder
        return run_id

    def acquire(self, run_id: int, holder: Holder) -> Lease | None:
        """Take the run's lease for ``holder``; return the dead owner's lease it took
        over (None if nobody held it). Raise :class:`LeaseHeld` if its owner lives."""
        with translated(self.path, JournalWriteError), self.transactions.own():
            current = self.leases.of(run_id)
            if current is not None and current.holder.token != holder.token \
                    and current.alive():
                raise LeaseHeld(run_id, current)
            self.leases.put(run_id, holder, time.time())
            # asked of an owner that is gone: a request never outlives its orchestrator
            self.requests.withdraw_all(run_id, "the orchestrator it was asked of was gone")
        self.leases.held[run_id] = holder
        self._next_seq.pop(run_id, None)  # another may have written while it was not ours
        return current

    def heartbeat(self, run_id: int) -> None:
        """Refresh this store's lease on the run; :class:`LeaseLost` if it was taken."""
        holder = self.leases.held.get(run_id)
        if holder is None:
            raise StoreError(f"run {run_id}: this store holds no lease on it to refresh; "
                             "take one with create_owned_run() or acquire()")
        with translated(self.path, JournalWriteError), self.transactions.own():
            if not self.leases.refreshed(run_id, holder):
                raise LeaseLost(run_id, self.leases.of(run_id))

    def finish_run(self, run_id: int, status: str, reason: str | None = None) -> None:
        """Record the run's final status and release its lease, in one transaction."""
        def write() -> None:
            self._record_status(run_id, status, reason)
            self.leases.drop(run_id)
            self.requests.withdraw_all(run_id, f"run {run_id} ended ({status}) first")
        self.transactions.write(run_id, write)
        self.leases.held.pop(run_id, None)

    def release(self, run_id: int) -> None:
        """Give the run's lease up without a word in the journal (nothing ran)."""
        with translated(self.path, JournalWriteError), self.transactions.own():
            self.leases.drop(run_id)
            self.requests.withdraw_all(run_id, "its lease was given up first")
        self.leases.held.pop(run_id, None)

    def lease(self, run_id: int) -> Lease | None:
        """Who owns the run now (None: nobody; the run is not running, or never had a
        lease)."""
        if self.empty:
            return None
        with self._reading():
            return self.leases.of(run_id)

    # ---------------------------------------------------------------- journal
    def append(self, run_id: int, entry: JournalEntry) -> int:
        return self.transactions.write(run_id, lambda: self._insert(run_id, entry))

    def append_many(self, run_id: int, entries: Sequence[JournalEntry]) -> list[int]:
        """Several entries in one transaction: after a crash, all or none are there."""
        return self.transactions.write(run_id, lambda: self._insert_many(run_id, entries))

    def take(self, run_id: int, request: int | None, entry: JournalEntry) -> int:
        """Journal what a request (:attr:`requests`) did and mark it taken, in one
        transaction (fenced by the lease like any journal write). ``request`` None: an
        entry nobody asked for through the table (the asking process holds the lease
        itself)."""
        return self.take_many(run_id, request, [entry])[-1]

    def take_many(self, run_id: int, request: int | None,
                  entries: Sequence[JournalEntry],
                  status: tuple[str, str] | None = None) -> list[int]:
        """:meth:`take` with several entries (all or none); ``status``: the run's new
        status and its reason, recorded in the same transaction."""
        def write() -> list[int]:
            seqs = self._insert_many(run_id, entries)
            if request is not None:
                self.requests.mark_taken(request, seqs[-1])
            if status is not None:
                self._record_status(run_id, *status)
            return seqs
        return self.transactions.write(run_id, write)

    def batch(self, run_id: int) -> contextlib.AbstractContextManager[None]:
        """Group commit: the run's writes inside the block are one transaction
        (:meth:`Transactions.batch <grammarflow.journal.transactions.Transactions.batch>`)."""
        return self.transactions.batch(run_id)

    def transaction(self, run_id: int) -> contextlib.AbstractContextManager[None]:
        """One transaction of the run, begun at once: what is read inside it is what its
        writes commit on (:meth:`Transactions.transaction
        <grammarflow.journal.transactions.Transactions.transaction>`)."""
        return self.transactions.transaction(run_id)

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

    def entries(self, run_id: int, kinds: Sequence[str] | None = None,
                after: int = 0, task: str | None = None) -> Iterator[Entry]:
        """The run's entries after ``after``, in order: of ``kinds`` only, if given, and
        about ``task`` only (an attempt's, say), if given."""
        query = "SELECT run, seq, at, kind, data FROM journal WHERE run=? AND seq>?"
        params: list[Any] = [run_id, after]
        if kinds:
            query += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        if task is not None:
            query += " AND json_extract(data, '$.task') = ?"
            params.append(task)
        # The consumer's code runs outside this frame: only SQLite's errors come here.
        with self._reading():
            for r in self.db.execute(query + " ORDER BY seq", params):
                yield Entry(r[0], r[1], r[2], r[3], json.loads(r[4]))

    def restarts(self, run_id: int, upto: int | None = None) -> list[Entry]:
        """The run's ``restart`` entries (at or before ``upto``), oldest first."""
        return self._rare_entries(run_id, "restart", upto)

    def upgrades(self, run_id: int, upto: int | None = None) -> list[Entry]:
        """The run's ``upgrade`` entries (at or before ``upto``), oldest first."""
        return self._rare_entries(run_id, "upgrade", upto)

    def refusals(self, run_id: int, upto: int | None = None) -> list[Entry]:
        """The run's ``refused`` entries (at or before ``upto``), oldest first."""
        return self._rare_entries(run_id, "refused", upto)

    def _rare_entries(self, run_id: int, kind: str, upto: int | None) -> list[Entry]:
        """Entries of a kind with a partial index of its own (found without reading the
        journal; the kind must be a literal of the query for SQLite to use it)."""
        if self.empty:
            return []
        assert kind in ("restart", "refused", "upgrade"), kind
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

    def put_progress(self, run_id: int, reported: dict[str, tuple[float, float | None]]
                     ) -> None:
        """What running tasks last reported of their progress (``task -> (done,
        total)``): a hint for the pages, outside the journal."""
        now = time.time()
        with translated(self.path, JournalWriteError), self.transactions.own():
            self.db.executemany("INSERT OR REPLACE INTO progress VALUES (?, ?, ?, ?, ?)",
                                [(run_id, t, d, total, now)
                                 for t, (d, total) in reported.items()])

    def progress(self, run_id: int) -> dict[str, dict[str, Any]]:
        """What each task of the run last reported of its progress, and when."""
        try:
            with self._reading():
                rows = self.db.execute("SELECT task, done, total, at FROM progress "
                                       "WHERE run=?", (run_id,)).fetchall()
        except StoreError:  # a journal of a version with no progress table
            return {}
        return {t: {"done": d, "total": total, "at": at} for t, d, total, at in rows}

    def put_snapshot(self, run_id: int, seq: int, data: dict[str, Any]) -> None:
        """Cache the run's state as of journal entry ``seq`` (keeping the newest two)."""
        def write() -> None:
            self.db.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)",
                            (run_id, seq, json.dumps(data, separators=(",", ":"))))
            self.db.execute("DELETE FROM snapshots WHERE run=? AND seq < (SELECT seq FROM "
                            "snapshots WHERE run=? ORDER BY seq DESC LIMIT 1 OFFSET 1)",
                            (run_id, run_id))
        self.transactions.write(run_id, write)

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

    def snapshot_seq(self, run_id: int, upto: int | None = None) -> int | None:
        """The entry :meth:`snapshot` would return the state as of, without reading it."""
        if self.empty:
            return None
        with self._reading():
            if not self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' "
                                   "AND name='snapshots'").fetchone():
                return None
            row = self.db.execute(
                "SELECT MAX(seq) FROM snapshots WHERE run=? AND seq<=?",
                (run_id, upto if upto is not None else 2 ** 62)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def integrity(self) -> str:
        with self._reading():
            return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])


__all__ = ["FINAL", "Entry", "RunRow", "Store"]
