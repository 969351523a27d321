"""A run's state folded from its journal, starting from its newest snapshot.

The journal is the truth: a run's state is the fold of its entries. Snapshots are only a
cache, taken when :func:`snapshot_due` says (docs/architecture.md, "The journal and the
store"); folding from the start gives the same state (tests/test_fold.py).
"""

from __future__ import annotations

import gc
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph
from grammarflow.core.rollback import Journaled
from grammarflow.core.steps import Expand, Grow, Refine
from grammarflow.core.upgrade import rename_id, rename_step
from grammarflow.errors import Refusal
from grammarflow.journal.entries import (
    AttemptEnded,
    AttemptStarted,
    AttemptWaits,
    ChangeRefused,
    ControlTaken,
    JournalEntry,
    RestartTaken,
    StepTaken,
    UpgradeTaken,
)
from grammarflow.journal.store import Entry, RunRow, Store
from grammarflow.workflow.definition import Workflow

#: The snapshot format this version writes and reads (2: failures with their stderr and
#: log, the refusal; 3: constraint counts; 4: the grammar without its start graph, which
#: is the run's; 5: the ready tasks, so that `status` reads a finished run without
#: building its graph; a snapshot of an earlier format is ignored and the run folded
#: from the start).
FORMAT = 5

V = TypeVar("V")

#: How many of a failed attempt's last stderr lines are shown.
STDERR_LINES = 5

#: Entries between snapshots, at least (``GRAMMARFLOW_SNAPSHOT_EVERY`` overrides it).
SNAPSHOT_EVERY = int(os.environ.get("GRAMMARFLOW_SNAPSHOT_EVERY", "20000"))


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a task's last attempt ended without success, as journaled at its end."""

    attempt: int
    reason: str  # "exited with status 1", "timed out after 30 s (kind M's timeout)", ...
    stderr: tuple[str, ...] = ()  # its last stderr lines (:func:`stderr_lines`)
    log: str | None = None  # its log file; None: it wrote nothing

    def to_json(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "reason": self.reason, "stderr": list(self.stderr),
                "log": self.log}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Failure:
        return cls(data["attempt"], data["reason"], tuple(data["stderr"]), data["log"])

    @classmethod
    def of_end(cls, end: AttemptEnded) -> Failure:
        """Of an attempt's end. Its ``log_bytes`` says whether the task wrote anything
        (journals of earlier versions lack it: their log is assumed written)."""
        written = (end.log_bytes is None or end.log_bytes) and not end.log_error
        return cls(end.attempt, end.reason or "", stderr_lines(end.stderr_tail),
                   end.log if written else None)


