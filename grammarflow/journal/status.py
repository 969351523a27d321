"""What a run looks like now, folded from its journal: for `status`, `history`, `--json`."""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from grammarflow.core.constraints import AtMost, with_tasks
from grammarflow.core.dataflow import BindingError, bind, signatures_from_json
from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import Graph, Role, TaskState
from grammarflow.core.productions import HoleType
from grammarflow.core.scopes import Scope
from grammarflow.core.steps import (
    Constrain,
    Expand,
    Grow,
    NarrowHole,
    NarrowType,
    Output,
    Refine,
    SetState,
    Step,
    Style,
)
from grammarflow.errors import Refusal
from grammarflow.journal.entries import (
    Asker,
    AttemptEnded,
    AttemptLost,
    AttemptRetried,
    AttemptStarted,
    AttemptWaits,
    ChangeRefused,
    ControlTaken,
    RestartTaken,
    StatusChanged,
    StepTaken,
    UpgradeTaken,
)
from grammarflow.journal.state import (
    Failure,
    current_snapshot,
    fold_run,
    gc_paused,
)
from grammarflow.journal.store import FINAL, Entry, RunRow, Store
from grammarflow.workflow.definition import Workflow


def fold(store: Store, run_id: int, upto: int | None = None) -> tuple[Workflow, Derivation]:
    """The run's workflow and its derivation: the journal's steps folded (those with
    sequence number <= ``upto``, if given), from the newest snapshot on."""
    state = fold_run(store, run_id, upto, kinds=("step", "upgrade"))
    return state.workflow, state.d


def snapshots(store: Store, run_id: int) -> Iterator[tuple[Entry, Derivation]]:
    """The derivation after each step of the journal, in order (one derivation, mutated),
    and after each restart the rolled-back one: the run as it happened."""
    workflow = Workflow.from_json(store.run(run_id).workflow)
    d = workflow.grammar.derivation()
    for e in store.entries(run_id, ["step", "restart", "upgrade"]):
        record = e.record
        if isinstance(record, StepTaken):
            d.apply(record.step)
        else:
            d = fold(store, run_id, upto=e.seq)[1]
        yield e, d


def run_view(store: Store, run_id: int) -> dict[str, Any]:
    """Status of a run as JSON: first its verdict (how it ended and who is to blame), then
    the graph as it stands, tasks with how their last attempt failed, holes with their
    productions, and the refusal that broke it."""
    with gc_paused():
        return _run_view(store, run_id)


def _run_view(store: Store, run_id: int) -> dict[str, Any]:
    row = store.run(run_id, start=False)
    state, graph = _state(store, run_id)
    refusal = Refusal.from_json(state["refusal"]) if state["refusal"] else None
    waiting: dict[str, str] = state["waiting"]
    tasks = _task_views(state, graph, refusal.task if refusal else None)
    said = verdict(row, refusal, [t["id"] for t in tasks if t["state"] == "failed"])
    if waiting and row.status != "waiting":
        first = next(iter(waiting))
        said["line"] += (f" — task {first} waits for an answer: `grammarflow answer "
                         f"{row.id} {first} VALUE`")
    paused = state["paused"] and row.status not in FINAL  # a pause ends with its run
    if paused:
        said["line"] += (f" — PAUSED: no task starts until `grammarflow unpause {row.id}`"
                         " (running ones finish)")
    ids = state["graph"]["ids"]
    upgrades = [{"seq": e.seq, "version": e.data["version"], "was": e.data["was"],
                 "workflow": e.data["workflow"]["path"], "renamed": e.data.get("renamed", {})}
                for e in store.upgrades(run_id)]
    return {
        "verdict": said, "paused": paused,
        "run": row.id, "status": row.status, "reason": row.reason,
        "workflow": upgrades[-1]["workflow"] if upgrades else row.workflow["path"],
        "upgrades": upgrades,
        "created": row.created, "updated": row.updated,
        "orchestrator": orchestrator_view(store, run_id),
        "tasks": tasks,
        "edges": sorted([ids[u], ids[v]] for u, v in state["graph"]["edges"]),
        "ran_after": sorted([ids[a], ids[b]] for a, b in state["graph"].get("order", ())),
        "holes": _hole_views(state),
        "signatures": {kind: sig.shown(kind) for kind, sig
                       in sorted(signatures_from_json(state["grammar"].get("data")).items())},
        "refusal": state["refusal"],
        "refused": [e.data for e in store.refusals(run_id)],
    }


