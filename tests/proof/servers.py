"""Small hostile HTTP servers on loopback, for what the emulator will not do on its own.

`HostileServer(answer)` serves every request with `answer(request) -> Reply` and
records what it received (and how many body bytes it sent). A `Reply` either
has a `body` (sent with its Content-Length) or `chunks` (an iterator streamed
after the headers, each after `pause` seconds, without a length: the connection
closes at the end), which is how endless, trickling and compressed bodies are
served. `rewriting_proxy(emu, rewrite, replace)` builds an answer that forwards
to the emulator and lets `rewrite(procedure, data)` change the decoded result
of a tRPC call, or `replace(procedure, request)` answer it outright, so a test
can serve Civitai's data with hostile values or hostile bodies in it.
`cdn_proxy(emu, replace)` does the same for the emulator's image CDN.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from civitai_emulator import devalue


@dataclass
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    more_headers: list[tuple[str, str]] = field(default_factory=list)  # repeated ones
    chunks: Iterable[bytes] | None = None  # streamed instead of `body`, without a length
    pause: float = 0.0  # seconds before each chunk


Answer = Callable[[Request], Reply]
# More than any test needs and less than a runaway: every streamed body stops here.
MAX_STREAMED = 4 * 1024**3
PIECE = 16 * 1024


def endless(chunk: bytes, start: bytes = b"") -> Iterator[bytes]:
    """`start`, then `chunk` over and over (up to MAX_STREAMED bytes)."""
    if start:
        yield start
    for _ in range(MAX_STREAMED // max(1, len(chunk))):
        yield chunk


class HostileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; use as a context manager."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        self.sent = 0  # body bytes written to clients
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                server.requests.append(request)
                reply = server.answer(request)
                self.send_response(reply.status)
                for name, value in [*reply.headers.items(), *reply.more_headers]:
                    self.send_header(name, value)
                if reply.chunks is None:
                    self.send_header("Content-Length", str(len(reply.body)))
                else:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if self.command == "HEAD":
                    return
                chunks = [reply.body] if reply.chunks is None else reply.chunks
                try:
                    for chunk in chunks:
                        if reply.pause:
                            time.sleep(reply.pause)
                        self._write(chunk)
                        if server.closing:
                            return
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client hung up: what a limit is for

            def _write(self, data: bytes) -> None:
                # Small pieces, counted as each is sent: `sent` stays within one piece of
                # what really left this process, even when the client hangs up half-way.
                for start in range(0, len(data), PIECE):
                    piece = data[start : start + PIECE]
                    self.wfile.write(piece)
                    server.sent += len(piece)

            do_GET = do_POST = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.closing = False
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.closing = True  # streams still being written stop at their next chunk
        self._http.shutdown()
        self._http.server_close()


Replace = Callable[[str, Request], Reply | None]


def procedure_of(request: Request) -> str:
    return request.path.split("?")[0].rsplit("/", 1)[-1]


def rewriting_proxy(
    emu: Any,
    rewrite: Callable[[str, Any], None] | None = None,
    replace: Replace | None = None,
) -> Answer:
    """Forward to the emulator's API; `replace(procedure, request)` may answer a call
    itself (None: forward it), and `rewrite(procedure, json_data)` edits each result."""
    client = httpx.Client(base_url=emu.base_url, timeout=30)

    def answer(request: Request) -> Reply:
        procedure = procedure_of(request)
        own = replace(procedure, request) if replace is not None else None
        if own is not None:
            return own
        headers = {k: v for k, v in request.headers.items() if k not in ("content-length",)}
        upstream = client.request(
            request.method, request.path, headers=headers, content=request.body or None
        )
        body = upstream.content
        if (
            rewrite is not None
            and upstream.status_code in (200, 207)  # 207: a batch of mixed results
            and request.path.startswith("/api/trpc/")
        ):
            document = json.loads(body)
            # A batch (`?batch=1`) answers an array, one result per call, in call order.
            procedures = procedure.split(",")
            results = document if isinstance(document, list) else [document]
            for name, result in zip(procedures, results, strict=False):
                if "result" not in result:
                    continue
                data = result["result"]["data"]
                if isinstance(data, str):  # devalue, the emulator's default: edit, rewrite
                    value = devalue.parse(data)
                    rewrite(name, value)
                    result["result"]["data"] = devalue.stringify(value)
                else:
                    rewrite(name, data["json"] if isinstance(data, dict) else data)
            body = json.dumps(document).encode()
        kept = {"content-type": upstream.headers.get("content-type", "application/json")}
        return Reply(upstream.status_code, body, kept)

    return answer


def cdn_proxy(emu: Any, replace: Callable[[Request], Reply | None]) -> Answer:
    """Forward to the emulator's image CDN; `replace(request)` may answer a file itself."""
    origin = emu.image_base_url.split("/", 3)
    client = httpx.Client(base_url="/".join(origin[:3]), timeout=30)

    def answer(request: Request) -> Reply:
        own = replace(request)
        if own is not None:
            return own
        upstream = client.get(request.path)
        kept = {"content-type": upstream.headers.get("content-type", "application/octet-stream")}
        return Reply(upstream.status_code, upstream.content, kept)

    return answer
