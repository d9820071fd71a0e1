"""`Server-Timing: app;dur=<ms>, cpu;dur=<ms>` on every answer: how long the gallery took.

`app` is the wall time from request to first byte, without the network; `cpu`
the processor time the whole server process used meanwhile, which is this
request's own when it is the only one (as in the gallery benchmark) and which
a busy machine inflates far less than wall time. Browsers show both in their
developer tools; the benchmark reads them.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ServerTimingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        cpu_started = time.process_time()

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = (time.perf_counter() - started) * 1000
                cpu_ms = (time.process_time() - cpu_started) * 1000
                timing = f"app;dur={elapsed_ms:.1f}, cpu;dur={cpu_ms:.1f}".encode()
                message["headers"] = [*message.get("headers", []), (b"server-timing", timing)]
            await send(message)

        await self.app(scope, receive, send_timed)
