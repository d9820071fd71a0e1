"""Running the emulator: two listeners (API and CDN), the request log, start and stop.

The API listener serves `/api/trpc/...` and a small HTML page at `/`. The CDN
listener is a second port, so the CDN is a different host:port than the API, as
image.civitai.com is a different host than civitai.com: a client that leaks
credentials to the CDN shows up in `request_log`.
"""

from __future__ import annotations

import asyncio
import html
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn

from civitai_emulator import auth
from civitai_emulator.cdn import ACCOUNT_KEY, AssetRequest, Cdn, content_type_of
from civitai_emulator.config import EmulatorConfig, Faults
from civitai_emulator.dataset import Dataset
from civitai_emulator.errors import SEARCH_OVERLOADED, STATEMENT_TIMEOUT, TRPCError
from civitai_emulator.faults import (
    BAD_GATEWAY_HTML,
    FaultPlan,
    Receive,
    Send,
    drop_connection,
    send_response,
    send_truncated,
    sleep_for,
)
from civitai_emulator.procedures import PROCEDURES, CallContext
from civitai_emulator.trpc import (
    CallEnvironment,
    TrpcEndpoint,
    TrpcRequest,
    TrpcResponse,
    error_body,
    json_bytes,
    procedure_paths,
    wants_devalue,
)

log = logging.getLogger("civitai_emulator")

TRPC_PREFIX = "/api/trpc/"
HEAVY_REQUEST_CONCURRENCY = 20
START_TIMEOUT = 30.0


@dataclass
class LoggedRequest:
    """One request as the emulator saw it. `status` 0 = the connection was dropped."""

    listener: str  # "api" | "cdn"
    method: str
    path: str
    procedure: str | None
    headers: dict[str, str]
    status: int
    query: str = ""
    fault: str | None = None


@dataclass
class _Incoming:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    scheme: str


async def _read(scope: dict[str, Any], receive: Receive) -> _Incoming:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        if name in headers:
            joiner = "; " if name == "cookie" else ", "
            headers[name] = headers[name] + joiner + value
        else:
            headers[name] = value
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return _Incoming(
        method=scope["method"],
        path=scope["path"],
        query_string=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=b"".join(chunks),
        scheme=scope.get("scheme", "http"),
    )


