"""The zygote: a fork server that has imported a run's workflow file once, and forks a
fresh child for each attempt of a function task — ``python -m grammarflow.zygote FD``.

Started by :class:`grammarflow.runtime.zygote.ZygoteExecutor` with one end of a Unix
``SOCK_SEQPACKET`` socket pair as file descriptor ``FD``. Each request is one packet: a
JSON object ``{"file", "func", "args", "cwd", "context"}`` and, with it (``SCM_RIGHTS``),
the attempt's stdin, stdout and stderr. The zygote forks; the child becomes the
attempt — its own process group, those three descriptors as 0, 1 and 2, the task's
context in its environment, the kind's function called as ``python -m grammarflow.call``
would — and the zygote answers ``{"pid": N}``. When a child exits the zygote reaps it
(a pidfd per child tells it when) and sends ``{"exit": N, "code": C}`` (negative: the
signal that killed it). End of file on the socket (the orchestrator is gone) ends the
zygote; its children go on as any task process would, until a `resume` kills them
(they carry the zygote's marker, ``GRAMMARFLOW_ZYGOTE``, naming the run and its
orchestrator).

Nothing is shared between attempts: each child is a copy of the zygote as it stood
after importing the file, and the zygote itself never runs a task, opens the task
channel or reads a context. Standard library only, like the task SDK.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import socket
import sys
import traceback

#: The environment variable naming the run and the orchestrator a zygote serves.
ENV_ZYGOTE = "GRAMMARFLOW_ZYGOTE"
#: The largest request packet (a context larger than the environment takes is asked
#: for by the task, as without a zygote).
MAX_PACKET = 1 << 20


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    import grammarflow
    from grammarflow import call, task, wire  # noqa: F401 — what every attempt uses

    grammarflow.TASK_PROCESS = True  # the file's define() and kinds: stand-ins
    modules: dict[str, object] = {}
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ, None)
    children: dict[int, int] = {}  # pidfd -> pid
    while True:
        for key, _ in selector.select():
            if key.data is None:
                packet, fds, _, _ = socket.recv_fds(sock, MAX_PACKET, 3)
                if not packet:
                    return 0  # the orchestrator is gone
                pid = _fork(sock, selector, json.loads(packet), fds, modules)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = pid
                selector.register(pidfd, selectors.EVENT_READ, pid)
                sock.send(json.dumps({"pid": pid}).encode())
            else:
                pidfd = key.fd
                selector.unregister(pidfd)
                os.close(pidfd)
                pid = children.pop(pidfd)
                _, status = os.waitpid(pid, 0)
                sock.send(json.dumps({"exit": pid,
                                      "code": os.waitstatus_to_exitcode(status)}).encode())


def _fork(sock: socket.socket, selector: selectors.BaseSelector, request: dict[str, object],
          fds: list[int], modules: dict[str, object]) -> int:
    path = str(request["file"])
    module = modules.get(path)
    if module is None and path not in modules:
        try:
            module = _preload(path)
        except BaseException:
            module = None
        modules[path] = module
    gc.freeze()  # what the zygote holds stays out of the children's collections
    pid = os.fork()
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
    from grammarflow.call import MODULE, load

    module = load(path, MODULE)
    sys.modules.pop(MODULE, None)  # each child puts it back: as in its own process
    return module


def _become_attempt(request: dict[str, object], fds: list[int], module: object,
                    path: str) -> int:
    os.setpgid(0, 0)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(str(request["cwd"]))
    from grammarflow import wire
    from grammarflow.call import MODULE, call, load

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
