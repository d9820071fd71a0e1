"""Credentials on API requests: the Bearer key, and a small cookie jar for the session.

Civitai resolves a session from, in order (civitai/civitai @ ebed6616,
src/server/auth/get-server-auth-session.ts): an
`Authorization` header (an API key; cookies are then ignored), the hub
cookie `__Secure-civ-token` (`civ-token` over plain http), or the legacy
next-auth cookie `__Secure-civitai-token`, which the server upgrades by
answering with Set-Cookie for the hub cookie and clearing the legacy one.

The jar here is deliberately tiny and explicit: it only ever talks to the API
host, keeps what that host sets (so an upgraded or rolled session survives),
forgets what it clears, and tells the owner about a new session cookie
through `on_session_cookie` so it can be saved for the next run (the owner
decides whether this host may replace a saved session: `config.py`). As a
browser does, it refuses `__Secure-` and `__Host-` cookies sent over plain
http: a server that is not https cannot set what only https may carry. httpx's own
cookie handling is switched off everywhere, so no cookie can leak to the CDN
or a redirect target.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from civitai_vault.api.settings import ClientSettings
from civitai_vault.api.wire import http_date

__all__ = ["SessionCookies", "cookie_names", "is_legacy_token"]

log = logging.getLogger(__name__)

HUB = "civ-token"
DEVICE = "civ-device"
LEGACY = "civitai-token"
SECURE_PREFIX = "__Secure-"
HTTPS_ONLY_PREFIXES = (SECURE_PREFIX, "__Host-")


def cookie_names(https: bool) -> tuple[str, str]:
    """(hub cookie, legacy cookie) names as the server reads them on this scheme."""
    prefix = SECURE_PREFIX if https else ""
    return prefix + HUB, prefix + LEGACY


def is_legacy_token(token: str) -> bool:
    """A next-auth session is a JWE: five dot-separated parts (the hub token is a 3-part JWT)."""
    return token.count(".") == 4


class SessionCookies:
    """The cookies sent to the API host, seeded from the configured session token."""

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self._https = settings.is_https
        self.hub_name, self.legacy_name = cookie_names(self._https)
        self._jar: dict[str, str] = {}
        token = settings.token
        if token:
            name, value = self._split_named(token)
            self._jar[name] = value

    def _split_named(self, token: str) -> tuple[str, str]:
        """`NAME=VALUE` (as copied from a browser) names its cookie; a bare value is guessed."""
        if "=" in token:
            name, _, value = token.partition("=")
            base = name.removeprefix(SECURE_PREFIX)
            if base in (HUB, LEGACY) and value:
                return (self.hub_name if base == HUB else self.legacy_name), value
        return (self.legacy_name if is_legacy_token(token) else self.hub_name), token

    @property
    def secrets(self) -> list[str]:
        """Every cookie value held, so messages can be redacted of them."""
        return [value for value in self._jar.values() if value]

    def header(self) -> str | None:
        """The Cookie header for an API request, or None with nothing to send."""
        if not self._jar:
            return None
        return "; ".join(f"{name}={value}" for name, value in self._jar.items())

    def absorb(self, set_cookie_headers: Iterable[str]) -> None:
        """Take in the API host's Set-Cookie headers: keep new values, drop cleared ones."""
        for line in set_cookie_headers:
            parsed = _parse_set_cookie(line)
            if parsed is None:
                continue
            name, value, cleared = parsed
            if name.startswith(HTTPS_ONLY_PREFIXES) and not self._https:
                log.info("ignored a %s cookie sent over plain http", name.split("-", 1)[0] + "-")
                continue
            if cleared:
                self._jar.pop(name, None)
                continue
            previous = self._jar.get(name)
            self._jar[name] = value
            if name.removeprefix(SECURE_PREFIX) == HUB and value != previous:
                self._report(name, value)

    def _report(self, name: str, value: str) -> None:
        log.info("Civitai set a new session cookie (%s); it replaces the one configured", name)
        callback = self._settings.on_session_cookie
        if callback is None:
            return
        try:
            callback(name, value)
        except Exception:  # saving the cookie must never break the request that brought it
            log.warning("saving the new session cookie failed", exc_info=True)


def _parse_set_cookie(line: str) -> tuple[str, str, bool] | None:
    """(name, value, cleared) from one Set-Cookie header; None when unreadable."""
    first, *attributes = line.split(";")
    if "=" not in first:
        return None
    name, _, value = first.partition("=")
    name, value = name.strip(), value.strip().strip('"')
    if not name:
        return None
    cleared = not value
    for attribute in attributes:
        key, _, arg = attribute.partition("=")
        key, arg = key.strip().lower(), arg.strip()
        if key == "max-age":
            cleared = cleared or _max_age_expired(arg)
        elif key == "expires":
            cleared = cleared or _in_the_past(arg)
    return name, value, cleared


def _max_age_expired(text: str) -> bool:
    try:
        return int(text) <= 0
    except ValueError:
        return False


def _in_the_past(text: str) -> bool:
    when = http_date(text)
    return when is not None and when <= datetime.now(UTC)
