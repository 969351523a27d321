"""The buttons: pause, unpause, answer, restart, resume — each the operation the command
line runs, no second implementation: the first four call
:mod:`grammarflow.journal.operations` (taken by the run's orchestrator if it lives, else
journaled under the run's lease), resume starts `grammarflow resume` itself, in a
session of its own (it goes on when the server stops)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from grammarflow.errors import GrammarflowError
from grammarflow.journal.operations import answer, restart, set_paused
from grammarflow.journal.store import Store

__all__ = ["RESUME_WATCH", "resume_process", "routes"]

#: Seconds a resume is watched for an early end (an error: the run runs already, it
#: ended) before the page is told it runs.
RESUME_WATCH = 3.0


class BadRequest(GrammarflowError):
    """A request the page should not have sent: its body is not what the route takes."""


def _said(done: Any, what: str, run_id: int) -> dict[str, Any]:
    by = done.by_orchestrator
    said = (f"{what}: taken by its orchestrator (pid {by})" if by is not None else
            f"{what} (journal entry {done.seq}); nobody runs run {run_id} now: resume it "
            "to go on")
    return {"seq": done.seq, "orchestrator": by, "said": said}


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as e:
        raise BadRequest(f"the request's body is not JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request's body must be a JSON object")
    return body


def _task(body: dict[str, Any]) -> str:
    task = body.get("task")
    if not isinstance(task, str) or not task:
        raise BadRequest("which task? the body needs {\"task\": ID}")
    return task


def routes(db: Path, run_id_of: Callable[[Request], int]) -> list[Route]:
    """The POST routes that steer a run of the journal at ``db``."""

    def store() -> Store:
        return Store.existing(db)

    async def pause(request: Request) -> Response:
        return await _paused(request, True)

    async def unpause(request: Request) -> Response:
        return await _paused(request, False)

    async def _paused(request: Request, paused: bool) -> Response:
        run_id = run_id_of(request)
        done = await run_in_threadpool(lambda: set_paused(store(), run_id, paused))
        word = "paused" if paused else "unpaused"
        if done.already:
            return JSONResponse({"seq": done.seq, "orchestrator": None, "said":
                                 f"run {run_id} is {word} already" if paused else
                                 f"run {run_id} is not paused"})
        return JSONResponse(_said(done, f"run {run_id} {word}", run_id))

    async def answer_task(request: Request) -> Response:
        run_id, body = run_id_of(request), await _body(request)
        task = _task(body)
        if "value" not in body:
            raise BadRequest("what answer? the body needs {\"value\": ...}")
        expand = body.get("expand") or None
        done = await run_in_threadpool(
            lambda: answer(store(), run_id, task, body["value"], expand))
        return JSONResponse(_said(done, f"task {task} answered", run_id))

    async def restart_task(request: Request) -> Response:
        run_id, body = run_id_of(request), await _body(request)
        task = _task(body)
        done = await run_in_threadpool(lambda: restart(store(), run_id, task))
        said = _said(done, f"task {task} restarted ({len(done.entry.restarted)} task(s) "
                     "back to pending)", run_id)
        said["restarted"] = list(done.entry.restarted)
        return JSONResponse(said)

    async def resume(request: Request) -> Response:
        run_id = run_id_of(request)
        return JSONResponse(await run_in_threadpool(lambda: resume_process(db, run_id)))

    return [Route("/api/runs/{run_id}/pause", pause, methods=["POST"]),
            Route("/api/runs/{run_id}/unpause", unpause, methods=["POST"]),
            Route("/api/runs/{run_id}/answer", answer_task, methods=["POST"]),
            Route("/api/runs/{run_id}/restart", restart_task, methods=["POST"]),
            Route("/api/runs/{run_id}/resume", resume, methods=["POST"])]


def resume_process(db: Path, run_id: int, watch: float = RESUME_WATCH) -> dict[str, Any]:
    """Start `grammarflow resume RUN_ID` (its own session, its output in a file beside
    the journal) and watch it ``watch`` seconds: an error it ends with is refused
    (GrammarflowError, its words); else it runs (or ran to its end)."""
    Store.existing(db).run(run_id, start=False)  # no such run: said here, not by a child
    folder = db.parent / "serve"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"resume-{run_id}-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6}.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "grammarflow", "resume", str(run_id), "--db", str(db)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        code = child.wait(watch)
    except subprocess.TimeoutExpired:
        _reap_later(child)
        return {"pid": child.pid, "log": str(log),
                "said": f"run {run_id} resumed by grammarflow resume (pid {child.pid}; "
                        f"its output: {log})"}
    text = log.read_text("utf-8", "replace")
    if code != 0:
        errors = [line[7:] for line in text.splitlines() if line.startswith("error: ")]
        raise GrammarflowError("; ".join(errors) or f"grammarflow resume {run_id} ended with "
                               f"exit status {code} (its output: {log})")
    return {"pid": child.pid, "log": str(log),
            "said": f"run {run_id} resumed and ran to its end (its output: {log})"}


def _reap_later(child: subprocess.Popen[bytes]) -> None:
    """Wait for a resumed run in a thread of its own, so that it leaves no zombie."""
    threading.Thread(target=child.wait, daemon=True, name=f"reap {child.pid}").start()
