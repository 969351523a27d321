"""A run's state folded from its journal, starting from its newest snapshot.

The journal is the truth (DESIGN §7): the state of a run is the fold of its entries —
``step`` entries replayed by the core, ``attempt`` entries counted. A *snapshot* caches
that fold as of some entry (the graph in creation order, the grammar as narrowed, the
attempts made and the last error of each task), so that reading a long run costs the
snapshot plus the entries after it, not the whole journal. Snapshots are only a cache:
one that cannot be read is ignored, and folding from the start gives the same state
(tests/test_fold.py).

When to take one (:func:`snapshot_due`): once the entries since the last one are at
least :data:`SNAPSHOT_EVERY` and at least a quarter of the journal before it — so a run
of n entries pays O(n) for all its snapshots together (at most about five times its
final state), and is read in O(state + n/5); a run that ended normally took one at its
end, and is read in O(state).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from grammarflow.derivation import Derivation
from grammarflow.grammar import Grammar
from grammarflow.graph import Graph
from grammarflow.steps import step_from_json
from grammarflow.store import Entry, Store
from grammarflow.workflow import Workflow

#: The snapshot format this version writes and reads.
FORMAT = 1

#: Entries between snapshots, at least (``GRAMMARFLOW_SNAPSHOT_EVERY`` overrides it).
SNAPSHOT_EVERY = int(os.environ.get("GRAMMARFLOW_SNAPSHOT_EVERY", "20000"))


@dataclass
class RunFold:
    """The state of a run as of journal entry ``seq``."""

    workflow: Workflow
    d: Derivation
    seq: int = 0
    attempts: dict[str, int] = field(default_factory=dict)  # task -> attempts started
    errors: dict[str, str] = field(default_factory=dict)  # task -> why its last one failed

    def apply(self, entry: Entry) -> None:
        """Fold one more entry (in journal order)."""
        if entry.kind == "step":
            self.d.apply(step_from_json(entry.data))
        elif entry.kind == "attempt":
            data = entry.data
            if data.get("event") == "start":
                self.attempts[data["task"]] = data["attempt"]
            elif data.get("event") == "end" and data.get("reason"):
                self.errors[data["task"]] = data["reason"]
        self.seq = entry.seq

    def snapshot(self) -> dict[str, Any]:
        return {"format": FORMAT, "graph": self.d.graph.snapshot(),
                "grammar": self.d.grammar.to_json(), "attempts": self.attempts,
                "errors": self.errors}

    @classmethod
    def of_snapshot(cls, workflow: Workflow, seq: int, data: dict[str, Any]
                    ) -> RunFold | None:
        if data.get("format") != FORMAT:
            return None  # written by another version: fold from the start instead
        d = Derivation(Grammar.from_json(data["grammar"]), Graph.from_snapshot(data["graph"]))
        return cls(workflow, d, seq, dict(data["attempts"]), dict(data["errors"]))


def fold_run(store: Store, run_id: int, upto: int | None = None,
             kinds: Iterable[str] = ("step", "attempt")) -> RunFold:
    """The run's state as of entry ``upto`` (default: the newest), from the newest
    snapshot at or before it and the entries after."""
    workflow = Workflow.from_json(store.run(run_id).workflow)
    cached = store.snapshot(run_id, upto)
    state = None
    if cached is not None:
        state = RunFold.of_snapshot(workflow, cached[0], cached[1])
    if state is None:
        state = RunFold(workflow, workflow.grammar.derivation())
    return _fold_entries(state, store, run_id, upto, kinds)


def fold_from_start(store: Store, run_id: int, upto: int | None = None,
                    kinds: Iterable[str] = ("step", "attempt")) -> RunFold:
    """The same state as :func:`fold_run`, from the whole journal (no snapshot)."""
    workflow = Workflow.from_json(store.run(run_id).workflow)
    return _fold_entries(RunFold(workflow, workflow.grammar.derivation()), store, run_id,
                         upto, kinds)


def _fold_entries(state: RunFold, store: Store, run_id: int, upto: int | None,
                  kinds: Iterable[str]) -> RunFold:
    for e in store.entries(run_id, list(kinds), after=state.seq):
        if upto is not None and e.seq > upto:
            break
        state.apply(e)
    if upto is not None:
        state.seq = upto
    return state


def snapshot_due(last_snapshot: int, seq: int) -> bool:
    """Whether a run whose newest snapshot is as of ``last_snapshot`` (0: none) and
    whose journal is at ``seq`` should take another now."""
    grown = seq - last_snapshot
    return grown >= SNAPSHOT_EVERY and grown >= last_snapshot // 4


__all__ = ["FORMAT", "SNAPSHOT_EVERY", "RunFold", "fold_from_start", "fold_run", "snapshot_due"]
