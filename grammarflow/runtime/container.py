"""Tasks in containers: ``Kind(image=..., command=[...])`` run through podman or docker.

Each attempt is ``ENGINE run -i --rm IMAGE COMMAND...``, speaking the same JSON lines as
a local task with the task SDK mounted read-only; stopping the attempt removes its
container (docs/containers.md, "Tasks in containers").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grammarflow
from grammarflow import wire
from grammarflow.errors import GrammarflowError
from grammarflow.journal.lease import process_started
from grammarflow.runtime.executor import Executor, Launch, Streams, TaskProcess
from grammarflow.runtime.local import SpawnedProcess, spawn
from grammarflow.workflow.containers import Container
from grammarflow.workflow.definition import Kind

#: The engines tried, in this order, when none is chosen.
ENGINES = ("podman", "docker")
#: Where the task SDK is in a container (on its PYTHONPATH).
SDK_PATH = "/opt/grammarflow"
#: Where the workflow file's directory is in a container (its working directory).
WORKFLOW_PATH = "/workflow"
#: The prefix of the labels every container of a run carries.
LABEL = "io.grammarflow"
#: Seconds a stop waits for the engine's client to end before removing the container
#: again (a removal that came before the client created it found nothing).
STOP_AGAIN = 0.5
#: Seconds a stop tries before it kills the client and gives up on the container
#: (``resume`` removes it then).
STOP_BOUND = 30.0
#: Seconds an engine's command may take at ``resume`` (listing, removing containers).
ENGINE_TIMEOUT = 60.0


class EngineMissing(OSError):
    """No container engine to run a container kind with (or not the one chosen)."""


@dataclass(frozen=True, slots=True)
class Engine:
    """A container engine's command-line client: podman or docker."""

    name: str
    path: str

    @classmethod
    def find(cls, wanted: str | None = None) -> Engine:
        """The engine ``wanted`` (a name, or a path), else the first of :data:`ENGINES`
        installed; :class:`EngineMissing` saying what to do when there is none."""
        for name in (wanted,) if wanted else ENGINES:
            path = shutil.which(name)
            if path is not None:
                return cls(Path(name).name, path)
        if wanted:
            raise EngineMissing(f"the container engine {wanted!r} (--engine) is not "
                                "installed (not on PATH)")
        raise EngineMissing("a task of a container kind (Kind(image=...)) runs through "
                            f"{' or '.join(ENGINES)}, and neither is installed (on PATH): "
                            "install one (Debian: apt-get install podman runc)")

    @property
    def podman(self) -> bool:
        return self.name.startswith("podman")

    def run(self, container: Container, name: str, labels: dict[str, str],
            workflow_dir: Path) -> list[str]:
        """The command line of one attempt (the task's context goes in the client's
        environment, ``GRAMMARFLOW_TASK``, and from there into the container's)."""
        argv = [self.path, "run", "-i", "--rm", "--name", name, "--pull", "never"]
        if self.podman:  # the container's stdio are the client's: one hop less a line
            argv += ["--log-driver", "passthrough"]
        for key, value in labels.items():
            argv += ["--label", f"{key}={value}"]
        env = dict(container.env)
        env["PYTHONPATH"] = ":".join(p for p in (SDK_PATH, env.get("PYTHONPATH")) if p)
        argv += ["--env", wire.ENV_TASK]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        sdk = Path(grammarflow.__file__).parent
        argv += ["--volume", f"{sdk}:{SDK_PATH}/grammarflow:ro",
                 "--volume", f"{workflow_dir}:{WORKFLOW_PATH}:ro", "--workdir", WORKFLOW_PATH]
        for mount in container.mounts:
            source = workflow_dir / mount.source  # an absolute source stays itself
            argv += ["--volume", f"{source}:{mount.target}{':ro' if mount.read_only else ''}"]
        if container.cpus is not None:
            argv += ["--cpus", f"{container.cpus:g}"]
        if container.memory is not None:
            argv += ["--memory", container.memory]
        if container.network is not None:
            argv += ["--network", container.network]
        return [*argv, container.image, *container.command]

    def remove(self, *names: str) -> list[str]:
        """The arguments that kill and remove these containers at once (one already
        gone is no error)."""
        return ["rm", "-f", *(["-t", "0"] if self.podman else []), *names]


