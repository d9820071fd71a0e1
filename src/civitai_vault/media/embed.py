"""Writing the generation data INTO an image file, so every prompt reader can show it.

Per format (see each module for the details):

- PNG: `parameters` text chunk (tEXt, or iTXt when not Latin-1) and an iTXt
  `XML:com.adobe.xmp` chunk;
- JPEG: EXIF UserComment (`UNICODE\\0` + UTF-16BE) and an XMP APP1 segment;
- WebP: `EXIF` and `XMP ` chunks under a correct `VP8X` header;
- GIF: a comment holding the text (GIF has no standard place for tags).

Only metadata chunks are touched: pixels are never decoded or re-encoded.
What a file already carries wins: existing A1111 text or UserComment stays
and nothing competing is added; ComfyUI's chunks stay; XMP tags are merged.
Running it twice leaves the bytes of the first run. Videos, AVIF and unknown
types are left untouched. The file is replaced atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civitai_vault.atomic import atomic_write_bytes
from civitai_vault.media.detect import GIF, HEAD_SIZE, JPEG, PNG, WEBP, MediaType, detect_media
from civitai_vault.media.gif import GifFormatError, embed_gif
from civitai_vault.media.infotext import build_infotext
from civitai_vault.media.jpeg import JpegFormatError, embed_jpeg
from civitai_vault.media.png import PngFormatError, embed_png
from civitai_vault.media.webp import WebpFormatError, embed_webp

Embedder = Callable[[bytes, "str | None", dict[str, Any]], bytes]
EMBEDDERS: dict[MediaType, Embedder] = {
    PNG: embed_png,
    JPEG: embed_jpeg,
    WEBP: embed_webp,
    GIF: embed_gif,
}
_FORMAT_ERRORS = (PngFormatError, JpegFormatError, WebpFormatError, GifFormatError)


@dataclass(frozen=True)
class EmbedResult:
    changed: bool
    sha256: str  # of the file as it now is on disk
    size: int


def embed_metadata(path: Path, record: dict[str, Any]) -> EmbedResult:
    """Write the record's A1111 text and XMP tags into the file at `path`, in place.

    The type comes from the file's bytes, not its name (downloads arrive as
    `.part` files). A file whose structure cannot be followed is left as it is:
    it passed verification, so it is still a good copy, only without our text.
    """
    path = Path(path)
    data = path.read_bytes()
    updated = embedded_bytes(data, record)
    if updated != data:
        atomic_write_bytes(path, updated)
    return EmbedResult(
        changed=updated != data, sha256=hashlib.sha256(updated).hexdigest(), size=len(updated)
    )


def embedded_bytes(data: bytes, record: dict[str, Any]) -> bytes:
    """`data` with the record's text and tags written in (`data` itself when nothing changes)."""
    embedder = EMBEDDERS.get(detect_media(data[:HEAD_SIZE]))  # type: ignore[arg-type]
    if embedder is None:
        return data
    try:
        return embedder(data, build_infotext(record), record)
    except _FORMAT_ERRORS:
        return data
