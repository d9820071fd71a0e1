"""An event loop on a thread of its own, for work that must not wait for the main loop.

A download holds one of a few CDN slots from its request to its last byte.
On the sync's event loop, an answered download waits for whatever that loop
is doing (reading a 200-image listing page, decoding a batch of generation
data) before its body is read and its slot freed; at four slots that wait
cost a fifth of the CDN's throughput. On a loop of its own it waits at most
for Python's switch interval instead.

Coroutines are handed over with `run`, which the calling loop awaits; the
result, an exception or a cancellation crosses back as asyncio does it
(`asyncio.run_coroutine_threadsafe`). Whatever `run` is given must only touch
objects that live on the side loop, or plain thread-safe ones.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["SideLoop"]


class SideLoop:
    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self) -> None:
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._serve, args=(loop,), name=self._name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the side loop; cancelling the caller cancels it there too."""
        if self._loop is None:
            coro.close()
            raise RuntimeError(f"{self._name} is not running")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def stop(self) -> None:
        """Cancel what still runs there, end the loop and its thread."""
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
