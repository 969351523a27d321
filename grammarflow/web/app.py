"""`grammarflow serve`'s application: the pages, their JSON, the event streams, and the
steering (docs/serve.md).

Reads go through read-only connections, one per worker thread (WAL: a reader never
blocks the orchestrator); what the pages ask for is made once per journal step and
shared, so ten pages cost what one does. Steering calls the operations the command
line calls (:mod:`grammarflow.journal.operations`) and, for resume, the command itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import traceback
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from grammarflow.errors import GrammarflowError
from grammarflow.journal.state import Checkpoints
from grammarflow.journal.store import Store
from grammarflow.picture.render import Picture
from grammarflow.web import steering, views
from grammarflow.web.guard import Guard, Keys
from grammarflow.web.live import Watcher, events
from grammarflow.web.pages import STATIC, not_found_page, run_page, runs_page

__all__ = ["MAX_RUN_ID", "Server", "make_app"]

T = TypeVar("T")

#: The largest run id SQLite can hold; a larger one is no run (404), not an overflow.
MAX_RUN_ID = 2 ** 63 - 1


class _Cache:
    """What was made for a key (a run's journal step, say), kept for the next page; a
    second page asking while it is being made waits for the same making."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self.made: OrderedDict[Any, Any] = OrderedDict()
        self.making: dict[Any, asyncio.Future[Any]] = {}
        self.makings = 0  # how many times something was made: for the tests

    async def get(self, key: Any, make: Callable[[], T]) -> T:
        if key in self.made:
            self.made.move_to_end(key)
            found: T = self.made[key]
            return found
        if key in self.making:
            shared: T = await asyncio.shield(self.making[key])
            return shared
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.making[key] = future
        try:
            self.makings += 1
            value = await run_in_threadpool(make)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            del self.making[key]
        future.set_result(value)
        self.made[key] = value
        if len(self.made) > self.size:
            self.made.popitem(last=False)
        return value


@dataclass
class Server:
    """What the application serves: the journal at ``db``, with or without steering."""

    db: Path
    keys: Keys = field(default_factory=Keys)
    read_only: bool = False
    watcher: Watcher = field(init=False)
    cache: _Cache = field(default_factory=_Cache)
    checkpoints: Checkpoints = field(default_factory=Checkpoints)
    #: each run as the runs page lists it, with the journal step and status it is of
    summaries: dict[int, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    runs_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self.watcher = Watcher(self.db)

    def store(self) -> Store:
        """This thread's read-only store."""
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.db, readonly=True)
        return store

    def last(self, run_id: int) -> int:
        return self.store().last_seq(run_id)


def _run_id(request: Request) -> int:
    text = request.path_params["run_id"]
    number = int(text) if text.isascii() and text.isdigit() else 0
    if not 1 <= number <= MAX_RUN_ID:
        raise views.NotFound(f"no run {text}")
    return number


#: The most a stream watches: the list of runs and this many runs.
MAX_WATCHED = 64


def _watched(request: Request) -> list[int | None]:
    """What a stream watches: ``/events?watch=runs&watch=3&watch=5`` (``runs``: the list
    of runs; a number: that run)."""
    keys: list[int | None] = []
    for text in request.query_params.getlist("watch") or ["runs"]:
        if text == "runs":
            keys.append(None)
            continue
        number = int(text) if text.isascii() and text.isdigit() and len(text) < 20 else 0
        if not 1 <= number <= MAX_RUN_ID:
            raise views.NotFound(f"no run {text}")
        keys.append(number)
    keys = list(dict.fromkeys(keys))
    if len(keys) > MAX_WATCHED + 1:
        raise views.NotFound(f"a stream watches at most {MAX_WATCHED} runs")
    return keys


def _at(request: Request) -> int | None:
    text = request.query_params.get("at")
    if text in (None, ""):
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise views.NotFound(f"no journal step {text!r}")
    return int(text)


def _picture(request: Request) -> Picture:
    expand = frozenset(x for x in request.query_params.getlist("expand") if x)
    return Picture(alternatives=request.query_params.get("alternatives", "1") == "1",
                   expand=expand)


def make_app(server: Server, hosts: frozenset[str]) -> Guard:
    """The ASGI application serving ``server``, answering to ``hosts`` only."""
    s = server

    async def runs_html(request: Request) -> Response:
        return HTMLResponse(runs_page(str(s.db), s.keys.csrf, s.read_only))

    async def run_html(request: Request) -> Response:
        run_id = _run_id(request)
        await run_in_threadpool(lambda: views.run_row(s.store(), run_id))
        return HTMLResponse(run_page(run_id, s.keys.csrf, s.read_only))

    async def static(request: Request) -> Response:
        found = STATIC.get(request.path_params["name"])
        if found is None:
            raise views.NotFound("no such file")
        return Response(found[1], media_type=found[0])

    async def runs_json(request: Request) -> Response:
        async with s.runs_lock:  # one page at a time folds what changed
            return JSONResponse(await run_in_threadpool(
                lambda: views.runs_view(s.store(), s.summaries)))

    async def run_json(request: Request) -> Response:
        run_id = _run_id(request)
        view = await run_in_threadpool(lambda: views.run_page_view(s.store(), run_id))
        view["read_only"] = s.read_only
        return JSONResponse(view)

    async def picture_json(request: Request) -> Response:
        run_id, at, picture = _run_id(request), _at(request), _picture(request)
        last = await run_in_threadpool(lambda: s.last(run_id))
        key = ("picture", run_id, last if at is None else at, at is None,
               picture.alternatives, tuple(sorted(picture.expand)))
        made = await s.cache.get(key, lambda: views.picture_view(
            s.store(), run_id, at, picture, s.checkpoints))
        return JSONResponse(made.to_json())

    async def task_json(request: Request) -> Response:
        run_id, task = _run_id(request), request.query_params.get("id", "")
        return JSONResponse(await run_in_threadpool(
            lambda: views.task_view(s.store(), run_id, task)))

    async def preview_json(request: Request) -> Response:
        run_id, task = _run_id(request), request.query_params.get("task", "")
        return JSONResponse(await run_in_threadpool(
            lambda: views.preview_view(s.store(), run_id, task)))

    async def stream(request: Request) -> Response:
        keys = _watched(request)
        await run_in_threadpool(lambda: [views.run_row(s.store(), k) for k in keys
                                         if k is not None])
        last_id = request.headers.get("last-event-id")
        return StreamingResponse(_until_gone(request, events(s.watcher, keys, last_id)),
                                 media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    routes = [
        Route("/", runs_html), Route("/runs/{run_id}", run_html),
        Route("/static/{name}", static),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/runs", runs_json), Route("/api/runs/{run_id}", run_json),
        Route("/api/runs/{run_id}/picture", picture_json),
        Route("/api/runs/{run_id}/task", task_json),
        Route("/api/runs/{run_id}/restart-preview", preview_json),
        Route("/events", stream),
    ]
    if s.read_only:
        routes.append(Route("/api/runs/{run_id}/{op}", _read_only, methods=["POST"]))
    else:
        routes += steering.routes(s.db, _run_id)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        watching = asyncio.create_task(s.watcher.run())
        try:
            yield
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={views.NotFound: _not_found,
                                        GrammarflowError: _refused, 404: _not_found,
                                        405: _not_allowed, 500: _broken})
    return Guard(app, s.keys, hosts)


async def _until_gone(request: Request, stream: AsyncIterator[str]) -> AsyncIterator[str]:
    """The stream, ended when its page has gone."""
    async for chunk in stream:
        if await request.is_disconnected():
            return
        yield chunk


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/events"))


async def _not_found(request: Request, exc: Exception) -> Response:
    words = str(exc) if isinstance(exc, views.NotFound) else f"no page {request.url.path}"
    if isinstance(exc, GrammarflowError) and not isinstance(exc, views.NotFound):
        words = str(exc)
    if _wants_json(request):
        return JSONResponse({"error": words}, status_code=404)
    return HTMLResponse(not_found_page(words), status_code=404)


async def _refused(request: Request, exc: Exception) -> Response:
    """A run the journal does not have is not found; any other error of ours is said."""
    words = str(exc)
    if words.startswith("no run "):
        return await _not_found(request, views.NotFound(words))
    return JSONResponse({"error": words}, status_code=409)


async def _read_only(request: Request) -> Response:
    return JSONResponse({"error": "this server is read-only (grammarflow serve --read-only): "
                         "it changes nothing"}, status_code=405)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": f"{request.method} is not allowed here"
                         + (" (the server is read-only)" if request.method == "POST" else "")},
                        status_code=405)


async def _broken(request: Request, exc: Exception) -> Response:
    """A bug of ours: its traceback on the server's stderr, one line to the page."""
    traceback.print_exception(exc)
    return JSONResponse({"error": f"the server failed: {type(exc).__name__}"}, status_code=500)