def with_containers(inner: Executor, kinds: Iterable[Kind], engine: str | None) -> Executor:
    """``inner``, or a :class:`ContainerExecutor` around it if a kind runs in a container."""
    if any(kind.image is not None for kind in kinds):
        return ContainerExecutor(inner, engine)
    return inner


class ContainerExecutor:
    """Container kinds through an engine; every other kind through ``inner``."""

    def __init__(self, inner: Executor, engine: str | None = None) -> None:
        self.inner = inner
        self.wanted = engine
        self._engine: Engine | None = None
        self._images: set[str] = set()  # images the engine was seen to have
        self._stops: set[asyncio.Task[None]] = set()  # containers being removed
        # Built once: subprocess would decode and re-encode os.environ at every spawn.
        self.base_env = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()
                         if k != wire.ENV_TASK}

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine.find(self.wanted)
        return self._engine

    async def start(self, launch: Launch) -> TaskProcess:
        container = launch.command.container
        if container is None:
            return await self.inner.start(launch)
        engine = self.engine()
        await self._have_image(engine, container.image)
        context = json.loads(launch.context)
        name = f"gf-{context['run']}-{_safe(launch.task)}-{context['attempt']}-" \
               f"{secrets.token_hex(3)}"
        argv = engine.run(container, name, labels(context), launch.workflow.parent)
        env = dict(self.base_env)
        # Also the marker by which `resume` finds the client of a dead orchestrator.
        env[wire.ENV_TASK.encode()] = launch.context.encode()
        cli = _spawn(argv, env, launch.workflow.parent)
        return ContainerProcess(cli, engine, name, self._stops)

    async def _have_image(self, engine: Engine, image: str) -> None:
        """OSError unless the engine has ``image`` (asked once a run per image)."""
        if image in self._images:
            return
        proc = await asyncio.create_subprocess_exec(
            engine.path, "image", "inspect", "--format", "{{.Id}}", image,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0:
            said = _last_line(err)
            if "no such" in said.lower() or "not known" in said.lower() or not said:
                raise OSError(f"{engine.name} has no image {image!r} ({engine.name} images "
                              "lists those it has; a run pulls none): build, load or pull "
                              "it first")
            raise OSError(f"{engine.name} cannot look up image {image!r}: {said}")
        self._images.add(image)

    def kill_orphans(self, db_key: str, run_id: int) -> list[int]:
        """The inner executor's orphans (among them the engine clients a dead
        orchestrator left: they carry their run's marker), then the run's containers by
        their labels, unless their orchestrator lives."""
        killed = self.inner.kill_orphans(db_key, run_id)
        try:
            remove_orphans(self.engine(), db_key, run_id)
        except EngineMissing:
            pass  # no engine: no container ran
        except (OSError, subprocess.SubprocessError) as e:
            raise GrammarflowError(
                f"cannot remove the containers a dead orchestrator of run {run_id} left "
                f"({e}); resume starts no task before they are gone, lest one run twice "
                "side by side: fix the engine, or remove them by hand (label "
                f"{LABEL}.run={run_id}@{db_key}), then resume again") from e
        return killed

    async def close(self) -> None:
        if self._stops:
            await asyncio.wait(list(self._stops))
        await self.inner.close()


def labels(context: dict[str, Any]) -> dict[str, str]:
    """The labels of an attempt's container, from the attempt's context."""
    return {f"{LABEL}.run": f"{context['run']}@{context['db']}",
            f"{LABEL}.task": context["task"], f"{LABEL}.kind": context["kind"],
            f"{LABEL}.attempt": str(context["attempt"]),
            f"{LABEL}.owner": json.dumps(context.get("owner"))}


def _safe(task: str) -> str:
    """A task id as part of a container's name ([a-zA-Z0-9_.-])."""
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", task)[:60]


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else ""


def _spawn(argv: list[str], env: dict[bytes, bytes], cwd: Path) -> SpawnedProcess:
    """The engine's client, in a process group of its own (so a Ctrl-C on the terminal
    reaches the orchestrator only, which stops the container itself), with three pipes."""
    if not hasattr(os, "pidfd_open"):
        raise OSError("container kinds need Linux (pidfds), where their engines run")
    return spawn(argv, env, cwd)


class ContainerProcess(Streams):
    """A running attempt in a container: the engine's client and the container's name."""

    def __init__(self, cli: SpawnedProcess, engine: Engine, name: str,
                 stops: set[asyncio.Task[None]]) -> None:
        super().__init__(cli.stdout, cli.stderr)
        self.cli = cli
        self.engine = engine
        self.name = name
        self.stopping: asyncio.Task[None] | None = None
        self._stops = stops

    def send(self, data: bytes) -> None:
        self.cli.send(data)

    def kill(self) -> None:
        """Remove the container (the attempt ends once it is gone and its client with
        it); nothing to do once the client ended with the container's own status."""
        if self.stopping is not None or (self.cli.exit.done() and self.cli.exit.result() >= 0):
            return
        self.stopping = asyncio.get_running_loop().create_task(self._stop())
        self._stops.add(self.stopping)
        self.stopping.add_done_callback(self._stops.discard)

    async def _stop(self) -> None:
        # Removed while its client lives: a client killed while it creates the container
        # can leave the engine's monitor process behind. A removal that came before the
        # container existed finds nothing, and the client then creates it: removed
        # again, until the client is gone.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_BOUND
        while True:
            await _engine_command(self.engine.path, *self.engine.remove(self.name))
            if self.cli.exit.done():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.cli.exit), STOP_AGAIN)
                return
            if loop.time() > deadline:
                self.cli.kill()  # the engine does not answer: at least the client goes
                return

    async def exited(self) -> int:
        code = await asyncio.shield(self.cli.exit)
        if code < 0:  # the client was killed (not by us): its container may live on
            self.kill()
        if self.stopping is not None:
            await asyncio.shield(self.stopping)
        return code

    def release(self) -> None:
        self.cli.release()


