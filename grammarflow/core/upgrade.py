"""A run moved to a new grammar: its journal re-derived under the new productions.

A run may go on under a new grammar exactly when every step it journaled (those no
restart removed), in journal order, is a step the new grammar accepts from its own start
graph, every task that started keeps its kind, and every hole it leaves can still
finish. Four verdicts, never a guess: safe, unsafe (the first entry the new grammar
cannot explain, with the core's refusal), stuck (a hole can no longer finish),
undecided (the renamings to try ran past the budget, or two explain the run). Hole
types renamed between versions are found by trying new types of the same signature,
the ids re-mapped segment by segment (``Ms.1/M`` to ``Items.1/M``). Pure. The argument:
proofs/14-upgrade.md."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from grammarflow.core.derivation import Derivation
from grammarflow.core.grammar import Grammar
from grammarflow.core.graph import Graph, TaskState
from grammarflow.core.productions import HoleType
from grammarflow.core.rollback import Journaled
from grammarflow.core.steps import (
    Constrain,
    Expand,
    Grow,
    NarrowHole,
    NarrowType,
    Refine,
    Step,
    step_from_json,
    step_to_json,
)
from grammarflow.core.wellformed import productive_types
from grammarflow.errors import BrokenPromise, GrammarflowError

__all__ = ["BUDGET", "SAFE", "STUCK", "UNDECIDED", "UNSAFE", "Verdict", "can_finish",
           "rederive", "rename_id", "rename_step"]

SAFE, UNSAFE, STUCK, UNDECIDED = "safe", "unsafe", "stuck", "undecided"

#: Renamings of hole types tried at most (each a replay of the whole journal) before
#: the verdict is "undecided".
BUDGET = 64

#: One segment of an id that a hole made: ``Type.n`` (``Type.n.k`` along a repetition).
_HOLE_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(\.\d+(?:\.\d+)*)$")


@dataclass(frozen=True)
class Verdict:
    """Whether a run may go on under a new grammar, and why (see the module)."""

    verdict: str  # SAFE, UNSAFE, STUCK or UNDECIDED
    reason: str
    #: The journal re-derived under the new grammar (safe and stuck): the run's
    #: derivation from the upgrade on.
    derivation: Derivation | None = None
    #: Old hole type -> new, where the journal's ids were re-mapped.
    renamed: Mapping[str, str] = field(default_factory=dict)
    seq: int | None = None  # the first journal entry the new grammar cannot explain
    task: str | None = None
    hole: str | None = None
    why: str | None = None  # the refusal's category (errors.Why), when the core refused
    tried: int = 0  # renamings tried

    @property
    def accepted(self) -> bool:
        return self.verdict == SAFE

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reason": self.reason, "renamed": dict(self.renamed),
                "seq": self.seq, "task": self.task, "hole": self.hole, "why": self.why,
                "tried": self.tried}


def rederive(old: Grammar, new: Grammar, journal: Sequence[Journaled], now: Graph, *,
             kinds: frozenset[str] | None = None, renames: Mapping[str, str] | None = None,
             budget: int = BUDGET) -> Verdict:
    """The verdict on moving a run of grammar ``old`` (as its workflow declared it),
    whose steps as they stand are ``journal`` and whose graph is ``now``, to grammar
    ``new``. ``kinds``: every kind the new workflow can run (constraints name them);
    ``renames``: old hole type -> new, as the user said (the rest is searched)."""
    tried = 0
    found: list[tuple[dict[str, str], Derivation]] = []
    best: tuple[int, Verdict] | None = None  # the refusal of the renaming that went furthest
    for mapping in _renamings(old, new, journal, now, dict(renames or {})):
        if tried == budget:
            return Verdict(UNDECIDED, f"more than {budget} renamings of hole types to try "
                           f"({_gone(old, new)} gone from the new version): undecided, "
                           "so refused; say which new type each old one is "
                           "(--rename OLD=NEW)", tried=tried)
        tried += 1
        outcome = _replay(old, new, journal, mapping, kinds)
        refused: Verdict | None
        if isinstance(outcome, tuple):
            went, refused = outcome
        else:
            went, refused = len(journal), _kind_changed(now, outcome.graph, mapping)
        if refused is not None:
            if best is None or went > best[0]:
                best = (went, _renamed_said(refused, mapping, tried))
            continue
        assert isinstance(outcome, Derivation)
        found.append((mapping, outcome))
        if len(found) > 1:
            shown = " and ".join(_mapping_text(m) for m, _ in found)
            return Verdict(UNDECIDED, f"two renamings of hole types both explain the run "
                           f"({shown}): undecided, so refused; say which "
                           "(--rename OLD=NEW)", tried=tried)
    if not found:
        assert best is not None
        return best[1]
    mapping, d = found[0]
    stuck = _stuck(d)
    if stuck is not None:
        hole, why = stuck
        return Verdict(STUCK, f"hole {hole} can no longer finish: {why}", d, mapping,
                       hole=hole, tried=tried)
    said = f"; ids re-mapped: {_mapping_text(mapping)}" if mapping else ""
    return Verdict(SAFE, f"every one of the run's {len(journal)} step(s) is a step of the "
                   f"new version, and every hole can still finish{said}", d, mapping,
                   tried=tried)


# ---------------------------------------------------------------- renamings
def _renamings(old: Grammar, new: Grammar, journal: Sequence[Journaled], now: Graph,
               given: dict[str, str]) -> Iterator[dict[str, str]]:
    """Each way to map the hole types the run uses and the new version lacks to new
    types of the same signature (those ``given`` fixed); one, the empty one, when none
    is lacking."""
    for a, b in given.items():
        if a not in old.types:
            raise GrammarflowError(f"--rename {a}={b}: the run's workflow has no hole type "
                                   f"{a!r}")
        if b not in new.types:
            raise GrammarflowError(f"--rename {a}={b}: the new version has no hole type "
                                   f"{b!r}")
    used = _types_used(journal, now)
    lacking = sorted(t for t in used & set(old.types) if t not in new.types and t not in given)
    fresh = [t for t in new.types if t not in old.types and t not in given.values()]
    choices: list[list[str | None]] = [
        [*(c for c in fresh if _same_signature(old.types[t], new.types[c]))] or [None]
        for t in lacking]
    for picked in itertools.product(*choices):
        chosen = [c for c in picked if c is not None]
        if len(set(chosen)) < len(chosen):
            continue  # two old types onto one new one
        yield {**given, **{t: c for t, c in zip(lacking, picked, strict=True)
                           if c is not None}}


def _same_signature(a: HoleType, b: HoleType) -> bool:
    return (a.roles, a.open, a.everywhere) == (b.roles, b.open, b.everywhere)


def _types_used(journal: Sequence[Journaled], now: Graph) -> set[str]:
    """The hole types named in the run's ids (tasks, holes, steps)."""
    ids: list[str] = [*now.tasks, *now.holes]
    used: set[str] = set()
    for j in journal:
        match j.step:
            case Expand(hole) | Grow(hole) | Refine(hole) | NarrowHole(hole) | Constrain(hole):
                ids.append(hole)
            case NarrowType(type_):
                used.add(type_)
    for i in dict.fromkeys(ids):
        for segment in i.split("/"):
            m = _HOLE_SEGMENT.match(segment)
            if m:
                used.add(m.group(1))
    return used


