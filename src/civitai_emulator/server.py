"""Running the emulator: its listeners on free loopback ports, start, stop and the handle.

The API listener serves `/api/trpc/...` and a small HTML page at `/`. The image CDN,
the video origin and the generator's blob host are one port each, so each is a
different host:port than the API, as image.civitai.com, image-b2.civitai.com and
orchestration.civitai.com are different hosts than civitai.com: a client that leaks
credentials to any of them shows up in `request_log`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import uvicorn

from civitai_emulator.apps import (
    EmulatorState,
    LoggedRequest,
    create_app,
    create_cdn_app,
    create_generator_app,
    create_video_app,
)
from civitai_emulator.cdn import ACCOUNT_KEY, B2_PREFIX
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
    # "http://127.0.0.1:<port>/file/civitai-media-cache": `<video_base_url>/<uuid>/original`
    # is a video's MP4, as https://image-b2.civitai.com/file/civitai-media-cache/... is
    video_base_url: str = ""
    # "http://127.0.0.1:<port>": the orchestrator's blob host, where generated files live
    generator_base_url: str = ""
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
        # httptools (the `emulator` extra) parses several times faster than h11.
        http="httptools" if importlib.util.find_spec("httptools") else "h11",
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
    sockets: list[socket.socket] = []
    try:
        for port in (config.port, config.cdn_port, 0, 0):
            sockets.append(_bind(config.host, port))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    api_port, cdn_port, video_port, generator_port = (s.getsockname()[1] for s in sockets)
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
    state.video_base_url = f"http://{public_host}:{video_port}/{'/'.join(B2_PREFIX)}"
    state.generator_base_url = f"http://{public_host}:{generator_port}"
    apps = (create_app, create_cdn_app, create_video_app, create_generator_app)
    servers = [_server(make(state), log_level) for make in apps]
    quiet = _QuietDisconnects()
    logging.getLogger("uvicorn.error").addFilter(quiet)
    failure: list[BaseException] = []

    # The CDN and the video origin are services of their own, as Civitai's are
    # (Cloudflare and a B2 bucket, not the API's pods): they get a loop and a
    # thread of their own, so a slow API answer never holds a file back.
    groups = [[0, 3], [1, 2]]

    def run(indexes: list[int]) -> None:
        async def main() -> None:
            await asyncio.gather(*(servers[i].serve([sockets[i]]) for i in indexes))

        try:
            with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
                runner.run(main())
        except BaseException as error:  # surfaced to the starting thread below
            failure.append(error)

    threads = [
        threading.Thread(target=run, args=(group,), name=f"civitai-emulator-{n}", daemon=True)
        for n, group in enumerate(groups)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not all(server.started for server in servers):
        if failure or not all(thread.is_alive() for thread in threads):
            raise RuntimeError(
                f"the emulator failed to start: {failure[0] if failure else 'unknown'}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator did not start within 30 s")
        time.sleep(0.005)
    emulator = Emulator(
        state,
        base_url,
        state.cdn_base_url,
        cdn_url,
        state.video_base_url,
        state.generator_base_url,
        servers,
    )
    try:
        yield emulator
    finally:
        for server in servers:
            server.should_exit = True
        for thread in threads:
            thread.join(timeout=10)
        state.executor.shutdown(wait=False, cancel_futures=True)
        logging.getLogger("uvicorn.error").removeFilter(quiet)
        for sock in sockets:
            sock.close()


def serve(
    port: int = 8765,
    cdn_port: int | None = None,
    seed: int = 1,
    images: int = 600,
    host: str = "127.0.0.1",
    site_mode: str = "green",
    encoding: str = "devalue",
    faults: Faults | None = None,
) -> None:
    """Run the emulator in the foreground until Ctrl+C, printing how to point a client at it."""
    if cdn_port is None:
        cdn_port = port + 1 if port else 0
    config = EmulatorConfig(
        seed=seed,
        images=images,
        site_mode=site_mode,  # type: ignore[arg-type]  # EmulatorConfig checks it
        encoding=encoding,  # type: ignore[arg-type]  # EmulatorConfig checks it
        host=host,
        port=port,
        cdn_port=cdn_port,
        faults=faults or Faults(),
    )
    with running_emulator(config) as emu:
        print(
            f"civitai-emulator: {images} images (seed {seed}), site mode {site_mode}, "
            f"answers in {encoding}"
        )
        if faults is not None and faults != Faults():
            print(f"  injecting: {describe_faults(faults)}")
        print(f"  API  {emu.base_url}   (tRPC at {emu.base_url}/api/trpc/<procedure>)")
        print(f"  CDN  {emu.image_base_url}")
        print(f"  video origin    {emu.video_base_url}")
        print(f"  generator blobs {emu.generator_base_url}")
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


def describe_faults(faults: Faults) -> str:
    """The faults that differ from none, as `--fault` would set them."""
    default = Faults()
    changed = [
        f"{f.name}={_fault_text(getattr(faults, f.name))}"
        for f in fields(faults)
        if getattr(faults, f.name) != getattr(default, f.name)
    ]
    return " ".join(changed)


def _fault_text(value: object) -> str:
    if isinstance(value, frozenset):
        return ",".join(str(part) for part in sorted(value))
    return str(value)


__all__ = ["Emulator", "EmulatorState", "LoggedRequest", "running_emulator", "serve"]
