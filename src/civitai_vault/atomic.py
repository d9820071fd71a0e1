"""Writing a file whole or not at all: a temporary name beside it, then a rename.

Every file the tool writes in one go (embedded media, sidecars, exports, the
HTML report, thumbnails, the config file) goes through `atomic_writer`, so a
crash, a full disk or Ctrl+C leaves the old file or the new one, never a mix,
and never a stray temporary file.

The one rule for permissions: a file that is replaced keeps its permissions;
a new file gets 0666 minus the umask (0644 usually), as any program's new
file would, unless it is `private` (0600 always: credentials).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_writer"]

# Read once: the umask can only be read by setting it, which is not thread-safe later.
_UMASK = os.umask(0o022)
os.umask(_UMASK)
PRIVATE_MODE = 0o600


@contextlib.contextmanager
def atomic_writer(
    path: str | Path,
    *,
    private: bool = False,
    durable: bool = True,
    fail: Callable[[OSError], Exception] | None = None,
) -> Iterator[BinaryIO]:
    """A binary stream whose bytes appear at `path` only if the block ends without error.

    `durable` also flushes the file and its folder to the disk before and after
    the rename, so that a power cut cannot leave an empty file under the name
    (a cache that can be rebuilt may skip it). `fail` turns an OSError of the
    writing itself (creating, flushing, renaming; not the block's own) into the
    error to raise, so that it can name `path` rather than the temporary file.
    """
    path = Path(path)
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as exc:
        raise (fail(exc) if fail else exc) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            yield cast(BinaryIO, stream)
            try:
                stream.flush()
                if durable:
                    os.fsync(stream.fileno())
            except OSError as exc:
                raise (fail(exc) if fail else exc) from None
        try:
            os.chmod(temporary, _mode_for(path, private))
            os.replace(temporary, path)
        except OSError as exc:
            raise (fail(exc) if fail else exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if durable:
        _fsync_directory(path.parent)


def atomic_write_bytes(
    path: str | Path, data: bytes, *, private: bool = False, durable: bool = True
) -> None:
    with atomic_writer(path, private=private, durable=durable) as stream:
        stream.write(data)


def atomic_write_text(path: str | Path, text: str, *, private: bool = False) -> None:
    """`text` as UTF-8 at `path` (newlines as given)."""
    atomic_write_bytes(path, text.encode("utf-8"), private=private)


def _mode_for(path: Path, private: bool) -> int:
    if private:
        return PRIVATE_MODE
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def _fsync_directory(folder: Path) -> None:
    """Make the rename itself durable; not every platform can open a directory."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
