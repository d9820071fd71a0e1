"""The EXIF `UserComment` that JPEG and WebP readers take A1111 text from.

Written exactly as A1111 does (piexif `UserComment.dump(..., encoding="unicode")`):
`UNICODE\\0` then UTF-16 **big-endian** without a BOM, in a big-endian (`MM`)
TIFF structure. sd-parsers, piexif-based readers and Civitai's uploader decode
big-endian unconditionally, so that is the only safe order.

An existing EXIF block is edited only when piexif can carry every entry of it
across; anything it would drop (unknown tags, maker notes with their internal
offsets) means we leave the block alone rather than damage it.
"""

from __future__ import annotations

import struct

import piexif

UNICODE_PREFIX = b"UNICODE\x00"
EXIF_HEADER = b"Exif\x00\x00"


def encode_user_comment(text: str) -> bytes:
    return UNICODE_PREFIX + text.encode("utf-16-be")


def decode_user_comment(raw: bytes) -> str | None:
    """The text of a UserComment value, whatever charset prefix it declares."""
    if len(raw) < 8:
        return None
    prefix, payload = raw[:8], raw[8:]
    if prefix == UNICODE_PREFIX:
        return payload.decode("utf-16-be", errors="replace")
    if prefix.startswith(b"JIS"):
        return payload.decode("shift_jis", errors="replace")
    return payload.decode("utf-8", errors="replace")


def tiff_with_user_comment(existing: bytes | None, text: str) -> bytes | None:
    """TIFF-structured EXIF (no `Exif\\0\\0` header) holding `text` as UserComment.

    None when the existing block must stay as it is: it already has a comment
    worth keeping, or it cannot be rewritten without loss.
    """
    tiff = _strip_header(existing) if existing else None
    if tiff:
        try:
            exif = piexif.load(tiff)
        except Exception:  # piexif raises many types on malformed input
            return None
        if _has_comment(exif) or not _round_trips(tiff, exif):
            return None
    else:
        return minimal_tiff(encode_user_comment(text))
    exif["Exif"][piexif.ExifIFD.UserComment] = encode_user_comment(text)
    try:
        dumped = piexif.dump(exif)
    except Exception:
        return None
    return dumped[len(EXIF_HEADER) :]


def minimal_tiff(user_comment: bytes) -> bytes:
    """A big-endian TIFF block holding only ExifVersion and UserComment.

    Written by hand rather than with piexif, whose output leaves out the Exif
    IFD's next-IFD pointer (exiftool reports the comment as overlapping the IFD).
    """
    ifd0_offset = 8
    exif_offset = ifd0_offset + 2 + 12 + 4
    value_offset = exif_offset + 2 + 2 * 12 + 4
    ifd0 = struct.pack(">HHHLL", 1, piexif.ImageIFD.ExifTag, 4, 1, exif_offset) + b"\0" * 4
    exif_ifd = (
        struct.pack(">H", 2)
        + struct.pack(">HHL4s", piexif.ExifIFD.ExifVersion, 7, 4, b"0230")
        + struct.pack(">HHLL", piexif.ExifIFD.UserComment, 7, len(user_comment), value_offset)
        + b"\0" * 4
    )
    return b"MM\x00\x2a" + struct.pack(">L", ifd0_offset) + ifd0 + exif_ifd + user_comment


def existing_comment(tiff: bytes) -> str | None:
    """The non-blank UserComment of a TIFF-structured EXIF block, if any."""
    tiff = _strip_header(tiff)
    try:
        exif = piexif.load(tiff)
    except Exception:
        return None
    raw = exif["Exif"].get(piexif.ExifIFD.UserComment)
    text = decode_user_comment(raw) if isinstance(raw, bytes) else None
    return text if text and text.strip("\x00 \t\r\n") else None


def _strip_header(block: bytes) -> bytes:
    """EXIF blocks come with the JPEG-style `Exif\\0\\0` header or without it."""
    return block[len(EXIF_HEADER) :] if block.startswith(EXIF_HEADER) else block


def _has_comment(exif: dict) -> bool:
    """Cameras often write a blank UserComment (spaces or NULs); only real text counts."""
    raw = exif["Exif"].get(piexif.ExifIFD.UserComment)
    text = decode_user_comment(raw) if isinstance(raw, bytes) else None
    return bool(text and text.strip("\x00 \t\r\n"))


def _round_trips(tiff: bytes, exif: dict) -> bool:
    """True when piexif loaded every entry of every IFD, so dumping it loses nothing."""
    if piexif.ExifIFD.MakerNote in exif["Exif"]:
        return False  # maker notes point into the block by offset; moving them breaks them
    try:
        order = ">" if tiff[:2] == b"MM" else "<"
        counts = _ifd_entry_counts(tiff, order)
    except (struct.error, IndexError):
        return False
    loaded = {
        "0th": len(exif["0th"]),
        "Exif": len(exif["Exif"]),
        "GPS": len(exif["GPS"]),
        "Interop": len(exif["Interop"]),
        "1st": len(exif["1st"]),
    }
    return all(loaded[name] == count for name, count in counts.items())


def _ifd_entry_counts(tiff: bytes, order: str) -> dict[str, int]:
    def entries(offset: int) -> dict[int, tuple[int, int]]:
        (count,) = struct.unpack_from(order + "H", tiff, offset)
        found = {}
        for index in range(count):
            tag, kind, _n, value = struct.unpack_from(order + "HHLL", tiff, offset + 2 + 12 * index)
            found[tag] = (kind, value)
        return found

    (first,) = struct.unpack_from(order + "L", tiff, 4)
    zeroth = entries(first)
    counts = {"0th": len(zeroth)}
    (count,) = struct.unpack_from(order + "H", tiff, first)
    (next_ifd,) = struct.unpack_from(order + "L", tiff, first + 2 + 12 * count)
    if next_ifd:
        counts["1st"] = len(entries(next_ifd))
    exif_ifd = zeroth.get(piexif.ImageIFD.ExifTag)
    if exif_ifd:
        exif_entries = entries(exif_ifd[1])
        counts["Exif"] = len(exif_entries)
        interop = exif_entries.get(piexif.ExifIFD.InteroperabilityTag)
        if interop:
            counts["Interop"] = len(entries(interop[1]))
    gps = zeroth.get(piexif.ImageIFD.GPSTag)
    if gps:
        counts["GPS"] = len(entries(gps[1]))
    return counts
