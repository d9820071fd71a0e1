"""What can go wrong when talking to Civitai, one exception class per thing to do about it.

Every error's `str()` is one line that says what happened and what the user
can do. None ever carries a credential: messages are built from the
procedure name, the HTTP status and the server's own message (which is
redacted of any credential the client holds before it is stored).
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "BadRequest",
    "CivitaiError",
    "ForbiddenHost",
    "InsecureBaseURL",
    "KeyRejected",
    "LimitExceeded",
    "LoginRequired",
    "MalformedResponse",
    "NetworkError",
    "NotFound",
    "OriginRejected",
    "RateLimited",
    "ServerError",
    "UnexpectedRedirect",
]

_MAX_SERVER_MESSAGE = 200


def one_line(text: str, limit: int = _MAX_SERVER_MESSAGE) -> str:
    """Server text squeezed to one short line (zod messages are pretty-printed JSON)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class CivitaiError(Exception):
    """Base class: a request to Civitai (API or CDN) did not give what was asked for.

    Attributes: `procedure` (for example "image.get", or "download"), `status`
    (HTTP status or None), `server_message` (one line, redacted), `retry_after`
    (seconds the server asked us to wait, or None), `attempts` (how many
    tries were made before giving up).
    """

    retryable: ClassVar[bool] = False
    advice: ClassVar[str] = "try again later"

    def __init__(
        self,
        what: str,
        *,
        procedure: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.what = what
        self.procedure = procedure
        self.status = status
        self.server_message = one_line(server_message) if server_message else None
        self.retry_after = retry_after
        self.attempts = 1
        super().__init__(what)

    def __str__(self) -> str:
        context = [part for part in (self.procedure, self.status and f"HTTP {self.status}") if part]
        detail = ", ".join(str(part) for part in context)
        if self.server_message:
            detail = f"{detail}: {self.server_message}" if detail else self.server_message
        detail = f" ({detail})" if detail else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.what}{detail}{tries}; {self._advice()}"

    def _advice(self) -> str:
        return self.advice

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.procedure!r}, status={self.status!r})"


class LoginRequired(CivitaiError):
    """401: no session, or the API key / session token is wrong or expired."""

    advice = (
        "sign in with `civitai-vault login` (an API key from civitai.com/user/account works "
        "best); if you are signed in, the key or token has expired: log in again"
    )


class KeyRejected(CivitaiError):
    """401 to a request that carried an API key: Civitai does not accept the key.

    Live, an unknown key is answered 401 "Please use the public API instead"
    (the Origin gate, which only a valid key skips; civitai/civitai @ ebed6616,
    src/server/trpc.ts), not as anonymous (probes of civitai.com 2026-07-08 and
    civitai.red 2026-09-29); a plain UNAUTHORIZED means the same.
    """

    advice = (
        "the key is mistyped, expired or revoked: create a new one at "
        "civitai.com/user/account and run `civitai-vault login --force`"
    )


class OriginRejected(CivitaiError):
    """401 "Please use the public API instead": the request did not come from a Civitai site."""

    advice = (
        "Civitai only answers web-API calls from its own sites: use --site com or red (or "
        "the real site as --base-url), or sign in with an API key, which skips this check"
    )


class AccessDenied(CivitaiError):
    """403 (or 451): signed in, but not allowed to do this."""

    advice = (
        "your account or API key may not do this: use a key with full access, or check that "
        "the item is yours or shared with you"
    )


class NotFound(CivitaiError):
    """404: deleted, never existed, or hidden from this account."""

    advice = "check the id; it may have been deleted or be hidden from you (sign in to see more)"


class RateLimited(CivitaiError):
    """429: the server wants fewer requests."""

    retryable = True
    advice = "Civitai is limiting requests: wait a few minutes, then run again with a lower --rate"


class ServerError(CivitaiError):
    """5xx, including HTML error pages from a proxy in front of Civitai."""

    retryable = True
    advice = "Civitai is having trouble: try again later (nothing was lost)"


class MalformedResponse(CivitaiError):
    """The body could not be read: cut short, not JSON, or not in any known tRPC shape."""

    retryable = True
    advice = (
        "try again later; if it keeps happening Civitai may have changed its API, so please "
        "report it with the procedure name"
    )


class NetworkError(CivitaiError):
    """No usable HTTP answer: connection refused or dropped, DNS, timeouts.

    `unreachable`: the connection failed before the host had answered anything
    (a wrong --base-url, no network); such an error is not retried.
    """

    retryable = True
    unreachable = False
    advice = "check your internet connection (and --base-url), then run again to continue"


class BadRequest(CivitaiError):
    """400/405/415: Civitai did not accept the request as sent."""

    advice = (
        "Civitai rejected the request itself, which usually means its API changed: update "
        "civitai-vault, or report it with the procedure name"
    )


class UnexpectedRedirect(CivitaiError):
    """The API answered with a redirect to another host while credentials were set."""

    advice = (
        "credentials are never sent to another host; if that host is right, pass it as --base-url"
    )


class LimitExceeded(CivitaiError):
    """An answer or file went past one of the client's limits (`limits.Limits`).

    Never retried: the same request brings the same answer. `setting` names
    the flag that raises the limit; `limit` is its `Limits` field, when known.
    """

    def __init__(
        self, what: str, *, setting: str, limit: str | None = None, **context: Any
    ) -> None:
        super().__init__(what, **context)
        self.setting = setting
        self.limit = limit

    def _advice(self) -> str:
        return f"the rest goes on; if this is expected, raise the limit with {self.setting}"


class ForbiddenHost(CivitaiError):
    """A file address (or a redirect) pointed away from the configured image hosts."""

    advice = (
        "files are only fetched from the image hosts you configured (--image-base-url, "
        "--video-base-url); nothing was requested there"
    )


class InsecureBaseURL(ValueError):
    """Credentials would travel in clear text to a host other than this machine."""
