"""The aiohttp transport under httpx: what goes out, what comes back, and its errors."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from tests.proof.servers import HostileServer, Reply

from civitai_vault.api.cdn import cookieless_jar
from civitai_vault.api.transport import AiohttpTransport


def fetch(url: str, **kwargs: object) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=AiohttpTransport(max_connections=4), timeout=30
        ) as http:
            response = await http.get(url, **kwargs)  # type: ignore[arg-type]
            await response.aread()
            return response

    return asyncio.run(go())


def test_the_query_goes_out_exactly_as_httpx_encoded_it() -> None:
    tricky = '{"json":{"q":"a b+c/%&=é"}}'
    with HostileServer(lambda r: Reply(200, b"{}")) as server:
        fetch(f"{server.url}/api", params={"input": tricky})
    expected = httpx.URL(f"{server.url}/api", params={"input": tricky}).raw_path.decode()
    assert server.requests[0].path == expected


def test_headers_are_httpx_s_and_the_transport_keeps_no_cookies() -> None:
    # The client keeps its own cookie jar (API host only); httpx's is turned off the
    # same way here, so a Cookie header could only come from the transport.
    replies = iter([Reply(200, b"a", {"Set-Cookie": "session=secret; Path=/"}), Reply(200, b"b")])

    async def twice(url: str) -> None:
        async with httpx.AsyncClient(
            transport=AiohttpTransport(max_connections=2),
            headers={"User-Agent": "vault-test"},
            cookies=cookieless_jar(),
        ) as http:
            await http.get(url)
            await http.get(url)

    with HostileServer(lambda r: next(replies)) as server:
        # By name: cookie jars ignore cookies set by a bare IP address.
        asyncio.run(twice(server.url.replace("127.0.0.1", "localhost")))
    first, second = server.requests
    assert first.headers["user-agent"] == "vault-test"
    assert "cookie" not in second.headers


def test_compressed_bodies_are_decoded_once() -> None:
    import gzip

    body = gzip.compress(b'{"ok":true}')
    with HostileServer(lambda r: Reply(200, body, {"Content-Encoding": "gzip"})) as server:
        response = fetch(server.url)
    assert response.json() == {"ok": True}


def test_requests_go_through_the_proxy_the_environment_names(monkeypatch) -> None:
    with HostileServer(lambda r: Reply(200, b"{}")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        fetch("http://civitai.invalid/api/trpc/image.get?input=1")
    assert proxy.requests[0].path == "http://civitai.invalid/api/trpc/image.get?input=1"


def test_no_proxy_hosts_are_reached_directly(monkeypatch) -> None:
    with (
        HostileServer(lambda r: Reply(200, b"{}")) as proxy,
        HostileServer(lambda r: Reply(200, b"direct")) as server,
    ):
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert fetch(server.url).content == b"direct"
    assert proxy.requests == []


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        fetch(f"http://127.0.0.1:{port}/")


def test_a_silent_server_is_a_read_timeout() -> None:
    silent = raw_server(lambda conn: conn.recv(65536) and threading.Event().wait(5))
    with silent as url, pytest.raises(httpx.ReadTimeout):
        fetch(url, timeout=httpx.Timeout(0.3))


def test_a_connection_closed_before_the_answer_is_a_protocol_error() -> None:
    hang_up = raw_server(lambda conn: conn.recv(65536) and conn.close())
    with hang_up as url, pytest.raises(httpx.RemoteProtocolError):
        fetch(url)


def test_a_body_cut_short_is_a_protocol_error() -> None:
    def half(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40)
        conn.close()

    with raw_server(half) as url, pytest.raises(httpx.RemoteProtocolError):
        fetch(url)


@contextmanager
def raw_server(handle: object) -> Iterator[str]:
    """A socket server that hands each connection to `handle(conn)` and closes it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                handle(conn)  # type: ignore[operator]

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        listener.close()
