"""The undo log of a graph: every change made while a transaction is open records how
to undo itself, so a refused step leaves no trace (:meth:`UndoLog.atomic`), and a
savepoint undoes part of one. :class:`~grammarflow.core.graph.Graph` is an
:class:`UndoLog`: its mutations append ``(function, *args)`` entries while
``self._undo is not None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from grammarflow.errors import GrammarflowError

__all__ = ["UndoLog"]


class UndoLog:
    """A log of undo actions, open (a list) inside a transaction, else ``None``.

    The class that mixes it in sets ``_undo`` to ``None`` when made, and records an
    entry for each change it makes while a transaction is open.
    """

    # (function, *args) entries, cheaper to make than closures; None: no transaction
    _undo: list[tuple[Any, ...]] | None

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """All changes inside the block happen, or (on any exception) none do."""
        if self._undo is not None:  # nested: the outer block owns the rollback
            yield
            return
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def in_transaction(self) -> bool:
        return self._undo is not None

    def begin(self) -> None:
        """Start recording undo actions (prefer :meth:`atomic`; this is its fast path)."""
        if self._undo is not None:
            raise GrammarflowError("a transaction is already open on this graph")
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        log, self._undo = self._undo or [], None
        for fn, *args in reversed(log):
            fn(*args)

    def open_or_savepoint(self) -> int | None:
        """Start a transaction (None), or, inside one, mark a savepoint (its index).

        Pair it with :meth:`close` on success and :meth:`undo_to` on failure.
        """
        if self._undo is None:
            self._undo = []
            return None
        return len(self._undo)

    def close(self, mark: int | None) -> None:
        """Success: commit a transaction :meth:`open_or_savepoint` started."""
        if mark is None:
            self._undo = None

    def undo_to(self, mark: int | None) -> None:
        """Failure: undo back to the savepoint, or the whole transaction."""
        if mark is None:
            self.rollback()
        else:
            self.rollback_to(mark)

    def savepoint(self) -> int:
        """A mark inside the open transaction to roll back to (nested atomicity)."""
        if self._undo is None:
            raise GrammarflowError("no transaction is open on this graph")
        return len(self._undo)

    def rollback_to(self, mark: int) -> None:
        log = self._undo
        if log is None:
            raise GrammarflowError("no transaction is open on this graph")
        while len(log) > mark:
            fn, *args = log.pop()
            fn(*args)

    def _on_undo(self, fn: Callable[..., None], *args: Any) -> None:
        if self._undo is not None:
            self._undo.append((fn, *args))

    def on_undo(self, fn: Callable[..., None], *args: Any) -> None:
        """Record ``fn(*args)`` to run if the open transaction is rolled back: how state
        kept beside the graph (constraint counts) is undone with it."""
        if self._undo is not None:
            self._undo.append((fn, *args))
