"""Requests to a run's orchestrator from other processes (pause, unpause, answer,
restart): the store's ``controls`` table, asked, then taken, refused or withdrawn.

How an operation travels through it: docs/operations.md, "Pausing a run".
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grammarflow.journal.database import Handle, JournalWriteError, translated
from grammarflow.journal.transactions import Transactions

#: ``controls.taken`` of a request withdrawn before anyone took it: the orchestrator it
#: was asked of ended, died or gave the lease up first (its asker, if it still waits,
#: decides again against the run as it is then), or its asker gave up waiting.
WITHDRAWN = -1


class Requests:
    """The ``controls`` table of one store (``store.requests``).

    A request lives while the orchestrator it was asked of holds the run's lease: when
    that lease ends (``Store.finish_run``, ``Store.release``) or is taken over
    (``Store.acquire``), whatever it had not taken is withdrawn in the same transaction
    (:meth:`withdraw_all`); it is taken with the entry that journals it
    (``Store.take``)."""

    def __init__(self, path: Path, handle: Handle, transactions: Transactions, empty: bool
                 ) -> None:
        self.path = path
        self._handle = handle
        self._transactions = transactions
        self._empty = empty  # the database holds no table (read-only, never initialised)

    def ask(self, run_id: int, op: str, data: dict[str, Any]) -> int:
        """Ask the run's orchestrator for an operation (any process may): a row it takes
        and journals (``Store.take``). Returns the request's id. Inside a
        ``Store.transaction`` of the run: part of it."""
        with translated(self.path, JournalWriteError), self._transactions.joined(run_id):
            cursor = self._handle.db.execute(
                "INSERT INTO controls (run, op, data, at) VALUES (?, ?, ?, ?)",
                (run_id, op, json.dumps(data), time.time()))
        return int(cursor.lastrowid or 0)

    def cancel_asked(self, run_id: int, ops: Sequence[str], reason: str) -> int:
        """Refuse the run's requests of these ``ops`` not taken yet, with ``reason`` (a
        later request made them moot); how many. Inside a ``Store.transaction`` of the
        run: part of it."""
        with translated(self.path, JournalWriteError), self._transactions.joined(run_id):
            cursor = self._handle.db.execute(
                f"UPDATE controls SET taken=0, reply=? WHERE run=? AND taken IS NULL AND op "
                f"IN ({','.join('?' * len(ops))})", (reason, run_id, *ops))
        return cursor.rowcount

    def withdraw_all(self, run_id: int, why: str) -> None:
        """Inside a transaction: withdraw every request of the run not taken yet."""
        self._handle.db.execute("UPDATE controls SET taken=?, reply=? WHERE run=? AND taken IS "
                           "NULL", (WITHDRAWN, f"withdrawn: {why}", run_id))

    def asked(self, run_id: int) -> list[tuple[int, str, dict[str, Any]]]:
        """The requests not taken yet, oldest first: (id, op, data)."""
        if self._empty:
            return []
        with translated(self.path):
            try:
                rows = self._handle.db.execute("SELECT id, op, data FROM controls WHERE run=? "
                                          "AND taken IS NULL ORDER BY id",
                                          (run_id,)).fetchall()
            except sqlite3.OperationalError:  # a read-only copy made before the table
                return []
        return [(i, op, json.loads(data)) for i, op, data in rows]

    def taken(self, request: int) -> tuple[int, str | None] | None:
        """What became of request ``request``: (the journal entry that took it, None),
        (0, why it was refused) or (:data:`WITHDRAWN`, why); None while it waits."""
        with translated(self.path):
            row = self._handle.db.execute("SELECT taken, reply FROM controls WHERE id=?",
                                     (request,)).fetchone()
        return None if row is None or row[0] is None else (row[0], row[1])

    def mark_taken(self, request: int, seq: int) -> None:
        """Inside the transaction that journals entry ``seq``: the request it took."""
        self._handle.db.execute("UPDATE controls SET taken=? WHERE id=?", (seq, request))

    def withdraw(self, request: int) -> bool:
        """Withdraw a request nobody has taken (its asker gives up, or saw its
        orchestrator die): True if withdrawn, False if it was taken, refused or
        withdrawn meanwhile."""
        with translated(self.path, JournalWriteError), self._transactions.own():
            cursor = self._handle.db.execute("UPDATE controls SET taken=?, reply='withdrawn: "
                                        "its asker gave up' WHERE id=? AND taken IS NULL",
                                        (WITHDRAWN, request))
        return cursor.rowcount == 1

    def refuse(self, request: int, reason: str) -> None:
        """Mark a request refused, with the reason (nothing journaled: nothing changed)."""
        with translated(self.path, JournalWriteError), self._transactions.own():
            self._handle.db.execute("UPDATE controls SET taken=0, reply=? WHERE id=?",
                               (reason, request))


__all__ = ["WITHDRAWN", "Requests"]
