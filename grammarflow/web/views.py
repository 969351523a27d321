"""What the pages show, as JSON-ready data read from the journal: the runs, one run as
`status --json` has it, its picture at a journal step, a task in full, a restart's
preview. Each a plain function of a read-only :class:`~grammarflow.journal.store.Store`
(the server calls them in worker threads); nothing here writes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grammarflow.core.dataflow import signatures_from_json
from grammarflow.errors import GrammarflowError
from grammarflow.journal.entries import AttemptEnded, AttemptStarted, AttemptWaits
from grammarflow.journal.operations import restart_preview
from grammarflow.journal.state import Checkpoints, workflow_json_at
from grammarflow.journal.status import describe, run_view
from grammarflow.journal.store import FINAL, RunRow, Store
from grammarflow.picture.of_run import run_dot
from grammarflow.picture.render import Picture, render

__all__ = [
    "LOG_TAIL",
    "NotFound",
    "PictureView",
    "log_tail",
    "picture_view",
    "preview_view",
    "run_page_view",
    "run_row",
    "runs_view",
    "task_view",
]

#: Bytes of a task's log a page shows (its end).
LOG_TAIL = 64 * 1024


class NotFound(GrammarflowError):
    """No such run, task or journal step: the page says so (404), never a traceback."""


def run_row(store: Store, run_id: int) -> RunRow:
    """The run's row, or NotFound."""
    try:
        return store.run(run_id, start=False)
    except GrammarflowError as e:
        if str(e).startswith("no run "):
            raise NotFound(f"no run {run_id} in {str(store.path)!r}") from None
        raise


def runs_view(store: Store, known: dict[int, tuple[Any, dict[str, Any]]] | None = None
              ) -> list[dict[str, Any]]:
    """Every run, newest first: status, workflow, started, how long, and counts of its
    tasks by state, its holes, whether it is paused, broken or waits for a person.
    ``known``: what was said of each run before, kept for as long as its journal and
    status stay as they were (a run is folded again only when it changed)."""
    known = {} if known is None else known
    out = []
    for row in sorted(store.runs(), key=lambda r: -r.id):
        seq = store.last_seq(row.id)
        key = (seq, row.status, row.reason)
        said = known.get(row.id)
        if said is None or said[0] != key:
            said = known[row.id] = (key, _run_summary(store, row, seq))
        view = dict(said[1])
        if row.status == "running":  # (a run that waits or is interrupted runs not)
            view["duration"] = time.time() - row.created
        out.append(view)
    return out


def _run_summary(store: Store, row: RunRow, seq: int) -> dict[str, Any]:
    view = run_view(store, row.id)
    counts: dict[str, int] = {}
    for task in view["tasks"]:
        counts[task["state"]] = counts.get(task["state"], 0) + 1
    return {
        "run": row.id, "status": row.status, "workflow": view["workflow"],
        "created": row.created, "updated": row.updated,
        "duration": row.updated - row.created,
        "tasks": len(view["tasks"]), "counts": counts, "holes": len(view["holes"]),
        "open_holes": sum(1 for h in view["holes"] if h["open"]),
        "paused": view["paused"], "line": view["verdict"]["line"],
        "waiting": [t["id"] for t in view["tasks"] if t["state"] == "waiting"],
        "seq": seq}


def run_page_view(store: Store, run_id: int) -> dict[str, Any]:
    """One run as `status --json` has it, with its newest journal step (``seq``) and
    what each running task last reported of its progress."""
    run_row(store, run_id)
    seq = store.last_seq(run_id)
    view = run_view(store, run_id)
    view["seq"] = seq
    view["final"] = view["status"] in FINAL
    running = {t["id"] for t in view["tasks"] if t["state"] == "running"}
    view["progress"] = {t: p for t, p in store.progress(run_id).items() if t in running}
    return view


@dataclass(frozen=True, slots=True)
class PictureView:
    seq: int  # the journal step it shows
    last: int  # the run's newest journal step when it was drawn
    caption: str
    svg: str

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "last": self.last, "caption": self.caption, "svg": self.svg}


def picture_view(store: Store, run_id: int, at: int | None, picture: Picture,
                 checkpoints: Checkpoints | None = None) -> PictureView:
    """The run's picture (after journal step ``at``; None: now) as SVG, with what that
    step did; a step in the past folded from the nearest of ``checkpoints``."""
    run_row(store, run_id)
    last = store.last_seq(run_id)
    if at is not None and not 0 <= at <= last:
        raise NotFound(f"run {run_id} has no journal step {at} (its steps are 0 to {last})")
    seq = last if at is None else at
    past = None if at is None or at == last else at
    state = checkpoints.fold(store, run_id, past) if checkpoints and past is not None else None
    dot, _ = run_dot(store, run_id, picture, at=past, state=state)
    svg = render(dot, "svg").decode()
    return PictureView(seq, last, _caption(store, run_id, seq), svg[svg.index("<svg"):])


