"""The one writer of SQLite during a run: batched transactions on a thread of its own.

Stages hand it small write operations; it runs whatever has queued up in one
transaction. Batching keeps commits cheap at any concurrency, a single writer
means no two transactions ever contend for the database, and running them on
a thread keeps commits and their fsyncs from stalling the event loop, where a
stalled loop would leave answered API requests waiting to be read.

While a writer is open, only it touches the connection: a stage that needs a
result (the listing, which must know what is already archived) uses `call`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from civitai_vault.archive.writer import transaction

WriteOp = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 256


@dataclass
class _Queued:
    op: WriteOp
    answer: asyncio.Future[Any] | None = None  # set for `call`, None for `submit`


class BatchWriter:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[_Queued | None] = asyncio.Queue(maxsize=4 * MAX_BATCH)
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-writer")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="archive-writer")

    async def submit(self, op: WriteOp) -> None:
        """Queue a write; it is committed with the next batch."""
        self.raise_if_failed()
        await self.queue.put(_Queued(op))

    async def call(self, op: WriteOp) -> Any:
        """Run `op` after everything queued before it and return its result once committed."""
        self.raise_if_failed()
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self.queue.put(_Queued(op, answer))
        return await answer

    async def close(self) -> None:
        """Write everything still queued, then stop. Raises the writer's error, if any."""
        try:
            if self._task is not None:
                if not self._task.done():
                    await self.queue.put(None)
                await self._task
        finally:
            self._thread.shutdown(wait=True)
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self.queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < MAX_BATCH and not self.queue.empty():
                more = self.queue.get_nowait()
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            try:
                results = await loop.run_in_executor(self._thread, self._commit, batch)
            except BaseException as exc:  # the run stops; what was committed stays
                self.error = exc
                self._fail(batch, exc)
                self._drain(exc)
                return
            for queued, result in zip(batch, results, strict=True):
                if queued.answer is not None and not queued.answer.done():
                    queued.answer.set_result(result)

    def _commit(self, batch: list[_Queued]) -> list[Any]:
        with transaction(self.conn):
            return [queued.op(self.conn) for queued in batch]

    def _drain(self, exc: BaseException) -> None:
        while not self.queue.empty():
            queued = self.queue.get_nowait()
            if queued is not None:
                self._fail([queued], exc)

    @staticmethod
    def _fail(batch: list[_Queued], exc: BaseException) -> None:
        for queued in batch:
            if queued.answer is not None and not queued.answer.done():
                queued.answer.set_exception(exc)