def rename_id(node: str, mapping: Mapping[str, str]) -> str:
    """``node``'s id with each hole segment of a renamed type renamed.

    >>> rename_id("Ms.1/Ms_more.1.2/M", {"Ms_more": "More"})
    'Ms.1/More.1.2/M'
    """
    if not mapping:
        return node
    parts = node.split("/")
    if parts[0].startswith("~") and any(p.split(".")[0] in mapping for p in parts[1:]):
        raise GrammarflowError(f"id {node!r} holds a digest of its path (ids past 160 "
                               "characters do), which a renamed hole type would change")
    out = []
    for segment in parts:
        m = _HOLE_SEGMENT.match(segment)
        out.append(mapping[m.group(1)] + m.group(2) if m and m.group(1) in mapping
                   else segment)
    return "/".join(out)


def rename_step(step: Step, mapping: Mapping[str, str]) -> Step:
    """``step`` with the ids and hole types it names renamed (its values and attributes
    untouched)."""
    if not mapping:
        return step
    return step_from_json(_renamed(step_to_json(step), mapping))


def _renamed(value: Any, mapping: Mapping[str, str], key: str = "") -> Any:
    if key in ("value", "attrs"):
        return value  # a task's data, not ids
    if isinstance(value, str):
        return mapping.get(value, value) if key == "type" else rename_id(value, mapping)
    if isinstance(value, list):
        return [_renamed(v, mapping, key) for v in value]
    if isinstance(value, dict):
        return {k: _renamed(v, mapping, k) for k, v in value.items()}
    return value


def _mapping_text(mapping: Mapping[str, str]) -> str:
    return ", ".join(f"{a} -> {b}" for a, b in sorted(mapping.items())) or "none"


def _gone(old: Grammar, new: Grammar) -> str:
    return ", ".join(sorted(t for t in old.types if t not in new.types)) or "none"


