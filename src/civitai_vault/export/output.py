"""Where an export goes: a file that appears only when complete, or stdout."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast

from civitai_vault.errors import OutputError, UsageError


@contextmanager
def atomic_file(path: Path, flag: str = "-o") -> Iterator[BinaryIO]:
    """Write to a temporary file beside `path`, renamed over it only when the block succeeds.

    An error or interrupt removes the temporary file and leaves whatever was at
    `path` before untouched: there is never a half-written export. Every error
    names `path` (never the temporary name) and the `flag` that chose it.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise UsageError(f"{path} is a folder; give a file name with {flag}")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"folder {folder} does not exist; create it or choose another {flag}")
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, renamed on success
            mode="wb", dir=folder, prefix=f".{path.name}.", suffix=".part", delete=False
        )
    except OSError as exc:
        raise OutputError(path, exc, flag) from None
    temp = Path(handle.name)
    try:
        with handle:
            yield cast(BinaryIO, handle)
            try:
                handle.flush()
                # On disk before the rename, so a crash cannot leave an empty file under it.
                os.fsync(handle.fileno())
            except OSError as exc:
                raise OutputError(path, exc, flag) from None
        try:
            # mkstemp makes the file private (0600); an export should get the usual mode.
            os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, path)
        except OSError as exc:
            raise OutputError(path, exc, flag) from None
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def stdout_stream(*, binary_format: bool, stream: BinaryIO | None = None) -> BinaryIO:
    """The binary stdout to write an export to; refuses binary data on a terminal."""
    stream = stream if stream is not None else sys.stdout.buffer
    if binary_format and _is_terminal(stream):
        raise UsageError(
            "refusing to write Parquet to a terminal; give -o FILE or redirect stdout "
            "(civitai-vault export --format parquet > archive.parquet)"
        )
    return stream


def _is_terminal(stream: BinaryIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
