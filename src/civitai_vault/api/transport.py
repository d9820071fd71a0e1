"""httpx's interface over aiohttp's connections.

The client speaks httpx (requests, responses, headers, timeouts, redirects,
errors); this transport moves the bytes with aiohttp, whose C parser and
plain-asyncio connection pool cost about a quarter of httpcore's time per
request. A sync keeps hundreds of requests a second in flight on one event
loop, and every millisecond the loop spends on a request is a millisecond an
answered request waits to be read. Errors come back as httpx's own exception
types, so callers keep one vocabulary.

Cookies are never stored here (the client keeps its own jar, API host only),
bodies are passed through undecoded (httpx decodes them), URLs go out exactly
as httpx encoded them, and HTTP(S)_PROXY / NO_PROXY are honoured as httpx
would (httpx stops reading them once it is given a transport).
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
import yarl

CHUNK = 64 * 1024


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_connections: int) -> None:
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open_session(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the loop it was made on.
        if self._session is None or self._session.closed:
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
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
        session = self._open_session()
        timeout = request.extensions.get("timeout", {})
        with _as_httpx_errors(request):
            body = await request.aread()
            response = await session.request(
                request.method,
                yarl.URL(str(request.url), encoded=True),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,  # httpx follows them, with its own rules
                proxy=_proxy_for(request.url),
                timeout=aiohttp.ClientTimeout(
                    total=None,
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
            stream=_ResponseBody(response, request),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _proxy_for(url: httpx.URL) -> str | None:
    # Read here rather than with aiohttp's trust_env, which would also send ~/.netrc
    # passwords to whatever host a request goes to (the image CDN included).
    # proxy_bypass_environment is what urllib itself uses for NO_PROXY; typeshed omits it.
    if urllib.request.proxy_bypass_environment(url.host):  # type: ignore[attr-defined]
        return None
    proxies = urllib.request.getproxies_environment()
    return proxies.get(url.scheme) or proxies.get("all")


class _ResponseBody(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for chunk in self._response.content.iter_chunked(CHUNK):
                yield chunk

    async def aclose(self) -> None:
        # Back to the pool when read to the end; closed when abandoned half-way.
        self._response.release()


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except aiohttp.ClientConnectorError as exc:
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
