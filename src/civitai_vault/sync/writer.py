"""The one task that writes to SQLite during a run, committing in batches.

Stages hand it small write operations; it runs whatever has queued up in one
transaction. Batching keeps commits cheap at any concurrency, and a single
writer means no two transactions ever contend for the database.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

from civitai_vault.archive.writer import transaction

WriteOp = Callable[[sqlite3.Connection], None]

MAX_BATCH = 256


class BatchWriter:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[WriteOp | None] = asyncio.Queue(maxsize=4 * MAX_BATCH)
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="archive-writer")

    async def submit(self, op: WriteOp) -> None:
        self.raise_if_failed()
        await self.queue.put(op)

    async def close(self) -> None:
        """Write everything still queued, then stop. Raises the writer's error, if any."""
        if self._task is None:
            return
        if not self._task.done():
            await self.queue.put(None)
        await self._task
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise self.error

    def write_now(self, op: WriteOp) -> None:
        """A write the caller must see committed before it goes on (e.g. a listing page)."""
        with transaction(self.conn):
            op(self.conn)

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[WriteOp] = []
            op = await self.queue.get()
            if op is None:
                break
            batch.append(op)
            while len(batch) < MAX_BATCH and not self.queue.empty():
                more = self.queue.get_nowait()
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            try:
                with transaction(self.conn):
                    for write in batch:
                        write(self.conn)
            except BaseException as exc:  # the run stops; what was committed stays
                self.error = exc
                self._drain()
                return

    def _drain(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