@dataclass
class RunState:
    """The state of a run as of journal entry ``seq``."""

    workflow: Workflow
    d: Derivation
    seq: int = 0
    attempts: dict[str, int] = field(default_factory=dict)  # task -> attempts started
    failures: dict[str, Failure] = field(default_factory=dict)  # task -> its last failure
    refusal: Refusal | None = None  # the refused change that broke the run
    paused: bool = False  # `grammarflow pause`: no new task starts until unpaused
    waiting: dict[str, str] = field(default_factory=dict)  # task -> its question

    def apply(self, entry: Entry) -> None:
        """Fold one more entry (in journal order)."""
        self.replay(entry.record, entry.seq)

    def replay(self, record: JournalEntry, seq: int) -> None:
        """Fold entry ``seq``, already decoded: a step is applied by the core, and every
        entry, the step's too, noted."""
        if isinstance(record, StepTaken):
            self.d.apply(record.step)
        self.note(record)
        self.seq = seq

    def note(self, record: JournalEntry) -> None:
        """What an entry changes of the run's state but its graph and grammar — which
        only the core changes, by applying a step, before the step is journaled (live)
        or as it is replayed (:meth:`apply`). The one place each kind is taken in."""
        match record:
            case ControlTaken(op) if op in ("pause", "unpause"):
                self.paused = op == "pause"
            case AttemptStarted(task, attempt):
                self.attempts[task] = attempt
            case AttemptWaits(task, attempt, question):
                self.attempts[task] = attempt
                self.waiting[task] = question
            case AttemptEnded(task):
                self.waiting.pop(task, None)
                if record.reason:
                    self.failures[task] = Failure.of_end(record)
            case RestartTaken(restarted=restarted, vanished=vanished):
                # its removed steps are skipped by the fold (fold_run), rolled back live
                for task in [*restarted, *vanished]:
                    self.waiting.pop(task, None)
                    self.failures.pop(task, None)
            case ChangeRefused(refusal) if self.refusal is None:
                self.refusal = refusal

    def restarted(self, d: Derivation, entry: RestartTaken, seq: int) -> RunState:
        """The state after ``entry``, a restart journaled as entry ``seq`` whose kept
        steps replay to ``d`` (:func:`grammarflow.core.rollback.rollback`)."""
        after = RunState(self.workflow, d, seq, dict(self.attempts), dict(self.failures),
                         self.refusal, self.paused, dict(self.waiting))
        after.note(entry)
        return after

    def upgraded(self, entry: UpgradeTaken, seq: int, journal: Iterable[Journaled]
                 ) -> RunState:
        """The state after ``entry``, an upgrade journaled as entry ``seq``: the run's
        steps as they stand (``journal``, with the ids of the version before) replayed
        under the new version, renamed as it says."""
        workflow = Workflow.from_json(dict(entry.workflow))
        d = Derivation.replay(workflow.grammar, (rename_step(j.step, entry.renamed)
                                                 for j in journal))
        return self.moved_to(workflow, d, seq, entry.renamed)

    def moved_to(self, workflow: Workflow, d: Derivation, seq: int,
                 renamed: Mapping[str, str]) -> RunState:
        """The run under another version of its workflow, its derivation ``d`` (its
        steps re-derived there): what it knows of its tasks (attempts, failures,
        waits) kept, under their ids there."""
        def moved(by_task: dict[str, V]) -> dict[str, V]:
            return {rename_id(t, renamed): v for t, v in by_task.items()}
        d.workflow_kinds = frozenset(workflow.kinds)
        return RunState(workflow, d, seq, moved(self.attempts), moved(self.failures),
                        self.refusal, self.paused, moved(self.waiting))

    def snapshot(self) -> dict[str, Any]:
        return {"format": FORMAT, "graph": self.d.graph.snapshot(),
                "grammar": self.d.grammar.to_json(start=False), "attempts": self.attempts,
                "constraints": self.d.limits.to_json(),
                "failures": {t: f.to_json() for t, f in self.failures.items()},
                "refusal": self.refusal.to_json() if self.refusal else None,
                "paused": self.paused, "waiting": self.waiting}

    @classmethod
    def of_snapshot(cls, workflow: Workflow, seq: int, data: dict[str, Any]
                    ) -> RunState | None:
        if data.get("format") != FORMAT:
            return None  # written by another version: fold from the start instead
        d = Derivation(Grammar.from_json(data["grammar"], checked=False,
                                         start=workflow.grammar.start),
                       Graph.from_snapshot(data["graph"]),
                       data["constraints"])
        failures = {t: Failure.from_json(f) for t, f in data["failures"].items()}
        refusal = Refusal.from_json(data["refusal"]) if data["refusal"] else None
        return cls(workflow, d, seq, dict(data["attempts"]), failures, refusal,
                   bool(data.get("paused")), dict(data.get("waiting", {})))


#: A line of a Python traceback naming a frame: ``  File "wf.py", line 8, in helper``.
_FRAME = re.compile(r'^\s*File ".*", line \d+')
#: Control characters (but tab) a task may write: shown as escapes, never sent to a terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def stderr_lines(tail: str, keep: int = STDERR_LINES) -> tuple[str, ...]:
    """The last ``keep`` lines of a task's stderr that say something (not blank, not a
    traceback's ``^^^^`` markers), control characters escaped; for a Python traceback,
    its last frame (``File "...", line N, in f``) is among them even when the exception's
    message is longer than that (then ``...`` marks the gap).

    >>> stderr_lines('Traceback (most recent call last):\\n  File "t.py", line 2, in f\\n'
    ...              'ValueError: no\\n\\n')
    ('Traceback (most recent call last):', '  File "t.py", line 2, in f', 'ValueError: no')
    >>> stderr_lines('  File "t.py", line 2, in f\\n    int(x)\\n    ^^^^^^\\nValueError: x\\n')
    ('  File "t.py", line 2, in f', '    int(x)', 'ValueError: x')
    >>> stderr_lines('  File "t.py", line 2, in f\\nValueError: rows\\n 1\\n 2\\n 3\\n', keep=4)
    ('  File "t.py", line 2, in f', '...', ' 2', ' 3')
    """
    lines = [_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line.rstrip())
             for line in tail.splitlines() if line.strip(" \t^~")]
    last = lines[-keep:]
    frames = [i for i, line in enumerate(lines) if _FRAME.match(line)]
    if frames and frames[-1] < len(lines) - keep:  # a long message hides the frame
        return (lines[frames[-1]], "...", *last[2:])
    return tuple(last)


