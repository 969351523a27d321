"""The run lease: one orchestrator per run, named by its process, fencing every write.

What a lease is, when it is taken over and why a reused pid is not mistaken for its
owner: docs/architecture.md, "The journal and the store".
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from grammarflow.journal.database import Handle, StoreError

#: Seconds without a heartbeat after which an owner on another host counts as dead.
LEASE_EXPIRY = 60.0
#: How often a running orchestrator refreshes its lease's heartbeat.
HEARTBEAT_EVERY = 5.0


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


class Leases:
    """The leases one store took (``held``: run -> its holder) and the ``leases`` table
    they are rows of. Every method runs inside a transaction of the store's connection."""

    def __init__(self, handle: Handle) -> None:
        self._handle = handle
        self.held: dict[int, Holder] = {}  # run -> the lease this store took for it

    def of(self, run_id: int) -> Lease | None:
        """Who owns the run now (None: nobody)."""
        row = self._handle.db.execute("SELECT owner, pid, host, started, heartbeat FROM leases "
                                 "WHERE run=?", (run_id,)).fetchone()
        if row is None:
            return None
        return Lease(run_id, Holder(row[0], row[1], row[2], row[3]), row[4])

    def put(self, run_id: int, holder: Holder, now: float) -> None:
        self._handle.db.execute("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?, ?)",
                           (run_id, holder.token, holder.pid, holder.host, holder.started,
                            now))

    def refreshed(self, run_id: int, holder: Holder) -> bool:
        """The heartbeat of ``holder``'s lease on the run, set to now; False if the lease
        is no longer its own."""
        return self._handle.db.execute(
            "UPDATE leases SET heartbeat=? WHERE run=? AND owner=?",
            (time.time(), run_id, holder.token)).rowcount == 1

    def drop(self, run_id: int) -> None:
        holder = self.held.get(run_id)
        if holder is not None:
            self._handle.db.execute("DELETE FROM leases WHERE run=? AND owner=?",
                               (run_id, holder.token))

    def fence(self, run_id: int) -> None:
        """Inside a write's transaction: the run's lease, if we took one, is still ours."""
        holder = self.held.get(run_id)
        if holder is None:
            return
        row = self._handle.db.execute("SELECT owner FROM leases WHERE run=?",
                                 (run_id,)).fetchone()
        if row is None or row[0] != holder.token:
            raise LeaseLost(run_id, self.of(run_id))


__all__ = ["HEARTBEAT_EVERY", "LEASE_EXPIRY", "Holder", "Lease", "LeaseHeld", "LeaseLost",
           "Leases", "process_started"]
