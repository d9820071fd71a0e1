"""What a file is, from its first bytes; names and Content-Type headers are never trusted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Enough for every signature below, including the EBML DocType of WebM/Matroska.
HEAD_SIZE = 64


@dataclass(frozen=True)
class MediaType:
    ext: str  # with the dot: ".png"
    mime: str
    kind: Literal["image", "video"]


PNG = MediaType(".png", "image/png", "image")
JPEG = MediaType(".jpg", "image/jpeg", "image")
WEBP = MediaType(".webp", "image/webp", "image")
GIF = MediaType(".gif", "image/gif", "image")
AVIF = MediaType(".avif", "image/avif", "image")
TIFF = MediaType(".tif", "image/tiff", "image")  # Civitai accepts TIFF originals
MP4 = MediaType(".mp4", "video/mp4", "video")
MOV = MediaType(".mov", "video/quicktime", "video")
WEBM = MediaType(".webm", "video/webm", "video")
MKV = MediaType(".mkv", "video/x-matroska", "video")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EBML_SIGNATURE = b"\x1a\x45\xdf\xa3"
# Little- and big-endian TIFF, and BigTIFF.
TIFF_SIGNATURES = frozenset({b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
# HEIF stills share the ISO box layout with MP4 but are neither MP4 nor something we serve.
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})


def detect_media(head: bytes) -> MediaType | None:
    """The media type of a file from its first bytes (pass at least `HEAD_SIZE`), else None."""
    if head.startswith(PNG_SIGNATURE):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] in TIFF_SIGNATURES:
        return TIFF
    if head[4:8] == b"ftyp":
        return _detect_iso_bmff(head)
    if head.startswith(EBML_SIGNATURE):
        return WEBM if b"webm" in head[:HEAD_SIZE] else MKV
    return None


def _detect_iso_bmff(head: bytes) -> MediaType | None:
    """MP4, QuickTime and AVIF all start with an `ftyp` box; its brands tell them apart."""
    box_size = int.from_bytes(head[:4], "big")
    major = head[8:12]
    end = min(box_size, len(head)) if box_size >= 16 else len(head)
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    brands = {major} | compatible
    if brands & AVIF_BRANDS:
        return AVIF
    if major in HEIF_BRANDS:
        return None
    if major == b"qt  ":
        return MOV
    return MP4
