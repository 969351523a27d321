"""Attempts run on a Dask cluster (``--dask tcp://scheduler:8786``, ``--dask local:N``):
each task still a Python process speaking JSON lines, started on a worker by
:func:`grammarflow.runtime.dask_worker.run_attempt`, its pipes relayed on Dask's own
primitives (events of the run's topic one way, a queue the other), so the orchestrator
checks and journals its changes as a local task's (docs/cluster.md).

A worker that dies mid-attempt fails the attempt (retried as its kind says): the
orchestrator sees the worker leave the cluster and cancels the attempt's Dask task; a
copy Dask rescheduled finds the attempt's lock taken and never starts. The task's
process dies with its worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from typing import Any

from grammarflow import wire
from grammarflow.errors import GrammarflowError
from grammarflow.runtime.dask_worker import PYTHON, inbox_name, kill_group, run_attempt
from grammarflow.runtime.executor import Launch, Streams, TaskProcess
from grammarflow.runtime.local import kill_marked, run_marker

#: Seconds between two looks at whether the workers running attempts are still there.
WORKER_CHECK = 0.5
#: The environment variable that marks a local cluster's worker processes, so that
#: `resume` ends those a dead orchestrator left behind.
ENV_WORKER = "GRAMMARFLOW_DASK_WORKER"
#: Seconds the client (and a local cluster) have to close at the end of the run.
CLOSE_WITHIN = 10.0
#: Threads per worker of a local cluster: each attempt holds one while its process runs.
LOCAL_THREADS = 8


class DaskExecutor:
    """Starts every attempt on the Dask cluster at ``address`` (``local:N``: a
    LocalCluster of N worker processes this executor starts and stops). ``marker``:
    the run's database, id and orchestrator, which mark a local cluster's workers."""

    def __init__(self, address: str, marker: dict[str, Any] | None = None) -> None:
        local_workers(address)  # a bad local:N says so now
        self.address = address
        self.marker = marker or {"db": "", "run": "0"}
        self.topic = f"grammarflow-{uuid.uuid4().hex}"  # this executor's events
        self.client: Any = None
        self.cluster: Any = None
        self.live: dict[str, DaskProcess] = {}  # attempt -> its process, while it runs
        self._connecting = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()  # kills on their way to workers

    async def connected(self) -> Any:
        """The client, connected on first use (a local cluster started then)."""
        async with self._connecting:
            if self.client is None:
                from distributed import Client, LocalCluster

                local = local_workers(self.address)
                if local is not None:
                    self.cluster = await LocalCluster(
                        n_workers=local, threads_per_worker=LOCAL_THREADS, processes=True,
                        asynchronous=True, dashboard_address=":0",  # any free port
                        env={ENV_WORKER: json.dumps(self.marker)},
                        silence_logs=logging.CRITICAL)  # a lost worker: said as a failure
                    self.client = await Client(self.cluster, asynchronous=True)
                else:
                    self.client = await Client(self.address, asynchronous=True,
                                               timeout="10s")
                self.client.subscribe_topic(self.topic, self._heard)
                self._watcher = asyncio.get_running_loop().create_task(self._watch())
        return self.client

    async def start(self, launch: Launch) -> TaskProcess:
        try:
            client = await self.connected()
        except (OSError, TimeoutError) as e:
            raise OSError(f"the Dask cluster at {self.address} cannot be reached: {e}") from e
        attempt = uuid.uuid4().hex
        argv = launch.command.argv(PYTHON, launch.workflow.parent, launch.workflow)
        future = client.submit(run_attempt, attempt, self.topic, argv,
                               {wire.ENV_TASK: launch.context}, str(launch.workflow.parent),
                               pure=False, key=f"grammarflow-{launch.task}-{attempt}")
        proc = self.live[attempt] = DaskProcess(self, attempt, future)
        try:
            await proc.begin()
        except BaseException:
            self.live.pop(attempt, None)
            raise
        return proc

    def _heard(self, event: tuple[float, Any]) -> None:
        """An event of the run's topic: a word of one attempt's worker."""
        attempt, *word = event[1]
        proc = self.live.get(attempt)
        if proc is not None:
            proc.heard(word)

    def later(self, work: Any) -> None:
        """Run coroutine ``work`` in the background, kept until it is done."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def say(self, attempt: str, word: tuple[Any, ...]) -> None:
        """Put a word on the attempt's queue (the worker made it before the first
        thing the process wrote, which any reply answers)."""
        with contextlib.suppress(Exception):  # the worker is gone: its watcher says so
            await self.client.scheduler.queue_put(name=inbox_name(attempt), data=word,
                                                  client=self.client.id, timeout=None)

    async def _watch(self) -> None:
        """The workers running attempts still in the cluster: an attempt whose worker
        left ends as lost, its Dask task cancelled (so that it is not run again)."""
        while True:
            await asyncio.sleep(WORKER_CHECK)
            for proc in list(self.live.values()):  # never started: the cluster said why
                if proc.worker is None and proc.future.status in ("error", "cancelled",
                                                                   "finished"):
                    proc.not_started(await proc.outcome())
            if not any(p.worker is not None for p in self.live.values()):
                continue
            try:  # the workers the scheduler has now (its cached view may lag)
                workers = await self.client.scheduler.ncores()
            except Exception:  # the scheduler is busy or reconnecting: look again
                continue
            for proc in list(self.live.values()):
                if proc.worker is not None and proc.worker not in workers:
                    await proc.lose(f"the Dask worker running it ({proc.worker}) left the "
                                    "cluster (it died, or was stopped)")

    def kill_orphans(self, db_key: str, run_id: int) -> list[int]:
        """What a dead orchestrator of the run left running: on this machine (a local
        cluster's workers, and the tasks they started), and on every worker of a remote
        cluster (each kills the processes there that carry the run's marker)."""
        killed = kill_marked(run_marker(db_key, run_id), worker_marker(db_key, run_id))
        if local_workers(self.address) is None:
            from distributed import Client

            with contextlib.suppress(OSError, TimeoutError), Client(
                    self.address, timeout="10s") as client:
                for pids in client.run(kill_marked, run_marker(db_key, run_id)).values():
                    killed.extend(pids)
        return killed

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        for part in (self.client, self.cluster):  # a cluster that does not answer: left
            if part is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(part.close(), CLOSE_WITHIN)
        self.client = self.cluster = self._watcher = None


