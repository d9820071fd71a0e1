"""Running the emulator: both listeners on free loopback ports, start, stop and the handle.

The API listener serves `/api/trpc/...` and a small HTML page at `/`. The CDN
listener is a second port, so the CDN is a different host:port than the API, as
image.civitai.com is a different host than civitai.com: a client that leaks
credentials to the CDN shows up in `request_log`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from civitai_emulator.apps import EmulatorState, LoggedRequest, create_app, create_cdn_app
from civitai_emulator.cdn import ACCOUNT_KEY
from civitai_emulator.config import EmulatorConfig, Faults
from civitai_emulator.dataset import Dataset

START_TIMEOUT = 30.0


@dataclass
class Emulator:
    """A running emulator (see `running_emulator`)."""

    state: EmulatorState
    base_url: str
    image_base_url: str
    cdn_url: str
    _servers: list[uvicorn.Server] = field(default_factory=list, repr=False)

    @property
    def api_key(self) -> str:
        return self.state.credentials.api_key

    @property
    def scoped_api_key(self) -> str:
        """A key of the same user limited to the UserRead scope: 403 on media procedures."""
        return self.state.credentials.scoped_api_key

    @property
    def session_token(self) -> str:
        return self.state.credentials.session_token

    @property
    def legacy_token(self) -> str:
        return self.state.credentials.legacy_token

    @property
    def password(self) -> str:
        """The owner's password on the sign-in page at /login."""
        return self.state.credentials.password

    @property
    def dataset(self) -> Dataset:
        return self.state.dataset

    @property
    def config(self) -> EmulatorConfig:
        return self.state.config

    @property
    def request_log(self) -> list[LoggedRequest]:
        return self.state.request_log

    def set_faults(self, faults: Faults) -> None:
        self.state.config.faults = faults

    def clear_faults(self) -> None:
        self.set_faults(Faults())

    def clear_log(self) -> None:
        self.state.request_log.clear()

    def count(self, procedure: str | None = None, listener: str | None = None) -> int:
        """Requests logged so far; a batch counts once for each procedure it names."""
        total = 0
        for entry in list(self.state.request_log):
            if listener is not None and entry.listener != listener:
                continue
            if procedure is not None:
                if entry.procedure is None:
                    continue
                total += entry.procedure.split(",").count(procedure)
            else:
                total += 1
        return total


class _QuietDisconnects(logging.Filter):
    """Injected truncations make uvicorn log an error per response; they are on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio turns Nagle off only on sockets whose proto says TCP,
    # and with Nagle on every keep-alive request waits 40 ms for a delayed ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it exists (not on Windows): it answers several times faster than
    asyncio's own loop, so the emulator adds less than a real server's latency on top
    of the latency a benchmark asks for."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _server(app: Any, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        interface="asgi3",
        proxy_headers=False,
        http="httptools",
        ws="none",
        loop="none",  # the loop is made by running_emulator
        log_config=None,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    return uvicorn.Server(config)


@contextmanager
def running_emulator(
    config: EmulatorConfig | None = None, log_level: str = "warning"
) -> Iterator[Emulator]:
    """Serve the emulator on loopback ports in a background thread for the `with` block."""
    config = config or EmulatorConfig()
    state = EmulatorState(config)
    api_socket = _bind(config.host, config.port)
    try:
        cdn_socket = _bind(config.host, config.cdn_port)
    except OSError:
        api_socket.close()
        raise
    api_port = api_socket.getsockname()[1]
    cdn_port = cdn_socket.getsockname()[1]
    public_host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    if ":" in public_host:
        public_host = f"[{public_host}]"  # an IPv6 literal in a URL
    state.own_hosts = {
        f"{public_host}:{api_port}",
        f"localhost:{api_port}",
        f"127.0.0.1:{api_port}",
    }
    base_url = f"http://{public_host}:{api_port}"
    cdn_url = f"http://{public_host}:{cdn_port}"
    state.cdn_base_url = f"{cdn_url}/{ACCOUNT_KEY}"
    servers = [_server(create_app(state), log_level), _server(create_cdn_app(state), log_level)]
    quiet = _QuietDisconnects()
    logging.getLogger("uvicorn.error").addFilter(quiet)
    failure: list[BaseException] = []

    def run() -> None:
        async def main() -> None:
            await asyncio.gather(servers[0].serve([api_socket]), servers[1].serve([cdn_socket]))

        try:
            with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
                runner.run(main())
        except BaseException as error:  # surfaced to the starting thread below
            failure.append(error)

    thread = threading.Thread(target=run, name="civitai-emulator", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not all(server.started for server in servers):
        if failure or not thread.is_alive():
            raise RuntimeError(
                f"the emulator failed to start: {failure[0] if failure else 'unknown'}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator did not start within 30 s")
        time.sleep(0.005)
    emulator = Emulator(state, base_url, state.cdn_base_url, cdn_url, servers)
    try:
        yield emulator
    finally:
        for server in servers:
            server.should_exit = True
        thread.join(timeout=10)
        state.executor.shutdown(wait=False, cancel_futures=True)
        logging.getLogger("uvicorn.error").removeFilter(quiet)
        for sock in (api_socket, cdn_socket):
            sock.close()


def serve(
    port: int = 8765,
    cdn_port: int | None = None,
    seed: int = 1,
    images: int = 600,
    host: str = "127.0.0.1",
    site_mode: str = "green",
    encoding: str = "devalue",
) -> None:
    """Run the emulator in the foreground until Ctrl+C, printing how to point a client at it."""
    if cdn_port is None:
        cdn_port = port + 1 if port else 0
    config = EmulatorConfig(
        seed=seed,
        images=images,
        site_mode=site_mode,  # type: ignore[arg-type]
        encoding=encoding,  # type: ignore[arg-type]
        host=host,
        port=port,
        cdn_port=cdn_port,
    )
    with running_emulator(config) as emu:
        print(
            f"civitai-emulator: {images} images (seed {seed}), site mode {site_mode}, "
            f"answers in {encoding}"
        )
        print(f"  API  {emu.base_url}   (tRPC at {emu.base_url}/api/trpc/<procedure>)")
        print(f"  CDN  {emu.image_base_url}")
        print(f"  signed-in user: {emu.dataset.owner.username}")
        print(f"  sign-in page: {emu.base_url}/login (password {emu.password})")
        print("Point civitai-vault at it with:")
        print(f"  export CIVITAI_BASE_URL={emu.base_url}")
        print(f"  export CIVITAI_IMAGE_BASE_URL={emu.image_base_url}")
        print(f"  export CIVITAI_API_KEY={emu.api_key}")
        print("Press Ctrl+C to stop.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopped")


__all__ = ["Emulator", "EmulatorState", "LoggedRequest", "running_emulator", "serve"]
