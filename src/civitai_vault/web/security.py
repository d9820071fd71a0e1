"""Headers that keep the gallery safe to open, and the check that it is us being asked.

Civitai text is untrusted (prompts may hold `<script>`): templates escape it,
and the Content-Security-Policy makes sure that even a missed spot could not
run a script, load anything from the internet or be framed by another site.

A page on some web site could point a DNS name at 127.0.0.1 and read the
gallery through it (DNS rebinding); answering only requests whose Host is the
address we listen on stops that.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", "[::]", ""})


def allowed_hosts_for(listen_host: str, allow_hosts: Iterable[str] = ()) -> frozenset[str]:
    """Host names the gallery answers to when listening on `listen_host`.

    Always this machine's loopback names, plus the address listened on, plus
    `allow_hosts` (`--allow-host`). Listening on every address (0.0.0.0) adds
    no name: which names reach this machine is for the user to say.
    """
    names = set(LOOPBACK_NAMES)
    if listen_host not in WILDCARD_ADDRESSES:
        names.add(listen_host.strip("[]").lower())
    names.update(host_name(name) for name in allow_hosts if name.strip())
    return frozenset(names)


def host_name(host_header: str) -> str:
    """`[::1]:8000` -> `::1`, `Example.org:80` -> `example.org`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host


class SecurityMiddleware:
    """Adds the security headers to every answer and refuses foreign Host headers."""

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._host_allowed(scope):
            response = PlainTextResponse(
                "This gallery only answers to the names it was started with "
                "(civitai-vault serve --allow-host NAME adds one).",
                status_code=421,
            )
            await response(scope, receive, self._with_headers(send))
            return
        await self.app(scope, receive, self._with_headers(send))

    def _host_allowed(self, scope: Scope) -> bool:
        host = host_name(Headers(scope=scope).get("host", ""))
        return host in self.allowed_hosts

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        return send_with_headers
