"""Run the application on uvicorn: bound to 127.0.0.1 unless told otherwise, stopped
cleanly by Ctrl-C (open event streams are closed within a second)."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Callable
from pathlib import Path

from grammarflow.errors import GrammarflowError
from grammarflow.journal.database import open_readonly
from grammarflow.web.app import Server, make_app
from grammarflow.web.guard import Keys

__all__ = ["address", "bound", "hosts_of", "serve"]


def hosts_of(host: str, port: int) -> frozenset[str]:
    """The ``Host`` values that name the server bound to ``host``:``port``."""
    names = {host, "127.0.0.1", "localhost", "[::1]"} if host in (
        "127.0.0.1", "localhost", "::1", "0.0.0.0", "::") else {host}
    return frozenset(f"{n}:{port}" for n in names)


def address(host: str, port: int, keys: Keys) -> str:
    """Where to open the pages, with the token."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/?token={keys.token}"


def bound(host: str, port: int) -> socket.socket:
    """A listening socket at ``host``:``port`` (0: any free port), or a GrammarflowError
    saying why not (the port is taken, say)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise GrammarflowError(f"cannot listen on {host}:{port}: {e.strerror or e}"
                               + (" (another server has it: give another with --port)"
                                  if e.errno == errno.EADDRINUSE else "")) from None
    sock.listen(128)
    return sock


def serve(db: Path, host: str = "127.0.0.1", port: int = 8765, *, read_only: bool = False,
          token: str | None = None, said: Callable[[str], None] = print) -> None:
    """Serve the journal at ``db`` until Ctrl-C."""
    import uvicorn

    open_readonly(db).close()  # no database, or not grammarflow's: said now, in one line
    sock = bound(host, port)
    port = sock.getsockname()[1]
    keys = Keys(token, port) if token else Keys(port=port)
    server = Server(db, keys, read_only)
    config = uvicorn.Config(make_app(server, hosts_of(host, port)), log_level="warning",
                            timeout_graceful_shutdown=1, lifespan="on")
    said(f"grammarflow serve: the runs of {db}" + (" (read-only: no steering)"
                                                   if read_only else "")
         + f"\nopen {address(host, port, keys)}\n(Ctrl-C stops it)")
    # uvicorn stops at Ctrl-C, then raises the Ctrl-C it caught again: that is the end
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    said("grammarflow serve: stopped")
