"""Download this view: the records a search selects, streamed as CSV or JSON.

The bytes are the export module's (`civitai-vault export --format csv|json`
with the same filters gives the same file). The writer runs on a thread of its
own, reading in one read transaction (a consistent snapshot while a sync
writes) and handing chunks over a small queue, so a large archive streams at
constant memory and nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Iterator

from civitai_vault.archive.queries import iter_records
from civitai_vault.archive.sql import read_snapshot
from civitai_vault.export.exporter import write_records
from civitai_vault.web.params import SearchParams
from civitai_vault.web.reader import ArchiveReader

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
CHUNK = 64 * 1024
_DONE = object()


class _Stopped(Exception):
    """The browser went away: stop writing."""


class _ChunkStream(io.RawIOBase):
    """A binary stream whose bytes go to a queue in chunks (the writer's end of the pipe)."""

    def __init__(self, chunks: queue.Queue[object], stop: threading.Event) -> None:
        self._chunks = chunks
        self._stop = stop
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            put(self._chunks, bytes(self._buffer), self._stop)
            self._buffer.clear()


def put(chunks: queue.Queue[object], item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            chunks.put(item, timeout=0.5)
            return
        except queue.Full:
            continue
    raise _Stopped


def stream_records(reader: ArchiveReader, params: SearchParams, fmt: str) -> Iterator[bytes]:
    """The export of what `params` selects, in `fmt` (csv or json), chunk by chunk."""
    chunks: queue.Queue[object] = queue.Queue(maxsize=8)
    stop = threading.Event()

    def produce() -> None:
        try:
            with reader.connection() as conn, read_snapshot(conn):
                records = iter_records(conn, params.to_filter())
                write_records(records, fmt, _ChunkStream(chunks, stop))  # type: ignore[arg-type]
            put(chunks, _DONE, stop)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the response, which then breaks off
            with contextlib.suppress(_Stopped):
                put(chunks, exc, stop)

    worker = threading.Thread(target=produce, name="download", daemon=True)
    worker.start()
    try:
        while True:
            item = chunks.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()
