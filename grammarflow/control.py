"""Operations on a run from another process: pause and unpause.

The control channel is the run's SQLite database, the one place every `grammarflow`
command already shares. If the run's orchestrator lives (it holds the run's lease), the
operation is *asked* through the ``controls`` table and the orchestrator, which looks
every :data:`~grammarflow.runtime.orchestrator.CONTROL_POLL` seconds, journals it and
acts (:meth:`~grammarflow.store.Store.take`); the asking process waits until it is taken.
If nobody runs the run, the asking process takes the lease itself, journals the
operation and gives the lease back: the next `resume` folds it like any entry. Either
way the journal holds it, once, in order with everything else: a journal of record,
not a flag beside it.

A socket would need a listening orchestrator and a discovery file; the table needs
nothing the database does not already give (locking, durability, the lease), and works
the same for an orchestrator on another host sharing the file.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from grammarflow.errors import GrammarflowError
from grammarflow.fold import paused_at
from grammarflow.store import Holder, LeaseHeld, Store

#: Seconds `pause` waits for a living orchestrator to take the request.
TAKE_WITHIN = 15.0

FINAL = ("succeeded", "broken")


@dataclass(frozen=True, slots=True)
class Done:
    """What an operation did: its journal entry, and who took it."""

    seq: int
    by_orchestrator: int | None  # its pid, if a living orchestrator took it
    already: bool = False  # nothing to do: the run was so already


def set_paused(store: Store, run_id: int, paused: bool) -> Done:
    """Pause (or unpause) run ``run_id``: journaled by its orchestrator if it lives,
    else by this process under the run's lease."""
    op = "pause" if paused else "unpause"
    row = store.run(run_id)
    if row.status in FINAL:
        raise GrammarflowError(f"run {run_id} {row.status}: there is nothing to {op}")
    if paused_at(store, run_id) == paused:
        return Done(store.last_seq(run_id), None, already=True)
    by = {"pid": os.getpid(), "host": socket.gethostname()}
    lease = store.lease(run_id)
    if lease is None or not lease.alive():
        holder = Holder.this_process()
        try:
            store.acquire(run_id, holder)
        except LeaseHeld:
            pass  # an orchestrator took the run meanwhile: ask it instead
        else:
            try:
                return Done(store.take(run_id, None, "control", {"op": op, "by": by}), None)
            finally:
                store.release(run_id)
    request = store.ask(run_id, op, {"by": by})
    deadline = time.monotonic() + TAKE_WITHIN
    while time.monotonic() < deadline:
        seq = store.taken(request)
        if seq is not None:
            owner = store.lease(run_id)
            return Done(seq, owner.holder.pid if owner is not None else None)
        time.sleep(0.05)
    owner = store.lease(run_id)
    who = f"pid {owner.holder.pid}" if owner is not None else "its orchestrator"
    raise GrammarflowError(
        f"asked run {run_id}'s orchestrator ({who}) to {op}, and it has not taken the "
        f"request within {TAKE_WITHIN:g} s; it will when it can (the request stays)")


__all__ = ["TAKE_WITHIN", "Done", "set_paused"]
