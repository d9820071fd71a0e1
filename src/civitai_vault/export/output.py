"""Where an export goes: a file that appears only when complete, or stdout."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from civitai_vault.atomic import atomic_writer
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

    def fail(exc: OSError) -> Exception:
        return OutputError(path, exc, flag)

    with atomic_writer(path, fail=fail) as stream:
        yield stream


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
