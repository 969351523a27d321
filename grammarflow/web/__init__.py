"""`grammarflow serve`: watch and steer runs in the browser (docs/serve.md).

An ASGI application (Starlette) on uvicorn, reading the journal through read-only
connections: the runs, each run's live picture, its timeline, its tasks; and buttons
that call the operations the command line calls, behind a token and a CSRF check.
"""

from __future__ import annotations

from grammarflow.web.app import Server, make_app
from grammarflow.web.guard import Keys
from grammarflow.web.serving import address, hosts_of, serve

__all__ = ["Keys", "Server", "address", "hosts_of", "make_app", "serve"]
