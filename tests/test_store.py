"""The SQLite journal: appends, atomic batches, versions, and replay from it."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, event, example, given
from hypothesis import strategies as st
from strategies import grammars

from grammarflow.core.derivation import Derivation
from grammarflow.journal.database import (
    MAX_PAGES_ENV,
    SCHEMA_VERSION,
    JournalWriteError,
    StoreError,
)
from grammarflow.journal.entries import Other, StepTaken
from grammarflow.journal.lease import (
    LEASE_EXPIRY,
    Holder,
    LeaseHeld,
    LeaseLost,
    process_started,
)
from grammarflow.journal.requests import WITHDRAWN
from grammarflow.journal.status import fold
from grammarflow.journal.store import Store
from grammarflow.testing import MessageRun, message_runs
from grammarflow.workflow.definition import Workflow


def test_sequence_numbers_have_no_gaps_across_reopens(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.create_run({"path": "x"})
    store.append(run, Other("log", {"n": 1}))
    store.append_many(run, [Other("log", {"n": 2}), Other("log", {"n": 3})])
    store.close()
    again = Store(tmp_path / "db")
    assert again.append(run, Other("log", {"n": 4})) == 4
    assert [e.seq for e in again.entries(run)] == [1, 2, 3, 4]
    assert again.integrity() == "ok"


class FailingConnection:
    """Fails the n-th statement, as a full disk or a busy database would."""

    def __init__(self, db: sqlite3.Connection, fail_at: int) -> None:
        self.db, self.fail_at, self.count = db, fail_at, 0

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    def execute(self, sql: str, params: Any = ()) -> Any:
        if not sql.startswith(("BEGIN", "ROLLBACK")):
            self.count += 1
            if self.count == self.fail_at:
                raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> None:
        for row in rows:  # as SQLite runs it: row by row, any of them may fail
            self.execute(sql, row)


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5])
def test_a_failed_write_leaves_nothing_half_written(tmp_path: Path, fail_at: int) -> None:
    store = Store(tmp_path / "db")
    run = store.create_run({"path": "x"})
    store.append(run, Other("log", {"before": True}))
    real = store.db
    store.db = FailingConnection(real, fail_at)  # type: ignore[assignment]
    entries = [Other("step", {"i": i}) for i in range(3)]
    try:
        store.append_many(run, entries)
        wrote = True
    except JournalWriteError as e:
        assert str(tmp_path / "db") in str(e) and "disk is full" in str(e)
        wrote = False
    store.db = real
    seen = [e.data for e in store.entries(run)]
    if wrote:  # the failure came after the batch (the commit): all of it is there
        assert seen == [{"before": True}] + [{"i": i} for i in range(3)]
    else:
        assert seen == [{"before": True}]
    assert store.append(run, Other("log", {"after": True})) == len(seen) + 1  # no gap
    assert store.integrity() == "ok"


@pytest.mark.parametrize("fail_at", [1, 2, 3, 4, 5, 6])
def test_a_batch_is_committed_whole_or_not_at_all(tmp_path: Path, fail_at: int) -> None:
    """Group commit: the writes of a batch are one transaction. Statement 1 is the
    fence, 2-5 the four rows, 6 the COMMIT: a failure at any of them leaves none of the
    batch, and a write after the failed one raises without touching the database (it
    must not commit alone once SQLite has ended the transaction)."""
    store = Store(tmp_path / "db")
    run = store.create_owned_run({"path": "x"}, Holder.this_process())
    store.append(run, Other("log", {"before": True}))
    real = store.db
    store.db = FailingConnection(real, fail_at)  # type: ignore[assignment]
    raised: list[str] = []
    with pytest.raises(JournalWriteError, match="disk is full"), store.batch(run):
        for entries in ([Other("step", {"i": 0}), Other("step", {"i": 1})],
                        [Other("step", {"i": 2})],
                        [Other("attempt", {"i": 3})]):
            try:
                store.append_many(run, entries)
            except JournalWriteError as e:
                raised.append(str(e))
    store.db = real
    assert [e.data for e in store.entries(run)] == [{"before": True}]
    if fail_at < 6:  # the statement that failed, then every later write of the batch
        assert "disk is full" in raised[0]
        assert all("an earlier write of the same transaction failed" in r
                   for r in raised[1:])
        assert len(raised) == 3 - (fail_at >= 4) - (fail_at >= 5)
    assert store.append(run, Other("log", {"after": True})) == 2  # no gap
    assert store.integrity() == "ok"


def test_a_batch_is_one_transaction_fenced_once_and_none_if_it_writes_nothing(
        tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.create_owned_run({"path": "x"}, Holder.this_process())
    store.append(run, Other("log", {"n": 0}))
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    with store.batch(run):
        pass
    assert statements == []  # nothing written, no transaction
    with store.batch(run):
        assert store.append(run, Other("log", {"n": 1})) == 2
        with store.batch(run):  # nested: part of the outer one
            two = [Other("log", {"n": 2}), Other("log", {"n": 3})]
            assert store.append_many(run, two) == [3, 4]
        reader = Store(tmp_path / "db", readonly=True)
        assert len(list(reader.entries(run))) == 1  # not committed before the block's end
    assert [s.split()[0] for s in statements] == ["BEGIN", "SELECT", "INSERT", "INSERT",
                                                  "INSERT", "COMMIT"]
    assert [e.data["n"] for e in reader.entries(run)] == [0, 1, 2, 3]
    store.db.set_trace_callback(None)


def test_a_write_of_another_run_inside_a_batch_is_a_bug_said_as_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.create_owned_run({"path": "x"}, Holder.this_process())
    other = store.create_run({"path": "y"})
    with pytest.raises(RuntimeError, match="inside a batch of run 1"), store.batch(run):
        store.append(run, Other("log", {"n": 1}))
        store.append(other, Other("log", {"n": 2}))
    assert list(Store(tmp_path / "db", readonly=True).entries(run)) == []


def test_a_deposed_store_writes_nothing_in_a_batch(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.create_owned_run({"path": "x"}, Holder.this_process())
    db = sqlite3.connect(tmp_path / "db")  # the lease taken by hand
    with db:
        db.execute("UPDATE leases SET owner='usurper'")
    db.close()
    with pytest.raises(LeaseLost), store.batch(run):
        with pytest.raises(LeaseLost):
            store.append(run, Other("log", {"n": 1}))
        with pytest.raises(JournalWriteError, match="an earlier write"):
            store.append(run, Other("log", {"n": 2}))
    assert list(Store(tmp_path / "db", readonly=True).entries(run)) == []


def test_another_schema_version_is_refused_with_both_versions(tmp_path: Path) -> None:
    Store(tmp_path / "db").close()
    db = sqlite3.connect(tmp_path / "db")
    db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    db.commit()
    db.close()
    expected = f"schema version 99; this grammarflow reads version {SCHEMA_VERSION}"
    with pytest.raises(StoreError, match=expected):
        Store(tmp_path / "db")


def test_a_database_killed_while_being_created_reads_as_empty(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "db").close()  # the file exists, the schema does not
    store = Store(tmp_path / "db", readonly=True)
    assert store.runs() == []
    with pytest.raises(StoreError, match="holds no runs yet"):
        store.run(1)
    Store(tmp_path / "db").create_run({"path": "x"})  # a writer initialises it
    assert [r.id for r in Store(tmp_path / "db", readonly=True).runs()] == [1]


@pytest.mark.parametrize("readonly", [False, True], ids=["writer", "reader"])
def test_a_file_of_random_bytes_is_refused_in_one_line_naming_it(
        tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "db"
    path.write_bytes(random.Random(1).randbytes(8192))
    with pytest.raises(StoreError) as caught:
        Store(path, readonly=readonly)
    assert str(caught.value).startswith(f"database {str(path)!r} is not a grammarflow database")
    assert "\n" not in str(caught.value)


def a_store_of(path: Path, entries: int) -> int:
    store = Store(path)
    run = store.create_run({"path": "x"})
    store.append_many(run, [Other("log", {"n": i, "pad": "p" * 200}) for i in range(entries)])
    store.close()
    return run


@pytest.mark.parametrize("readonly", [False, True], ids=["writer", "reader"])
def test_a_database_cut_in_half_is_refused_before_it_is_misread(
        tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "db"
    a_store_of(path, 2000)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(StoreError, match=f"database {str(path)!r} is truncated: its header "
                                         f"says {len(data) // 4096} pages of 4096 bytes"):
        Store(path, readonly=readonly)


def test_a_full_database_fails_a_write_whole_and_names_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db"
    run = a_store_of(path, 10)
    monkeypatch.setenv(MAX_PAGES_ENV, "1")  # no room to grow at all
    store = Store(path)
    with pytest.raises(JournalWriteError) as caught:
        store.append_many(run, [Other("log", {"big": "b" * 100_000})])
    assert str(caught.value) == (f"database {str(path)!r} cannot grow: the disk is full "
                                 "(SQLite: database or disk is full)")
    monkeypatch.delenv(MAX_PAGES_ENV)
    again = Store(path)  # space returns
    assert again.append(run, Other("log", {"after": True})) == 11  # nothing was half written
    assert again.integrity() == "ok"


def test_reading_a_missing_database_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database"):
        Store(tmp_path / "nope.db", readonly=True)


@given(st.data())
def test_folding_the_stored_journal_reproduces_the_live_state(data: st.DataObject) -> None:
    """Theorem 7 (replay) through the store: steps as JSON in SQLite, folded back."""
    import tempfile

    grammar = data.draw(grammars())
    run: MessageRun = data.draw(message_runs(grammar))
    live: Derivation = run.derivation
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "db")
        workflow = Workflow(grammar, {}, Path(tmp) / "wf.py")
        run_id = store.create_run(workflow.to_json())
        store.append_many(run_id, [StepTaken(s) for s in live.history])
        _, folded = fold(store, run_id)
        assert folded.graph == live.graph
        assert folded.grammar == live.grammar
        store.close()


# ---------------------------------------------------------------- the run lease
def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def other(holder: Holder, **changes: Any) -> Holder:
    """Another orchestrator (its own token), by default this very process."""
    return dataclasses.replace(holder, token=Holder.this_process().token, **changes)


# ---------------------------------------------------------------- the lease, fuzzed
#: What an orchestrator does to a run's journal: (operation, orchestrator, writes).
LEASE_OPS = st.lists(st.tuples(
    st.sampled_from(["acquire", "batch", "write", "acquire", "batch", "heartbeat", "release"]),
    st.integers(0, 2), st.integers(1, 3)), min_size=4, max_size=16)


@example(alive=[False, False, False], owned=True,  # the journal's end read again when
         ops=[("batch", 0, 1), ("acquire", 1, 1), ("batch", 1, 1),  # a lease is taken back
              ("acquire", 0, 1), ("batch", 0, 1)])
@given(alive=st.lists(st.booleans(), min_size=3, max_size=3), owned=st.booleans(),
       ops=LEASE_OPS)
def test_the_lease_is_taken_only_from_a_dead_owner_and_fences_every_write(
        alive: list[bool], owned: bool, ops: list[tuple[str, int, int]]) -> None:
    """Theorem 9 (proofs/09-parallel-runs.md), the lease: three orchestrators, each
    alive or dead (its pid reused by this process), act on one run's journal in any
    order. A lease is taken only from nobody, oneself or a dead owner (a live one keeps
    it, LeaseHeld); a store that took the lease writes — alone or in a group-commit
    batch, every write of it — only while the lease is its own (else LeaseLost, and
    nothing of the batch is written), and so does its heartbeat; what the journal holds
    is exactly the writes that were allowed, in order, and the lease names its owner."""
    me = Holder.this_process()
    assume(me.started.count("/") == 1)  # /proc: a pid's start time tells a reused pid
    boot, ticks = me.started.split("/")
    holders = [other(me) if up else other(me, started=f"{boot}/{int(ticks) - 1}")
               for up in alive]
    with tempfile.TemporaryDirectory() as tmp:
        stores = [Store(Path(tmp) / "db") for _ in holders]
        owner: int | None = 0 if owned else None
        run = (stores[0].create_owned_run({"path": "x"}, holders[0]) if owned
               else stores[0].create_run({"path": "x"}))
        held = {0} if owned else set()
        written: list[dict[str, int]] = []
        for k, (op, i, n) in enumerate(ops):
            if i not in held:  # only a store that took the lease writes (or heartbeats)
                op = "release" if op == "release" else "acquire"
            store, mine = stores[i], owner == i
            if op == "acquire":
                free = owner is None or owner == i or not alive[owner]
                event(f"acquire: {'taken' if free else 'held by a live owner'}")
                if free:
                    store.acquire(run, holders[i])
                    owner, held = i, held | {i}
                else:
                    with pytest.raises(LeaseHeld):
                        store.acquire(run, holders[i])
            elif op == "write":
                event(f"write: {'written' if mine else 'refused'}")
                entry = {"by": i, "n": k}
                if mine:
                    store.append(run, Other("log", entry))
                    written.append(entry)
                else:
                    with pytest.raises(LeaseLost):
                        store.append(run, Other("log", entry))
            elif op == "batch":
                entries = [{"by": i, "n": k, "m": m} for m in range(n)]
                event(f"batch: {'written' if mine else 'refused'}")
                if mine:
                    with store.batch(run):
                        for entry in entries:
                            store.append(run, Other("log", entry))
                    written += entries
                else:
                    with pytest.raises(LeaseLost), store.batch(run):
                        for entry in entries:
                            with contextlib.suppress(LeaseLost, JournalWriteError):
                                store.append(run, Other("log", entry))
            elif op == "heartbeat":
                if owner == i:
                    store.heartbeat(run)
                else:
                    with pytest.raises(LeaseLost):
                        store.heartbeat(run)
            else:
                store.release(run)
                owner, held = None if owner == i else owner, held - {i}
            reader = Store(Path(tmp) / "db", readonly=True)
            assert [e.data for e in reader.entries(run)] == written
            lease = reader.lease(run)
            assert (lease.holder if lease else None) == (
                holders[owner] if owner is not None else None)
            reader.close()
        for store in stores:
            store.close()


def test_a_new_run_is_created_with_its_lease_in_one_transaction(tmp_path: Path) -> None:
    me = Holder.this_process()
    store = Store(tmp_path / "db")
    run = store.create_owned_run({"path": "x"}, me)
    lease = Store(tmp_path / "db", readonly=True).lease(run)
    assert lease is not None and lease.holder == me and lease.alive()


def test_a_live_owner_keeps_its_lease_and_is_named_in_the_refusal(tmp_path: Path) -> None:
    me = Holder.this_process()
    run = Store(tmp_path / "db").create_owned_run({"path": "x"}, me)
    with pytest.raises(LeaseHeld, match=f"pid {me.pid} on {me.host}, heartbeat .* ago"):
        Store(tmp_path / "db").acquire(run, other(me))


@pytest.mark.parametrize("dead", ["gone", "reused pid", "another boot"])
def test_a_dead_owner_on_this_host_is_taken_over(tmp_path: Path, dead: str) -> None:
    me = Holder.this_process()
    boot, ticks = me.started.split("/")
    owner = {"gone": other(me, pid=dead_pid()),
             "reused pid": other(me, started=f"{boot}/{int(ticks) - 1}"),  # this pid, earlier
             "another boot": other(me, started=f"another-boot/{ticks}")}[dead]
    run = Store(tmp_path / "db").create_owned_run({"path": "x"}, owner)
    store = Store(tmp_path / "db")
    taken = store.acquire(run, me)
    assert taken is not None and taken.holder == owner
    lease = store.lease(run)
    assert lease is not None and lease.holder == me


def test_a_stopped_owner_is_alive(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        sleeper.send_signal(19)  # SIGSTOP
        owner = other(Holder.this_process(), pid=sleeper.pid,
                      started=process_started(sleeper.pid) or "")
        run = Store(tmp_path / "db").create_owned_run({"path": "x"}, owner)
        with pytest.raises(LeaseHeld, match=f"pid {sleeper.pid}"):
            Store(tmp_path / "db").acquire(run, Holder.this_process())
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_zombie_owner_is_dead(tmp_path: Path) -> None:
    zombie = subprocess.Popen(["true"])
    while process_started(zombie.pid) is not None:  # exited, not yet reaped: a zombie
        time.sleep(0.01)
    assert Path(f"/proc/{zombie.pid}").exists()
    owner = other(Holder.this_process(), pid=zombie.pid)
    run = Store(tmp_path / "db").create_owned_run({"path": "x"}, owner)
    assert Store(tmp_path / "db").acquire(run, Holder.this_process()) is not None
    zombie.wait()


@pytest.mark.parametrize("age,taken", [(LEASE_EXPIRY - 10, False), (LEASE_EXPIRY + 10, True)])
def test_another_hosts_owner_is_dead_only_once_its_heartbeat_expired(
        tmp_path: Path, age: float, taken: bool) -> None:
    owner = other(Holder.this_process(), host="elsewhere", pid=1)
    run = Store(tmp_path / "db").create_owned_run({"path": "x"}, owner)
    db = sqlite3.connect(tmp_path / "db")
    with db:
        db.execute("UPDATE leases SET heartbeat=?", (time.time() - age,))
    db.close()
    store = Store(tmp_path / "db")
    if taken:
        assert store.acquire(run, Holder.this_process()) is not None
    else:
        with pytest.raises(LeaseHeld, match="pid 1 on elsewhere"):
            store.acquire(run, Holder.this_process())


def test_a_deposed_store_writes_nothing_more(tmp_path: Path) -> None:
    first = Store(tmp_path / "db")
    run = first.create_owned_run({"path": "x"}, Holder.this_process())
    first.append(run, Other("log", {"n": 1}))
    db = sqlite3.connect(tmp_path / "db")  # the lease taken by hand
    with db:
        db.execute("UPDATE leases SET owner='usurper'")
    db.close()
    with pytest.raises(LeaseLost, match="no longer this orchestrator's"):
        first.append(run, Other("log", {"n": 2}))
    with pytest.raises(LeaseLost):
        first.append_many(run, [Other("log", {"n": 3})])
    with pytest.raises(LeaseLost):
        first.finish_run(run, "succeeded")
    with pytest.raises(LeaseLost):
        first.heartbeat(run)
    readonly = Store(tmp_path / "db", readonly=True)
    assert [e.data for e in readonly.entries(run)] == [{"n": 1}]
    assert readonly.run(run).status == "running"


def test_finishing_records_the_status_and_releases_the_lease(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.create_owned_run({"path": "x"}, Holder.this_process())
    before = store.lease(run)
    time.sleep(0.01)
    store.heartbeat(run)
    after = store.lease(run)
    assert before is not None and after is not None and after.heartbeat > before.heartbeat
    store.finish_run(run, "failed", "a task failed")
    assert store.lease(run) is None
    assert store.run(run).status == "failed"
    assert [e.data for e in store.entries(run)] == [{"status": "failed",
                                                     "reason": "a task failed"}]
    assert Store(tmp_path / "db").acquire(run, Holder.this_process()) is None


def test_a_version_1_database_is_refused_saying_why(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "db")
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE runs (id INTEGER PRIMARY KEY, workflow TEXT NOT NULL,
            status TEXT NOT NULL, reason TEXT, created REAL NOT NULL, updated REAL NOT NULL);
        CREATE TABLE journal (run INTEGER NOT NULL REFERENCES runs(id),
            seq INTEGER NOT NULL, at REAL NOT NULL, kind TEXT NOT NULL,
            data TEXT NOT NULL, PRIMARY KEY (run, seq));
        INSERT INTO runs VALUES (1, '{"path": "x"}', 'interrupted', NULL, 0, 0);
    """)
    db.close()
    # Version 1 journals name holes by per-type serials: they cannot be replayed now.
    for readonly in (True, False):
        with pytest.raises(StoreError, match=r"schema version 1; this grammarflow reads "
                                             r"version 2 .*cannot be replayed"):
            Store(tmp_path / "db", readonly=readonly)
    tables = {r[0] for r in sqlite3.connect(tmp_path / "db").execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"meta", "runs", "journal"}, "a refused database was changed"


