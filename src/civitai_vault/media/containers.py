"""Structure checks for container files that Pillow cannot vouch for: ISO BMFF and EBML.

A download cut short or a server that sends garbage still often starts with the
right magic bytes; walking the top-level boxes (MP4, AVIF) or the EBML header
and Segment (WebM, Matroska) against the file's real length catches both
without decoding anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO


class BrokenContainer(ValueError):
    """The container structure is inconsistent; `str()` says how, in one line."""


@dataclass(frozen=True)
class Box:
    type: bytes
    offset: int  # of the box header
    size: int  # header included
    header_size: int


def iter_boxes(handle: BinaryIO, start: int, end: int) -> Iterator[Box]:
    """The boxes between `start` and `end`, each checked to lie entirely inside that range."""
    offset = start
    while offset < end:
        if end - offset < 8:
            raise BrokenContainer(f"{end - offset} stray bytes after the last box")
        handle.seek(offset)
        header = handle.read(8)
        size = int.from_bytes(header[:4], "big")
        box_type = header[4:8]
        header_size = 8
        if size == 1:
            large = handle.read(8)
            if len(large) < 8:
                raise BrokenContainer(f"box {_name(box_type)} ends inside its header")
            size = int.from_bytes(large, "big")
            header_size = 16
        elif size == 0:
            size = end - offset  # "extends to the end of the file"
        if size < header_size:
            raise BrokenContainer(f"box {_name(box_type)} has an impossible size {size}")
        if offset + size > end:
            raise BrokenContainer(
                f"box {_name(box_type)} needs {offset + size - end} more bytes than the file has"
            )
        yield Box(box_type, offset, size, header_size)
        offset += size


def check_iso_bmff(handle: BinaryIO, file_size: int, required: tuple[bytes, ...]) -> None:
    """`ftyp` first, every top-level box whole, each of `required` present."""
    boxes = list(iter_boxes(handle, 0, file_size))
    if not boxes or boxes[0].type != b"ftyp":
        raise BrokenContainer("the first box is not ftyp")
    present = {box.type for box in boxes}
    for box_type in required:
        if box_type not in present:
            raise BrokenContainer(f"no {_name(box_type)} box: the file is incomplete")
    for box in boxes:
        if box.type == b"moov":
            # The movie header's children must be whole too; a moov cut short is the
            # classic result of an interrupted download of a "fast start" MP4.
            list(iter_boxes(handle, box.offset + box.header_size, box.offset + box.size))


def check_ebml(handle: BinaryIO, file_size: int) -> None:
    """An EBML header followed by a Segment that does not claim more bytes than exist."""
    handle.seek(0)
    head = handle.read(64)
    ebml_id, position = _read_id(head, 0)
    if ebml_id != 0x1A45DFA3:
        raise BrokenContainer("no EBML header")
    header_size, position = _read_size(head, position)
    if header_size is None:
        raise BrokenContainer("EBML header of unknown size")
    segment_start = position + header_size
    handle.seek(segment_start)
    segment_head = handle.read(12)
    segment_id, position = _read_id(segment_head, 0)
    if segment_id != 0x18538067:
        raise BrokenContainer("no Segment after the EBML header")
    segment_size, position = _read_size(segment_head, position)
    if segment_size is not None and segment_start + position + segment_size > file_size:
        missing = segment_start + position + segment_size - file_size
        raise BrokenContainer(f"the Segment needs {missing} more bytes than the file has")


def _read_id(data: bytes, position: int) -> tuple[int, int]:
    length = _vint_length(data, position)
    return int.from_bytes(data[position : position + length], "big"), position + length


def _read_size(data: bytes, position: int) -> tuple[int | None, int]:
    """An EBML size; None for the all-ones "unknown size" used by live streams."""
    length = _vint_length(data, position)
    raw = int.from_bytes(data[position : position + length], "big")
    value = raw & ((1 << (7 * length)) - 1)
    if value == (1 << (7 * length)) - 1:
        return None, position + length
    return value, position + length


def _vint_length(data: bytes, position: int) -> int:
    if position >= len(data):
        raise BrokenContainer("the file ends inside an EBML element")
    first = data[position]
    for length in range(1, 9):
        if first & (0x80 >> (length - 1)):
            if position + length > len(data):
                raise BrokenContainer("the file ends inside an EBML element")
            return length
    raise BrokenContainer("invalid EBML number")


def _name(box_type: bytes) -> str:
    return repr(box_type.decode("latin-1"))
