"""Adding the A1111 text to a GIF as a Comment Extension, where A1111 itself puts it.

The block structure is walked to find an existing comment (kept, nothing
added) and to make sure the file is sound; the new comment goes right after
the global color table. Image data blocks are copied untouched.
"""

from __future__ import annotations

from typing import Any

COMMENT_LABEL = 0xFE


class GifFormatError(ValueError):
    pass


def embed_gif(data: bytes, text: str | None, record: dict[str, Any]) -> bytes:
    """`data` with a comment holding `text`, unless it has a comment already. Tags: none (GIF)."""
    header_end, comments = _walk(data)
    if not text or comments:
        return data
    # Extensions are a GIF89a feature; the version bump changes nothing else.
    version = b"GIF89a" + data[6:header_end]
    return version + comment_block(text.encode("utf-8")) + data[header_end:]


def comment_block(payload: bytes) -> bytes:
    blocks = b"".join(
        bytes([len(piece)]) + piece
        for piece in (payload[i : i + 255] for i in range(0, len(payload), 255))
    )
    return b"\x21" + bytes([COMMENT_LABEL]) + blocks + b"\x00"


def read_comments(data: bytes) -> list[bytes]:
    return _walk(data)[1]


def _walk(data: bytes) -> tuple[int, list[bytes]]:
    """Where the first block starts (after the global color table) and the comments found."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise GifFormatError("not a GIF")
    offset = 13
    if data[10] & 0x80:
        offset += 3 * (2 ** ((data[10] & 0x07) + 1))
    header_end = offset
    comments: list[bytes] = []
    while True:
        if offset >= len(data):
            raise GifFormatError("the GIF ends without a trailer")
        introducer = data[offset]
        if introducer == 0x3B:
            return header_end, comments
        if introducer == 0x21:
            label = data[offset + 1 : offset + 2]
            payload, offset = _sub_blocks(data, offset + 2)
            if label == bytes([COMMENT_LABEL]):
                comments.append(payload)
        elif introducer == 0x2C:
            if offset + 10 > len(data):
                raise GifFormatError("an image descriptor is cut short")
            packed = data[offset + 9]
            offset += 10
            if packed & 0x80:
                offset += 3 * (2 ** ((packed & 0x07) + 1))
            _payload, offset = _sub_blocks(data, offset + 1)  # skip the LZW code size
        else:
            raise GifFormatError(f"unexpected GIF block 0x{introducer:02x}")


def _sub_blocks(data: bytes, offset: int) -> tuple[bytes, int]:
    pieces: list[bytes] = []
    while True:
        if offset >= len(data):
            raise GifFormatError("the GIF is cut short inside a block")
        size = data[offset]
        if size == 0:
            return b"".join(pieces), offset + 1
        pieces.append(data[offset + 1 : offset + 1 + size])
        offset += 1 + size
