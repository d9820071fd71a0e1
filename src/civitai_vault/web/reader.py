"""Read-only database connections for the gallery, one per concurrent request.

The gallery never writes to `vault.db`: every connection it hands out opens
the file read-only (`mode=ro`, or `immutable` on a read-only disk) and is
`query_only`, so a bug in a page can never damage the archive, and a sync may
run at the same time (SQLite's WAL lets readers and one writer work together).
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from civitai_vault.archive import open_archive
from civitai_vault.archive.gallery import tune_for_reading
from civitai_vault.archive.schema import connect_read_only


class ArchiveReader:
    """A pool of read-only connections to the archive at `root`.

    Raises FileNotFoundError (with a message that says what to do) when there
    is no archive there. Opening it once with the writer's code first brings an
    archive made by an older version up to the current schema.
    """

    def __init__(self, root: Path | str) -> None:
        with open_archive(root, create=False, reading=True) as archive:
            self.root: Path = archive.root
            self.db_path: Path = archive.db_path
            self.media_dir: Path = archive.media_dir
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection for one request; it goes back to the pool afterwards."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._open()
        try:
            yield conn
        finally:
            self._idle.put(conn)

    def data_stamp(self) -> tuple[int, ...]:
        """A value that changes whenever anyone writes to the archive (for caches).

        A commit in WAL mode touches `vault.db-wal`; a checkpoint touches `vault.db`.
        """
        stamp: list[int] = []
        for path in (self.db_path, self.db_path.with_name(self.db_path.name + "-wal")):
            try:
                info = os.stat(path)
            except FileNotFoundError:
                stamp += [0, 0]
                continue
            # An empty WAL (made by a reader opening the database) holds no change.
            stamp += [info.st_mtime_ns, info.st_size] if info.st_size else [0, 0]
        return tuple(stamp)

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()

    def _open(self) -> sqlite3.Connection:
        # check_same_thread=False: a connection is used by one request at a time,
        # but requests run on whichever worker thread is free.
        conn = connect_read_only(self.db_path)
        tune_for_reading(conn)
        with self._lock:
            self._opened.append(conn)
        return conn
