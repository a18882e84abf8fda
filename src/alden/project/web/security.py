"""What keeps the labeling page to the people it is for: the access token, CSRF tokens,
allowed Host names, a request-size limit and the response headers.

- Bound to a loopback address (the default, 127.0.0.1) the page needs no token, but the Host
  header must name a loopback address or ``localhost``: a web page elsewhere cannot reach the
  server through a rebound DNS name.
- Bound to any other address, every request needs the access token made at start (printed in
  the URL; the first visit trades it for an HttpOnly cookie and drops it from the address).
- Every request that changes something (any method but GET and HEAD) must carry the CSRF
  token of its session in the ``X-CSRF-Token`` header (an HMAC of the session cookie under a
  secret made at start), and an ``Origin``, when sent, must be this server.
- Request bodies larger than ``MAX_BODY`` bytes are refused (413): reading stops there.
- Pages are served with a Content-Security-Policy that runs only this server's scripts, so
  even a text that slipped past escaping could run nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 64 * 1024  # a label is ~100 bytes; a resolve form ~200
SESSION_COOKIE = "alden_session"
ACCESS_COOKIE = "alden_access"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: only this machine can connect."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Guard:
    """The server's secrets and rules, made once at start."""

    host: str
    token: str | None = None  # the access token; None on a loopback address
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @classmethod
    def for_host(cls, host: str) -> Guard:
        return cls(host, None if is_loopback(host) else secrets.token_urlsafe(24))

    def csrf_for(self, session: str) -> str:
        return hmac.new(self.secret, session.encode(), hashlib.sha256).hexdigest()[:40]

    def csrf_ok(self, session: str | None, given: str | None) -> bool:
        if not session or not given:
            return False
        return hmac.compare_digest(self.csrf_for(session), given)

    def token_ok(self, given: str | None) -> bool:
        return self.token is None or (given is not None and hmac.compare_digest(
            self.token.encode(), given.encode()))

    def host_ok(self, host_header: str | None) -> bool:
        """Loopback servers answer only to loopback names (no DNS rebinding)."""
        if self.token is not None:
            return True  # the token guards it; any name the network uses will do
        if not host_header:
            return False
        name = urlsplit(f"//{host_header}").hostname or ""
        return is_loopback(name)


def cookies(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header: treated as no cookies
                return {}
    return {k: m.value for k, m in jar.items()}


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


async def _plain(send: Send, status: int, text: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    """ASGI middleware applying the Guard's rules to every request before any route runs."""

    def __init__(self, app: Callable, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        g = self.guard
        if not g.host_ok(header(scope, b"host")):
            return await _plain(send, 403, "forbidden: this server answers only to "
                                "127.0.0.1 or localhost")
        jar = cookies(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("token") or [None])[0]
        if g.token is not None and given is not None and g.token_ok(given) \
                and scope["method"] == "GET":
            # trade the token in the address for a cookie, and drop it from the address
            cookie = (f"{ACCESS_COOKIE}={g.token}; HttpOnly; SameSite=Strict; Path=/")
            return await _plain(send, 303, "see /", [(b"location", scope["path"].encode()),
                                                     (b"set-cookie", cookie.encode())])
        if not g.token_ok(jar.get(ACCESS_COOKIE)):
            return await _plain(send, 403, "forbidden: this server needs its access token "
                                "(open the address printed when it started)")
        if scope["method"] not in ("GET", "HEAD"):
            origin = header(scope, b"origin")
            host = header(scope, b"host")
            if origin not in (None, "null") and urlsplit(origin).netloc != host:
                return await _plain(send, 403, "forbidden: a request from another site")
            length = header(scope, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                return await _plain(send, 413, f"request too large: at most {MAX_BODY} bytes")
            if not g.csrf_ok(jar.get(SESSION_COOKIE), header(scope, b"x-csrf-token")):
                return await _plain(send, 403, "forbidden: this request has no valid CSRF "
                                    "token (reload the page)")
            body = await _read_body(receive)
            if body is None:
                return await _plain(send, 413, f"request too large: at most {MAX_BODY} bytes")
            receive = _replay(body)
        session = jar.get(SESSION_COOKIE)
        fresh = None
        if not session or len(session) != 32 or not session.isalnum():
            session = fresh = secrets.token_hex(16)
        scope.setdefault("state", {})
        scope["state"]["session"] = session
        scope["state"]["csrf"] = g.csrf_for(session)

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()),
                            (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"no-referrer"),
                            (b"cache-control", b"no-store")]
                if fresh:
                    headers.append((b"set-cookie", f"{SESSION_COOKIE}={fresh}; HttpOnly; "
                                    f"SameSite=Strict; Path=/".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None once it runs past MAX_BODY (also without a
    Content-Length: a chunked body is cut off there, not read to its end)."""
    parts: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts)
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > MAX_BODY:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes) -> Receive:
    """``receive`` for the app: the body read already, then a disconnect."""
    sent = False

    async def inner() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return inner
