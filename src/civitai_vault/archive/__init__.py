"""The archive: one folder with `vault.db` (SQLite, WAL) and `media/` (the files).

A writer holds the archive's writer lock (`lock.py`) from opening to closing;
readers take no lock.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from civitai_vault.archive.lock import Holder, WriterLock, acquire_writer_lock
from civitai_vault.archive.schema import DB_NAME, connect, connect_read_only

MEDIA_DIR = "media"


@dataclass
class Archive:
    """An open archive folder. Use as a context manager, or call `close()`."""

    root: Path
    conn: sqlite3.Connection = field(repr=False)
    lock: WriterLock | None = field(default=None, repr=False)  # None when opened for reading

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def media_dir(self) -> Path:
        return self.root / MEDIA_DIR

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            if self.lock is not None:
                self.lock.release()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_archive(
    root: Path | str,
    *,
    create: bool = True,
    reading: bool = False,
    wait: float | None = 0,
    on_wait: Callable[[Holder], None] | None = None,
) -> Archive:
    """Open the archive at `root`, creating the folder and database when `create` is set.

    Raises FileNotFoundError when `create` is False and there is no archive there.
    With `reading` (commands that only read), no lock is taken and an archive
    that cannot be written is opened read-only instead of refused. Otherwise
    the writer lock is taken first, waiting up to `wait` seconds (None: as long
    as it takes; `on_wait` is told for whom) before ArchiveBusy names its holder.
    """
    root = Path(root).expanduser().resolve()
    if not create and not (root / DB_NAME).exists():
        raise FileNotFoundError(
            f"no archive at {root} (no {DB_NAME}); run `civitai-vault sync` first"
        )
    try:
        (root / MEDIA_DIR).mkdir(parents=True, exist_ok=True)
    except OSError:
        if not reading:
            raise
    lock = None if reading else _lock(root, wait, on_wait)
    try:
        conn = connect(root / DB_NAME)
    except sqlite3.OperationalError as exc:
        if lock is not None:
            lock.release()
        code = getattr(exc, "sqlite_errorcode", None)
        if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
            if reading and (root / DB_NAME).is_file():
                return Archive(root=root, conn=_read_only(root / DB_NAME))
            # SQLite only says "unable to open database file"; the user needs to know where.
            raise _unwritable(root / DB_NAME) from None
        raise
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return Archive(root=root, conn=conn, lock=lock)


def _lock(root: Path, wait: float | None, on_wait: Callable[[Holder], None] | None) -> WriterLock:
    try:
        return acquire_writer_lock(root, wait=wait, on_wait=on_wait)
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise _unwritable(root / DB_NAME) from None
        raise


def _read_only(db_path: Path) -> sqlite3.Connection:
    try:
        return connect_read_only(db_path)
    except sqlite3.OperationalError:
        raise _unwritable(db_path) from None


def _unwritable(path: Path) -> OSError:
    statvfs = getattr(os, "statvfs", None)  # POSIX only
    read_only = statvfs is not None and bool(statvfs(path.parent).f_flag & os.ST_RDONLY)
    code = errno.EROFS if read_only else errno.EACCES
    return OSError(code, os.strerror(code), str(path))


def remove_new_archive(root: Path) -> None:
    """Remove an archive a run has just made and put nothing in: its database files,
    an empty media/ folder, and the folder itself when nothing else is in it."""
    import contextlib

    from civitai_vault.archive.lock import LOCK_NAME

    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", LOCK_NAME):
        with contextlib.suppress(FileNotFoundError):
            (root / name).unlink()
    for folder in (root / "media" / ".partial", root / "media", root):
        with contextlib.suppress(OSError):  # not empty, or not there: leave it
            folder.rmdir()
