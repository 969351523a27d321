"""What a task's process start costs the orchestrator, by the way it is made (issue 14.4).

    .venv/bin/python bench/spawn.py            # 300 spawns of each way
    .venv/bin/python bench/spawn.py --n 100

Each way starts ``python -c pass`` N times, one after the other, and waits for its exit
and for the end of its pipes; printed: the orchestrator's own CPU per spawn (its
process only, RUSAGE_SELF: the child's interpreter start is not in it) and the wall
time per spawn, each as a ratio to the first way — asyncio's subprocess transport with
three pipes and a process group, what the runtime used before. Then:

* the same without a process group, and with two pipes (stderr to a file): what the
  group and a pipe cost (nothing measurable: neither is worth giving up);
* ``os.posix_spawn`` with three pipes read by ``loop.add_reader`` and the exit read from
  a pidfd (no transports, no protocol objects; but posix_spawn cannot set the working
  directory, which a task needs);
* ``subprocess.Popen`` read the same way: the same saving, with the working directory;
* :class:`grammarflow.runtime.local.LocalExecutor` (Popen, the pipes of
  :mod:`grammarflow.runtime.pipes`, a pidfd), through its own ``start``: how the
  orchestrator spawns where there are no child subreapers (not Linux);
* the runtime now: the same script spawned by the run's zygote
  (:mod:`grammarflow.runtime.zygote_executor`, which forks itself, a small process, to exec it:
  the orchestrator only sends it a request and the pipes);
* a fork from a warm zygote, for scale.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from grammarflow.runtime.executor import Executor
from grammarflow.runtime.local import LocalExecutor, use_pidfd_child_watcher
from grammarflow.runtime.zygote_executor import ZygoteExecutor

ARGV = [sys.executable, "-c", "pass"]


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def asyncio_pipes(group: bool = True, stderr_pipe: bool = True,
                        log: Path | None = None) -> None:
    loop = asyncio.get_running_loop()
    err: object = asyncio.subprocess.PIPE
    handle = None
    if not stderr_pipe:
        assert log is not None
        handle = open(log, "ab")  # noqa: SIM115 (closed below)
        err = handle
    extra = {"process_group": 0} if group else {}
    transport, protocol = await loop.subprocess_exec(
        lambda: asyncio.subprocess.SubprocessStreamProtocol(limit=2 ** 16, loop=loop),
        *ARGV, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err,
        **extra)
    proc = asyncio.subprocess.Process(transport, protocol, loop)
    await proc.communicate()
    if handle is not None:
        handle.close()


async def _drain(out_r: int, err_r: int, pid: int, reap: Callable[[], object]) -> None:
    """Read both outputs with ``loop.add_reader`` until their end, and the exit from a
    pidfd (then ``reap``): no transports, no protocol objects."""
    loop = asyncio.get_running_loop()
    for fd in (out_r, err_r):
        os.set_blocking(fd, False)
    done: asyncio.Future[None] = loop.create_future()
    open_fds = {out_r, err_r}
    pidfd = os.pidfd_open(pid)
    exited = False

    def readable(fd: int) -> None:
        nonlocal exited
        if fd == pidfd:
            loop.remove_reader(pidfd)
            reap()
            os.close(pidfd)
            exited = True
        else:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return
            if data:
                return
            loop.remove_reader(fd)
            open_fds.discard(fd)
        if exited and not open_fds and not done.done():
            done.set_result(None)

    for fd in (out_r, err_r, pidfd):
        loop.add_reader(fd, readable, fd)
    await done


async def posix_spawn_pipes() -> None:
    """Three pipes, posix_spawn, read as :func:`_drain` does."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.posix_spawn(ARGV[0], ARGV, os.environ, setpgroup=0, file_actions=[
        (os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2)])
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    await _drain(out_r, err_r, pid, lambda: os.waitpid(pid, 0))
    for fd in (in_w, out_r, err_r):
        os.close(fd)