def _state(store: Store, run_id: int) -> tuple[dict[str, Any], Callable[[], Graph]]:
    """The run's state in its snapshot form, and its graph, built only when asked for: a
    run that ended is read from its last snapshot (no graph is built for 100k tasks
    unless one has inputs to show); otherwise from a fold of the journal."""
    ended = current_snapshot(store, run_id)
    if ended is not None:
        return ended, functools.cache(lambda: Graph.from_snapshot(ended["graph"]))
    folded = fold_run(store, run_id)
    return folded.snapshot(), lambda: folded.d.graph


def _task_views(state: dict[str, Any], graph: Callable[[], Graph],
                refused_task: str | None) -> list[dict[str, Any]]:
    """Each task as `status` shows it, in creation order, from the run's state in its
    snapshot form (:meth:`~grammarflow.journal.state.RunState.snapshot`): 100k tasks in a tenth
    of a second. The graph itself (``graph()``) is built only if a task has inputs."""
    g = state["graph"]
    ids, kinds, states = g["ids"], g["kinds"], g["states"]
    attrs, outputs, ready = g.get("attrs", {}), g.get("outputs", {}), set(g["ready"])
    attempts, failures, waiting = state["attempts"], state["failures"], state["waiting"]
    signatures = signatures_from_json(state["grammar"].get("data"))
    no_failure = {"error": None, "failure": None}
    views = []
    for i, (tid, kind, code) in enumerate(zip(ids, kinds, states, strict=True)):
        # a task that waits for a person is started (nothing may come before it) but
        # runs no process: its own state, with what it asks
        said = WAITING if tid in waiting else _STATE_NAME[code]
        view = {"id": tid, "kind": kind, "state": said, "ready": i in ready,
                "refused": tid == refused_task, "attempts": attempts.get(tid, 0)}
        failure = failures.get(tid)
        view.update(no_failure if failure is None else
                    {"error": failure["reason"], "failure": failure})
        view["attrs"] = dict(attrs.get(str(i), {}))
        if tid in waiting:
            view["asks"] = waiting[tid]
        if str(i) in outputs:
            view["output"] = outputs[str(i)]
        if kind in signatures and code != "p":
            with contextlib.suppress(BindingError):  # a start that was refused: none
                view["inputs"] = bind(graph(), tid, signatures[kind])
        views.append(view)
    return views