async def _engine_command(*argv: str) -> None:
    """Run an engine's command to its end; what it says is not needed (a container
    already gone is no error)."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, process_group=0)
    await proc.wait()


def remove_orphans(engine: Engine, db_key: str, run_id: int) -> list[str]:
    """Remove the containers of this run whose orchestrator is dead; their names. Call
    it only while holding the run's lease."""
    listed = _engine_output(engine, "ps", "-a", "-q", "--filter",
                            f"label={LABEL}.run={run_id}@{db_key}").split()
    doomed = []
    for name, marks in filter(None, (_labels(engine, c) for c in listed)):
        if not _owner_alive(marks.get(f"{LABEL}.owner", "null")):
            doomed.append(name)
    if doomed:
        _engine_output(engine, *engine.remove(*doomed))
    return doomed


def _labels(engine: Engine, container: str) -> tuple[str, dict[str, str]] | None:
    """A container's name and labels; None if it is gone (its processes were killed
    as marked ones, and the engine removed it meanwhile)."""
    try:
        found = _engine_output(engine, "inspect", "--format",
                               "{{json .Name}} {{json .Config.Labels}}", container)
    except OSError:
        if _engine_output(engine, "ps", "-a", "-q", "--filter", f"id={container}").strip():
            raise
        return None
    name, _, labelled = found.strip().partition(" ")
    return json.loads(name).lstrip("/"), json.loads(labelled) or {}


def _engine_output(engine: Engine, *args: str) -> str:
    """What an engine's command prints; OSError with what it said if it fails."""
    done = subprocess.run([engine.path, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=ENGINE_TIMEOUT, check=False)
    if done.returncode != 0:
        raise OSError(f"{engine.name} {args[0]} failed: {_last_line(done.stderr)}")
    return done.stdout.decode(errors="replace")


def _owner_alive(owner: str) -> bool:
    """Whether the orchestrator a container's label names still runs (this very
    process, not a reused pid)."""
    try:
        found = json.loads(owner)
    except ValueError:
        return False
    if not isinstance(found, dict):
        return False
    started = process_started(int(found["pid"]))
    return started is not None and started == found.get("started")


__all__ = ["ENGINES", "LABEL", "SDK_PATH", "WORKFLOW_PATH", "ContainerExecutor",
           "ContainerProcess", "Engine", "EngineMissing", "labels", "remove_orphans",
           "with_containers"]
