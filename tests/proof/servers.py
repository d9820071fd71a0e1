"""Small hostile HTTP servers on loopback, for what the emulator will not do on its own.

`HostileServer(answer)` serves every request with `answer(request) -> Reply` and
records what it received. `rewriting_proxy(emu, rewrite)` builds an answer that
forwards to the emulator and lets `rewrite(procedure, data)` change the decoded
result of a tRPC call, so a test can serve Civitai's data with hostile values
in it (user names, file names, CDN ids).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


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


Answer = Callable[[Request], Reply]


class HostileServer:
    """A threaded HTTP/1.1 server on 127.0.0.1; use as a context manager."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[Request] = []
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
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_HEAD = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

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
        self._http.shutdown()
        self._http.server_close()


def rewriting_proxy(emu: Any, rewrite: Callable[[str, Any], None]) -> Answer:
    """Forward to the emulator's API; `rewrite(procedure, json_data)` edits each result."""
    client = httpx.Client(base_url=emu.base_url, timeout=30)

    def answer(request: Request) -> Reply:
        headers = {k: v for k, v in request.headers.items() if k not in ("content-length",)}
        upstream = client.request(
            request.method, request.path, headers=headers, content=request.body or None
        )
        body = upstream.content
        procedure = request.path.split("?")[0].rsplit("/", 1)[-1]
        if upstream.status_code == 200 and request.path.startswith("/api/trpc/"):
            document = json.loads(body)
            # A batch (`?batch=1`) answers an array, one result per call, in call order.
            procedures = procedure.split(",")
            results = document if isinstance(document, list) else [document]
            for name, result in zip(procedures, results, strict=False):
                if "result" in result:
                    data = result["result"]["data"]
                    rewrite(name, data["json"] if isinstance(data, dict) else data)
            body = json.dumps(document).encode()
        kept = {"content-type": upstream.headers.get("content-type", "application/json")}
        return Reply(upstream.status_code, body, kept)

    return answer
