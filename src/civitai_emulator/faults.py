"""Deciding, per request, which injected failure (if any) it gets, and sending broken responses.

The API and the CDN each draw their faults from a `random.Random` of their own,
seeded from `faults.seed` and reseeded whenever a new `Faults` object is installed,
and their latencies from another. The two hosts answer on threads of their own, so
one shared stream would hand out its draws in whatever order the threads happen to
run; and a request draws its fault after sleeping its latency, so latency draws in
the fault stream would land between fault draws in whatever order concurrent
requests wake. Apart, the n-th API request to arrive gets the same fault on every run.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from civitai_emulator.config import Faults

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Stream = str  # "api" or "cdn"
STREAMS = ("api", "cdn")
LATENCY = ":latency"  # suffix of a host's latency stream

BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class FaultPlan:
    """The live fault settings of one emulator and the random draws they consume."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._rngs = _streams(faults.seed)
        self.injected = 0
        # The API and the CDN answer on threads of their own and draw from one plan:
        # a `limit` of one fault must stay one fault.
        self._lock = threading.Lock()

    def current(self, faults: Faults) -> Faults:
        with self._lock:
            if faults is not self._faults:
                self._faults = faults
                self._rngs = _streams(faults.seed)
                self.injected = 0
        return faults

    def delay(self, stream: Stream, fixed: float, jitter: float) -> float:
        if fixed <= 0 and jitter <= 0:
            return 0.0
        with self._lock:
            rng = self._rngs[stream + LATENCY]
            return max(fixed, 0.0) + (rng.random() * jitter if jitter > 0 else 0.0)

    def draw(self, stream: Stream, shares: list[tuple[str, float]]) -> str | None:
        with self._lock:
            faults = self._faults
            if faults.limit is not None and self.injected >= faults.limit:
                return None
            if not any(share > 0 for _, share in shares):
                return None
            roll = self._rngs[stream].random()
            total = 0.0
            for kind, share in shares:
                total += share
                if roll < total:
                    self.injected += 1
                    return kind
            return None

    def api_fault(self, faults: Faults, procedures: list[str]) -> str | None:
        if faults.procedures is not None and not faults.procedures.intersection(procedures):
            return None
        return self.draw("api", faults.api_shares(listing="image.getInfinite" in procedures))

    def call_fault(self, faults: Faults, procedure: str) -> bool:
        """Does this one call of a request fail on its own (`call_500`)?"""
        if faults.call_500 <= 0:
            return False
        if faults.procedures is not None and procedure not in faults.procedures:
            return False
        return self.draw("api", [("call_500", faults.call_500)]) is not None

    def cdn_fault(self, faults: Faults) -> str | None:
        return self.draw("cdn", faults.cdn_shares())


def _streams(seed: int) -> dict[str, random.Random]:
    names = [name for stream in STREAMS for name in (stream, stream + LATENCY)]
    return {name: random.Random(f"{seed}:{name}") for name in names}


async def sleep_for(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


async def send_truncated(
    send: Send, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    """Promise the whole body, send half of it, then let the connection close."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _raw_headers(headers, len(body)),
        }
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})


async def drop_connection(receive: Receive, send: Send) -> None:
    """Close the connection without a response byte.

    The ASGI spec has no "abort", so this reaches the server's transport through the
    bound `receive` method of uvicorn's request cycle; other servers get the closest
    thing ASGI allows, a response start followed by nothing.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and cycle is not None and hasattr(cycle, "disconnected"):
        transport.close()
        cycle.disconnected = True
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]}
    )
    await send({"type": "http.response.body", "body": b"", "more_body": True})


async def send_response(
    send: Send, status: int, headers: list[tuple[str, str]], body: bytes, head_only: bool = False
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": _raw_headers(headers, len(body)),
        }
    )
    await send({"type": "http.response.body", "body": b"" if head_only else body})


def _raw_headers(headers: list[tuple[str, str]], length: int) -> list[tuple[bytes, bytes]]:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers if k != "content-length"]
    raw.append((b"content-length", str(length).encode()))
    return raw
