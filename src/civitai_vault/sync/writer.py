"""The one writer of SQLite during a run: batched transactions on a thread of its own.

Stages hand it small write operations; it runs whatever has queued up in one
transaction. Batching keeps commits cheap at any concurrency, a single writer
means no two transactions ever contend for the database, and running them on
a thread keeps commits and their fsyncs from stalling the event loop, where a
stalled loop would leave answered API requests waiting to be read.

While a writer is open, only it touches the connection: a stage that needs a
result (the listing, which must know what is already archived) uses `call`.

Each write runs inside a savepoint of the batch's transaction. One that fails
with what a single image can fail with (a value the archive cannot store,
`archive.values.IMAGE_ERRORS`) is undone alone: its `call` raises that error,
its `submit` handler (`OnFailure`) records and reports it, and the rest of the
batch commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from civitai_vault.archive.values import IMAGE_ERRORS
from civitai_vault.archive.writer import savepoint, transaction

WriteOp = Callable[[sqlite3.Connection], Any]


@dataclass(frozen=True)
class OnFailure:
    """What happens when a submitted write fails alone.

    `record` runs in the same transaction, after the write was undone (a failure
    row lands with the batch, or not at all); `report` runs on the event loop
    once the batch is committed (the run summary lives there).
    """

    record: Callable[[sqlite3.Connection, BaseException], None]
    report: Callable[[BaseException], None]


MAX_BATCH = 256


@dataclass
class _Queued:
    op: WriteOp
    answer: asyncio.Future[Any] | None = None  # set for `call`, None for `submit`
    fails: OnFailure | None = None


class BatchWriter:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.queue: asyncio.Queue[_Queued | None] = asyncio.Queue(maxsize=4 * MAX_BATCH)
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-writer")

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="archive-writer")

    async def submit(self, op: WriteOp, fails: OnFailure | None = None) -> None:
        """Queue a write; it is committed with the next batch.

        With `fails`, a write that fails alone (IMAGE_ERRORS) is undone and
        handed to it; without it, such an error ends the run.
        """
        self.raise_if_failed()
        await self.queue.put(_Queued(op, fails=fails))

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
                outcomes = await loop.run_in_executor(self._thread, self._commit, batch)
            except BaseException as exc:  # the run stops; what was committed stays
                self.error = exc
                self._fail(batch, exc)
                self._drain(exc)
                return
            for queued, (ok, value) in zip(batch, outcomes, strict=True):
                if ok:
                    if queued.answer is not None and not queued.answer.done():
                        queued.answer.set_result(value)
                    continue
                if queued.answer is not None and not queued.answer.done():
                    queued.answer.set_exception(value)
                if queued.fails is not None:
                    queued.fails.report(value)

    def _commit(self, batch: list[_Queued]) -> list[tuple[bool, Any]]:
        """Run the batch in one transaction; (True, result) or (False, error) per write."""
        outcomes: list[tuple[bool, Any]] = []
        with transaction(self.conn):
            for queued in batch:
                try:
                    with savepoint(self.conn, "write"):
                        outcomes.append((True, queued.op(self.conn)))
                except IMAGE_ERRORS as exc:
                    if queued.answer is None and queued.fails is None:
                        raise
                    outcomes.append((False, exc))
                    if queued.fails is not None:
                        self._record(queued.fails, exc)
        return outcomes

    def _record(self, fails: OnFailure, exc: BaseException) -> None:
        try:
            with savepoint(self.conn, "failure"):
                fails.record(self.conn, exc)
        except IMAGE_ERRORS:
            pass  # no row can name it (its id is the unstorable value); the summary does

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