#: The journal entries that make up a run's state.
STATE_KINDS = ("step", "attempt", "refused", "control", "restart", "upgrade")


def fold_run(store: Store, run_id: int, upto: int | None = None,
             kinds: Iterable[str] = STATE_KINDS, row: RunRow | None = None) -> RunState:
    """The run's state as of entry ``upto`` (default: the newest), from the newest
    snapshot at or before it and the entries after.

    A ``restart`` entry rolled back earlier steps (:mod:`grammarflow.core.rollback`): the
    fold skips them, and a snapshot taken before the newest restart is not used (it
    holds them). ``row``: the run's row, if the caller has read it already."""
    with gc_paused():
        return _fold_run(store, run_id, upto, kinds, row)


def _fold_run(store: Store, run_id: int, upto: int | None, kinds: Iterable[str],
              row: RunRow | None) -> RunState:
    restarts = store.restarts(run_id, upto)
    state = _from_snapshot(store, run_id, row or store.run(run_id), restarts, upto)
    return _fold_entries(state, store, run_id, upto, kinds, rolled_back(restarts))


def _from_snapshot(store: Store, run_id: int, row: RunRow, restarts: list[Entry],
                   upto: int | None) -> RunState:
    """The run's state as of its newest snapshot at or before ``upto`` that no restart
    overtook (it would hold steps the restart removed), else at its start."""
    cached = store.snapshot(run_id, upto)
    state = None
    if cached is not None and (not restarts or cached[0] >= restarts[-1].seq):
        state = RunState.of_snapshot(workflow_at(store, run_id, row, cached[0]), cached[0],
                                     cached[1])
    return state or _at_start(row)


def _at_start(row: RunRow) -> RunState:
    workflow = Workflow.from_json(row.workflow)
    return RunState(workflow, workflow.grammar.derivation())


def workflow_at(store: Store, run_id: int, row: RunRow, seq: int | None = None) -> Workflow:
    """The version of its workflow the run was under as of entry ``seq`` (default: now):
    the one it began with, or the newest it was upgraded to by then."""
    return Workflow.from_json(workflow_json_at(store, run_id, row, seq))


def workflow_json_at(store: Store, run_id: int, row: RunRow, seq: int | None = None
                     ) -> dict[str, Any]:
    """:func:`workflow_at` as its JSON, not read (its path, its grammar's data)."""
    upgrades = store.upgrades(run_id, seq)
    return dict(upgrades[-1].data["workflow"]) if upgrades else row.workflow


def take(state: RunState, e: Entry, store: Store, skip: set[int]) -> RunState:
    """``state`` with entry ``e`` folded in (in journal order): a step a restart rolled
    back skipped; an upgrade re-derives the steps as they stand (those ``skip`` does
    not hold) under its version; any other entry applied."""
    if e.seq in skip:
        state.seq = e.seq
        return state
    record = e.record
    if isinstance(record, UpgradeTaken):
        return state.upgraded(record, e.seq, journaled_steps(store, e.run, e.seq - 1, skip))
    state.replay(record, e.seq)
    return state


