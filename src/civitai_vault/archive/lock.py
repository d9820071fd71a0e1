"""One writer per archive: an exclusive lock on `vault.lock`, held while a writer runs.

Two writers on one archive (two syncs, or a sync and `embed`) would interleave
their transactions and their file renames and leave rows that describe files
the other one replaced. Every command that writes takes this lock first;
commands that only read (status, export, stats, serve) never take it and keep
working while a writer runs (SQLite's WAL lets them read a consistent state).

The lock is the operating system's (`flock` on POSIX, `msvcrt.locking` on
Windows) on an open file, so the kernel releases it the moment its process
ends, however it ends: a lock left by a killed process is simply free, there
is nothing stale to detect or break. The file also says who holds it (pid,
command, since when) so a second writer can name the holder; that text is
written only after the lock is taken, by the process holding it, which is why
this is not `filelock` (it truncates the file on every attempt to lock it).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from civitai_vault.errors import ArchiveError

LOCK_NAME = "vault.lock"
# How often a waiting writer tries again.
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Holder:
    """Who holds an archive's writer lock, as its holder wrote it."""

    pid: int | None
    command: str | None
    since: str | None

    def describe(self) -> str:
        parts = [f"pid {self.pid}" if self.pid else "pid unknown"]
        if self.command:
            parts.append(f"`{self.command}`")
        if self.since:
            parts.append(f"since {self.since[:19].replace('T', ' ')} UTC")
        return ", ".join(parts)


class ArchiveBusy(ArchiveError):
    def __init__(self, root: Path, holder: Holder) -> None:
        self.holder = holder
        super().__init__(
            f"another civitai-vault is writing to {root} ({holder.describe()}); wait for it "
            "to finish, or run this with --wait to start as soon as it has"
        )


class WriterLock:
    """The held lock; `release()` (or closing the process) frees it."""

    def __init__(self, handle: IO[str], path: Path) -> None:
        self._handle: IO[str] | None = handle
        self.path = path

    def release(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.flush()
        with contextlib.suppress(OSError):
            _unlock(self._handle)
        self._handle.close()
        self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None


def acquire_writer_lock(
    root: Path,
    *,
    wait: float | None = 0,
    on_wait: Callable[[Holder], None] | None = None,
) -> WriterLock:
    """Take the archive's writer lock, waiting up to `wait` seconds (None: for as long as it takes).

    Raises ArchiveBusy naming the holder when the lock stays taken; `on_wait`
    is told once whom we are waiting for.
    """
    path = root / LOCK_NAME
    deadline = None if wait is None else time.monotonic() + max(0.0, wait)
    told = False
    while True:
        # "a+" creates the file without truncating what the holder wrote in it.
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            while not _try_lock(handle):
                holder = read_holder(root)
                if deadline is not None and time.monotonic() >= deadline:
                    raise ArchiveBusy(root, holder)
                if on_wait is not None and not told:
                    on_wait(holder)
                    told = True
                time.sleep(POLL_SECONDS)
            if _still_there(handle, path):
                _write_holder(handle)
                return WriterLock(handle, path)
        except BaseException:
            handle.close()
            raise
        # The holder removed the file (an archive it made and left empty) while we
        # waited on it: a lock on a file nobody else can open is no lock. Again.
        handle.close()


def _still_there(handle: IO[str], path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def read_holder(root: Path) -> Holder:
    """What the lock file says about its holder (empty fields when it says nothing)."""
    try:
        data = json.loads((root / LOCK_NAME).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    pid = data.get("pid")
    return Holder(
        pid=pid if isinstance(pid, int) else None,
        command=str(data["command"]) if data.get("command") else None,
        since=str(data["since"]) if data.get("since") else None,
    )


def command_name(argv: list[str] | None = None) -> str:
    """The program and its subcommand (`civitai-vault sync`), never its options.

    Only these two words: the rest of a command line can hold a credential.
    """
    argv = sys.argv if argv is None else argv
    words = ["civitai-vault"]
    for word in argv[1:]:
        if not word.startswith("-"):
            if word.replace("-", "").isalpha():
                words.append(word)
            break
    return " ".join(words)


def _write_holder(handle: IO[str]) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(
        json.dumps(
            {"pid": os.getpid(), "command": command_name(), "since": datetime.now(UTC).isoformat()}
        )
    )
    handle.flush()


if sys.platform == "win32":  # pragma: no cover (the suite runs on Linux)
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
