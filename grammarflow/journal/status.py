"""What a run looks like now, folded from its journal: for `status`, `history`, `--json`."""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from grammarflow.core.constraints import AtMost, Scope, constraints_from_json, with_tasks
from grammarflow.core.dataflow import BindingError, bind, signatures_from_json
from grammarflow.core.derivation import Derivation
from grammarflow.core.graph import Graph, Role, TaskState
from grammarflow.core.productions import HoleType
from grammarflow.core.steps import step_from_json
from grammarflow.errors import Refusal
from grammarflow.journal.state import (
    Failure,
    current_snapshot,
    fold_run,
    gc_paused,
    refusal_of_entry,
)
from grammarflow.journal.store import FINAL, Entry, RunRow, Store
from grammarflow.workflow.definition import Workflow


def fold(store: Store, run_id: int, upto: int | None = None) -> tuple[Workflow, Derivation]:
    """The run's workflow and its derivation: the journal's steps folded (those with
    sequence number <= ``upto``, if given), from the newest snapshot on."""
    state = fold_run(store, run_id, upto, kinds=("step",))
    return state.workflow, state.d


def snapshots(store: Store, run_id: int) -> Iterator[tuple[Entry, Derivation]]:
    """The derivation after each step of the journal, in order (one derivation, mutated),
    and after each restart the rolled-back one: the run as it happened."""
    workflow = Workflow.from_json(store.run(run_id).workflow)
    d = workflow.grammar.derivation()
    for e in store.entries(run_id, ["step", "restart"]):
        if e.kind == "restart":
            d = fold(store, run_id, upto=e.seq)[1]
        else:
            d.apply(step_from_json(e.data))
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
    return {
        "verdict": said, "paused": paused,
        "run": row.id, "status": row.status, "reason": row.reason,
        "workflow": row.workflow["path"],
        "created": row.created, "updated": row.updated,
        "orchestrator": orchestrator_view(store, run_id),
        "tasks": tasks,
        "edges": sorted([ids[u], ids[v]] for u, v in state["graph"]["edges"]),
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
    snapshot form (:meth:`~grammarflow.journal.state.RunFold.snapshot`): 100k tasks in a tenth
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
    snapshot form (:meth:`~grammarflow.core.constraints.ConstraintState.to_json`): every
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
    return refusal_of_entry(found[0]) if found else None


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
    d = entry.data
    if entry.kind == "step":
        op = d["op"]
        if op == "state":
            return f"task {d['task']} is {d['state']}"
        if op == "expand":
            chosen = (f" (the orchestrator chose it: [{d['guard']}] held)"
                      if d.get("guard") else "")
            return f"hole {d['hole']} expanded with production {d['production']}{chosen}"
        if op == "output":
            return f"task {d['task']} gave its output: {short(d['value'])}"
        if op == "style":
            what = f"task {d['task']}" if "task" in d else f"edge {' -> '.join(d['edge'])}"
            said = ", ".join(f"{k}={v!r}" for k, v in d["attrs"].items())
            return f"{what} styled: {said}"
        if op == "grow":
            names = [t["local"] for t in d["fragment"]["tasks"]]
            edges = len(d["fragment"]["edges"])
            return f"open hole {d['hole']} grew by {names} and {edges} edge(s)"
        if op == "refine":
            return f"open hole {d['hole']} refined ({len(d['types'])} new hole type(s))"
        if op == "narrow_type":
            return f"promise narrowed: type {d['type']} loses productions {d['remove']}"
        if op == "narrow_hole":
            return f"promise narrowed: hole {d['hole']} loses productions {d['remove']}"
        if op == "constrain":
            said = "; ".join(str(c) for c in constraints_from_json(d["constraints"]))
            return f"promise narrowed: hole {d['hole']} is constrained: {said}"
    if entry.kind == "control":
        by = d.get("by") or {}
        who = f" (asked by pid {by['pid']} on {by['host']})" if "pid" in by else ""
        if d["op"] == "pause":
            return f"run paused: no new task starts{who}"
        if d["op"] == "unpause":
            return f"run unpaused: tasks start again{who}"
        return f"request to {d.get('asked')} ignored{who}"
    if entry.kind == "restart":
        by = d.get("by") or {}
        who = f" (asked by pid {by['pid']} on {by['host']})" if "pid" in by else ""
        said = (f"RESTART of task {d['task']}{who}: {len(d['restarted'])} task(s) back to "
                f"pending ({', '.join(d['restarted'][:6])}"
                f"{' ...' if len(d['restarted']) > 6 else ''}), {d['steps']} step(s) "
                f"rolled back")
        if d["vanished"]:
            said += f", {len(d['vanished'])} task(s) gone"
        if d["reopened"]:
            said += f", hole(s) open again: {', '.join(d['reopened'][:4])}"
        return "\n".join([said, *(f"    task {t} restarts too: {why}"
                                   for t, why in d["joined"].items())])
    if entry.kind == "attempt":
        if d.get("event") == "wait":
            return (f"task {d['task']} waits for a person: {d.get('question')!r} "
                    "(`grammarflow answer`)")
        if d.get("outcome") == "answered":
            by = d.get("by") or {}
            who = f" by pid {by['pid']} on {by['host']}" if "pid" in by else ""
            return f"task {d['task']} answered{who}"
        return _describe_attempt(d)
    if entry.kind == "refused":
        lines = [f"REFUSED (broken promise) from {d.get('task') or 'the orchestrator'}: "
                 f"{d['reason']}"]
        lines += [f"    tried {a['production']}: {a['reason']}" for a in d.get("attempts", [])]
        if d.get("message"):
            lines.append(f"    message: {d['message'][:300]}")
        return "\n".join(lines)
    if entry.kind == "status":
        if d["status"] == "broken":  # the refusal is its own entry: said once
            return "run broken: the change refused above"
        return f"run {d['status']}" + (f": {d['reason']}" if d.get("reason") else "")
    return f"{entry.kind}: {d}"


def _describe_attempt(d: dict[str, Any]) -> str:
    event = d.get("event")
    if event == "start":
        return f"task {d['task']}: attempt {d['attempt']} started (log: {d.get('log')})"
    if event in ("lost", "retry"):
        return f"task {d['task']}: attempt {d['attempt']} {event}: {d['reason']}"
    reason = f": {d['reason']}" if d.get("reason") else ""
    line = f"task {d['task']}: attempt {d['attempt']} {d.get('outcome')}{reason}"
    if d.get("outcome") != "failed" or not d.get("reason"):
        return line
    return "\n".join([line, *(f"    {text}" for text in failure_lines(Failure.of_end(d)))])


def failure_lines(failure: Failure) -> list[str]:
    """A failed attempt's last stderr lines and its log, for a person to read."""
    lines = [f"| {text}" for text in failure.stderr]
    lines.append(f"log: {failure.log}" if failure.log else "log: none (it wrote nothing)")
    return lines


def when(at: float) -> str:
    return datetime.datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:-3]
