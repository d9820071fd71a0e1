"""The ASGI apps: the API listener (tRPC and a home page) and three media listeners,
the image CDN ("cdn"), the video origin ("video", image-b2.civitai.com) and the
generator's blob host ("generator", orchestration.civitai.com).

`EmulatorState` holds what they share: the dataset, the live settings, the request
log, the fault plan and the media caches. Faults are applied here, around the tRPC
endpoint and the media hosts (the `cdn_` faults apply to all three), so the endpoint
itself stays a faithful server.
"""

from __future__ import annotations

import asyncio
import html
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from civitai_emulator import auth, signin
from civitai_emulator.cdn import AssetRequest, Cdn, content_type_of
from civitai_emulator.config import EmulatorConfig
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


@dataclass
class LoggedRequest:
    """One request as the emulator saw it. `status` 0 = the connection was dropped."""

    listener: str  # "api" | "cdn" | "video" | "generator"
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
        self.endpoint = TrpcEndpoint(config.seed, lambda: float(self.config.devalue_share or 0.0))
        self.cdn = Cdn(self.dataset)
        self.own_hosts: set[str] = set()
        self.cdn_base_url = ""
        self.video_base_url = ""
        self.generator_base_url = ""
        self.started_at = datetime.now(UTC)
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
        if incoming.path == signin.LOGIN_PATH and incoming.method in ("GET", "HEAD", "POST"):
            status, headers, body = self._sign_in(incoming)
        elif incoming.path in ("/", "/index.html") and incoming.method in ("GET", "HEAD"):
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
            await sleep_for(self.fault_plan.delay("api", faults.latency, faults.jitter))
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

            def environment() -> CallEnvironment:
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
            faults = config.faults
            return CallContext(
                dataset=self.dataset,
                user=session.user,
                site=site,
                browsing_cap=cap,
                boundary_skip=config.boundary_skip,
                force_empty_listing=force_empty,
                caches=self.caches,
                now=config.now or self.started_at,
                generator_base_url=self.generator_base_url,
                persistent_500_images=faults.persistent_500_images,
                persistent_500_procedures=faults.persistent_500_procedures,
            )

        faults = self.config.faults
        return CallEnvironment(
            session=session,
            origin_ok=auth.origin_acceptable(incoming.headers, self.own_hosts),
            make_context=make_context,
            bulkhead_full=bulkhead_full,
            call_fault=lambda path: self.fault_plan.call_fault(faults, path),
        )

    def _fault_response(self, request: TrpcRequest, paths: list[str], status: int) -> TrpcResponse:
        if status == 502:
            return TrpcResponse(502, BAD_GATEWAY_HTML, [("content-type", "text/html")])
        share = float(self.config.devalue_share or 0.0)
        use_devalue = wants_devalue(request, share, self.config.seed)

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
        retry_after = self.config.faults.retry_after
        if retry_after is not None and status in (429, 503):
            headers.append(("retry-after", f"{retry_after:g}"))
        if request.query.get("batch") == "1":
            body = json_bytes([error_body(error_for(p), p, use_devalue) for p in paths])
        else:
            body = json_bytes(error_body(error_for(paths[0]), paths[0], use_devalue))
        return TrpcResponse(status, body, headers)

    def _sign_in(self, incoming: _Incoming) -> signin.Answer:
        if incoming.method != "POST":
            return signin.login_page(incoming.query_string)
        https = auth.request_is_https(incoming.headers, incoming.scheme)
        return signin.submit_login(
            incoming.body, https=https, credentials=self.credentials, dataset=self.dataset
        )

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
        await self._media(scope, receive, send, "cdn")

    async def video_app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await self._media(scope, receive, send, "video")

    async def generator_app(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        await self._media(scope, receive, send, "generator")

    async def _media(
        self, scope: dict[str, Any], receive: Receive, send: Send, listener: str
    ) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        incoming = await _read(scope, receive)
        faults = self.fault_plan.current(self.config.faults)
        await sleep_for(self.fault_plan.delay("cdn", faults.cdn_latency, faults.cdn_jitter))
        head_only = incoming.method == "HEAD"
        if incoming.method not in ("GET", "HEAD"):
            await self._cdn_plain(incoming, send, 405, b"Method Not Allowed", listener)
            return
        if incoming.path == "/":
            await self._cdn_plain(
                incoming, send, 200, f"civitai-emulator {listener} host\n".encode(), listener
            )
            return
        asset = self.cdn.resolve(incoming.path, listener)
        if asset is None:
            await self._cdn_plain(incoming, send, 404, b"Not Found", listener)
            return
        fault = self.fault_plan.cdn_fault(faults)
        if fault == "dropped":
            self._log(listener, incoming, None, 0, fault)
            await drop_connection(receive, send)
            return
        if fault in ("status_429", "status_500", "status_502", "status_503"):
            status = int(fault[-3:])
            body = BAD_GATEWAY_HTML if status == 502 else f"error code: {status}".encode()
            self._log(listener, incoming, None, status, fault)
            content_type = "text/html" if status == 502 else "text/plain; charset=UTF-8"
            headers = [("content-type", content_type)]
            retry_after = faults.cdn_retry_after
            if retry_after is not None and status in (429, 503):
                headers.append(("retry-after", f"{retry_after:g}"))
            await send_response(send, status, headers, body, head_only)
            return
        try:
            data = await self._render(asset)
        except Exception:  # a broken render answers like a CDN does, not with a hang
            log.exception("rendering %s failed", incoming.path)
            await self._cdn_plain(incoming, send, 500, b"error code: 500", listener)
            return
        headers = [
            ("content-type", content_type_of(data)),
            ("cache-control", "public, max-age=31536000, immutable"),
            ("access-control-allow-origin", "*"),
        ]
        self._log(listener, incoming, None, 200, fault)
        if fault == "truncated":
            await send_truncated(send, 200, headers, data)
        else:
            await send_response(send, 200, headers, data, head_only)

    async def _cdn_plain(
        self, incoming: _Incoming, send: Send, status: int, body: bytes, listener: str = "cdn"
    ) -> None:
        self._log(listener, incoming, None, status)
        headers = [("content-type", "text/plain; charset=utf-8")]
        await send_response(send, status, headers, body, incoming.method == "HEAD")

    async def _render(self, asset: AssetRequest) -> bytes:
        cached = self.cdn.cached(asset)
        if cached is not None:
            return cached
        key = (asset.key, asset.poster, asset.variant)
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


def create_video_app(state: EmulatorState) -> Any:
    """The video origin's ASGI app (image-b2.civitai.com)."""
    return state.video_app


def create_generator_app(state: EmulatorState) -> Any:
    """The generator blob host's ASGI app (orchestration.civitai.com)."""
    return state.generator_app


# ------------------------------------------------------------- the handle
