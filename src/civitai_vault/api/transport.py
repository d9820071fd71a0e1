"""httpx's interface over aiohttp's connections.

The client speaks httpx (requests, responses, headers, timeouts, redirects,
errors); this transport moves the bytes with aiohttp, whose C parser and
plain-asyncio connection pool cost about a quarter of httpcore's time per
request. A sync keeps hundreds of requests a second in flight on one event
loop, and every millisecond the loop spends on a request is a millisecond an
answered request waits to be read. Errors come back as httpx's own exception
types, so callers keep one vocabulary.

Downloads skip httpx: `AiohttpTransport.get` sends a plain GET on the same
connections and hands back aiohttp's response, with the same errors, about
a millisecond less per file on the loop that holds a CDN slot (see
`cdn.CdnDownloader`, which follows redirects and reads bodies itself).

Cookies are never stored here (the client keeps its own jar, API host only),
bodies are passed through undecoded (`decoded_chunks` decodes them in bounded
steps), URLs go out exactly as httpx encoded them, and HTTP(S)_PROXY /
NO_PROXY are honoured as httpx would (httpx stops reading them once it is
given a transport).

Two bounds live here because only the connection can keep them: a total time
per request (`deadline`, from sending to the last byte; aiohttp's `sock_read`
only bounds the time between two bytes, so one byte every few seconds would
otherwise hold a request forever), and which addresses a host name may
resolve to (`address_allowed`), checked on every connection, redirects
included, so a name cannot lead to a private address however it resolves.
"""

from __future__ import annotations

import logging
import socket
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
import yarl

CHUNK = 64 * 1024
# `civitai-vault --verbose` shows this logger's lines on stderr.
request_log = logging.getLogger("civitai_vault.requests")
_SECRET_PARAMS = frozenset({"token", "key", "apikey", "api_key", "access_token", "password"})

AddressCheck = Callable[[str, str], bool]  # (host name, resolved address) -> allowed


class DeadlineExceeded(httpx.ReadTimeout):
    """The request as a whole took longer than its deadline (not one slow read)."""


class BlockedAddress(httpx.ConnectError):
    """The host name resolved only to addresses this client may not connect to."""


class BodyTooLarge(Exception):
    """A body went past its size limit; `seen` is what had been read (or announced)."""

    def __init__(self, limit: int, seen: int) -> None:
        super().__init__(f"more than {limit:,} bytes")
        self.limit = limit
        self.seen = seen


class _BlockedByGuard(OSError):
    pass


