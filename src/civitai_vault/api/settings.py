"""How a client talks to Civitai: which site, which credentials, how fast.

The defaults are polite on purpose. Civitai publishes no rate limit for its
web API, but it sheds load with 429s, its listing shares a small per-server
concurrency cap with everyone else (civitai/civitai @ ebed6616,
src/server/utils/request-bulkhead.ts), and well-known
downloaders pause 0.5-1.5 s between requests. The pace is two budgets:

- `rate`: HTTP requests per second (2, with four in flight), what a proxy or
  firewall in front of Civitai counts;
- `calls_per_second`: tRPC procedure calls per second (a batch of 100 calls
  costs 100), what Civitai's servers actually work on. Each of our calls
  reads one cached object (an image's generation data, a post, a model
  version). A person scrolling a feed makes the server assemble a page of
  100 images every few seconds, each page a dozen look-ups per image (user,
  tags, metrics, cosmetics, reactions, resources): over a thousand per
  page. 150 calls/s stays far below that.

`batch_size` calls go in one request (100: tRPC runs a batch's calls side by
side and these are cached reads, so a batch takes the server about a second,
far inside its 30 s proxy timeout). The pace
adapts downwards on its own when the server pushes back. Downloads come from
the image CDN, a cache built for heavy traffic: they are limited by
concurrency, not by a rate, unless `cdn_rate` is set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from civitai_vault import __version__
from civitai_vault.api.errors import InsecureBaseURL
from civitai_vault.api.limits import Limits
from civitai_vault.vocabulary import DEFAULT_IMAGE_BASE_URL, SITE_URLS

__all__ = [
    "DEFAULT_IMAGE_BASE_URL",
    "SITE_URLS",
    "ClientSettings",
    "is_loopback_host",
]

# Far inside the server's 30 s proxy timeout even for slow calls; tRPC sets no limit.
MAX_BATCH_SIZE = 200
_COOKIE_UNSAFE = set(' \t\r\n;,"\\')

SessionCookieCallback = Callable[[str, str], None]


@dataclass
class ClientSettings:
    """Everything a `CivitaiClient` needs; credentials never appear in its repr.

    site: "com" (civitai.com, which hides R and X even when signed in) or
        "red" (civitai.red, where a signed-in user sees what they ask for).
    base_url: overrides the site's URL (for example an emulator); its origin
        is sent as Origin and Referer.
    api_key: sent as `Authorization: Bearer`, to the API host only.
    token: a session cookie value (`__Secure-civ-token` on https, `civ-token`
        on http); a legacy next-auth token is recognised and upgraded.
    rate: API (HTTP) requests per second, 0 = unlimited; concurrency: requests
        in flight.
    calls_per_second: tRPC procedure calls per second, counted inside batches
        too, 0 = unlimited.
    batch_size: calls sent together in one `?batch=1` request; 1 = every call
        on its own (unbatched GETs).
    cdn_rate / cdn_concurrency: downloads per second (0 = unlimited, the
        default) and downloads in flight.
    timeout: seconds for connect and for each read.
    max_retries: retries after the first try, for 429, 5xx, timeouts, dropped
        connections and unreadable bodies.
    retry_base / retry_cap: back-off is full jitter, uniform in
        [0, min(cap, base * 2**n)) seconds; Retry-After is honoured up to
        `retry_after_cap`.
    empty_page_retries: how often an empty last page that follows a page with
        a cursor (what Civitai's 20 s statement timeout looks like) is asked
        again before it is believed.
    on_session_cookie: called with (name, value) when the server sets a new
        session cookie (a legacy token upgraded, or a session rolled), so the
        caller can save it.
    limits: how large, slow, deep or long an answer, file or listing may be
        (`limits.Limits`); `timeout` is the time between two bytes.
    """

    site: Literal["com", "red"] = "com"
    base_url: str | None = None
    image_base_url: str | None = None
    video_base_url: str | None = None  # the video origin (None: the default, cdn.py)
    api_key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    rate: float = 2.0
    concurrency: int = 4
    calls_per_second: float = 150.0
    batch_size: int = 100
    cdn_rate: float = 0.0
    cdn_concurrency: int = 4
    timeout: float = 30.0
    max_retries: int = 6
    retry_base: float = 1.0
    retry_cap: float = 30.0
    retry_after_cap: float = 300.0
    empty_page_retries: int = 3
    user_agent: str = f"civitai-vault/{__version__}"
    on_session_cookie: SessionCookieCallback | None = field(default=None, repr=False)
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        if self.site not in SITE_URLS:
            raise ValueError(f"site must be 'com' or 'red', not {self.site!r}")
        self.base_url = _clean_url(self.base_url or SITE_URLS[self.site], "base URL")
        self.image_base_url = _clean_url(self.image_base_url or DEFAULT_IMAGE_BASE_URL, "image URL")
        if self.video_base_url:
            self.video_base_url = _clean_url(self.video_base_url, "video URL")
        self.api_key = _clean_secret(self.api_key, "API key")
        self.token = _clean_secret(self.token, "session token")
        if self.rate < 0 or self.cdn_rate < 0 or self.calls_per_second < 0:
            raise ValueError("rates are per second and must be >= 0 (0 = unlimited)")
        if not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"the batch size must be between 1 and {MAX_BATCH_SIZE}")
        if self.concurrency < 1 or self.cdn_concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.max_retries < 0 or self.empty_page_retries < 0:
            raise ValueError("retry counts must be >= 0")
        if self.has_credentials and not self.is_secure_transport:
            raise InsecureBaseURL(
                f"refusing to send your Civitai credentials over plain http to {self.api_host}: "
                "use an https:// base URL (plain http is only allowed to this machine)"
            )

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key or self.token)

    @property
    def api_origin(self) -> str:
        parts = urlsplit(self.base_url or "")
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def api_host(self) -> str:
        return urlsplit(self.base_url or "").hostname or ""

    @property
    def is_https(self) -> bool:
        return urlsplit(self.base_url or "").scheme == "https"

    @property
    def cdn_base_urls(self) -> list[str]:
        """The base URLs files are fetched from: image CDN, and the video origin when set."""
        return [url for url in (self.image_base_url, self.video_base_url) if url]

    @property
    def is_secure_transport(self) -> bool:
        return self.is_https or is_loopback_host(self.api_host)


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _clean_url(url: str, what: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the {what} must be an http(s) URL like https://civitai.com, not {url!r}")
    if parts.username or parts.password:
        raise ValueError(f"the {what} must not contain a user name or password")
    if parts.query or parts.fragment:
        raise ValueError(f"the {what} must not contain a query string or fragment")
    return url


def _clean_secret(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if any(ch in _COOKIE_UNSAFE or ord(ch) < 32 or ord(ch) > 126 for ch in value):
        raise ValueError(
            f"the {what} contains spaces, quotes or other characters a real one never has; "
            "copy it again"
        )
    return value
