"""Serving archived files: only files the archive recorded, only from inside `media/`.

A request names a path; it is refused unless it is a plain relative path
(no `..`, no absolute or drive path, no backslash), the archive's `files`
table knows it, and, after resolving every symlink, it still lies inside the
media folder. The answer's type is the one detected from the file's bytes
when it was archived, never a guess from its name.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from civitai_vault.archive import MEDIA_DIR
from civitai_vault.archive.gallery import file_at, file_path_of
from civitai_vault.media.naming import safe_join

# Types a browser may show inline; anything else is offered as a download.
INLINE_TYPES = ("image/", "video/", "audio/")


@dataclass(frozen=True)
class ArchivedFile:
    path: Path
    mime_type: str
    kind: str
    sha256: str

    @property
    def inline(self) -> bool:
        return self.mime_type.startswith(INLINE_TYPES)


def is_plain_relative(relative: str) -> bool:
    """True for `a/b.png`; False for anything that could climb out or name a drive."""
    if not relative or "\x00" in relative or "\\" in relative:
        return False
    parts = relative.split("/")
    if re.fullmatch(r"[A-Za-z]:", parts[0]):
        return False
    # An empty part is a leading "/" (absolute) or "//"; "." and ".." move around.
    return all(part not in ("", ".", "..") for part in parts)


def resolve_inside(folder: Path, relative: str) -> Path | None:
    """`folder/relative` when it is a file and, symlinks resolved, still inside `folder`."""
    if not is_plain_relative(relative):
        return None
    try:
        target = safe_join(folder, relative)
    except (ValueError, OSError, RuntimeError):  # outside, or a symlink loop
        return None
    return target if target.is_file() else None


def find_media_file(
    conn: sqlite3.Connection, archive_root: Path, media_relative: str
) -> ArchivedFile | None:
    """The archived file at `media/<media_relative>`, or None if it may not be served."""
    if not is_plain_relative(media_relative):
        return None
    row = file_at(conn, f"{MEDIA_DIR}/{media_relative}")
    if row is None:
        return None
    target = resolve_inside(archive_root / MEDIA_DIR, media_relative)
    if target is None:
        return None
    return ArchivedFile(
        path=target, mime_type=row["mime_type"], kind=row["kind"], sha256=row["sha256"]
    )


def file_for_image(
    conn: sqlite3.Connection, archive_root: Path, image_id: int
) -> ArchivedFile | None:
    """The archived file of an image, if it was downloaded and is still safely in place."""
    path = file_path_of(conn, image_id)
    if path is None or not path.startswith(f"{MEDIA_DIR}/"):
        return None
    return find_media_file(conn, archive_root, path[len(MEDIA_DIR) + 1 :])


def media_url(file_path: str | None) -> str | None:
    """The gallery URL of a record's `file_path` (`media/x/1.png` -> `/media/x/1.png`)."""
    if not file_path or not file_path.startswith(f"{MEDIA_DIR}/"):
        return None
    return "/" + quote(file_path)