class _GuardedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver, keeping only the addresses `allowed(host, address)` accepts."""

    def __init__(self, allowed: AddressCheck) -> None:
        self._allowed = allowed
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[Any]:
        found = await self._inner.resolve(host, port, family)
        kept = [entry for entry in found if self._allowed(host, entry["host"])]
        if not kept:
            addresses = ", ".join(sorted({entry["host"] for entry in found}))
            raise _BlockedByGuard(f"{host} resolves to {addresses}, which may not be reached")
        return kept

    async def close(self) -> None:
        await self._inner.close()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """`deadline`: seconds for a whole request, body included (None: no bound).
    `address_allowed`: which resolved addresses a connection may use (None: any)."""

    def __init__(
        self,
        max_connections: int,
        *,
        deadline: float | None = None,
        address_allowed: AddressCheck | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._deadline = deadline
        self._address_allowed = address_allowed
        self._session: aiohttp.ClientSession | None = None
        # Read once, as httpx reads them when a client is made: scanning the whole
        # environment for every request cost more than the rest of sending it.
        self._proxies = _ProxyChoice(urllib.request.getproxies_environment())

    def _open_session(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the loop it was made on.
        if self._session is None or self._session.closed:
            resolver = _GuardedResolver(self._address_allowed) if self._address_allowed else None
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, resolver=resolver),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                # httpx already set every header it means to send; add none of aiohttp's.
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            )
            # aiohttp silently resends a request once when a kept-alive connection drops.
            # Retries are the client's to make: counted, backed off and paced. (aiohttp's
            # own test client switches it off the same way; there is no public switch.)
            session._retry_connection = False
            self._session = session
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        try:
            response = await self._handle(request)
        except httpx.TransportError as exc:
            if request_log.isEnabledFor(logging.DEBUG):
                _log_request(request, f"failed ({type(exc).__name__})", started)
            raise
        if request_log.isEnabledFor(logging.DEBUG):
            _log_request(request, str(response.status_code), started)
        return response

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        session = self._open_session()
        timeout = request.extensions.get("timeout", {})
        with as_httpx_errors(request, self._deadline):
            body = await request.aread()
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,  # httpx follows them, with its own rules
                proxy=self._proxies.for_url(request.url),
                timeout=aiohttp.ClientTimeout(
                    total=self._deadline,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        extensions = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_ResponseBody(response, request, self._deadline),
            request=request,
            extensions=extensions,
        )

    async def get(
        self, url: str, headers: dict[str, str], timeout: httpx.Timeout
    ) -> aiohttp.ClientResponse:
        """A GET without httpx: redirects are not followed, errors come as httpx's.

        The caller reads the body (inside `as_httpx_errors(None, deadline)`) and
        releases the response.
        """
        session = self._open_session()
        started = time.monotonic()
        parts = urllib.parse.urlsplit(url)
        try:
            with as_httpx_errors(None, self._deadline):
                response = await session.get(
                    yarl.URL(url, encoded=True),
                    headers=headers,
                    allow_redirects=False,
                    proxy=self._proxies.choose(parts.scheme, parts.hostname or ""),
                    timeout=aiohttp.ClientTimeout(
                        total=self._deadline,
                        connect=timeout.pool,
                        sock_connect=timeout.connect,
                        sock_read=timeout.read,
                    ),
                )
        except httpx.TransportError as exc:
            if request_log.isEnabledFor(logging.DEBUG):
                _log_request(httpx.Request("GET", url), f"failed ({type(exc).__name__})", started)
            raise
        if request_log.isEnabledFor(logging.DEBUG):
            _log_request(httpx.Request("GET", url), str(response.status), started)
        return response

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _log_request(request: httpx.Request, outcome: str, started: float) -> None:
    """One line per request for `--verbose`: method, URL, status, time to the headers.

    The URL carries no credential (those travel in headers, which are not
    logged); a user name, a password or a `token`/`key` query value is masked
    all the same, in case a URL ever holds one.
    """
    milliseconds = (time.monotonic() - started) * 1000
    request_log.debug(
        "%s %s %s %.0f ms", request.method, loggable_url(request.url), outcome, milliseconds
    )


def loggable_url(url: httpx.URL) -> str:
    """The URL as a person reads it (%-escapes undone), secrets masked."""
    query = [
        (name, "[redacted]" if name.lower() in _SECRET_PARAMS else value)
        for name, value in url.params.multi_items()
    ]
    shown = url.copy_with(username=None, password=None, query=None)
    text = f"{shown}"
    if query:
        text += "?" + "&".join(f"{name}={value}" for name, value in query)
    return urllib.parse.unquote(text)


class _ProxyChoice:
    """Which proxy, if any, a URL goes through: HTTP(S)_PROXY and NO_PROXY as read once.

    Read here rather than with aiohttp's trust_env, which would also send ~/.netrc
    passwords to whatever host a request goes to (the image CDN included).
    """

    def __init__(self, proxies: dict[str, str]) -> None:
        self._proxies = proxies
        self._by_host: dict[tuple[str, str], str | None] = {}

    def for_url(self, url: httpx.URL) -> str | None:
        return self.choose(url.scheme, url.host)

    def choose(self, scheme: str, host: str) -> str | None:
        key = (scheme, host)
        if key not in self._by_host:
            self._by_host[key] = self._choose(scheme, host)
        return self._by_host[key]

    def _choose(self, scheme: str, host: str) -> str | None:
        # proxy_bypass_environment is what urllib itself uses for NO_PROXY; typeshed omits it.
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if bypass(host, self._proxies):
            return None
        return self._proxies.get(scheme) or self._proxies.get("all")


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(
        self, response: aiohttp.ClientResponse, request: httpx.Request, deadline: float | None
    ) -> None:
        self._response = response
        self._request = request
        self._deadline = deadline

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with as_httpx_errors(self._request, self._deadline):
            async for chunk in self._response.content.iter_chunked(CHUNK):
                yield chunk

    async def aclose(self) -> None:
        # Back to the pool when read to the end; closed when abandoned half-way.
        self._response.release()


@contextmanager
def as_httpx_errors(request: httpx.Request | None, deadline: float | None = None) -> Iterator[None]:
    """aiohttp's errors as httpx's (`request` may be None: a GET sent by `get`)."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
    except aiohttp.ServerTimeoutError as exc:  # no byte for `sock_read` seconds
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except TimeoutError as exc:  # aiohttp's `total`: the whole request took too long
        if deadline is None:
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
        raise DeadlineExceeded(f"not done within {deadline:g} s", request=request) from exc
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, _BlockedByGuard):
            raise BlockedAddress(str(exc.os_error), request=request) from exc
        raise httpx.ConnectError(str(exc), request=request) from exc
    except (
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientPayloadError,
        aiohttp.ClientResponseError,
    ) as exc:
        # The server closed the connection early or sent something that is not HTTP.
        raise httpx.RemoteProtocolError(str(exc), request=request) from exc
    except aiohttp.ClientOSError as exc:
        raise httpx.ReadError(str(exc), request=request) from exc
    except aiohttp.ClientError as exc:
        raise httpx.NetworkError(str(exc), request=request) from exc