def test_a_database_left_mid_transaction_before_wal_reads_as_empty(tmp_path: Path) -> None:
    """A writer killed while it created the database, before WAL mode: its rollback
    journal is hot. A reader must roll it back (an empty database), not call the
    half-written file "not a database"."""
    import subprocess
    import sys

    code = ("import os, sqlite3\n"
            "db = sqlite3.connect('db', isolation_level=None)\n"
            "db.execute('PRAGMA cache_size=1'); db.execute('BEGIN')\n"
            "db.execute('CREATE TABLE t(x)')\n"
            "for i in range(5000): db.execute('INSERT INTO t VALUES (?)', ('x' * 500,))\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    assert (tmp_path / "db-journal").stat().st_size > 0
    store = Store(tmp_path / "db", readonly=True)
    assert store.empty and store.runs() == []
    assert Store(tmp_path / "db").runs() == []  # and a writer can use it


# ---------------------------------------------------------------- requests of the controls table
@pytest.mark.parametrize("end", ["finished", "released", "taken over"])
def test_a_request_is_withdrawn_when_the_lease_it_was_asked_under_ends(
        tmp_path: Path, end: str) -> None:
    owner = Holder.this_process() if end != "taken over" else other(
        Holder.this_process(), pid=dead_pid())
    store = Store(tmp_path / "db")
    run = store.create_owned_run({"path": "x"}, owner)
    asker = Store(tmp_path / "db")
    request = asker.requests.ask(run, "pause", {"by": "me"})
    if end == "finished":
        store.finish_run(run, "broken", "a promise")
    elif end == "released":
        store.release(run)
    else:
        Store(tmp_path / "db").acquire(run, Holder.this_process())
    outcome = asker.requests.taken(request)
    assert outcome is not None and outcome[0] == WITHDRAWN
    assert asker.requests.asked(run) == []
    assert [e.kind for e in store.entries(run)] == (["status"] if end == "finished" else [])


def test_a_transaction_decides_and_writes_at_once_or_not_at_all(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.create_run({"path": "x"})
    with pytest.raises(RuntimeError, match="decided against it"), store.transaction(run):
        store.requests.ask(run, "pause", {})
        store.append(run, Other("control", {"op": "pause"}))
        raise RuntimeError("decided against it")
    assert store.requests.asked(run) == [] and list(store.entries(run)) == []
    with store.transaction(run):
        assert store.requests.cancel_asked(run, ["pause"], "moot") == 0
        request = store.requests.ask(run, "pause", {})
        seq = store.take(run, request, Other("control", {"op": "pause"}))
    assert store.requests.taken(request) == (seq, None) == (1, None)


def test_a_later_request_cancels_earlier_ones_not_taken(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.create_run({"path": "x"})
    pause = store.requests.ask(run, "pause", {})
    answer = store.requests.ask(run, "answer", {})
    assert store.requests.cancel_asked(run, ["pause"], "cancelled by a later unpause") == 1
    assert store.requests.taken(pause) == (0, "cancelled by a later unpause")
    assert [r[0] for r in store.requests.asked(run)] == [answer]
