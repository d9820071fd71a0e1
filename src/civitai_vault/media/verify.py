"""Is a downloaded file the whole, real media file the server promised?

`verify_file` is run on every download before it is given a name in the
archive. It rejects, each with a one-line reason: a length other than the one
announced, an HTML or JSON error page served with a 200, an unknown type, a
PNG with a chunk that fails its CRC, any other image that does not fully
decode, and containers (MP4, AVIF, WebM) whose structure is broken or cut
short. Videos additionally have their first frame decoded with PyAV.

PNGs are checked by their CRCs, not decoded: every chunk, pixel data
included, carries a CRC-32 of its bytes, so a PNG whose chunks all match is
byte for byte what its encoder wrote. Damage on the way is caught wherever it
is, also where a decoder never looks (a chunk after the pixel data, the
pixel data's own CRCs). A full decode would add only a check of the
encoder, at 5-6 ms a PNG: on two cores, more CPU than the rest of a file's
way into the archive.

`verify_bytes` does the same for a download still in memory, so a file is
read once on its way into the archive.

Images larger than `max_pixels` are refused before any pixel is decoded: a
few hundred KB of PNG can declare 144 megapixels, which would take more than
half a GB to decode (and far more in every program that shows it). Pillow's
own decompression-bomb guard only warns at its limit and refuses at twice it,
so the header's size is checked here, with the limit the user chose.
"""

from __future__ import annotations

import io
import os
import warnings
import zlib
from pathlib import Path
from typing import IO, BinaryIO

from PIL import Image, UnidentifiedImageError, features

from civitai_vault.api.limits import DEFAULT_LIMITS, FLAGS
from civitai_vault.media.containers import BrokenContainer, check_ebml, check_iso_bmff
from civitai_vault.media.detect import (
    AVIF,
    GIF,
    JPEG,
    MKV,
    PNG,
    PNG_SIGNATURE,
    WEBM,
    WEBP,
    MediaType,
    detect_media,
)

SNIFF_SIZE = 4096
# Pillow warns (on stderr, once) when opening an image past its own threshold; the
# size is checked here against the user's limit instead, and refused with a reason.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class InvalidMedia(Exception):
    """The file is not usable media; `str()` is a one-line reason."""


def verify_file(
    path: str | os.PathLike[str],
    expected_size: int | None,
    max_pixels: int = DEFAULT_LIMITS.image_pixels,
) -> MediaType:
    """The file's media type, or InvalidMedia saying why the file cannot be kept."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        media = _check_bytes(handle, size, expected_size)
        if media.kind == "image":
            handle.seek(0)
            _check_image_decodes(handle, media, max_pixels)
    if media.kind == "video":
        _check_video_decodes(path, media)
    return media


def verify_bytes(
    data: bytes, expected_size: int | None, max_pixels: int = DEFAULT_LIMITS.image_pixels
) -> MediaType:
    """`verify_file` for a file's bytes in memory. Images only: a video is refused
    here (its decoder reads from disk), so a caller checks it with `verify_file`."""
    handle = io.BytesIO(data)
    media = _check_bytes(handle, len(data), expected_size)
    if media.kind != "image":
        raise ValueError(f"verify_bytes checks images; a {media.ext[1:]} needs verify_file")
    handle.seek(0)
    _check_image_decodes(handle, media, max_pixels)
    return media


def _check_bytes(handle: BinaryIO, size: int, expected_size: int | None) -> MediaType:
    """Length, error pages, type and container structure: what needs no decoder."""
    head = handle.read(SNIFF_SIZE)
    if size == 0:
        raise InvalidMedia("the file is empty")
    _reject_error_page(head)
    if expected_size is not None and size != expected_size:
        raise InvalidMedia(
            f"the file has {size:,} bytes but {expected_size:,} were announced: "
            "the download was cut short"
        )
    media = detect_media(head)
    if media is None:
        raise InvalidMedia(_describe_unknown(head))
    try:
        _check_structure(handle, size, media)
    except BrokenContainer as exc:
        raise InvalidMedia(f"broken {media.ext[1:].upper()} file: {exc}") from None
    return media


def _reject_error_page(head: bytes) -> None:
    """CDNs and proxies answer some failures with a 200 and a page; catch that by content."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<")):
        raise InvalidMedia("the server sent a web page instead of the file (an error page)")
    if text.startswith((b"{", b"[")):
        raise InvalidMedia("the server sent a JSON response instead of the file (an error)")


