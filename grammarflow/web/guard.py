"""Safe by default: who may read the pages and who may steer a run.

- Every request needs the server's token (printed at start, as Jupyter does): the
  address `grammarflow serve` prints carries it once (``/?token=...``); the server then
  keeps it in a cookie (HttpOnly, SameSite=Strict) and sends the page on without it. A
  script may send ``Authorization: Bearer TOKEN`` instead.
- A request that changes something (POST) also needs the CSRF value the page carries
  (``X-CSRF-Token``, a header no other site's page can set without our consent) and,
  when the browser says where it comes from (``Origin``), to come from this server.
- The ``Host`` a request names must be this server (a DNS-rebinding page names its own).
- Every answer says: run no script but ours, frame nothing, send no referrer, cache
  nothing, guess no content type.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

__all__ = ["HEADERS", "Guard", "Keys"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: On every answer.
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-frame-options": "DENY",
}
SAFE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Keys:
    """The server's token and what derives from it."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = 0

    @property
    def csrf(self) -> str:
        return hmac.new(self.token.encode(), b"grammarflow csrf", hashlib.sha256).hexdigest()

    @property
    def cookie(self) -> str:
        # a cookie is the host's, not the port's: two servers keep one each
        return f"grammarflow_token_{self.port}"

    def holds(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())


class Guard:
    """The ASGI middleware that lets through only what the keys allow."""

    def __init__(self, app: ASGIApp, keys: Keys, hosts: frozenset[str]) -> None:
        self.app = app
        self.keys = keys
        self.hosts = hosts  # the Host values that name this server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refused = self.refused(scope, headers)
        if refused is not None:
            await _answer(send, *refused)
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if "token" in query and scope["method"] in SAFE_METHODS:
            await self._keep_token(scope, query, send)
            return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []),
                                      *((k.encode(), v.encode()) for k, v in HEADERS.items())]
            await send(message)
        await self.app(scope, receive, secured)

    def refused(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        """Why the request is refused (status, words), or None."""
        if headers.get("host") not in self.hosts:
            return 421, ("this server answers only to its own address "
                         f"({', '.join(sorted(self.hosts))})")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        given = _bearer(headers) or _cookie(headers, self.keys.cookie) or query.get("token")
        if not self.keys.holds(given):
            return 403, ("this server needs its token: open the address `grammarflow "
                         "serve` printed (it ends with ?token=...)")
        if scope["method"] in SAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] not in self.hosts:
            return 403, f"a request from another site ({origin}) may change nothing"
        if not hmac.compare_digest(headers.get("x-csrf-token", "").encode(),
                                   self.keys.csrf.encode()):
            return 403, "a request that changes something needs the page's CSRF value"
        return None

    async def _keep_token(self, scope: Scope, query: dict[str, str], send: Send) -> None:
        """The token came in the address: keep it in a cookie and send the page on to
        the same address without it (out of the history and the address bar)."""
        rest = urlencode({k: v for k, v in query.items() if k != "token"})
        where = scope.get("path", "/") + (f"?{rest}" if rest else "")
        cookie = (f"{self.keys.cookie}={self.keys.token}; Path=/; HttpOnly; "
                  "SameSite=Strict")
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", where.encode()), (b"set-cookie", cookie.encode()),
                                *((k.encode(), v.encode()) for k, v in HEADERS.items())]})
        await send({"type": "http.response.body", "body": b""})


def _bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


def _cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


async def _answer(send: Send, status: int, words: str) -> None:
    body = words.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            *((k.encode(), v.encode()) for k, v in HEADERS.items())]})
    await send({"type": "http.response.body", "body": body})