# ---------------------------------------------------------------- the replay
def _replay(old: Grammar, new: Grammar, journal: Sequence[Journaled],
            mapping: Mapping[str, str], kinds: frozenset[str] | None
            ) -> Derivation | tuple[int, Verdict]:
    """The journal's steps applied from the new start graph, each through every check a
    live step meets (a task starts only when it is ready); else how many were applied
    and the first refused, as an unsafe verdict — which names, too, the first
    expansion by a production this version changed (the likely cause)."""
    d = Derivation(new)
    d.workflow_kinds = kinds
    changed: str | None = None
    back = {b: a for a, b in mapping.items()}
    for i, j in enumerate(journal):
        step = rename_step(j.step, mapping)
        try:
            applied = d.apply(step)
        except (BrokenPromise, GrammarflowError) as e:
            if isinstance(e, BrokenPromise):
                refused = _unexplained(j, e.reason, e.task, e.hole, str(e.why))
            else:
                refused = _unexplained(j, str(e), None, None, None)
            if changed is not None:
                refused = replace(refused, reason=f"{refused.reason} — {changed}")
            return i, refused
        if changed is None and isinstance(step, Expand) and applied.removed is not None:
            changed = _production_changed(old, new, j.seq, step, back)
    return d


def _production_changed(old: Grammar, new: Grammar, seq: int, step: Expand,
                        back: Mapping[str, str]) -> str | None:
    """Words for an expansion whose production this version changed (None if not)."""
    hole_type = _HOLE_SEGMENT.match(step.hole.rsplit("/", 1)[-1])
    if hole_type is None:
        return None
    name = hole_type.group(1)
    was_type, now_type = old.types.get(back.get(name, name)), new.types.get(name)
    if was_type is None or now_type is None:
        return None
    try:
        was, now = was_type.production(step.production), now_type.production(step.production)
    except GrammarflowError:
        return None
    if (was.fragment, was.guard, was.condition) == (now.fragment, now.guard, now.condition):
        return None
    return (f"journal entry {seq} expanded {step.hole} with production "
            f"{step.production}, which this version changes (was {was!r}, is {now!r})")


def _unexplained(j: Journaled, reason: str, task: str | None, hole: str | None,
                 why: str | None) -> Verdict:
    who = f"task {j.by}" if j.by is not None else "the orchestrator"
    return Verdict(UNSAFE, f"journal entry {j.seq} ({j.step!r}, by {who}) is no step of "
                   f"the new version: {reason}", seq=j.seq, task=task, hole=hole, why=why)


def _renamed_said(v: Verdict, mapping: Mapping[str, str], tried: int) -> Verdict:
    said = f" (with ids re-mapped: {_mapping_text(mapping)})" if mapping else ""
    return Verdict(v.verdict, v.reason + said, None, mapping, v.seq, v.task, v.hole, v.why,
                   tried)


def _kind_changed(now: Graph, new: Graph, mapping: Mapping[str, str]) -> Verdict | None:
    """A task that started (done, running, failed, waiting) keeps the kind it ran as."""
    for task, state in now.state.items():
        if state is TaskState.PENDING:
            continue
        there = new.tasks.get(rename_id(task, mapping))
        was = now.tasks[task].kind
        if there is None:
            return Verdict(UNSAFE, f"task {task} ({was}) is {state.value}, and the new "
                           "version never makes it", task=task)
        if there.kind != was:
            return Verdict(UNSAFE, f"task {task} ran as kind {was}, and the new version "
                           f"makes it a task of kind {there.kind}: what it did would "
                           "change meaning", task=task)
    return None


# ---------------------------------------------------------------- can it finish
def can_finish(d: Derivation, hole_id: str, finishing: set[str] | None = None) -> bool:
    """Can hole ``hole_id`` still become a fragment without holes: an open one always
    can (as nothing), a closed one if a production still allowed for it (its type's
    narrowings and its own kept) makes only holes of types that can finish."""
    hole = d.graph.holes[hole_id]
    t = d.grammar.types[hole.type]
    if t.open:
        return True
    finishing = productive_types(d.grammar.types) if finishing is None else finishing
    return any(all(h.type in finishing for h in p.fragment.holes)
               for p in t.allowed(hole.allowed))


def _stuck(d: Derivation) -> tuple[str, str] | None:
    """A hole of ``d`` that can no longer finish, and why; None if every one can."""
    finishing = productive_types(d.grammar.types)
    for hid, hole in d.graph.holes.items():
        if not can_finish(d, hid, finishing):
            names = [p.name for p in d.grammar.types[hole.type].allowed(hole.allowed)]
            return hid, (f"none of the productions still allowed for it ({names}) can "
                         "finish: each makes a hole that nothing allowed can close")
    try:
        d.check_can_finish(list(d.graph.holes))  # the constraints of its scopes
    except BrokenPromise as e:
        return e.hole or "?", e.reason
    return _due_unclosable(d)


def _due_unclosable(d: Derivation) -> tuple[str, str] | None:
    """A hole due now (every task it comes after is done) that nothing can close: the
    run would break there as it resumes."""
    d.speculate()
    try:
        d.close_due()
    except BrokenPromise as e:
        return e.hole or "?", e.reason
    finally:
        d.discard()
    return None

