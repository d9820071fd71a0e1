"""`Server-Timing: app;dur=<ms>` on every answer: how long the gallery took, without the network.

Browsers show it in their developer tools; the gallery benchmark reads it.
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

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed_ms = (time.perf_counter() - started) * 1000
                timing = f"app;dur={elapsed_ms:.1f}".encode()
                message["headers"] = [*message.get("headers", []), (b"server-timing", timing)]
            await send(message)

        await self.app(scope, receive, send_timed)