def _caption(store: Store, run_id: int, seq: int) -> str:
    if seq == 0:
        return "the start graph"
    entry = next(store.entries(run_id, after=seq - 1), None)
    return f"step {seq}: {describe(entry)}" if entry is not None else f"step {seq}"


def task_view(store: Store, run_id: int, task: str) -> dict[str, Any]:
    """A task in full: its state, kind, attributes, inputs, output, every attempt (how
    it ended, its stderr tail) and the end of its newest log."""
    row = run_row(store, run_id)
    view = run_view(store, run_id)
    found = next((t for t in view["tasks"] if t["id"] == task), None)
    if found is None:
        raise NotFound(f"run {run_id} has no task {task!r}")
    attempts: dict[int, dict[str, Any]] = {}
    for e in store.entries(run_id, ["attempt"], task=task):
        record = e.record
        if isinstance(record, AttemptStarted):
            attempts[record.attempt] = {"attempt": record.attempt, "started": e.at,
                                        "log": record.log}
        elif isinstance(record, AttemptWaits):
            attempts[record.attempt] = {"attempt": record.attempt, "started": e.at,
                                        "log": None, "asks": record.question}
        elif isinstance(record, AttemptEnded):
            a = attempts.setdefault(record.attempt, {"attempt": record.attempt})
            a.update(ended=e.at, outcome=record.outcome, reason=record.reason,
                     stderr=record.stderr_tail, log=record.log or a.get("log"))
    found = dict(found)
    found["history"] = [attempts[n] for n in sorted(attempts)]
    newest = found["history"][-1] if found["history"] else None
    logs = store.path.parent / "logs"  # where `grammarflow run --db` puts them
    found["log"] = log_tail(logs, run_id, task, newest.get("log")) if newest else None
    workflow = workflow_json_at(store, run_id, row)  # the version it is under declares it
    signature = signatures_from_json(workflow["grammar"].get("data")).get(found["kind"])
    if signature is not None and signature.output is not None:
        # what an answer must be: the page builds its form from it
        found["answer_type"] = {"schema": signature.output, "text": signature.output_text}
    return found


#: What an attempt's log is named: ``<task, '/' as '__'>.<attempt>.log``.
_LOG_NAME = re.compile(r"^(?P<task>.+)\.(?P<attempt>[0-9]+)\.log$")


def log_tail(logs: Path, run_id: int, task: str, journaled: str | None
             ) -> dict[str, Any] | None:
    """The end of a task's log, if the journal names one: read from this run's folder of
    logs only (``logs/run-<id>/``, where ``logs`` is beside the journal, as `run` puts
    them), by the name the journal gives if it is this task's (``<task>.<n>.log``), and
    only a file reached without a symbolic link. Nothing else is read: a journal is data,
    and it must not make the server read /etc/passwd."""
    if not journaled:
        return None
    m = _LOG_NAME.match(Path(journaled).name)
    folder = logs / f"run-{run_id}"
    if m is None or m["task"] != task.replace("/", "__"):
        return {"path": journaled, "text": None, "error": "not a log of this task: not read"}
    p = folder / Path(journaled).name
    if any(q.is_symlink() for q in (p, folder, logs)):
        return {"path": str(p), "text": None, "error": "a symbolic link: not read"}
    try:
        with p.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - LOG_TAIL))
            data = f.read()
    except OSError as e:
        return {"path": str(p), "text": None, "error": f"cannot read it: {e.strerror or e}"}
    return {"path": str(p), "text": data.decode("utf-8", "backslashreplace"),
            "bytes": size, "cut": size > LOG_TAIL, "error": None}


def preview_view(store: Store, run_id: int, task: str) -> dict[str, Any]:
    """What restarting ``task`` would do, before anyone confirms it; or why it would be
    refused."""
    run_row(store, run_id)
    try:
        e = restart_preview(store, run_id, task)
    except GrammarflowError as refused:
        return {"task": task, "refused": str(refused)}
    return {"task": task, "refused": None, "restarted": list(e.restarted),
            "vanished": list(e.vanished), "reopened": list(e.reopened),
            "joined": dict(e.joined), "steps": e.steps}