def _hole_views(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Each hole with the productions it may still take (its type's, narrowed), the
    productions narrowings took from it, and the constraints it keeps."""
    types = {t["name"]: t for t in state["grammar"]["types"]}
    made: dict[str, HoleType] = {}
    promises = _Promises(state["constraints"])
    views = []
    for hid, htype, args, roles, everywhere, allowed in state["graph"]["holes"]:
        t = made.get(htype) or made.setdefault(htype, HoleType.from_json(types[htype]))
        only = None if allowed is None else frozenset(allowed)
        views.append({
            "id": hid, "type": htype, "args": list(args),
            "roles": [_ROLE_NAME[r] for r in roles], "everywhere": everywhere,
            "open": t.open,
            "productions": [repr(p) for p in t.allowed(only)],
            "default": t.default,
            "narrowed": [{"production": p.name, "shown": repr(p),
                          "by": "type" if p.name in t.removed else "hole"}
                         for p in t.productions if not t.permits(p.name, only)],
            "constraints": promises.of(hid)})
    return views


class _Promises:
    """The constraints in force on each hole, from a run's constraint state in its
    snapshot form (:meth:`~grammarflow.core.scopes.ConstraintState.to_json`): every
    scope the hole is in, outer first, each constraint with what it counted so far."""

    def __init__(self, data: dict[str, Any]) -> None:
        # read as ConstraintState.load_json reads them: a change of the format fails here
        self.scopes = {s["id"]: s for s in data["scopes"]}
        self.holes: dict[str, list[str]] = data["holes"]
        self.made = {(sid, i): n for sid, i, n in data["made"]}
        self.parsed: dict[str, Scope] = {}

    def of(self, hole: str) -> list[dict[str, Any]]:
        found = []
        for sid in self.holes.get(hole, ()):
            scope = self.parsed.get(sid) or self.parsed.setdefault(
                sid, Scope.from_json(self.scopes[sid]))
            for i, c in enumerate(scope.constraints):
                view = {"constraint": str(c), "shown": str(with_tasks(c, scope.bound)),
                        "of": scope.hole}
                if isinstance(c, AtMost):
                    view["made"] = self.made.get((sid, i), 0)
                found.append(view)
        return found


#: The state `status` gives a task that waits for an answer (the graph has it running).
WAITING = "waiting"
#: A task's state and a hole's role, as a snapshot codes them (first letters), in words.
_STATE_NAME = {s.value[0]: s.value for s in TaskState}
_ROLE_NAME = {r.value[0]: r.value for r in Role}


def short(value: Any, limit: int = 80) -> str:
    """A value in one line of at most ``limit`` characters (JSON, cut with '...')."""
    text = json.dumps(value, ensure_ascii=False)
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 3] + "..."


#: The statuses a person must act on: said in capitals, first.
BAD = ("broken", "failed", "error", "interrupted", "waiting")


def verdict(row: RunRow, refusal: Refusal | None, failed: list[str]) -> dict[str, Any]:
    """How the run ended, in one line, and the tasks to blame: for a broken run, the task
    whose change was refused; for a failed one, the tasks that failed."""
    if row.status == "broken" and refusal is not None:
        summary: str | None = refusal.headline()
        blamed = [refusal.task] if refusal.task is not None else []
    else:
        summary = row.reason
        blamed = failed if row.status == "failed" else []
    shown = row.status.upper() if row.status in BAD else row.status
    line = f"run {row.id}: {shown}" + (f" — {summary}" if summary else "")
    return {"status": row.status, "line": line, "summary": summary, "tasks": blamed}


def refusal_at(store: Store, run_id: int, upto: int | None = None) -> Refusal | None:
    """The refused change that broke the run, if it had by journal entry ``upto``."""
    found = store.refusals(run_id, upto)
    record = found[0].record if found else None
    return record.refusal if isinstance(record, ChangeRefused) else None


def orchestrator_view(store: Store, run_id: int) -> dict[str, Any] | None:
    """Who holds the run's lease, and whether it lives (None: nobody; it is not running).

    ``alive`` is False only when the owner is provably dead; then `resume` takes over."""
    lease = store.lease(run_id)
    if lease is None:
        return None
    now = time.time()
    return {"pid": lease.holder.pid, "host": lease.holder.host,
            "heartbeat": lease.heartbeat, "heartbeat_age": now - lease.heartbeat,
            "alive": lease.alive(now)}


def describe(entry: Entry) -> str:
    """One journal entry in plain words."""
    match entry.record:
        case StepTaken(step):
            return describe_step(step)
        case ControlTaken(op, by, asked):
            if op == "pause":
                return f"run paused: no new task starts{_asked_by(by)}"
            if op == "unpause":
                return f"run unpaused: tasks start again{_asked_by(by)}"
            return f"request to {asked} ignored{_asked_by(by)}"
        case RestartTaken() as r:
            return _describe_restart(r)
        case UpgradeTaken(workflow, renamed, version, was, by):
            moved = (f"; ids re-mapped: {', '.join(f'{a} -> {b}' for a, b in renamed.items())}"
                     if renamed else "")
            return (f"UPGRADE to version {version} ({workflow.get('path')}) from {was}"
                    f"{_asked_by(by)}: the run goes on under it{moved}")
        case AttemptWaits(task, _, question):
            return f"task {task} waits for a person: {question!r} (`grammarflow answer`)"
        case AttemptEnded(task, outcome="answered", by=by):
            who = f" by pid {by['pid']} on {by['host']}" if by and "pid" in by else ""
            return f"task {task} answered{who}"
        case AttemptStarted(task, attempt, log):
            return f"task {task}: attempt {attempt} started (log: {log})"
        case AttemptLost(task, attempt, reason):
            return f"task {task}: attempt {attempt} lost: {reason}"
        case AttemptRetried(task, attempt, reason):
            return f"task {task}: attempt {attempt} retry: {reason}"
        case AttemptEnded() as end:
            return _describe_end(end)
        case ChangeRefused(refusal):
            return _describe_refusal(refusal)
        case StatusChanged(status, reason):
            if status == "broken":  # the refusal is its own entry: said once
                return "run broken: the change refused above"
            return f"run {status}" + (f": {reason}" if reason else "")
    return f"{entry.kind}: {entry.data}"


def describe_step(step: Step) -> str:
    """One accepted step in plain words."""
    match step:
        case SetState(task, state):
            return f"task {task} is {state.value}"
        case Expand(hole, production, _, guard):
            chosen = f" (the orchestrator chose it: [{guard}] held)" if guard else ""
            return f"hole {hole} expanded with production {production}{chosen}"
        case Output(task, value):
            return f"task {task} gave its output: {short(value)}"
        case Style(task, edge, attrs):
            what = f"task {task}" if task is not None else f"edge {' -> '.join(edge or ())}"
            said = ", ".join(f"{k}={v!r}" for k, v in attrs.items())
            return f"{what} styled: {said}"
        case Grow(hole, fragment):
            names = [t.local for t in fragment.tasks]
            return f"open hole {hole} grew by {names} and {len(fragment.edges)} edge(s)"
        case Refine(hole, _, types):
            return f"open hole {hole} refined ({len(types)} new hole type(s))"
        case NarrowType(htype, remove):
            return f"promise narrowed: type {htype} loses productions {list(remove)}"
        case NarrowHole(hole, remove):
            return f"promise narrowed: hole {hole} loses productions {list(remove)}"
        case Constrain(hole, constraints):
            said = "; ".join(str(c) for c in constraints)
            return f"promise narrowed: hole {hole} is constrained: {said}"
    raise TypeError(f"not a step: {step!r}")


def _asked_by(by: Asker | None) -> str:
    return f" (asked by pid {by['pid']} on {by['host']})" if by and "pid" in by else ""


def _describe_restart(r: RestartTaken) -> str:
    said = (f"RESTART of task {r.task}{_asked_by(r.by)}: {len(r.restarted)} task(s) back to "
            f"pending ({', '.join(r.restarted[:6])}"
            f"{' ...' if len(r.restarted) > 6 else ''}), {r.steps} step(s) rolled back")
    if r.vanished:
        said += f", {len(r.vanished)} task(s) gone"
    if r.reopened:
        said += f", hole(s) open again: {', '.join(r.reopened[:4])}"
    return "\n".join([said, *(f"    task {t} restarts too: {why}"
                               for t, why in r.joined.items())])


def _describe_refusal(refusal: Refusal) -> str:
    lines = [f"REFUSED (broken promise) from {refusal.task or 'the orchestrator'}: "
             f"{refusal.reason}"]
    lines += [f"    tried {a.production}: {a.reason}" for a in refusal.attempts]
    if refusal.message:
        lines.append(f"    message: {refusal.message[:300]}")
    return "\n".join(lines)


def _describe_end(end: AttemptEnded) -> str:
    reason = f": {end.reason}" if end.reason else ""
    line = f"task {end.task}: attempt {end.attempt} {end.outcome}{reason}"
    if end.outcome != "failed" or not end.reason:
        return line
    return "\n".join([line, *(f"    {text}" for text in failure_lines(Failure.of_end(end)))])


def failure_lines(failure: Failure) -> list[str]:
    """A failed attempt's last stderr lines and its log, for a person to read."""
    lines = [f"| {text}" for text in failure.stderr]
    lines.append(f"log: {failure.log}" if failure.log else "log: none (it wrote nothing)")
    return lines


def when(at: float) -> str:
    return datetime.datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:-3]


__all__ = [
    "BAD",
    "WAITING",
    "describe",
    "describe_step",
    "failure_lines",
    "fold",
    "orchestrator_view",
    "refusal_at",
    "run_view",
    "short",
    "snapshots",
    "verdict",
    "when",
]
