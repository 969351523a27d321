"""Push, not poll: one watcher per server notices every commit to the journal and wakes
the pages that watch the run it changed, over server-sent events.

The watcher asks SQLite, on its own read-only connection, whether any other connection
committed (``PRAGMA data_version``: no read of any table) every :data:`EVERY` seconds;
only then does it read, for each run a page watches, its newest journal step, its status
and when its tasks last reported progress. Ten pages watching one run cost one query a
tenth of a second, and a read never blocks the orchestrator (WAL). A stream says every
:data:`PING_EVERY` seconds that it lives, so that a page whose stream died says so
instead of showing a stale "running"; a page that reconnects sends the last event it
had (``Last-Event-ID``) and is sent the run's state at once if it changed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grammarflow.journal.database import open_readonly

__all__ = ["EVERY", "PING_EVERY", "Change", "Watcher", "events"]

#: Seconds between two looks at the journal's change counter.
EVERY = 0.1
#: Seconds between two signs of life on an idle stream (the page gives up after 5).
PING_EVERY = 2.0

#: What a run's page is told changed: its newest step, status, last reported progress.
_RUN = ("SELECT (SELECT COALESCE(MAX(seq), 0) FROM journal WHERE run=:run), "
        "(SELECT status FROM runs WHERE id=:run), "
        "(SELECT COALESCE(MAX(at), 0) FROM progress WHERE run=:run)")
#: What the list of runs is told changed: the runs, their statuses, the journal's size.
_ALL = ("SELECT (SELECT COUNT(*) || '.' || COALESCE(MAX(updated), 0) FROM runs), "
        "(SELECT group_concat(status) FROM runs), "
        "(SELECT COALESCE(MAX(rowid), 0) FROM journal)")


@dataclass(frozen=True, slots=True)
class Change:
    """What a watched thing (a run, or None: the list of runs) is now; its ``id`` is the
    SSE event id, the same whenever the state is."""

    seq: int
    status: str
    stamp: str

    @property
    def id(self) -> str:
        return f"{self.seq}.{self.status}.{self.stamp}"

    def to_json(self, key: int | str) -> str:
        return json.dumps({"key": key, "seq": self.seq, "status": self.status,
                           "id": self.id})


@dataclass
class _Watched:
    change: Change | None = None
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    watchers: int = 0


class Watcher:
    """Watches the journal at ``path`` for the runs pages watch."""

    def __init__(self, path: Path, every: float = EVERY) -> None:
        self.path = path
        self.every = every
        self.watched: dict[int | None, _Watched] = {}
        self._db: sqlite3.Connection | None = None
        self._version: int | None = None
        self.looks = 0  # reads of the runs (not of the change counter): for the tests
        self.any_change = asyncio.Event()  # set (and replaced) when anything watched changed

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = open_readonly(self.path)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def look(self, force: bool = False) -> None:
        """Read what changed, if anything committed since the last look (or ``force``),
        and wake the pages whose run changed."""
        db = self._connection()
        version = db.execute("PRAGMA data_version").fetchone()[0]
        if version == self._version and not force:
            return
        self._version = version
        self.looks += 1
        changed = False
        for key, w in self.watched.items():
            change = self._read(db, key)
            if change != w.change:
                w.change = change
                w.woken.set()
                w.woken = asyncio.Event()
                changed = True
        if changed:
            self.any_change.set()
            self.any_change = asyncio.Event()

    def _read(self, db: sqlite3.Connection, key: int | None) -> Change:
        try:
            row = db.execute(_ALL if key is None else _RUN, {"run": key}).fetchone()
        except sqlite3.OperationalError:  # a journal of a version with no progress table
            row = db.execute(_ALL if key is None else _RUN.replace(
                "SELECT COALESCE(MAX(at), 0) FROM progress WHERE run=:run", "SELECT 0"),
                {"run": key}).fetchone()
        return Change(int(row[2]) if key is None else int(row[0]), str(row[1] or ""),
                      str(row[0] if key is None else row[2]))

    async def run(self) -> None:
        """Look every ``every`` seconds, until cancelled."""
        try:
            while True:
                if self.watched:
                    with contextlib.suppress(sqlite3.Error):
                        self.look()
                await asyncio.sleep(self.every)
        finally:
            self.close()

    @contextlib.contextmanager
    def watching(self, key: int | None):  # type: ignore[no-untyped-def]
        w = self.watched.setdefault(key, _Watched())
        w.watchers += 1
        try:
            if w.change is None:
                w.change = self._read(self._connection(), key)
            yield w
        finally:
            w.watchers -= 1
            if w.watchers == 0:
                del self.watched[key]


async def events(watcher: Watcher, keys: Sequence[int | None], last_id: str | None,
                 ping_every: float = PING_EVERY) -> AsyncIterator[str]:
    """The event stream of a browser watching ``keys`` (runs; None: the list of runs),
    one stream for all its pages (a browser opens at most six connections to a server):
    each key's state now, unless it is the one the stream had sent (``last_id``, after a
    reconnect), then one ``change`` event (``key``: the run, or "runs") each time a key
    changes, and a ``ping`` each ``ping_every`` seconds of quiet."""
    with contextlib.ExitStack() as stack:
        watched = {key: stack.enter_context(watcher.watching(key)) for key in keys}
        sent = dict.fromkeys(keys, None)
        if last_id is not None and len(keys) == 1:
            sent[keys[0]] = last_id
        yield "retry: 1000\n\n"
        while True:
            woken = watcher.any_change
            for key, w in watched.items():
                change = w.change
                if change is not None and change.id != sent[key]:
                    sent[key] = change.id
                    yield (f"id: {change.id}\nevent: change\n"
                           f"data: {change.to_json('runs' if key is None else key)}\n\n")
            try:
                await asyncio.wait_for(woken.wait(), ping_every)
            except TimeoutError:
                yield "event: ping\ndata: {}\n\n"
