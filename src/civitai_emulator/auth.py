"""Who is calling, from which site, and may they call at all (civitai/civitai @ ebed6616:
src/server/auth/get-server-auth-session.ts, src/server/trpc.ts).

Session resolution, in the real server's order:

1. An `Authorization` header: its second space-separated word is an API key (any
   scheme word works); else a `?token=` query parameter. Cookies are then ignored.
   An unknown key is refused with 401 "Please use the public API instead", as the
   live site answers it (probes of civitai.com 2026-07-08 and civitai.red 2026-09-29),
   although the server source reads it as anonymous.
2. The hub cookie: `civ-token` over http, `__Secure-civ-token` over https (the scheme
   comes from X-Forwarded-Proto when a proxy sets it).
3. The legacy next-auth cookie `__Secure-civitai-token` (or `civitai-token` over
   http): accepted, and answered with Set-Cookie headers that upgrade it to the hub
   cookie and a device cookie, and clear the legacy one.

The Origin rule: without a valid API key, the host of `Origin` (else `Referer`) must
be civitai.com, civitai.red, civitaic.com (or a subdomain) or the emulator's own
host:port; otherwise 401 "Please use the public API instead".

Site: a Host header naming civitai.red (or starting with "red.") is the red site;
otherwise the configured site mode decides. The NSFW clamp follows from site and
session: anonymous 1 (PG), signed in on green 3 (PG + PG-13), signed in on red 31.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from civitai_emulator.dataset import Dataset, User

CIVITAI_HOSTS = ("civitai.com", "civitai.red", "civitaic.com")
# API key scopes (packages/civitai-auth token-scope.ts): Full is what new keys get.
SCOPE_FULL = 33554431
SCOPE_USER_READ = 1
SCOPE_MODELS_READ = 4
SCOPE_MEDIA_READ = 32
SCOPE_AI_SERVICES_READ = 16384
SCOPE_COLLECTIONS_READ = 131072
SESSION_MAX_AGE = 30 * 24 * 3600
BROWSING_ANONYMOUS = 1
BROWSING_GREEN = 3
BROWSING_ALL = 31


@dataclass(frozen=True)
class Credentials:
    """The secrets of the signed-in dataset user, derived from the seed."""

    api_key: str
    scoped_api_key: str  # a key with the UserRead scope only
    session_token: str
    legacy_token: str
    device_id: str
    password: str  # the owner's, for the sign-in page (signin.py)

    @classmethod
    def for_seed(cls, seed: int) -> Credentials:
        def secret(label: str, size: int) -> str:
            return hashlib.sha256(f"civitai-emulator:{seed}:{label}".encode()).hexdigest()[:size]

        header = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9"
        legacy_header = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0"
        return cls(
            api_key=secret("api-key", 32),
            scoped_api_key=secret("scoped-api-key", 32),
            session_token=f"{header}.{secret('claims', 48)}.{secret('signature', 43)}",
            legacy_token=".".join(
                [legacy_header, "", secret("iv", 16), secret("jwe", 64), secret("tag", 22)]
            ),
            device_id=secret("device", 24),
            password=secret("password", 16),
        )


@dataclass
class Session:
    user: User | None
    via_api_key: bool = False
    scope: int = SCOPE_FULL
    set_cookies: list[str] = field(default_factory=list)
    rejected_key: bool = False


def request_is_https(headers: dict[str, str], scheme: str) -> bool:
    forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return (forwarded or scheme) == "https"


def parse_cookies(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return cookies


def resolve_session(
    headers: dict[str, str],
    query: dict[str, str],
    https: bool,
    credentials: Credentials,
    dataset: Dataset,
) -> Session:
    authorization = headers.get("authorization")
    if authorization is not None or "token" in query:
        if authorization is not None:
            words = authorization.split(" ")
            key = words[1] if len(words) > 1 else ""
        else:
            key = query["token"]
        if key and key == credentials.api_key:
            return Session(dataset.owner, via_api_key=True)
        if key and key == credentials.scoped_api_key:
            return Session(dataset.owner, via_api_key=True, scope=SCOPE_USER_READ)
        return Session(None, rejected_key=bool(key))
    cookies = parse_cookies(headers.get("cookie", ""))
    prefix = "__Secure-" if https else ""
    if cookies.get(f"{prefix}civ-token") == credentials.session_token:
        return Session(dataset.owner)
    for legacy_name in ("__Secure-civitai-token", "civitai-token"):
        if legacy_name == "civitai-token" and https:
            continue
        if cookies.get(legacy_name) == credentials.legacy_token:
            host = headers.get("host", "")
            upgrade = _upgrade_cookies(credentials, https, host, legacy_name)
            return Session(dataset.owner, set_cookies=upgrade)
    return Session(None)


def _upgrade_cookies(
    credentials: Credentials, https: bool, host: str, legacy_name: str
) -> list[str]:
    """Set-Cookie lines that swap a legacy session for the hub cookies."""
    prefix = "__Secure-" if https else ""
    domain = _cookie_domain(host)
    attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if https else "") + domain
    cleared = "=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT" + domain
    return [
        f"{prefix}civ-token={credentials.session_token}; Max-Age={SESSION_MAX_AGE}{attributes}",
        f"{prefix}civ-device={credentials.device_id}; Max-Age={SESSION_MAX_AGE * 12}{attributes}",
        f"{legacy_name}{cleared}" + ("; Secure" if https else ""),
    ]


def _cookie_domain(host: str) -> str:
    hostname = host.split(":")[0].lower()
    for civitai_host in CIVITAI_HOSTS:
        if hostname == civitai_host or hostname.endswith("." + civitai_host):
            return f"; Domain=.{civitai_host}"
    # On loopback the cookie stays host-only, so a client's cookie jar accepts it.
    return ""


def scope_allows(session: Session, required: int) -> bool:
    """enforceTokenScope: a key short of Full must hold the procedure's scope bit."""
    if not session.via_api_key or session.scope == SCOPE_FULL or not required:
        return True
    return bool(session.scope & required)


def origin_acceptable(headers: dict[str, str], own_hosts: set[str]) -> bool:
    source = headers.get("origin") or headers.get("referer")
    if not source or source == "null":
        return False
    try:
        parts = urlsplit(source)
        hostname = (parts.hostname or "").lower()
        netloc = parts.netloc.lower().rpartition("@")[2]
    except ValueError:
        return False
    if not hostname:
        return False
    for civitai_host in CIVITAI_HOSTS:
        if hostname == civitai_host or hostname.endswith("." + civitai_host):
            return True
    host_header = headers.get("host", "").lower()
    return netloc in own_hosts or (bool(host_header) and netloc == host_header)


def site_of(headers: dict[str, str], configured: str) -> str:
    hostname = headers.get("host", "").split(":")[0].lower()
    if "civitai.red" in hostname or hostname.startswith("red."):
        return "red"
    return configured


def browsing_cap(session: Session, site: str) -> int:
    if session.user is None:
        return BROWSING_ANONYMOUS
    return BROWSING_ALL if site == "red" else BROWSING_GREEN
