"""Real image bytes for the CDN, cheap enough to serve thousands a minute.

Every picture is a stack of horizontal bands: a thin signature strip unique to the
image, then three bands each drawn from a small pool of variants (a gradient with a
few flat shapes). The pixel size is exactly the record's width x height.

PNG originals are assembled without re-encoding: each band variant is deflated once
(ending on a full flush, so compressed bands can follow each other) and only the
signature strip is compressed per image; the zlib checksum is combined arithmetically.
JPEG and WebP originals are encoded by Pillow from the same bands. Originals carry
what real uploads carry, per `ImageRecord.embedded_kind`: an A1111 `parameters` text
chunk, ComfyUI `prompt`/`workflow` chunks, an EXIF UserComment, or nothing.
"""

from __future__ import annotations

import hashlib
import io
import random
import struct
import threading
import zlib
from collections import OrderedDict
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw

from civitai_emulator.dataset import Dataset, ImageRecord
from civitai_emulator.infotext import a1111_infotext, comfy_graphs

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BAND_SLOTS = 3
BAND_VARIANTS = 8
SIGNATURE_ROWS = 8
SIGNATURE_BLOCK = 16
_ADLER_BASE = 65521


# ------------------------------------------------------------------- pictures


def _band_rng(seed: int, width: int, rows: int, slot: int, variant: int) -> random.Random:
    return random.Random(f"band/{seed}/{width}/{rows}/{slot}/{variant}")