class EmulatorState:
    """Everything the two listeners share: dataset, settings, log, caches."""

    def __init__(self, config: EmulatorConfig, dataset: Dataset | None = None) -> None:
        self.config = config
        self.dataset = dataset or Dataset(config.seed, config.images)
        self.credentials = auth.Credentials.for_seed(config.seed)
        self.request_log: list[LoggedRequest] = []
        self.fault_plan = FaultPlan(config.faults)
        self.endpoint = TrpcEndpoint(config.seed, lambda: self.config.devalue_share)
        self.cdn = Cdn(self.dataset)
        self.own_hosts: set[str] = set()
        self.cdn_base_url = ""
        self.caches: dict[str, Any] = {}
        self.heavy_in_flight = 0
        self.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="civitai-cdn")
        self._renders: dict[tuple, asyncio.Future] = {}

    # ------------------------------------------------------------------ API

    async def api_app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        incoming = await _read(scope, receive)
        if incoming.path.startswith(TRPC_PREFIX):
            await self._trpc(incoming, receive, send)
            return
        if incoming.path in ("/", "/index.html") and incoming.method in ("GET", "HEAD"):
            status, headers, body = (
                200,
                [("content-type", "text/html; charset=utf-8")],
                self._home_page(),
            )
        else:
            status, headers, body = (
                404,
                [("content-type", "text/plain; charset=utf-8")],
                b"Not Found",
            )
        self._log("api", incoming, None, status)
        await send_response(send, status, headers, body, head_only=incoming.method == "HEAD")

    async def _trpc(self, incoming: _Incoming, receive: Receive, send: Send) -> None:
        request = TrpcRequest(
            method=incoming.method,
            path=incoming.path[len(TRPC_PREFIX) :],
            query=dict(parse_qsl(incoming.query_string, keep_blank_values=True)),
            query_string=incoming.query_string,
            headers=incoming.headers,
            body=incoming.body,
        )
        paths = procedure_paths(request)
        procedure_label = ",".join(paths)
        heavy = any(PROCEDURES[p].heavy for p in paths if p in PROCEDURES)
        faults = self.fault_plan.current(self.config.faults)
        if heavy:
            self.heavy_in_flight += 1
        try:
            await sleep_for(self.fault_plan.delay(faults.latency, faults.jitter))
            fault = self.fault_plan.api_fault(faults, paths)
            bulkhead_full = heavy and self.heavy_in_flight > HEAVY_REQUEST_CONCURRENCY
            await self._answer(
                incoming, request, paths, fault, bulkhead_full, receive, send, procedure_label
            )
        finally:
            if heavy:
                self.heavy_in_flight -= 1

    async def _answer(
        self,
        incoming: _Incoming,
        request: TrpcRequest,
        paths: list[str],
        fault: str | None,
        bulkhead_full: bool,
        receive: Receive,
        send: Send,
        label: str,
    ) -> None:
        if fault == "dropped":
            self._log("api", incoming, label, 0, fault)
            await drop_connection(receive, send)
            return
        status_fault = {
            "status_429": 429,
            "status_500": 500,
            "status_502": 502,
            "status_503": 503,
        }.get(fault or "")
        if status_fault is not None:
            response = self._fault_response(request, paths, status_fault)
        else:

            def environment():
                return self._environment(incoming, request, fault == "empty_pages", bulkhead_full)

            response = self.endpoint.handle(request, environment)
        self._log("api", incoming, label, response.status if fault != "malformed" else 200, fault)
        if fault == "truncated":
            await send_truncated(send, response.status, response.headers, response.body)
        elif fault == "malformed":
            cut = response.body[: max(len(response.body) // 2, 1)]
            await send_response(send, 200, [("content-type", "application/json")], cut)
        else:
            await send_response(send, response.status, response.headers, response.body)

    def _environment(
        self, incoming: _Incoming, request: TrpcRequest, force_empty: bool, bulkhead_full: bool
    ) -> CallEnvironment:
        config = self.config
        https = auth.request_is_https(incoming.headers, incoming.scheme)
        session = auth.resolve_session(
            incoming.headers, request.query, https, self.credentials, self.dataset
        )
        site = auth.site_of(incoming.headers, config.site_mode)
        cap = auth.browsing_cap(session, site)

        def make_context() -> CallContext:
            return CallContext(
                dataset=self.dataset,
                user=session.user,
                site=site,
                browsing_cap=cap,
                boundary_skip=config.boundary_skip,
                force_empty_listing=force_empty,
                caches=self.caches,
            )

        return CallEnvironment(
            session=session,
            origin_ok=auth.origin_acceptable(incoming.headers, self.own_hosts),
            make_context=make_context,
            bulkhead_full=bulkhead_full,
        )

    def _fault_response(self, request: TrpcRequest, paths: list[str], status: int) -> TrpcResponse:
        if status == 502:
            return TrpcResponse(502, BAD_GATEWAY_HTML, [("content-type", "text/html")])
        use_devalue = wants_devalue(request, self.config.devalue_share, self.config.seed)

        def error_for(path: str) -> TRPCError:
            if status == 429:
                return TRPCError("TOO_MANY_REQUESTS", "Server busy — please retry.")
            if status == 500:
                return TRPCError("INTERNAL_SERVER_ERROR", STATEMENT_TIMEOUT)
            return TRPCError(
                "SERVICE_UNAVAILABLE", SEARCH_OVERLOADED if path == "image.getInfinite" else None
            )

        headers = [
            ("content-type", "application/json"),
            ("cache-control", "max-age=0, private, no-cache"),
        ]
        if request.query.get("batch") == "1":
            body = json_bytes([error_body(error_for(p), p, use_devalue) for p in paths])
        else:
            body = json_bytes(error_body(error_for(paths[0]), paths[0], use_devalue))
        return TrpcResponse(status, body, headers)

    def _home_page(self) -> bytes:
        dataset = self.dataset
        owner = html.escape(dataset.owner.username or "")
        page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>civitai-emulator</title></head>
<body>
<h1>civitai-emulator</h1>
<p>A local stand-in for the civitai.com web API (tRPC at <code>/api/trpc/&lt;procedure&gt;</code>)
and its image CDN (<code>{html.escape(self.cdn_base_url)}</code>), used by civitai-vault's tests,
benchmarks and demo.</p>
<p>Dataset: seed {dataset.seed}, {len(dataset.images)} images, {len(dataset.collections)}
collections; signed-in user <b>{owner}</b>; site mode {html.escape(self.config.site_mode)}.</p>
</body></html>
"""
        return page.encode()

    # ------------------------------------------------------------------ CDN

    async def cdn_app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        incoming = await _read(scope, receive)
        faults = self.fault_plan.current(self.config.faults)
        await sleep_for(self.fault_plan.delay(faults.cdn_latency, faults.cdn_jitter))
        head_only = incoming.method == "HEAD"
        if incoming.method not in ("GET", "HEAD"):
            await self._cdn_plain(incoming, send, 405, b"Method Not Allowed")
            return
        if incoming.path == "/":
            await self._cdn_plain(incoming, send, 200, b"civitai-emulator image CDN\n")
            return
        asset = self.cdn.resolve(incoming.path)
        if asset is None:
            await self._cdn_plain(incoming, send, 404, b"Not Found")
            return
        fault = self.fault_plan.cdn_fault(faults)
        if fault == "dropped":
            self._log("cdn", incoming, None, 0, fault)
            await drop_connection(receive, send)
            return
        if fault in ("status_429", "status_500", "status_502", "status_503"):
            status = int(fault[-3:])
            body = BAD_GATEWAY_HTML if status == 502 else f"error code: {status}".encode()
            self._log("cdn", incoming, None, status, fault)
            content_type = "text/html" if status == 502 else "text/plain; charset=UTF-8"
            await send_response(send, status, [("content-type", content_type)], body, head_only)
            return
        try:
            data = await self._render(asset)
        except Exception:  # a broken render answers like a CDN does, not with a hang
            log.exception("rendering %s failed", incoming.path)
            await self._cdn_plain(incoming, send, 500, b"error code: 500")
            return
        headers = [
            ("content-type", content_type_of(data)),
            ("cache-control", "public, max-age=31536000, immutable"),
            ("access-control-allow-origin", "*"),
        ]
        self._log("cdn", incoming, None, 200, fault)
        if fault == "truncated":
            await send_truncated(send, 200, headers, data)
        else:
            await send_response(send, 200, headers, data, head_only)

    async def _cdn_plain(self, incoming: _Incoming, send: Send, status: int, body: bytes) -> None:
        self._log("cdn", incoming, None, status)
        headers = [("content-type", "text/plain; charset=utf-8")]
        await send_response(send, status, headers, body, incoming.method == "HEAD")

    async def _render(self, asset: AssetRequest) -> bytes:
        cached = self.cdn.cached(asset)
        if cached is not None:
            return cached
        key = (asset.record.uuid, asset.poster, asset.variant)
        pending = self._renders.get(key)
        if pending is None:
            loop = asyncio.get_running_loop()
            pending = asyncio.ensure_future(
                loop.run_in_executor(self.executor, self.cdn.render, asset)
            )
            self._renders[key] = pending
            pending.add_done_callback(lambda _: self._renders.pop(key, None))
        return await asyncio.shield(pending)

    # ------------------------------------------------------------------ log

    def _log(
        self,
        listener: str,
        incoming: _Incoming,
        procedure: str | None,
        status: int,
        fault: str | None = None,
    ) -> None:
        self.request_log.append(
            LoggedRequest(
                listener=listener,
                method=incoming.method,
                path=incoming.path,
                procedure=procedure,
                headers=dict(incoming.headers),
                status=status,
                query=incoming.query_string,
                fault=fault,
            )
        )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(state: EmulatorState) -> Any:
    """The API listener's ASGI app (tRPC and the home page)."""
    return state.api_app


def create_cdn_app(state: EmulatorState) -> Any:
    """The CDN listener's ASGI app."""
    return state.cdn_app


# ------------------------------------------------------------- the handle


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
    def session_token(self) -> str:
        return self.state.credentials.session_token

    @property
    def legacy_token(self) -> str:
        return self.state.credentials.legacy_token

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


def _server(app: Any, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        interface="asgi3",
        proxy_headers=False,
        http="h11",
        ws="none",
        loop="asyncio",
        log_config=None,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=2,
        h11_max_incomplete_event_size=1_000_000,
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
    servers = [_server(state.api_app, log_level), _server(state.cdn_app, log_level)]
    quiet = _QuietDisconnects()
    logging.getLogger("uvicorn.error").addFilter(quiet)
    failure: list[BaseException] = []

    def run() -> None:
        async def main() -> None:
            await asyncio.gather(servers[0].serve([api_socket]), servers[1].serve([cdn_socket]))

        try:
            asyncio.run(main())
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
) -> None:
    """Run the emulator in the foreground until Ctrl+C, printing how to point a client at it."""
    if cdn_port is None:
        cdn_port = port + 1 if port else 0
    config = EmulatorConfig(
        seed=seed, images=images, site_mode=site_mode, host=host, port=port, cdn_port=cdn_port
    )  # type: ignore[arg-type]
    with running_emulator(config) as emu:
        print(f"civitai-emulator: {images} images (seed {seed}), site mode {site_mode}")
        print(f"  API  {emu.base_url}   (tRPC at {emu.base_url}/api/trpc/<procedure>)")
        print(f"  CDN  {emu.image_base_url}")
        print(f"  signed-in user: {emu.dataset.owner.username}")
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


__all__ = [
    "Emulator",
    "EmulatorState",
    "LoggedRequest",
    "create_app",
    "create_cdn_app",
    "running_emulator",
    "serve",
]
