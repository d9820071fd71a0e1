"""Thumbnails and video posters, made on first request and cached under the archive.

`<archive>/.thumbs/<shard>/<image id>-<sha256 prefix>-<size>.webp`: the file's
hash is in the name, so a re-downloaded file gets a new thumbnail and an old
one is never served for it. Each thumbnail is written to a temporary file and
renamed into place, so a crash or two requests at once never leave half a
picture behind.

What `vault.db` says is not trusted: a thumbnail is cached only under a name
made of the image id and a well-formed hash, only in real folders inside the
archive (a `.thumbs` that is a symlink to elsewhere is never written through
or served from); otherwise it is made in memory each time.

Memory stays small whatever a file claims: JPEGs decode at a fraction of their
size (draft mode), a picture that would still need more than
MAX_DECODED_PIXELS to decode is not previewed (Pillow's decompression-bomb
check, with our lower limit, reads the size from the header before any pixel),
and at most DECODERS pictures decode at once.
"""

from __future__ import annotations

import io
import os
import re
import threading
from pathlib import Path

from PIL import Image

from civitai_vault.atomic import atomic_write_bytes

THUMBS_DIR = ".thumbs"

# Named sizes only: a URL cannot make the server render (and store) any size it likes.
SIZES: dict[str, int] = {"grid": 400, "poster": 1280}

# 40 Mpx is 120-160 MB decoded; Civitai's largest upscales (6144 x 6144) stay below it.
MAX_DECODED_PIXELS = 40_000_000
DECODERS = 2

_HASH = re.compile(r"[0-9a-f]{64}")
# EXIF orientation -> the transposition that shows the picture upright (as ImageOps does).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ThumbnailError(Exception):
    """The file could not be read as a picture or a video, or is too large to preview."""


class ThumbnailStore:
    def __init__(self, archive_root: Path) -> None:
        self.root = Path(os.path.realpath(archive_root))
        self.folder = self.root / THUMBS_DIR
        # One lock per thumbnail being made, so a burst of requests for the same
        # tile decodes the file once.
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._decoding = threading.Semaphore(DECODERS)

    def path_for(self, image_id: int, sha256: str, size: str) -> Path | None:
        """Where the thumbnail is cached, or None when the hash is not a SHA-256."""
        if image_id < 0 or not _HASH.fullmatch(sha256 or ""):
            return None
        shard = f"{image_id % 1000:03d}"
        return self.folder / shard / f"{image_id}-{sha256[:16]}-{SIZES[size]}.webp"

    def get(self, image_id: int, source: Path, sha256: str, kind: str, size: str) -> Path | bytes:
        """The thumbnail's path, making it first if needed. Raises ThumbnailError.

        An archive the gallery may not write to (a read-only backup disk), or a
        cache folder that is not safely inside it, still gets thumbnails: made in
        memory each time, as WebP bytes.
        """
        target = self.path_for(image_id, sha256, size)
        if target is not None and self._is_cached(target):
            return target
        with self._lock_for(f"{image_id}-{size}"):
            if target is not None and self._is_cached(target):
                return target
            with self._decoding:
                picture = make_thumbnail(source, kind, SIZES[size])
            data = webp_bytes(picture)
            if target is not None and self._make_folders(target.parent):
                try:
                    write_atomically(data, target)
                except OSError:
                    return data
                return target
            return data

    def _is_cached(self, target: Path) -> bool:
        """A plain file at exactly that place inside the archive (no symlink on the way)."""
        return os.path.realpath(target) == str(target) and target.is_file()

    def _make_folders(self, shard: Path) -> bool:
        """Create `.thumbs/<shard>` one level at a time; False if either is not a real folder."""
        for folder in (self.folder, shard):
            try:
                folder.mkdir()
            except FileExistsError:
                pass
            except OSError:
                return False
            if os.path.realpath(folder) != str(folder) or not folder.is_dir():
                return False
        return True

    def _lock_for(self, name: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.setdefault(name, threading.Lock())
            if len(self._locks) > 1024:  # forget idle locks; only concurrency matters
                self._locks = {name: lock}
            return lock


def make_thumbnail(source: Path, kind: str, size: int) -> Image.Image:
    """The picture (or a video's first frame) shrunk to fit `size`, upright, RGB(A)."""
    picture = first_frame(source) if kind == "video" else open_small(source, size)
    if picture.width > size or picture.height > size:
        picture.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
    if picture.mode not in ("RGB", "RGBA"):
        has_alpha = picture.mode in ("LA", "PA") or "transparency" in picture.info
        picture = picture.convert("RGBA" if has_alpha else "RGB")
    return picture


def open_small(source: Path, size: int) -> Image.Image:
    """Decode a picture at the smallest size that still gives a sharp `size` thumbnail."""
    try:
        with Image.open(source) as image:
            # JPEG decodes at 1/2, 1/4 or 1/8 of its size: a 144 Mpx JPEG costs 2 Mpx.
            image.draft("RGB", (size, size))
            if image.width * image.height > MAX_DECODED_PIXELS:
                raise ThumbnailError(
                    f"{source.name} is {image.width} x {image.height} pixels: too large to preview"
                )
            orientation = image.getexif().get(0x0112, 1)
            image.load()
            # Shrunk in place: the full-size pixels are freed before the next step.
            image.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=2.0)
            picture = image.copy()
    except ThumbnailError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ThumbnailError(f"cannot read {source.name} as a picture: {exc}") from exc
    if orientation in _UPRIGHT:
        picture = picture.transpose(_UPRIGHT[orientation])
    return picture


def first_frame(source: Path) -> Image.Image:
    import av

    try:
        with av.open(str(source)) as container:
            for frame in container.decode(video=0):
                return frame.to_image()
    except (av.FFmpegError, OSError, ValueError, IndexError, StopIteration) as exc:
        raise ThumbnailError(f"cannot read {source.name} as a video: {exc}") from exc
    raise ThumbnailError(f"{source.name} has no video frame")


def webp_bytes(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()


def write_atomically(data: bytes, target: Path) -> None:
    """Write to a temporary name in the same folder, then rename: never half a file."""
    # A thumbnail can be made again: no need to wait for the disk.
    atomic_write_bytes(target, data, durable=False)
