"""Thumbnails and video posters, made on first request and cached under the archive.

`<archive>/.thumbs/<shard>/<image id>-<sha256 prefix>-<size>.webp`: the file's
hash is in the name, so a re-downloaded file gets a new thumbnail and an old
one is never served for it. Each thumbnail is written to a temporary file and
renamed into place, so a crash or two requests at once never leave half a
picture behind.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from pathlib import Path

from PIL import Image, ImageOps

THUMBS_DIR = ".thumbs"

# Named sizes only: a URL cannot make the server render (and store) any size it likes.
SIZES: dict[str, int] = {"grid": 400, "poster": 1280}


class ThumbnailError(Exception):
    """The file could not be read as a picture or a video."""


class ThumbnailStore:
    def __init__(self, archive_root: Path) -> None:
        self.folder = archive_root / THUMBS_DIR
        # One lock per thumbnail being made, so a burst of requests for the same
        # tile decodes the file once.
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def path_for(self, image_id: int, sha256: str, size: str) -> Path:
        shard = f"{image_id % 1000:03d}"
        return self.folder / shard / f"{image_id}-{sha256[:16]}-{SIZES[size]}.webp"

    def get(self, image_id: int, source: Path, sha256: str, kind: str, size: str) -> Path | bytes:
        """The thumbnail's path, making it first if needed. Raises ThumbnailError.

        An archive the gallery may not write to (a read-only backup disk) still
        gets thumbnails: made in memory each time, as WebP bytes.
        """
        target = self.path_for(image_id, sha256, size)
        if target.exists():
            return target
        with self._lock_for(target.name):
            if target.exists():
                return target
            picture = first_frame(source) if kind == "video" else open_picture(source)
            try:
                write_thumbnail(picture, target, SIZES[size])
            except OSError:
                return thumbnail_bytes(picture, SIZES[size])
        return target

    def _lock_for(self, name: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.setdefault(name, threading.Lock())
            if len(self._locks) > 1024:  # forget idle locks; only concurrency matters
                self._locks = {name: lock}
            return lock


def open_picture(source: Path) -> Image.Image:
    try:
        with Image.open(source) as image:
            # JPEG can decode at a fraction of full size: much faster for big files.
            image.draft("RGB", (SIZES["poster"], SIZES["poster"]))
            picture = ImageOps.exif_transpose(image)
            picture.load()
            return picture
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ThumbnailError(f"cannot read {source.name} as a picture: {exc}") from exc


def first_frame(source: Path) -> Image.Image:
    import av

    try:
        with av.open(str(source)) as container:
            for frame in container.decode(video=0):
                return frame.to_image()
    except (av.FFmpegError, OSError, ValueError, IndexError, StopIteration) as exc:
        raise ThumbnailError(f"cannot read {source.name} as a video: {exc}") from exc
    raise ThumbnailError(f"{source.name} has no video frame")


def shrink(picture: Image.Image, size: int) -> Image.Image:
    picture = picture.copy()
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    if picture.mode not in ("RGB", "RGBA"):
        has_alpha = picture.mode in ("LA", "PA") or "transparency" in picture.info
        picture = picture.convert("RGBA" if has_alpha else "RGB")
    return picture


def thumbnail_bytes(picture: Image.Image, size: int) -> bytes:
    out = io.BytesIO()
    shrink(picture, size).save(out, "WEBP", quality=80, method=4)
    return out.getvalue()


def write_thumbnail(picture: Image.Image, target: Path, size: int) -> None:
    """Write to a temporary name in the same folder, then rename: never half a file."""
    data = thumbnail_bytes(picture, size)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".webp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
