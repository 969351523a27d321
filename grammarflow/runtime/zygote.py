"""The zygote: the parent of every task process of a run (``python -m
grammarflow.runtime.zygote FD``).

It forks each attempt of a function task from itself, as it stood after importing the
workflow file once, and spawns every other; nothing an attempt started outlives it. Its
socket protocol: docs/architecture.md, "Executors and the zygote". Standard library only.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import traceback

from grammarflow import wire
from grammarflow.runtime import reaper

#: The environment variable naming the run and the orchestrator a zygote serves.
ENV_ZYGOTE = "GRAMMARFLOW_ZYGOTE"
#: The largest request packet (a context larger than the environment takes is asked
#: for by the task, as without a zygote).
MAX_PACKET = 1 << 20


class _Gone(Exception):
    """The orchestrator is gone: its end of the socket is closed."""


class _Main:
    """A running attempt's main process: forked (``popen`` None) or spawned."""

    __slots__ = ("pid", "popen")

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None) -> None:
        self.pid, self.popen = pid, popen

    def reap(self) -> int:
        """Its exit status, once it exited (negative: killed by that signal)."""
        if self.popen is not None:
            return self.popen.wait()
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    reaper.become_subreaper()
    import grammarflow
    from grammarflow import task  # noqa: F401 — what every attempt uses
    from grammarflow.workflow import call  # noqa: F401

    grammarflow.TASK_PROCESS = True  # the file's define() and kinds: stand-ins
    mains: dict[int, _Main] = {}  # pidfd -> the main process it tells the exit of
    try:
        _serve(sock, mains)
    except _Gone:
        pass
    finally:  # the orchestrator is gone, or this is a fault of ours: end every attempt
        _end(mains)
    return 0


def _serve(sock: socket.socket, mains: dict[int, _Main]) -> None:
    modules: dict[str, object] = {}
    # Built once: Popen would encode os.environ at every spawn.
    env = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items()
           if k != ENV_ZYGOTE}
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, None)
    while True:
        for key, _ in selector.select():
            if key.data is None:
                try:
                    packet, fds, _, _ = socket.recv_fds(sock, MAX_PACKET, 3)
                except ConnectionError:
                    raise _Gone from None
                if not packet:
                    raise _Gone
                request = json.loads(packet)
                try:
                    if "argv" in request:
                        spawned = _spawn(request, fds, {
                            **env, wire.ENV_TASK.encode(): str(request["context"]).encode()})
                        main = _Main(spawned.pid, spawned)
                    else:
                        main = _Main(_fork(sock, selector, request, fds, modules), None)
                except (OSError, subprocess.SubprocessError) as e:
                    _tell(sock, {"error": str(e)})
                    continue
                pidfd = os.pidfd_open(main.pid)
                mains[pidfd] = main
                selector.register(pidfd, selectors.EVENT_READ, main.pid)
                _tell(sock, {"pid": main.pid})
            else:
                selector.unregister(key.fd)
                os.close(key.fd)
                main = mains.pop(key.fd)
                code = main.reap()
                reaper.sweep({m.pid for m in mains.values()})  # what it left behind
                _tell(sock, {"exit": main.pid, "code": code})


def _tell(sock: socket.socket, message: dict[str, object]) -> None:
    try:
        sock.send(json.dumps(message).encode())
    except (BrokenPipeError, ConnectionError):
        raise _Gone from None


def _end(mains: dict[int, _Main]) -> None:
    """Kill every running attempt — its group, and the main process if it left it —
    and everything below them, and reap them all."""
    for main in mains.values():
        for kill in (os.killpg, os.kill):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                kill(main.pid, signal.SIGKILL)
    for pidfd, main in mains.items():
        with contextlib.suppress(ChildProcessError):
            main.reap()
        os.close(pidfd)
    mains.clear()
    reaper.sweep(())


def _spawn(request: dict[str, object], fds: list[int], env: dict[bytes, bytes]
           ) -> subprocess.Popen[bytes]:
    """Start ``request["argv"]`` as an attempt's main process: a subreaper (set in the
    child before it execs: a fork of this small process, not of the orchestrator)."""
    try:
        return subprocess.Popen(
            [str(a) for a in request["argv"]],  # type: ignore[attr-defined]
            stdin=fds[0], stdout=fds[1], stderr=fds[2], env=env, cwd=str(request["cwd"]),
            process_group=0, preexec_fn=reaper.become_subreaper)
    finally:
        for fd in fds:
            os.close(fd)


def _fork(sock: socket.socket, selector: selectors.BaseSelector, request: dict[str, object],
          fds: list[int], modules: dict[str, object]) -> int:
    path = str(request["file"])
    try:  # a file changed since it was loaded (a run upgraded to it) is loaded again
        st = os.stat(path)
        key = f"{path}\0{st.st_mtime_ns}\0{st.st_size}"
    except OSError:
        key = path
    module = modules.get(key)
    if module is None and key not in modules:
        try:
            module = _preload(path)
        except BaseException:
            module = None
        modules[key] = module
    gc.freeze()  # what the zygote holds stays out of the children's collections
    try:
        pid = os.fork()
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    try:  # the child: never returns
        selector.close()
        sock.close()
        code = _become_attempt(request, fds, module, path)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    _flush()
    os._exit(code)


def _preload(path: str) -> object:
    from grammarflow.workflow.call import MODULE, load

    module = load(path, MODULE)
    sys.modules.pop(MODULE, None)  # each child puts it back: as in its own process
    return module


def _become_attempt(request: dict[str, object], fds: list[int], module: object,
                    path: str) -> int:
    os.setpgid(0, 0)
    reaper.become_subreaper()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(str(request["cwd"]))
    from grammarflow.workflow.call import MODULE, call, load

    os.environ[wire.ENV_TASK] = str(request["context"])
    args = [str(a) for a in request["args"]]  # type: ignore[attr-defined]
    sys.argv = [path, *args]
    if module is None:
        module = load(path, MODULE)
        if module is None:
            print(f"cannot import {path!r}", file=sys.stderr)
            return 2
    else:
        sys.modules[MODULE] = module  # type: ignore[assignment]
    return call(module, path, str(request["func"]), args)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


__all__ = [
    "ENV_ZYGOTE",
    "MAX_PACKET",
    "main",
]
