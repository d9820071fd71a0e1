"""Adding text chunks to a PNG without touching its image data.

The file is split into chunks and put back together with new chunks inserted
before the first IDAT (where Pillow and A1111 put theirs, and where readers
that stop at the pixel data still find them). Every existing chunk is copied
byte for byte, ComfyUI's `prompt` and `workflow` included.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from civitai_vault.media.detect import PNG_SIGNATURE
from civitai_vault.media.xmp import packet_for

PARAMETERS_KEY = "parameters"
XMP_KEY = "XML:com.adobe.xmp"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


class PngFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Chunk:
    type: bytes
    data: bytes

    def to_bytes(self) -> bytes:
        crc = zlib.crc32(self.type + self.data) & 0xFFFFFFFF
        return len(self.data).to_bytes(4, "big") + self.type + self.data + crc.to_bytes(4, "big")

    @property
    def keyword(self) -> str | None:
        if self.type not in TEXT_CHUNKS:
            return None
        return self.data.split(b"\x00", 1)[0].decode("latin-1")


def embed_png(data: bytes, text: str | None, record: dict[str, Any]) -> bytes:
    """`data` with `parameters` (if the file has none) and XMP tags added or merged."""
    chunks, raw, trailer = split_chunks(data)
    keywords = [chunk.keyword for chunk in chunks]
    new: list[Chunk] = []
    if text and PARAMETERS_KEY not in keywords:
        new.append(text_chunk(PARAMETERS_KEY, text))
    replaced = False
    xmp_index = keywords.index(XMP_KEY) if XMP_KEY in keywords else None
    existing_xmp = _itxt_text(chunks[xmp_index].data) if xmp_index is not None else None
    # A malformed XMP chunk is somebody else's problem; a second one would confuse readers.
    if xmp_index is None or existing_xmp is not None:
        packet = packet_for(existing_xmp, record)
        if packet is not None and packet != existing_xmp:
            xmp_chunk = itxt_chunk(XMP_KEY, packet)
            if xmp_index is None:
                new.append(xmp_chunk)
            else:
                raw[xmp_index] = xmp_chunk.to_bytes()
                replaced = True
    if not new and not replaced:
        return data
    first_idat = next(i for i, chunk in enumerate(chunks) if chunk.type == b"IDAT")
    parts = [PNG_SIGNATURE, *raw[:first_idat], *(c.to_bytes() for c in new), *raw[first_idat:]]
    return b"".join(parts) + trailer


def split_chunks(data: bytes) -> tuple[list[Chunk], list[bytes], bytes]:
    """Chunks up to IEND, each one's exact bytes, and whatever follows IEND."""
    if not data.startswith(PNG_SIGNATURE):
        raise PngFormatError("not a PNG")
    chunks: list[Chunk] = []
    raw: list[bytes] = []
    offset = len(PNG_SIGNATURE)
    while True:
        if offset + 12 > len(data):
            raise PngFormatError("the PNG ends before IEND")
        length = int.from_bytes(data[offset : offset + 4], "big")
        end = offset + 12 + length
        if end > len(data):
            raise PngFormatError("a PNG chunk is cut short")
        chunk = Chunk(data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length])
        chunks.append(chunk)
        raw.append(data[offset:end])
        offset = end
        if chunk.type == b"IEND":
            break
    if not any(chunk.type == b"IDAT" for chunk in chunks):
        raise PngFormatError("the PNG has no image data")
    return chunks, raw, data[offset:]


def text_chunk(keyword: str, text: str) -> Chunk:
    """tEXt when the text is Latin-1 (as Pillow and A1111 write it), iTXt (UTF-8) otherwise."""
    text = text.replace("\x00", "")
    try:
        return Chunk(b"tEXt", keyword.encode("latin-1") + b"\x00" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return itxt_chunk(keyword, text.encode("utf-8"))


def itxt_chunk(keyword: str, utf8: bytes) -> Chunk:
    # Uncompressed, no language tag, no translated keyword (XMP requires uncompressed).
    return Chunk(b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + utf8)


def read_text_chunks(data: bytes) -> dict[str, str]:
    """Keyword -> text of every tEXt/zTXt/iTXt chunk (first wins); for tests and tools."""
    found: dict[str, str] = {}
    for chunk in split_chunks(data)[0]:
        keyword = chunk.keyword
        if keyword is None or keyword in found:
            continue
        if chunk.type == b"tEXt":
            found[keyword] = chunk.data.split(b"\x00", 1)[1].decode("latin-1")
        elif chunk.type == b"zTXt":
            found[keyword] = zlib.decompress(chunk.data.split(b"\x00", 1)[1][1:]).decode("latin-1")
        else:
            found[keyword] = (_itxt_text(chunk.data) or b"").decode("utf-8", errors="replace")
    return found


def _itxt_text(data: bytes) -> bytes | None:
    """The text bytes of an iTXt chunk (decompressed if needed); None if malformed."""
    try:
        _keyword, rest = data.split(b"\x00", 1)
        compressed, _method, rest = rest[0], rest[1], rest[2:]
        _language, rest = rest.split(b"\x00", 1)
        _translated, text = rest.split(b"\x00", 1)
        return zlib.decompress(text) if compressed else text
    except (ValueError, IndexError, zlib.error):
        return None