async def popen_pipes() -> None:
    """subprocess.Popen (cwd, process group, vfork as the runtime needs), read as
    :func:`_drain` does: what the transports cost."""
    import subprocess

    proc = subprocess.Popen(ARGV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, process_group=0, cwd=os.getcwd())
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    await _drain(proc.stdout.fileno(), proc.stderr.fileno(), proc.pid, proc.wait)
    for f in (proc.stdin, proc.stdout, proc.stderr):
        f.close()


def executor_way(root: Path, executor: Executor) -> Callable[[], Awaitable[None]]:
    """One of the runtime's executors starting a script that does nothing."""
    import json

    from grammarflow.runtime.executor import Launch
    from grammarflow.workflow.definition import Kind

    (root / "nothing.py").write_text("")
    wf = root / "wf_script.py"
    wf.write_text("")
    context = json.dumps({"db": "bench", "run": "0", "task": "t", "kind": "t", "owner": None})
    launch = Launch("t", "t", Kind("nothing.py"), context, wf)

    async def one() -> None:
        proc = await executor.start(launch)
        await proc.exited()
        await proc.stdout.read()
        await proc.stderr.read()
        proc.release()

    return one


def zygote_way(root: Path) -> Callable[[], Awaitable[None]]:
    import json

    from grammarflow.runtime.executor import Launch
    from grammarflow.workflow.definition import Kind

    wf = root / "wf.py"
    wf.write_text("from grammarflow import define\ngrammar = define('t')\ndef t():\n    pass\n")
    context = json.dumps({"db": "bench", "run": "0", "task": "t", "kind": "t", "owner": None})
    launch = Launch("t", "t", Kind(":t"), context, wf)
    executor = ZygoteExecutor()

    async def one() -> None:
        proc = await executor.start(launch)
        await proc.exited()
        await proc.stdout.read()
        await proc.stderr.read()
        proc.release()

    return one


async def measure(n: int, one: Callable[[], Awaitable[None]]) -> tuple[float, float]:
    use_pidfd_child_watcher()
    await one()  # warm up (the zygote's start)
    cpu, wall = _self_cpu(), time.perf_counter()
    for _ in range(n):
        await one()
    return (_self_cpu() - cpu) / n * 1000, (time.perf_counter() - wall) / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ways: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("asyncio transport, 3 pipes, group (before)", asyncio_pipes),
            ("asyncio, 3 pipes, no process group", lambda: asyncio_pipes(group=False)),
            ("asyncio, 2 pipes (stderr to a file)",
             lambda: asyncio_pipes(stderr_pipe=False, log=root / "err.log")),
            ("posix_spawn, 3 pipes, add_reader, pidfd", posix_spawn_pipes),
            ("subprocess.Popen, 3 pipes, add_reader, pidfd", popen_pipes),
            ("LocalExecutor.start (where no subreapers)", executor_way(root, LocalExecutor())),
            ("spawned by the zygote (the runtime now)",
             executor_way(root, ZygoteExecutor(fork=False))),
        ]
        first: tuple[float, float] | None = None
        for label, one in ways:
            cpu, wall = asyncio.run(measure(args.n, one))
            first = first or (cpu, wall)
            print(f"{label:<48} CPU {cpu:5.2f} ms a spawn (x{cpu / first[0]:4.2f})   "
                  f"wall {wall:5.2f} ms (x{wall / first[1]:4.2f})", flush=True)

        async def zyg() -> tuple[float, float]:
            return await measure(args.n, zygote_way(root))
        cpu, wall = asyncio.run(zyg())
        assert first is not None
        print(f"{'zygote fork (for scale)':<48} CPU {cpu:5.2f} ms a start (x{cpu / first[0]:4.2f})"
              f"   wall {wall:5.2f} ms (x{wall / first[1]:4.2f})")


if __name__ == "__main__":
    main()
