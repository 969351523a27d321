"""An upgrade of a run to a new version of its workflow, planned: the verdict of the core
(:mod:`grammarflow.core.upgrade`) plus what only the workflow knows — outputs already
given still of the types the new version declares, a command for every kind still to
run, running tasks of a kind whose definition changed — and the difference of possible
futures. Journaled by :func:`grammarflow.journal.operations.upgrade` or by the living
orchestrator (docs/operations.md, "Upgrading a run").
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace

from grammarflow.core.derivation import Derivation
from grammarflow.core.futures import Futures, compare
from grammarflow.core.graph import Graph, TaskState
from grammarflow.core.rollback import Journaled
from grammarflow.core.upgrade import BUDGET, SAFE, UNSAFE, Verdict, rederive
from grammarflow.errors import BrokenPromise, GrammarflowError
from grammarflow.journal.entries import Asker, UpgradeTaken
from grammarflow.journal.state import RunState
from grammarflow.workflow.definition import Workflow

__all__ = ["UpgradePlan", "plan_upgrade"]


@dataclass(frozen=True)
class UpgradePlan:
    """What upgrading the run to ``new`` would do: the verdict, the difference of
    futures (when the journal re-derives), and the state it would go on from."""

    verdict: Verdict
    before: RunState  # the run as it stands
    new: Workflow  # the new version, with the run's parameters
    futures: Futures | None = None
    after: RunState | None = None  # the run's state under the new version (safe only)
    already: bool = False  # the run is on this version already: nothing to do

    @property
    def accepted(self) -> bool:
        return self.verdict.accepted

    @property
    def old(self) -> Workflow:
        return self.before.workflow

    def entry(self, by: Asker) -> UpgradeTaken:
        """The journal entry that takes the upgrade."""
        return UpgradeTaken(self.new.to_json(), dict(self.verdict.renamed), self.new.version,
                            self.old.version, by)


def plan_upgrade(state: RunState, journal: list[Journaled], new: Workflow, *,
                 running: Set[str] = frozenset(), renames: Mapping[str, str] | None = None,
                 budget: int = BUDGET) -> UpgradePlan:
    """Plan the upgrade of the run whose state is ``state`` and whose steps as they
    stand are ``journal`` to workflow ``new`` (read from its file: its Python types
    check the outputs). ``running``: the tasks a living orchestrator runs now (each of
    a kind the new version leaves as it is, else refused: it runs under the old one)."""
    old = state.workflow
    new = replace(new, params={**new.params, **{k: v for k, v in old.params.items()
                                                if k in new.params}})
    if new.version == old.version:
        said = f"the run is on version {old.version} already: nothing to do"
        return UpgradePlan(Verdict(SAFE, said, state.d), state, new, already=True,
                           after=state)
    verdict = rederive(old.grammar, new.grammar, journal, state.d.graph,
                       kinds=frozenset(new.kinds), renames=renames, budget=budget)
    d = verdict.derivation
    if d is None:
        return UpgradePlan(verdict, state, new)
    wrong = (_running_changed(old, new, state.d.graph, running, verdict.renamed)
             or _outputs_wrong(new, d) or _no_command(new, d))
    if wrong is not None:
        verdict = replace(wrong, derivation=None, renamed=verdict.renamed, tried=verdict.tried)
    futures = compare(state.d, d, verdict.renamed)
    if not verdict.accepted:
        return UpgradePlan(verdict, state, new, futures)
    return UpgradePlan(verdict, state, new, futures,
                       state.moved_to(new, d, state.seq, verdict.renamed))


def _running_changed(old: Workflow, new: Workflow, graph: Graph, running: Set[str],
                     renamed: Mapping[str, str]) -> Verdict | None:
    """A task running now keeps running under the definition of its kind it started
    with: refused if the new version changes that kind, or renames ids under it."""
    if running and renamed:
        task = min(running)
        return Verdict(UNSAFE, f"task {task} is running, and the upgrade re-maps ids "
                       f"({', '.join(f'{a} -> {b}' for a, b in sorted(renamed.items()))}); "
                       "wait until no task runs (pause the run), then upgrade", task=task)
    for task in sorted(running):
        kind = graph.tasks[task].kind
        a, b = old.kinds.get(kind), new.kinds.get(kind)
        if (a and a.to_json()) != (b and b.to_json()) or _types_of(old, kind) != _types_of(
                new, kind):
            return Verdict(UNSAFE, f"task {task} is running as kind {kind}, which the new "
                           "version changes: it would finish under the old definition; "
                           "wait until it ends (pause the run), then upgrade", task=task)
    return None


def _types_of(w: Workflow, kind: str) -> object:
    sig = w.grammar.data.get(kind)
    return sig.to_json() if sig is not None else None


def _outputs_wrong(new: Workflow, d: Derivation) -> Verdict | None:
    """Every output already given is of the type its kind declares in the new version."""
    g = d.graph
    for task, value in g.outputs.items():
        try:
            new.checked_output(task, g.tasks[task].kind, value)
        except BrokenPromise as e:
            return Verdict(UNSAFE, f"{e.reason} (the new version's type; the output was "
                           "given before the upgrade)", task=task, why=str(e.why))
    return None


def _no_command(new: Workflow, d: Derivation) -> Verdict | None:
    """Every task still to run has a command in the new version."""
    g = d.graph
    for task, st in g.state.items():
        if st is TaskState.DONE:
            continue
        kind = g.tasks[task].kind
        try:
            new.kind(kind)
        except GrammarflowError as e:
            return Verdict(UNSAFE, f"task {task} is still to run, and {e}", task=task)
    return None