def worker_marker(db_key: str, run_id: int) -> bytes:
    """The start of the marker of a local cluster's worker processes, as
    :func:`grammarflow.runtime.local.run_marker` is a task's."""
    return (ENV_WORKER + "=" + json.dumps({"db": db_key, "run": str(run_id)})[:-1]
            + ",").encode()


def local_workers(address: str) -> int | None:
    """N for ``local:N`` (a local cluster of N workers), None for a scheduler's address.

    >>> local_workers("local:2"), local_workers("tcp://10.0.0.5:8786")
    (2, None)
    """
    if not address.startswith("local:"):
        return None
    n = address.removeprefix("local:")
    if not n.isdigit() or int(n) < 1:
        raise GrammarflowError(f"--dask {address}: expected local:N, N workers (1 or more), "
                               "or a scheduler's address (tcp://host:8786)")
    return int(n)


class DaskProcess(Streams):
    """An attempt running on a worker, as the orchestrator sees it: its pipes fed from
    the events its worker sends; what is sent to it put on its queue, in order."""

    def __init__(self, executor: DaskExecutor, attempt: str, future: Any) -> None:
        super().__init__(asyncio.StreamReader(limit=2 ** 16),
                         asyncio.StreamReader(limit=2 ** 16))
        self.executor = executor
        self.attempt = attempt
        self.future = future
        self.worker: str | None = None
        self.pid: int | None = None
        #: why the attempt ended without its process's word (its worker died)
        self.lost: str | None = None
        self.listening = False  # the worker made the attempt's queue (its process wrote)
        loop = asyncio.get_running_loop()
        self.running: asyncio.Future[None] = loop.create_future()
        self.exit: asyncio.Future[int] = loop.create_future()
        self._outbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None

    async def begin(self) -> None:
        """Wait until the worker started the process (``OSError`` if the cluster ended
        the attempt's Dask task before it could: it could not run it)."""
        await self.running

    def not_started(self, why: str) -> None:
        if not self.running.done():
            self.running.set_exception(OSError(f"the Dask cluster did not start it: {why}"))

    async def outcome(self) -> str:
        """How the attempt's Dask task ended, in words."""
        try:
            return f"it returned {await self.future}"
        except Exception as e:  # whatever the cluster raised, said
            return f"{type(e).__name__}: {e}"

    def heard(self, word: list[Any]) -> None:
        match word[0]:
            case "out":
                self.listening = True
                self._stdout.feed_data(word[1])
            case "err":
                self._stderr.feed_data(word[1])
            case "started":
                self.worker, self.pid = str(word[1]), int(word[2])
                if not self.running.done():
                    self.running.set_result(None)
            case "exit":
                self._ended(int(word[1]))

    async def lose(self, why: str) -> None:
        """The attempt's worker is gone: it ended, killed (its process died with it)."""
        self.lost = why
        self._ended(-9)
        with contextlib.suppress(Exception):
            await self.executor.client.cancel(self.future, force=True)

    async def _send(self) -> None:
        while True:
            word = await self._outbox.get()
            await self.executor.say(self.attempt, word)

    def _ended(self, code: int) -> None:
        if self.exit.done():
            return
        self.exit.set_result(code)
        self._stdout.feed_eof()
        self._stderr.feed_eof()
        self.executor.live.pop(self.attempt, None)
        if self._sender is not None:  # nothing it still had to say matters now
            self._sender.cancel()

    def _put(self, word: tuple[Any, ...]) -> None:
        """Say ``word`` to the worker after what was said before (its sender made on
        the first: a task that asks nothing costs none)."""
        if self.exit.done():
            return
        if self._sender is None:
            self._sender = asyncio.get_running_loop().create_task(self._send())
        self._outbox.put_nowait(word)

    def send(self, data: bytes) -> None:
        self._put(("in", data))

    def kill(self) -> None:
        if self.exit.done():
            return  # its worker killed its process group as it exited
        if self.listening:
            self._put(("kill",))
        elif self.pid is not None:  # no queue yet: the worker kills it, asked directly
            self.executor.later(self.executor.client.run(
                kill_group, self.pid, workers=[self.worker], on_error="ignore"))

    async def exited(self) -> int:
        return await asyncio.shield(self.exit)

    def release(self) -> None:
        self._ended(-9)


__all__ = ["CLOSE_WITHIN", "ENV_WORKER", "LOCAL_THREADS", "WORKER_CHECK", "DaskExecutor",
           "DaskProcess",
           "local_workers", "worker_marker"]
