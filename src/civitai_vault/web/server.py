"""Running the gallery: in the foreground (`civitai-vault serve`) or in a background thread.

    with running_gallery(Path("civitai-archive")) as url:   # tests, benchmarks
        httpx.get(url + "/api/images")

The listening socket is bound before uvicorn starts, so "address already in
use" is an ordinary OSError the caller can turn into one clear line, and port
0 picks a free port whose number is known at once.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from civitai_vault.web.app import create_app


class ListenError(OSError):
    """The gallery cannot listen on the address asked for."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; ListenError says what to do if it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP so asyncio disables Nagle (a 40 ms stall per keep-alive request otherwise).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "choose another --port, or stop the program that uses it"
        ) from exc
    sock.set_inheritable(True)
    return sock


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_for(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _server(
    archive_root: Path | str, host: str, log_level: str, allow_hosts: Iterable[str]
) -> uvicorn.Server:
    app = create_app(archive_root, listen_host=host, allow_hosts=allow_hosts)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        # Thumbnails and pages are small; nothing needs more than the default.
        timeout_keep_alive=5,
        server_header=False,
    )
    return uvicorn.Server(config)


def serve(
    archive_root: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
    allow_hosts: Iterable[str] = (),
) -> None:
    """Serve the gallery until interrupted (Ctrl+C). Raises FileNotFoundError or ListenError.

    It answers to this machine's loopback names, `host`, and `allow_hosts`
    (the names others use to reach it when `host` is 0.0.0.0).
    """
    server = _server(archive_root, host, log_level, allow_hosts)
    sock = bind_socket(host, port)
    try:
        if on_ready is not None:
            on_ready(url_for(sock))
        server.run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def running_gallery(
    archive_root: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_hosts: Iterable[str] = (),
) -> Iterator[str]:
    """Serve the gallery from a background thread; yields its base URL."""
    server = _server(archive_root, host, "warning", allow_hosts)
    sock = bind_socket(host, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the gallery server stopped while starting")
            thread.join(0.01)
        yield url_for(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