class Checkpoints:
    """A run's state kept in memory every ``every`` entries as it is folded, so that its
    state as of any entry is folded from the nearest one (a timeline moved back and
    forth: `grammarflow serve`'s slider) rather than from the start — the store keeps
    only its newest two snapshots. Kept as JSON text: a state folded on from one never
    changes it. For ``runs`` runs at most, the least recently used dropped."""

    def __init__(self, every: int = 5_000, runs: int = 4) -> None:
        self.every = every
        self.runs = runs
        self.kept: dict[int, dict[int, str]] = {}  # run -> seq -> its state's snapshot
        self.lock = threading.Lock()

    def fold(self, store: Store, run_id: int, upto: int) -> RunState:
        """The run's state as of entry ``upto``: as :func:`fold_run` folds it. The first
        fold of a run keeps a state every ``every`` entries of all its journal (of a run
        never restarted; else along the way)."""
        with gc_paused():
            row = store.run(run_id)
            with self.lock:
                first = run_id not in self.kept
                kept = self.kept.pop(run_id, {})
                self.kept[run_id] = kept  # the most recently used last
                while len(self.kept) > self.runs:
                    del self.kept[next(iter(self.kept))]
            if first and not store.restarts(run_id):
                self._fold(store, run_id, row, store.last_seq(run_id), kept, whole=True)
            return self._fold(store, run_id, row, upto, kept)

    def _fold(self, store: Store, run_id: int, row: RunRow, upto: int,
              kept: dict[int, str], whole: bool = False) -> RunState:
        restarts = store.restarts(run_id, upto)
        # a state before the newest restart holds steps it removed: neither used nor kept
        after = restarts[-1].seq if restarts else 0
        with self.lock:
            near = max((seq for seq in kept if after <= seq <= upto), default=None)
            text = kept[near] if near is not None else None
        ours = None if text is None or near is None else RunState.of_snapshot(
            workflow_at(store, run_id, row, near), near, json.loads(text))
        # the store's own snapshot only if it is nearer (building one costs)
        if whole:  # from the start, keeping states all along
            state = _at_start(row)
        elif ours is not None and near is not None and near >= (
                store.snapshot_seq(run_id, upto) or 0):
            state = ours
        else:
            state = _from_snapshot(store, run_id, row, restarts, upto)
        skip = rolled_back(restarts)
        last = state.seq
        for e in store.entries(run_id, list(STATE_KINDS), after=state.seq):
            if e.seq > upto:
                break
            state = take(state, e, store, skip)
            if e.seq - last >= self.every and e.seq >= after:
                last = e.seq
                text = json.dumps(state.snapshot(), separators=(",", ":"))
                with self.lock:
                    kept[e.seq] = text
        state.seq = upto
        return state


def current_snapshot(store: Store, run_id: int) -> dict[str, Any] | None:
    """The run's newest snapshot if it is its whole state now — no entry of the state
    (:data:`STATE_KINDS`, restarts among them) after it, and of this format (a run that
    ended took one) — else None (then :func:`fold_run`)."""
    cached = store.snapshot(run_id)
    if cached is None or cached[1].get("format") != FORMAT:
        return None
    seq, data = cached
    if next(store.entries(run_id, STATE_KINDS, after=seq), None) is not None:
        return None
    return data


