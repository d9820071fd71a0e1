"""The image CDN: building file URLs, and downloading them without credentials.

URL shape (civitai/civitai @ ebed6616, src/client-utils/edge-url.ts and
src/client-utils/cf-images-utils.ts): `<image base>/<uuid>/<params>/<name>`.
Originals use `original=true`. Videos use `transcode=true,original=true`, what
Civitai's own player asks for: `original=true` alone can come back as a still
webp of the first frame. The name part is cosmetic to the CDN, so it is built
from the image id and an extension, never from the name Civitai stores (which
is user text and may hold `/`, `..` or worse).

Downloads use connections of their own that never carry an Authorization
header or cookies, with their own pace and concurrency, and the same retries
as the API. They are sent without httpx's layers (`AiohttpTransport.get`):
on the loop that holds a CDN slot, those cost about a millisecond a file.
Every address and redirect hop (at most `MAX_REDIRECTS`) must be a
configured image host on a public address (`hosts.CdnHosts`). A body shorter
than its Content-Length is an error, never a file; one longer than the file
limit, or slower than the download deadline, is stopped there
(`limits.Limits`).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, urljoin, urlsplit

import aiohttp
import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from civitai_vault.api.errors import (
    AccessDenied,
    CivitaiError,
    ForbiddenHost,
    LimitExceeded,
    MalformedResponse,
    NetworkError,
    NotFound,
    RateLimited,
    ServerError,
)
from civitai_vault.api.hosts import CdnHosts
from civitai_vault.api.limits import FLAGS
from civitai_vault.api.pacing import AdaptivePacer
from civitai_vault.api.retry import say_retry_wait
from civitai_vault.api.side_loop import SideLoop
from civitai_vault.api.transport import (
    AiohttpTransport,
    BlockedAddress,
    DeadlineExceeded,
    aiohttp_chunks,
    announced_size,
    as_httpx_errors,
)
from civitai_vault.api.wire import parse_retry_after

if TYPE_CHECKING:
    from civitai_vault.api.settings import ClientSettings
    from civitai_vault.api.stats import ClientStats

__all__ = ["Download", "NoCookies", "image_url", "media_extension"]

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
IMAGE_EXTENSIONS = {"png", "jpg", "jpeg", "webp", "gif", "avif", "jfif", "bmp", "tif", "tiff"}
CHUNK = 256 * 1024


def media_extension(media_type: str | None, name: str | None = None) -> str:
    """The extension for a CDN name: the video/audio container, else the image's own."""
    kind = (media_type or "image").lower()
    if kind == "video":
        return "mp4"
    if kind == "audio":
        return "mp3"
    suffix = (name or "").rsplit(".", 1)[-1].lower() if name and "." in name else ""
    return suffix if suffix in IMAGE_EXTENSIONS else "jpeg"


def image_url_or_none(image_base_url: str, item: Any) -> str | None:
    """`image_url` for an API image object; None when its CDN id is missing or unusable,
    so one odd image is reported on its own instead of stopping a run."""
    if not item.url:
        return None
    try:
        return image_url(image_base_url, item.url, item.name, item.type, int(item.id))
    except ValueError:
        return None


def image_url(
    image_base_url: str,
    uuid: str,
    name: str | None,
    type: str | None,
    image_id: int,
) -> str:
    """The URL of an image's original file (or a video's real video) on the CDN.

    `uuid` is the image's `url` field; a full http(s) URL there is used as it is,
    as Civitai's own client does.
    """
    if uuid.startswith(("http://", "https://")):
        return uuid
    if not uuid or uuid.strip(".") == "" or "/" in uuid or "\\" in uuid:
        raise ValueError(f"image {image_id} has an unusable CDN id {uuid!r}")
    params = "transcode=true,original=true" if (type or "").lower() == "video" else "original=true"
    file_name = f"{int(image_id)}.{media_extension(type, name)}"
    return f"{image_base_url.rstrip('/')}/{quote(uuid, safe='')}/{params}/{file_name}"


# Since 2026-06 live clients fetch videos from the image cacher's B2 bucket
# (gallery-dl gh#9421); `--video-base-url` / CIVITAI_VIDEO_BASE_URL change it.
DEFAULT_VIDEO_BASE_URL = "https://image-b2.civitai.com/file/civitai-media-cache"


