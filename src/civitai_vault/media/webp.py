"""Adding `EXIF` and `XMP ` chunks to a WebP, converting a simple file to the extended layout.

A simple WebP is just one `VP8 ` or `VP8L` chunk; metadata needs the extended
layout, which starts with a `VP8X` chunk whose flags announce what follows and
whose canvas size must match the bitstream. The image chunks are copied byte
for byte: nothing is re-encoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civitai_vault.media.exif import EXIF_HEADER, tiff_with_user_comment
from civitai_vault.media.xmp import packet_for

FLAG_ICC, FLAG_ALPHA, FLAG_EXIF, FLAG_XMP, FLAG_ANIMATION = 0x20, 0x10, 0x08, 0x04, 0x02
IMAGE_CHUNKS = (b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF", b"ICCP", b"VP8X")


class WebpFormatError(ValueError):
    pass


@dataclass
class Chunk:
    fourcc: bytes
    data: bytes

    def to_bytes(self) -> bytes:
        padding = b"\x00" if len(self.data) % 2 else b""
        return self.fourcc + len(self.data).to_bytes(4, "little") + self.data + padding


def embed_webp(data: bytes, text: str | None, record: dict[str, Any]) -> bytes:
    """`data` with EXIF UserComment (unless one exists) and XMP tags added or merged."""
    chunks, trailer = split_chunks(data)
    changed = False
    if text:
        changed |= _put_exif(chunks, text)
    changed |= _put_xmp(chunks, record)
    if not changed:
        return data
    chunks = _with_vp8x(chunks)
    body = b"WEBP" + b"".join(chunk.to_bytes() for chunk in chunks)
    return b"RIFF" + len(body).to_bytes(4, "little") + body + trailer


def split_chunks(data: bytes) -> tuple[list[Chunk], bytes]:
    """The RIFF chunks and any bytes after the RIFF container."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise WebpFormatError("not a WebP")
    end = 8 + int.from_bytes(data[4:8], "little")
    if end > len(data):
        raise WebpFormatError("the WebP is cut short")
    chunks = []
    offset = 12
    while offset + 8 <= end:
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        if offset + 8 + size > end:
            raise WebpFormatError("a WebP chunk is cut short")
        chunks.append(Chunk(data[offset : offset + 4], data[offset + 8 : offset + 8 + size]))
        offset += 8 + size + (size % 2)
    if not any(chunk.fourcc in (b"VP8 ", b"VP8L", b"ANMF") for chunk in chunks):
        raise WebpFormatError("the WebP has no image data")
    return chunks, data[end:]


def _put_exif(chunks: list[Chunk], text: str) -> bool:
    index = _find(chunks, b"EXIF")
    existing = chunks[index].data if index is not None else None
    tiff = tiff_with_user_comment(existing, text)
    if tiff is None:
        return False
    if index is not None:
        # Keep the writer's convention: some put the JPEG-style "Exif\0\0" header in the chunk.
        prefix = EXIF_HEADER if existing and existing.startswith(EXIF_HEADER) else b""
        chunks[index] = Chunk(b"EXIF", prefix + tiff)
    else:
        chunks.insert(_metadata_position(chunks), Chunk(b"EXIF", tiff))
    return True


def _put_xmp(chunks: list[Chunk], record: dict[str, Any]) -> bool:
    index = _find(chunks, b"XMP ")
    existing = chunks[index].data if index is not None else None
    packet = packet_for(existing, record)
    if packet is None or packet == existing:
        return False
    if index is not None:
        chunks[index] = Chunk(b"XMP ", packet)
    else:
        exif = _find(chunks, b"EXIF")
        position = exif + 1 if exif is not None else _metadata_position(chunks)
        chunks.insert(position, Chunk(b"XMP ", packet))
    return True


def _metadata_position(chunks: list[Chunk]) -> int:
    """Metadata follows the image chunks (WebP container spec order)."""
    last_image = max(i for i, chunk in enumerate(chunks) if chunk.fourcc in IMAGE_CHUNKS)
    return last_image + 1


def _with_vp8x(chunks: list[Chunk]) -> list[Chunk]:
    """Chunks headed by a VP8X whose flags match what the file now carries."""
    present = {chunk.fourcc for chunk in chunks}
    if chunks[0].fourcc == b"VP8X":
        header = bytearray(chunks[0].data)
        rest = chunks[1:]
    else:
        width, height, alpha = _bitstream_size(chunks[0])
        header = bytearray(10)
        header[0] = FLAG_ALPHA if alpha else 0
        header[4:7] = (width - 1).to_bytes(3, "little")
        header[7:10] = (height - 1).to_bytes(3, "little")
        rest = chunks
    if b"EXIF" in present:
        header[0] |= FLAG_EXIF
    if b"XMP " in present:
        header[0] |= FLAG_XMP
    return [Chunk(b"VP8X", bytes(header)), *rest]


def _bitstream_size(chunk: Chunk) -> tuple[int, int, bool]:
    """Canvas width, height and alpha of a simple WebP, read from its bitstream header."""
    data = chunk.data
    if chunk.fourcc == b"VP8 ":
        if len(data) < 10 or data[3:6] != b"\x9d\x01\x2a":
            raise WebpFormatError("bad VP8 frame header")
        width = int.from_bytes(data[6:8], "little") & 0x3FFF
        height = int.from_bytes(data[8:10], "little") & 0x3FFF
        return width, height, False
    if chunk.fourcc == b"VP8L":
        if len(data) < 5 or data[0] != 0x2F:
            raise WebpFormatError("bad VP8L header")
        bits = int.from_bytes(data[1:5], "little")
        width = (bits & 0x3FFF) + 1
        height = ((bits >> 14) & 0x3FFF) + 1
        alpha = bool((bits >> 28) & 1)
        return width, height, alpha
    raise WebpFormatError(f"unexpected first chunk {chunk.fourcc!r}")


def _find(chunks: list[Chunk], fourcc: bytes) -> int | None:
    return next((i for i, chunk in enumerate(chunks) if chunk.fourcc == fourcc), None)