def draw_band(seed: int, width: int, rows: int, slot: int, variant: int) -> Image.Image:
    """One band: a vertical two-colour gradient and a few flat shapes."""
    rng = _band_rng(seed, width, rows, slot, variant)
    start = [rng.randrange(256) for _ in range(3)]
    end = [rng.randrange(256) for _ in range(3)]
    ramp = _gradient(rows)
    channels = [
        ramp.point([a + (b - a) * v // 255 for v in range(256)])
        for a, b in zip(start, end, strict=True)
    ]
    band = Image.merge("RGB", channels).resize((width, rows), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(band)
    for _ in range(rng.randrange(2, 5)):
        x, y = rng.randrange(width), rng.randrange(max(rows, 1))
        radius = rng.randrange(max(width // 14, 2), max(width // 5, 3))
        colour = tuple(rng.randrange(256) for _ in range(3))
        if rng.random() < 0.6:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
        else:
            draw.rectangle((x - radius, y - radius // 2, x + radius, y + radius // 2), fill=colour)
    return band


@lru_cache(maxsize=64)
def _gradient(rows: int) -> Image.Image:
    """A 1-pixel-wide vertical ramp 0..255 over `rows` rows."""
    ramp = Image.linear_gradient("L").resize((1, max(rows, 1)), Image.Resampling.BILINEAR)
    return ramp


def draw_signature(image_key: str, width: int, rows: int) -> Image.Image:
    """A strip of coloured blocks from a hash of the image: no two images share it."""
    digest = hashlib.sha256(image_key.encode()).digest()
    blocks = max(width // SIGNATURE_BLOCK, 1)
    palette = bytearray()
    for index in range(blocks):
        byte = digest[index % len(digest)] ^ (index * 37 & 0xFF)
        palette += bytes((byte, (byte * 7) & 0xFF, (byte * 13 + index) & 0xFF))
    strip = Image.frombytes("RGB", (blocks, 1), bytes(palette))
    return strip.resize((width, rows), Image.Resampling.NEAREST)


def band_layout(height: int) -> tuple[int, list[int]]:
    """(signature rows, band heights) for a picture `height` rows tall."""
    signature = min(SIGNATURE_ROWS, max(height // 8, 1))
    rest = height - signature
    base = rest // BAND_SLOTS
    bands = [base] * (BAND_SLOTS - 1) + [rest - base * (BAND_SLOTS - 1)]
    return signature, bands


def band_variants(seed: int, image_key: str) -> list[int]:
    digest = hashlib.sha256(f"{seed}/{image_key}".encode()).digest()
    return [digest[slot] % BAND_VARIANTS for slot in range(BAND_SLOTS)]


# ------------------------------------------------------------------------ PNG


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def text_chunk(keyword: str, text: str) -> bytes:
    """tEXt when the text is Latin-1, else iTXt (UTF-8), as Pillow's add_text does."""
    try:
        return png_chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        payload = keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8")
        return png_chunk(b"iTXt", payload)


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """zlib's adler32_combine: the checksum of A+B from the checksums of A and B."""
    remainder = second_length % _ADLER_BASE
    sum1 = first & 0xFFFF
    sum2 = (remainder * sum1) % _ADLER_BASE
    sum1 += (second & 0xFFFF) + _ADLER_BASE - 1
    sum2 += ((first >> 16) & 0xFFFF) + ((second >> 16) & 0xFFFF) + _ADLER_BASE - remainder
    if sum1 >= _ADLER_BASE:
        sum1 -= _ADLER_BASE
    if sum1 >= _ADLER_BASE:
        sum1 -= _ADLER_BASE
    if sum2 >= _ADLER_BASE << 1:
        sum2 -= _ADLER_BASE << 1
    if sum2 >= _ADLER_BASE:
        sum2 -= _ADLER_BASE
    return sum1 | (sum2 << 16)


def _scanlines(picture: Image.Image) -> bytes:
    """Raw PNG scanlines with filter type 0 (None) for an RGB picture."""
    raw = picture.tobytes()
    stride = picture.width * 3
    return b"".join(b"\0" + raw[i : i + stride] for i in range(0, len(raw), stride))


def _deflate(data: bytes, last: bool, level: int = 6) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(
        zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH
    )


class PictureMaker:
    """Draws and encodes pictures; caches what is shared between images."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.seed = dataset.seed
        self._lock = threading.Lock()
        self._compressed: dict[tuple[int, int, int, int], tuple[bytes, int, int]] = {}
        self._bands: OrderedDict[tuple[int, int, int, int], Image.Image] = OrderedDict()

    # --- shared pieces -----------------------------------------------------------

    def band(self, width: int, rows: int, slot: int, variant: int) -> Image.Image:
        key = (width, rows, slot, variant)
        with self._lock:
            cached = self._bands.get(key)
            if cached is not None:
                self._bands.move_to_end(key)
                return cached
        band = draw_band(self.seed, width, rows, slot, variant)
        with self._lock:
            self._bands[key] = band
            if len(self._bands) > 96:
                self._bands.popitem(last=False)
        return band

    def compressed_band(
        self, width: int, rows: int, slot: int, variant: int
    ) -> tuple[bytes, int, int]:
        key = (width, rows, slot, variant)
        with self._lock:
            cached = self._compressed.get(key)
        if cached is not None:
            return cached
        scanlines = _scanlines(self.band(width, rows, slot, variant))
        entry = (
            _deflate(scanlines, last=slot == BAND_SLOTS - 1),
            zlib.adler32(scanlines),
            len(scanlines),
        )
        with self._lock:
            self._compressed[key] = entry
        return entry

    def picture(self, image_key: str, width: int, height: int) -> Image.Image:
        signature_rows, band_rows = band_layout(height)
        canvas = Image.new("RGB", (width, height))
        canvas.paste(draw_signature(image_key, width, signature_rows), (0, 0))
        top = signature_rows
        for slot, (rows, variant) in enumerate(
            zip(band_rows, band_variants(self.seed, image_key), strict=True)
        ):
            canvas.paste(self.band(width, rows, slot, variant), (0, top))
            top += rows
        return canvas

    # --- encoders ---------------------------------------------------------------

    def png(self, image_key: str, width: int, height: int, chunks: list[bytes]) -> bytes:
        signature_rows, band_rows = band_layout(height)
        strip = _scanlines(draw_signature(image_key, width, signature_rows))
        parts = [_deflate(strip, last=False, level=1)]
        checksum = zlib.adler32(strip)
        for slot, (rows, variant) in enumerate(
            zip(band_rows, band_variants(self.seed, image_key), strict=True)
        ):
            data, band_checksum, length = self.compressed_band(width, rows, slot, variant)
            parts.append(data)
            checksum = adler32_combine(checksum, band_checksum, length)
        stream = b"\x78\x9c" + b"".join(parts) + struct.pack(">I", checksum)
        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return b"".join(
            [
                PNG_SIGNATURE,
                png_chunk(b"IHDR", header),
                *chunks,
                png_chunk(b"IDAT", stream),
                png_chunk(b"IEND", b""),
            ]
        )

    def encoded(self, picture: Image.Image, fmt: str, exif: bytes | None = None) -> bytes:
        out = io.BytesIO()
        by_format: dict[str, dict[str, Any]] = {
            "JPEG": {"quality": 88},
            "WEBP": {"quality": 80, "method": 0},
            "TIFF": {"compression": "tiff_deflate"},
        }
        options = by_format[fmt]
        if exif:
            options["exif"] = exif
        picture.save(out, fmt, **options)
        return out.getvalue()

    # --- what the CDN asks for ---------------------------------------------------

    def original(self, record: ImageRecord) -> bytes:
        key = record.uuid
        if record.mime_type == "image/png":
            return self.png(key, record.width, record.height, self._png_chunks(record))
        picture = self.picture(key, record.width, record.height)
        exif = None
        if record.embedded_kind == "exif":
            text = a1111_infotext(self.dataset, record)
            exif = exif_user_comment(text) if text else None
        fmt = {"image/webp": "WEBP", "image/tiff": "TIFF"}.get(record.mime_type, "JPEG")
        return self.encoded(picture, fmt, exif)

    def _png_chunks(self, record: ImageRecord) -> list[bytes]:
        if record.embedded_kind == "a1111":
            text = a1111_infotext(self.dataset, record)
            return [text_chunk("parameters", text)] if text else []
        if record.embedded_kind == "comfy":
            prompt, workflow = comfy_graphs(record)
            return [text_chunk("prompt", prompt), text_chunk("workflow", workflow)]
        return []

    def resized(self, image_key: str, width: int, height: int, target: tuple[int, int]) -> bytes:
        picture = self.picture(image_key, width, height)
        return self.encoded(picture.resize(target, Image.Resampling.BILINEAR), "JPEG")


def scaled_size(
    width: int, height: int, want_width: int | None, want_height: int | None
) -> tuple[int, int]:
    """Fit into the asked width/height, keeping the aspect ratio, never upscaling."""
    scale = 1.0
    if want_width:
        scale = min(scale, want_width / width)
    if want_height:
        scale = min(scale, want_height / height)
    return max(round(width * scale), 1), max(round(height * scale), 1)


def exif_user_comment(text: str) -> bytes:
    """An `Exif\\0\\0` block holding UserComment = "UNICODE\\0" + UTF-16BE text, big-endian
    TIFF, the way AUTOMATIC1111 writes it through piexif
    (`piexif.helper.UserComment.dump(text, encoding="unicode")`)."""
    comment = b"UNICODE\0" + text.encode("utf-16-be")
    # TIFF header (8) + IFD0 with one entry (2 + 12 + 4) = 26; the Exif IFD follows.
    exif_ifd_offset = 8 + 2 + 12 + 4
    comment_offset = exif_ifd_offset + 2 + 12 + 4
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += (
        struct.pack(">H", 1)
        + struct.pack(">HHII", 0x8769, 4, 1, exif_ifd_offset)
        + struct.pack(">I", 0)
    )
    tiff += struct.pack(">H", 1) + struct.pack(">HHII", 0x9286, 7, len(comment), comment_offset)
    tiff += struct.pack(">I", 0) + comment
    return b"Exif\x00\x00" + tiff


def sniff_content_type(data: bytes) -> str:
    if data.startswith(PNG_SIGNATURE):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return "application/octet-stream"