def video_urls(
    first_url: str, image_base_url: str, video_base_url: str, uuid: str | None, image_id: int
) -> list[str]:
    """Where to look for a video's real bytes, in order, when an address serves a still.

    The listing's own address first, then the video origin
    (`<video base>/<uuid>/original`), then the CDN's full-quality transcode
    (`transcode=true,original=true,quality=100`), as clients of the live site fetch
    videos since 2026-06 (gallery-dl issue #9421).
    A uuid that is already a full URL (on-site generations) has no other origin.
    """
    urls = [first_url]
    if uuid and not uuid.startswith(("http://", "https://")) and "/" not in uuid:
        key = quote(uuid, safe="")
        urls.append(f"{video_base_url.rstrip('/')}/{key}/original")
        params = "transcode=true,original=true,quality=100"
        urls.append(f"{image_base_url.rstrip('/')}/{key}/{params}/{int(image_id)}.mp4")
    return list(dict.fromkeys(urls))


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    """A finished download: bytes written, the type the CDN claimed, where it came from.

    `data` holds the body when it was kept in memory (see `CdnDownloader.download`);
    then nothing was written to the destination.
    """

    size: int
    content_type: str | None
    final_url: str
    data: bytes | None = None


class NoCookies(http.cookiejar.CookiePolicy):
    """A cookie policy that neither stores nor sends anything: cookies are handled by hand."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


def cookieless_jar() -> http.cookiejar.CookieJar:
    return http.cookiejar.CookieJar(policy=NoCookies())


class CdnDownloader:
    """Streams CDN files to disk, paced and retried, never with credentials."""

    def __init__(
        self,
        settings: ClientSettings,
        stats: ClientStats,
        wait: Callable[[Any], float],
    ) -> None:
        self._settings = settings
        self._stats = stats
        self._wait = wait
        self._http: AiohttpTransport | None = None
        self.hosts = CdnHosts(settings.cdn_base_urls)
        self._limits = settings.limits
        # Downloads run on a loop of their own (`side_loop`); the client, its
        # slots and its pace are made there, and only used there.
        self._side = SideLoop("civitai-vault-cdn")

    async def open(self) -> None:
        self._side.start()
        await self._side.run(self._open())

    async def _open(self) -> None:
        self._pacer = AdaptivePacer(self._settings.cdn_rate, of="the CDN")
        self._gate = asyncio.Semaphore(self._settings.cdn_concurrency)
        self._headers = {
            "User-Agent": self._settings.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "identity",  # so Content-Length is the file's own size
        }
        self._timeout = httpx.Timeout(self._settings.timeout)
        self._http = AiohttpTransport(
            max_connections=self._settings.cdn_concurrency * 2,
            deadline=self._limits.download_seconds,
            address_allowed=self.hosts.allows_address,
        )

    async def close(self) -> None:
        if not self._side.running:
            return
        try:
            await self._side.run(self._close())
        finally:
            self._side.stop()

    async def _close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _note_retry(self, state: RetryCallState, subject: str) -> None:
        self._stats.note_cdn_retry()
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        log.info("retrying a download after %s", type(exc).__name__)
        say_retry_wait(
            state.next_action.sleep if state.next_action is not None else 0.0,
            exc,
            server="the CDN",
            subject=subject,
            next_try=state.attempt_number + 1,
            tries=self._settings.max_retries + 1,
        )

    async def download(
        self, url: str, dest: Path, subject: str = "a file", *, in_memory: int = 0
    ) -> Download:
        """Fetch `url` to `dest`; a body of at most `in_memory` bytes is returned in
        `Download.data` instead, and `dest` is left alone.

        Kept in memory, a file costs the event loop no file system call: each one
        gives up the interpreter lock, and getting it back from the threads that
        check and place files can take a few milliseconds.
        """
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"not a downloadable URL: {url[:120]!r}")
        self.hosts.check_url(url)
        if not self._side.running:
            raise RuntimeError("use the client as `async with CivitaiClient(...)`")
        return await self._side.run(self._download(url, dest, subject, in_memory))

    async def _download(self, url: str, dest: Path, subject: str, in_memory: int) -> Download:
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(lambda exc: isinstance(exc, CivitaiError) and exc.retryable),
            reraise=True,
            before_sleep=lambda state: self._note_retry(state, subject),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    return await self._fetch(url, dest, in_memory)
        except CivitaiError as exc:
            exc.attempts = attempts
            dest.unlink(missing_ok=True)
            raise
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _fetch(self, url: str, dest: Path, in_memory: int = 0) -> Download:
        async with self._gate:
            sent_in_round = await self._pacer.wait()
            self._stats.note_cdn_request()
            started = time.monotonic()
            try:
                response = await self._get(url)
                try:
                    self._check_status(response, sent_in_round)
                    size, data = await self._save(response, dest, in_memory)
                finally:
                    response.release()  # back to the pool when read whole, else closed
            except DeadlineExceeded:
                raise LimitExceeded(
                    _host_said(url, f"took more than {self._limits.download_seconds:g} s"),
                    setting=FLAGS["download_seconds"],
                    procedure="download",
                ) from None
            except httpx.TimeoutException:
                raise NetworkError(
                    _host_said(url, "did not answer in time"), procedure="download"
                ) from None
            except BlockedAddress as exc:
                raise ForbiddenHost(f"refused the download: {exc}", procedure="download") from None
            except httpx.TransportError as exc:
                raise NetworkError(
                    _host_said(url, "could not be reached"),
                    procedure="download",
                    server_message=type(exc).__name__,
                ) from None
            finally:
                self._stats.cdn_seconds += time.monotonic() - started
        self._pacer.speed_up()
        self._stats.note_download(size)
        return Download(size, response.headers.get("content-type"), str(response.url), data)

    async def _get(self, url: str) -> aiohttp.ClientResponse:
        """GET `url`, following redirects; each hop is checked before it is sent
        (the first address was checked by `download`)."""
        if self._http is None:
            raise RuntimeError("use the client as `async with CivitaiClient(...)`")
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._http.get(url, self._headers, self._timeout)
            location = response.headers.get("location")
            if response.status not in REDIRECTS or location is None:
                return response
            response.release()
            url = urljoin(url, location)
            self.hosts.check_url(url, redirect=True)
        raise MalformedResponse(
            _host_said(url, f"redirected more than {MAX_REDIRECTS} times"), procedure="download"
        )

    def _check_status(self, response: aiohttp.ClientResponse, sent_in_round: int) -> None:
        status = response.status
        if status == 200:
            return
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        kind: type[CivitaiError]
        if status in (429, 503):
            self._pacer.slow_down(sent_in_round)
        if status in (404, 410):
            kind, what = NotFound, "the file is not on Civitai's image server"
        elif status in (401, 403, 451):
            kind, what = AccessDenied, "Civitai's image server refused the file"
        elif status == 429:
            kind, what = RateLimited, "Civitai's image server asked us to slow down"
        elif status >= 500 or status == 408:
            kind, what = ServerError, "Civitai's image server failed"
        else:
            kind, what = MalformedResponse, "Civitai's image server gave an unexpected answer"
        raise kind(what, procedure="download", status=status, retry_after=retry_after)

    async def _save(
        self, response: aiohttp.ClientResponse, dest: Path, in_memory: int = 0
    ) -> tuple[int, bytes | None]:
        """Read the body within the limits: (its size, its bytes when it stayed in memory)."""
        expected = announced_size(response.headers)
        limit = self._limits.file_bytes
        if expected is not None and expected > limit:
            raise _too_large(limit, f"the server announced {expected:,} bytes")
        keep = in_memory > 0 and (expected is None or expected <= in_memory)
        kept: list[bytes] = []
        out: BinaryIO | None = None if keep else dest.open("wb")
        written = 0
        try:
            # Decoded bytes are what lands on disk, so they are what is counted.
            with as_httpx_errors(None, self._limits.download_seconds):
                async for chunk in aiohttp_chunks(response, CHUNK):
                    written += len(chunk)
                    if written > limit:
                        raise _too_large(limit, f"stopped after {written:,} bytes")
                    if out is None:
                        if written <= in_memory:
                            kept.append(chunk)
                            continue
                        out = dest.open("wb")  # larger than memory allows: on to the disk
                        out.writelines(kept)
                        kept = []
                    out.write(chunk)
        except DeadlineExceeded:
            raise
        except (httpx.TransportError, httpx.StreamError, httpx.DecodingError):
            raise _cut_short(written, expected) from None
        finally:
            if out is not None:
                out.close()
        if expected is not None and written != expected:
            raise _cut_short(written, expected)
        return written, None if out is not None else b"".join(kept)


def _too_large(limit: int, detail: str) -> LimitExceeded:
    return LimitExceeded(
        f"the file is larger than the {limit // (1024 * 1024):,} MB limit",
        setting=FLAGS["file_bytes"],
        procedure="download",
        server_message=detail,
    )


def _cut_short(written: int, expected: int | None) -> MalformedResponse:
    of = f" of {expected}" if expected is not None else ""
    return MalformedResponse(
        "the download was cut short",
        procedure="download",
        server_message=f"got {written}{of} bytes",
    )


def _host_said(url: str, what: str) -> str:
    return f"Civitai's image server ({urlsplit(url).hostname}) {what}"