def _describe_unknown(head: bytes) -> str:
    sample = head[:512]
    if all(32 <= byte < 127 or byte in b"\t\r\n" for byte in sample):
        return "the server sent plain text instead of the file (an error message)"
    return f"not a known image or video type (starts with {head[:8].hex()})"


def _check_structure(handle: BinaryIO, size: int, media: MediaType) -> None:
    if media == PNG:
        _check_png_chunks(handle, size)
    elif media == WEBP:
        _check_riff_size(handle, size)
    elif media == GIF:
        _check_gif_trailer(handle, size)
    elif media == AVIF:
        check_iso_bmff(handle, size, required=(b"meta", b"mdat"))
    elif media in (WEBM, MKV):
        check_ebml(handle, size)
    elif media.kind == "video":
        check_iso_bmff(handle, size, required=(b"moov", b"mdat"))


def _check_png_chunks(handle: BinaryIO, size: int) -> None:
    """Every chunk whole and matching its CRC, up to an IEND (a PNG cut off after
    its pixel data would otherwise pass, as Pillow decodes it without complaint)."""
    offset = len(PNG_SIGNATURE)
    while offset + 12 <= size:
        handle.seek(offset)
        header = handle.read(8)
        kind, length = header[4:8], int.from_bytes(header[:4], "big")
        offset += 12 + length
        if offset > size:
            raise BrokenContainer(f"chunk {kind!r} is cut short")
        body = handle.read(length + 4)
        if zlib.crc32(body[:-4], zlib.crc32(kind)) != int.from_bytes(body[-4:], "big"):
            raise BrokenContainer(f"chunk {kind!r} is damaged (its CRC does not match)")
        if kind == b"IEND":
            return
    raise BrokenContainer("no IEND chunk: the file is cut short")


def _check_riff_size(handle: BinaryIO, size: int) -> None:
    handle.seek(4)
    riff_size = int.from_bytes(handle.read(4), "little")
    if riff_size + 8 > size:
        raise BrokenContainer(f"the RIFF header announces {riff_size + 8:,} bytes, got {size:,}")


def _check_gif_trailer(handle: BinaryIO, size: int) -> None:
    """A GIF cut between frames still decodes its first frame; the trailer byte must be there."""
    handle.seek(max(0, size - 16))
    tail = handle.read().rstrip(b"\x00")
    if not tail.endswith(b";"):
        raise BrokenContainer("no GIF trailer: the file is cut short")


def _check_image_decodes(source: IO[bytes], media: MediaType, max_pixels: int) -> None:
    if media == AVIF and not features.check("avif"):
        return  # the box walk above is all we can do without a decoder
    try:
        with Image.open(source) as image:
            _check_pixels(image, max_pixels)
            if media == PNG:
                return  # its CRCs were checked (see the module's docstring)
            if media == JPEG:
                _decode_at_an_eighth(image)
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidMedia(f"the image does not decode: {reason}") from None
    except Image.DecompressionBombError:
        # Pillow's own guard, at twice its MAX_IMAGE_PIXELS, whatever our limit says.
        raise InvalidMedia("the image is too large to decode safely") from None


def _decode_at_an_eighth(image: Image.Image) -> None:
    """Have libjpeg decode a JPEG at 1/8 of its size.

    Every marker and every entropy-coded byte is still read and decoded, so a
    file cut short or with broken scan data fails as at full size; only the
    inverse DCT and the colour conversion of full-size pixels (three quarters
    of the time) are skipped.
    """
    width, height = image.size
    image.draft(None, (max(1, width // 8), max(1, height // 8)))


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    """Refuse an image whose header declares more pixels than the limit, before decoding."""
    width, height = image.size
    if width * height > max_pixels:
        raise InvalidMedia(
            f"the image is {width:,} x {height:,} pixels ({_mpx(width * height)} "
            f"megapixels), more than the {_mpx(max_pixels)} megapixel limit; "
            f"raise it with {FLAGS['image_pixels']} if it is expected"
        )


def _mpx(pixels: int) -> str:
    return f"{pixels / 1e6:,.1f}".removesuffix(".0")


def _check_video_decodes(path: Path, media: MediaType) -> None:
    import av  # imported here: PyAV is slow to import and only videos need it

    try:
        with av.open(str(path)) as container:
            streams = container.streams.video or container.streams.audio
            if not streams:
                raise InvalidMedia(f"the {media.ext[1:]} file holds no video or audio stream")
            for _frame in container.decode(streams[0]):
                return
    except av.FFmpegError as exc:
        raise InvalidMedia(f"the video does not decode: {exc}") from None
    raise InvalidMedia("the video holds no decodable frame")
