"""Adding EXIF UserComment and XMP to a JPEG by editing APP1 segments only.

The segments before the scan (SOS) are split apart; the compressed image data
and everything after it are copied unchanged, so the picture is not
re-compressed and decodes to the very same pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civitai_vault.media.exif import EXIF_HEADER, tiff_with_user_comment
from civitai_vault.media.xmp import packet_for

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
APP0, APP1, SOS, EOI = 0xE0, 0xE1, 0xDA, 0xD9
# A segment's length field counts itself, and is 16 bits.
MAX_SEGMENT_PAYLOAD = 0xFFFF - 2


class JpegFormatError(ValueError):
    pass


@dataclass
class Segment:
    marker: int
    raw: bytes  # the whole segment, from its 0xFF to its last payload byte

    @property
    def payload(self) -> bytes:
        return self.raw[4:]

    def is_exif(self) -> bool:
        return self.marker == APP1 and self.payload.startswith(EXIF_HEADER)

    def is_xmp(self) -> bool:
        return self.marker == APP1 and self.payload.startswith(XMP_HEADER)


def embed_jpeg(data: bytes, text: str | None, record: dict[str, Any]) -> bytes:
    """`data` with a UserComment (unless one exists) and XMP tags added or merged."""
    segments, rest = split_segments(data)
    changed = False
    exif_at = next((i for i, s in enumerate(segments) if s.is_exif()), None)
    if text:
        existing = segments[exif_at].payload if exif_at is not None else None
        tiff = tiff_with_user_comment(existing, text)
        exif = _segment(APP1, EXIF_HEADER + tiff) if tiff is not None else None
        if exif is not None and exif_at is not None:
            segments[exif_at] = exif
            changed = True
        elif exif is not None:
            exif_at = _insert_position(segments)
            segments.insert(exif_at, exif)
            changed = True
    xmp_at = next((i for i, s in enumerate(segments) if s.is_xmp()), None)
    existing_xmp = segments[xmp_at].payload[len(XMP_HEADER) :] if xmp_at is not None else None
    packet = packet_for(existing_xmp, record)
    if packet is not None and packet != existing_xmp:
        xmp = _segment(APP1, XMP_HEADER + packet)
        if xmp is not None and xmp_at is not None:
            segments[xmp_at] = xmp
            changed = True
        elif xmp is not None:
            position = exif_at + 1 if exif_at is not None else _insert_position(segments)
            segments.insert(position, xmp)
            changed = True
    if not changed:
        return data
    return b"\xff\xd8" + b"".join(segment.raw for segment in segments) + rest


def split_segments(data: bytes) -> tuple[list[Segment], bytes]:
    """The marker segments between SOI and the first scan, and the bytes from SOS on."""
    if not data.startswith(b"\xff\xd8"):
        raise JpegFormatError("not a JPEG")
    segments: list[Segment] = []
    offset = 2
    while True:
        start = offset
        if offset >= len(data) or data[offset] != 0xFF:
            raise JpegFormatError("no marker where one was expected")
        while offset < len(data) and data[offset] == 0xFF:  # fill bytes
            offset += 1
        if offset >= len(data):
            raise JpegFormatError("the JPEG ends inside a marker")
        marker = data[offset]
        if marker in (SOS, EOI):
            return segments, data[start:]
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            segments.append(Segment(marker, b"\xff" + bytes([marker])))
            offset += 1
            continue
        length = int.from_bytes(data[offset + 1 : offset + 3], "big")
        end = offset + 1 + length
        if length < 2 or end > len(data):
            raise JpegFormatError("a JPEG segment is cut short")
        # Fill bytes are dropped; the segment is stored in its canonical form.
        segments.append(Segment(marker, b"\xff" + data[offset:end]))
        offset = end


def _segment(marker: int, payload: bytes) -> Segment | None:
    """A new segment, or None when the payload cannot fit in one (a JPEG limit)."""
    if len(payload) > MAX_SEGMENT_PAYLOAD:
        return None
    length = (len(payload) + 2).to_bytes(2, "big")
    return Segment(marker, b"\xff" + bytes([marker]) + length + payload)


def _insert_position(segments: list[Segment]) -> int:
    """Right after SOI, or after a leading JFIF APP0 (which must stay first)."""
    position = 0
    while position < len(segments) and segments[position].marker == APP0:
        position += 1
    return position


def read_exif_tiff(data: bytes) -> bytes | None:
    """The raw TIFF block of the first EXIF segment; for tests and tools."""
    segments, _rest = split_segments(data)
    exif = next((s for s in segments if s.is_exif()), None)
    return exif.payload[len(EXIF_HEADER) :] if exif else None