def fold_from_start(store: Store, run_id: int, upto: int | None = None,
                    kinds: Iterable[str] = STATE_KINDS) -> RunState:
    """The same state as :func:`fold_run`, from the whole journal (no snapshot)."""
    return _fold_entries(_at_start(store.run(run_id)), store, run_id, upto, kinds,
                         rolled_back(store.restarts(run_id, upto)))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Reading a run (or writing its snapshot) builds many objects and frees few: the
    cyclic garbage collector, which would scan them — and everything else the process
    holds — again and again (half the time of `status` on 10k tasks; a 100k-task
    snapshot's JSON took 5x as long), waits until it is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def fold_with_steps(store: Store, run_id: int) -> tuple[RunState, list[Journaled]]:
    """The run's state now and its steps as they stand (what a restart plans on), from
    one read of the journal: the state from the newest snapshot that a restart did not
    overtake and the entries after it, the steps from all of them."""
    with gc_paused():
        row = store.run(run_id)
        restarts = store.restarts(run_id)
        skip = rolled_back(restarts)
        state = _from_snapshot(store, run_id, row, restarts, None)
        steps: list[Journaled] = []
        for e in store.entries(run_id, STATE_KINDS):
            if e.seq in skip:
                state.seq = max(state.seq, e.seq)
                continue
            record = e.record
            if isinstance(record, StepTaken):
                steps.append(Journaled(e.seq, record.step, record.by))
            if isinstance(record, UpgradeTaken):
                if e.seq > state.seq:
                    state = state.upgraded(record, e.seq, steps)
                steps = _renamed(steps, record.renamed)
            elif e.seq > state.seq:
                state.replay(record, e.seq)
        return state, steps


def journaled_steps(store: Store, run_id: int, upto: int | None = None,
                    skip: set[int] | None = None) -> list[Journaled]:
    """The run's steps as they stand (those no restart removed; ``skip``: those the
    restarts a fold heeds removed) at or before entry ``upto``, with who made each, and
    with the ids of the version the run is under then (an upgrade that renamed hole
    types re-maps the steps before it)."""
    skip = rolled_back(store.restarts(run_id)) if skip is None else skip
    steps: list[Journaled] = []
    for e in store.entries(run_id, ["step", "upgrade"]):
        if upto is not None and e.seq > upto:
            break
        if e.seq in skip:
            continue
        record = e.record
        if isinstance(record, StepTaken):
            steps.append(Journaled(e.seq, record.step, record.by))
        elif isinstance(record, UpgradeTaken):
            steps = _renamed(steps, record.renamed)
    return steps


def _renamed(steps: list[Journaled], renamed: Mapping[str, str]) -> list[Journaled]:
    if not renamed:
        return steps
    return [Journaled(j.seq, rename_step(j.step, renamed), j.by) for j in steps]


def made_by(journal: Iterable[Journaled], task: str) -> str:
    """Who made ``task``, and with which change, in words: the journaled step that
    expanded, grew or refined the hole it was made under (a task is ``<hole>/<name>``).

    >>> from grammarflow import Fragment, TaskSpec
    >>> made_by([Journaled(7, Grow("Dyn.1", Fragment((TaskSpec("x", "X"),))), "W")],
    ...         "Dyn.1/x")
    'task Dyn.1/x was made by task W (journal entry 7: open hole Dyn.1 grew)'
    """
    hole, _, local = task.rpartition("/")
    if not hole:
        return f"task {task} is of the start graph"
    for j in journal:
        match j.step:
            case Expand(at, production) if at == hole:
                change = f"hole {hole} expanded with production {production}"
            case Grow(at, fragment) if at == hole and local in fragment.locals:
                change = f"open hole {hole} grew"
            case Refine(at, fragment) if at == hole and local in fragment.locals:
                change = f"open hole {hole} refined"
            case _:
                continue
        who = f"task {j.by}" if j.by is not None else "the orchestrator"
        return f"task {task} was made by {who} (journal entry {j.seq}: {change})"
    return f"task {task} was made by no step the journal keeps"


def rolled_back(restarts: Iterable[Entry]) -> set[int]:
    """The step entries the given ``restart`` entries removed."""
    return {seq for e in restarts for seq in _restart(e).removed_seqs()}


def _restart(entry: Entry) -> RestartTaken:
    record = entry.record
    if not isinstance(record, RestartTaken):
        raise TypeError(f"journal entry {entry.seq} is no restart: {record!r}")
    return record


def seq_ranges(seqs: Iterable[int]) -> list[list[int]]:
    """Sorted entry numbers as ``[first, last]`` runs, as a ``restart`` entry keeps them.

    >>> seq_ranges([3, 4, 5, 9, 11, 12])
    [[3, 5], [9, 9], [11, 12]]
    """
    out: list[list[int]] = []
    for seq in sorted(seqs):
        if out and out[-1][1] == seq - 1:
            out[-1][1] = seq
        else:
            out.append([seq, seq])
    return out


def _fold_entries(state: RunState, store: Store, run_id: int, upto: int | None,
                  kinds: Iterable[str], skip: set[int]) -> RunState:
    for e in store.entries(run_id, list(kinds), after=state.seq):
        if upto is not None and e.seq > upto:
            break
        state = take(state, e, store, skip)
    if upto is not None:
        state.seq = upto
    return state


def paused_at(store: Store, run_id: int, upto: int | None = None) -> bool:
    """Was the run paused as of journal entry ``upto`` (default: now)?"""
    paused = False
    for e in store.entries(run_id, ["control"]):
        if upto is not None and e.seq > upto:
            break
        op = e.data["op"]
        paused = op == "pause" if op in ("pause", "unpause") else paused
    return paused


def snapshot_due(last_snapshot: int, seq: int, size: int = 0) -> bool:
    """Whether a run whose newest snapshot is as of ``last_snapshot`` (0: none), whose
    journal is at ``seq`` and whose state holds ``size`` tasks and holes should take
    another now."""
    grown = seq - last_snapshot
    return grown >= SNAPSHOT_EVERY and grown >= last_snapshot // 4 and grown >= 2 * size


__all__ = [
    "FORMAT",
    "SNAPSHOT_EVERY",
    "STATE_KINDS",
    "STDERR_LINES",
    "Checkpoints",
    "Failure",
    "RunState",
    "current_snapshot",
    "fold_from_start",
    "fold_run",
    "fold_with_steps",
    "gc_paused",
    "journaled_steps",
    "made_by",
    "paused_at",
    "rolled_back",
    "seq_ranges",
    "snapshot_due",
    "stderr_lines",
    "take",
    "workflow_at",
    "workflow_json_at",
]
