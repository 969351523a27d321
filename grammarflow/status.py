"""What a run looks like now, folded from its journal: for `status`, `history`, `--json`."""

from __future__ import annotations

import contextlib
import datetime
import json
import time
from collections.abc import Iterator
from typing import Any

from grammarflow.constraints import constraints_from_json
from grammarflow.derivation import Derivation
from grammarflow.errors import BrokenPromise, Refusal
from grammarflow.fold import Failure, bulk_reading, fold_run, refusal_of_entry
from grammarflow.steps import step_from_json
from grammarflow.store import Entry, RunRow, Store
from grammarflow.workflow import Workflow


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
    with bulk_reading():
        return _run_view(store, run_id)


def _run_view(store: Store, run_id: int) -> dict[str, Any]:
    row = store.run(run_id)
    state = fold_run(store, run_id, row=row)
    d = state.d
    g = d.graph
    refused_task = state.refusal.task if state.refusal else None
    holes = []
    for h in g.holes.values():
        htype = d.grammar.types[h.type]
        holes.append({
            "id": h.id, "type": h.type, "args": list(h.args),
            "roles": [r.value for r in h.roles], "everywhere": h.everywhere,
            "open": htype.open,
            "productions": [repr(p) for p in htype.allowed(h.allowed)],
            "default": htype.default})
    tasks = [{"id": t.id, "kind": t.kind, "state": g.state[t.id].value,
              "ready": g.is_ready(t.id), "refused": t.id == refused_task,
              "attempts": state.attempts.get(t.id, 0),
              **failure_view(state.failures.get(t.id)),
              "attrs": dict(t.attrs) if t.attrs else {},
              **({"waiting": state.waiting[t.id]} if t.id in state.waiting else {}),
              **data_view(d, t.id)}
             for t in g.tasks.values()]
    said = verdict(row, state.refusal, [t["id"] for t in tasks if t["state"] == "failed"])
    if state.waiting and row.status != "waiting":
        first = next(iter(state.waiting))
        said["line"] += (f" — task {first} waits for an answer: `grammarflow answer "
                         f"{row.id} {first} VALUE`")
    if state.paused and row.status not in ("succeeded", "broken"):
        said["line"] += (f" — PAUSED: no task starts until `grammarflow unpause {row.id}`"
                         " (running ones finish)")
    return {
        "verdict": said, "paused": state.paused,
        "run": row.id, "status": row.status, "reason": row.reason,
        "workflow": row.workflow["path"],
        "created": row.created, "updated": row.updated,
        "orchestrator": orchestrator_view(store, run_id),
        "tasks": tasks,
        "edges": sorted([u, v] for u, v in g.edges()),
        "holes": holes,
        "signatures": {kind: sig.shown(kind) for kind, sig in sorted(d.grammar.data.items())},
        "refusal": state.refusal.to_json() if state.refusal else None,
        "refused": [e.data for e in store.entries(run_id, ["refused"])],
    }


def data_view(d: Derivation, task: str) -> dict[str, Any]:
    """A task's ``output`` (if it gave one) and ``inputs`` (if its kind declares some
    and it has started: the values it was given), in full."""
    view: dict[str, Any] = {}
    g = d.graph
    if task in g.outputs:
        view["output"] = g.outputs[task]
    if g.tasks[task].kind in d.grammar.data and g.is_started(task):
        with contextlib.suppress(BrokenPromise):  # a start that was refused: none
            view["inputs"] = d.inputs(task)
    return view


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


def failure_view(failure: Failure | None) -> dict[str, Any]:
    """A task's ``error`` (why its last attempt failed) and ``failure`` (that attempt,
    its last stderr lines, its log)."""
    if failure is None:
        return {"error": None, "failure": None}
    return {"error": failure.reason, "failure": failure.to_json()}


def refusal_at(store: Store, run_id: int, upto: int | None = None) -> Refusal | None:
    """The refused change that broke the run, if it had by journal entry ``upto``."""
    for e in store.entries(run_id, ["refused"]):
        if upto is not None and e.seq > upto:
            return None
        return refusal_of_entry(e)
    return None


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