async def read_body(response: httpx.Response, limit: int) -> bytes:
    """The whole decoded body of a streamed response, or BodyTooLarge past `limit` bytes."""
    try:
        announced = announced_size(response.headers)
        if announced is not None and announced > limit:
            raise BodyTooLarge(limit, announced)
        chunks: list[bytes] = []
        size = 0
        async for chunk in decoded_chunks(response):
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(limit, size)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        await response.aclose()


def announced_size(headers: Mapping[str, str]) -> int | None:
    """The decoded body's size as the headers announce it, or None when they do not.

    A compressed body's Content-Length counts compressed bytes, so it says nothing
    of the decoded size (a body cut short is still noticed by the connection).
    """
    if _coding(headers.get("content-encoding")) != "identity":
        return None
    try:
        value = int(headers.get("content-length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


async def decoded_chunks(response: httpx.Response, size: int = CHUNK) -> AsyncIterator[bytes]:
    """A streamed body decoded in steps of at most `size` bytes.

    httpx inflates each raw chunk whole, and gzip packs about 1,000 to 1: one
    64 KB chunk of a gzip bomb would become 64 MB at once. gzip and deflate
    are inflated here in bounded steps instead; other codings (rare, since
    identity is asked for) go through httpx.
    """
    coding = _coding(response.headers.get("content-encoding"))
    if coding not in ("identity", *INFLATED):
        async for chunk in response.aiter_bytes(size):
            yield chunk
        return
    async for chunk in inflated(response.aiter_raw(size), coding, size):
        yield chunk


def _coding(header: str | None) -> str:
    return (header or "identity").strip().lower() or "identity"


INFLATED = ("gzip", "x-gzip", "deflate")


async def aiohttp_chunks(
    response: aiohttp.ClientResponse, size: int = CHUNK
) -> AsyncIterator[bytes]:
    """`decoded_chunks` for a response from `AiohttpTransport.get`; a coding other
    than gzip or deflate passes undecoded, as httpx passes the ones it lacks."""
    raw = response.content.iter_chunked(size)
    async for chunk in inflated(raw, _coding(response.headers.get("content-encoding")), size):
        yield chunk


async def inflated(raw: AsyncIterator[bytes], coding: str, size: int) -> AsyncIterator[bytes]:
    """Raw body chunks, gzip or deflate inflated in steps of at most `size` bytes."""
    if coding not in INFLATED:
        async for chunk in raw:
            yield chunk
        return
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if "gzip" in coding else zlib.MAX_WBITS)
    try:
        async for data in raw:
            while data:
                chunk = inflater.decompress(data, size)
                data = inflater.unconsumed_tail
                if chunk:
                    yield chunk
        tail = inflater.flush()
    except zlib.error as exc:
        raise httpx.DecodingError(f"the {coding} body is corrupt ({exc})") from None
    if tail:
        yield tail
