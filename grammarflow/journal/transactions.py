"""How the store writes: each write in a transaction of its own, fenced by the run's
lease, or a stretch of a run's writes in one (a group commit); and the test hooks that
make writes fail or the process die.

Durability and why a batch: docs/architecture.md, "The journal and the store".
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from grammarflow.journal.database import Handle, JournalWriteError, Transaction, translated
from grammarflow.journal.lease import LeaseLost

T = TypeVar("T")

#: Test hook: after this many journal appends (in this process), SIGKILL ourselves.
CRASH_ENV = "GRAMMARFLOW_TEST_CRASH_AFTER_APPENDS"

#: Test hook: journal writes of this process fail (as with an I/O error) — the n-th one
#: ("n"), or the n-th and every later one ("n+": the disk stays broken).
FAIL_WRITES_ENV = "GRAMMARFLOW_TEST_FAIL_WRITES"


@dataclass(slots=True)
class _Batch:
    """A :meth:`Transactions.batch` under way: its run, writes done, the first that
    failed."""

    run: int
    begun: bool = False  # its transaction (at its first write)
    writes: int = 0
    failure: BaseException | None = None


class Transactions:
    """The transactions of one store's connection.

    ``fence(run)``, inside a write's transaction, raises LeaseLost if the run's lease
    this store took is no longer its own; ``next_seq`` (run -> the number of its next
    journal entry) is the store's, forgotten for a run after a write of it that may not
    have been written."""

    def __init__(self, path: Path, handle: Handle, fence: Callable[[int], None],
                 next_seq: dict[int, int]) -> None:
        self.path = path
        self._handle = handle
        self._fence = fence
        self._next_seq = next_seq
        self._batch: _Batch | None = None  # a group commit under way (batch())
        self._appends = 0
        crash = os.environ.get(CRASH_ENV)
        self._crash_after = int(crash) if crash else None
        fail = os.environ.get(FAIL_WRITES_ENV, "")
        self._fail_from = int(fail.rstrip("+")) if fail else None
        self._fail_on = None if not fail or fail.endswith("+") else self._fail_from
        self._writes = 0

    def own(self) -> Transaction:
        """A transaction of its own (never inside a batch that has begun: a bug)."""
        if self._batch is not None and self._batch.begun:  # a bug of ours, said as one
            raise RuntimeError("a transaction of its own asked for inside a batch of run "
                               f"{self._batch.run} (only that run's writes may join it)")
        return Transaction(self._handle.db)

    def joined(self, run_id: int) -> AbstractContextManager[None]:
        """A write outside the journal (the controls table): in the run's open
        :meth:`transaction`, if there is one, else in a transaction of its own."""
        batch = self._batch
        if batch is not None and batch.begun and batch.run == run_id:
            return contextlib.nullcontext()
        return self.own()

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
                with translated(self.path, JournalWriteError):
                    Transaction.commit(self._handle.db)
        except BaseException:
            if batch.begun and self._handle.db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._handle.db.execute("ROLLBACK")
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
                with translated(self.path, JournalWriteError):
                    self._begin(batch)
            yield

    def _begin(self, batch: _Batch) -> None:
        self._handle.db.execute("BEGIN IMMEDIATE")
        batch.begun = True
        self._fence(batch.run)

    def write(self, run_id: int, write: Callable[[], T]) -> T:
        """Do one write in one transaction, fenced by the run's lease if this store took
        it; if it fails nothing was written, so re-read the next seq. Inside a
        :meth:`batch` of the run: in the batch's transaction."""
        if self._batch is not None and self._batch.run == run_id:
            return self._batched(write)
        try:
            with translated(self.path, JournalWriteError), self.own():
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
            with translated(self.path, JournalWriteError):
                if not batch.begun:
                    self._begin(batch)
                self._injected_fault()
                result = write()
        except BaseException as e:  # maybe half written: the batch must not commit
            batch.failure = e
            raise
        batch.writes += 1
        return result

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


__all__ = ["CRASH_ENV", "FAIL_WRITES_ENV", "Transactions"]
