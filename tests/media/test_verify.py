"""Only whole, real media gets into the archive; everything else is refused with one clear line."""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image

from civitai_vault.media.detect import (
    AVIF,
    GIF,
    JPEG,
    MKV,
    MOV,
    MP4,
    PNG,
    WEBM,
    WEBP,
    detect_media,
)
from civitai_vault.media.verify import InvalidMedia, verify_bytes, verify_file

IMAGE_TYPES = {
    "png_rgb": PNG,
    "png_palette": PNG,
    "jpeg": JPEG,
    "webp_lossy": WEBP,
    "webp_lossless": WEBP,
    "gif": GIF,
}


def assert_refused(path, expected_size=None, *, says: str) -> str:
    with pytest.raises(InvalidMedia) as caught:
        verify_file(path, expected_size)
    reason = str(caught.value)
    assert "\n" not in reason
    assert says in reason, reason
    return reason


@pytest.mark.parametrize("kind", IMAGE_TYPES)
def test_real_images_are_accepted(files, kind):
    path = files.image(kind)
    media = verify_file(path, path.stat().st_size)
    assert media == IMAGE_TYPES[kind]
    assert media.kind == "image"


def test_real_videos_are_accepted(files):
    mp4, webm = files.mp4(), files.webm()
    assert verify_file(mp4, mp4.stat().st_size) == MP4
    assert verify_file(webm, None) == WEBM
    assert (MP4.ext, MP4.mime, MP4.kind) == (".mp4", "video/mp4", "video")


def test_an_avif_is_accepted(tmp_path):
    path = tmp_path / "still.avif"
    Image.new("RGB", (32, 32), (200, 10, 10)).save(path, "AVIF")
    assert verify_file(path, None) == AVIF


def test_the_type_comes_from_the_bytes_not_the_name(files):
    path = files.image("webp_lossy")
    disguised = path.rename(path.with_name("photo.png"))
    assert verify_file(disguised, None) == WEBP


@pytest.mark.parametrize("kind", IMAGE_TYPES)
def test_truncated_images_are_refused(files, kind):
    path = files.image(kind)
    data = path.read_bytes()
    for cut in (1, 12, len(data) // 2):
        path.write_bytes(data[:-cut])
        with pytest.raises(InvalidMedia):
            verify_file(path, None)


def test_a_short_download_is_refused_by_its_size(files):
    path = files.image("png_rgb")
    size = path.stat().st_size
    assert_refused(path, size + 100, says=f"{size:,} bytes but {size + 100:,}")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>", "web page"),
        (b"\n  <html><body>Access denied</body></html>", "web page"),
        (b'{"error": "Not Found", "status": 404}', "JSON"),
        (b"Not Found", "plain text"),
        (b"\x00\x01\x02\x03garbage\xff\xfe", "not a known image or video type"),
        (b"", "empty"),
    ],
)
def test_error_pages_and_garbage_are_refused(tmp_path, body, says):
    path = tmp_path / "download.part"
    path.write_bytes(body)
    assert_refused(path, says=says)


def test_an_mp4_cut_short_is_refused(files):
    path = files.mp4(frames=24)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])
    assert_refused(path, says="more bytes than the file has")


def test_an_mp4_without_its_index_is_refused(files):
    path = files.mp4()
    data = path.read_bytes()
    # Rename the moov box: the structure is intact but the movie header is gone.
    at = data.index(b"moov")
    path.write_bytes(data[:at] + b"free" + data[at + 4 :])
    assert_refused(path, says="no 'moov' box")


def test_an_mp4_whose_first_box_is_not_ftyp_is_refused(tmp_path):
    path = tmp_path / "odd.mp4"
    path.write_bytes(struct.pack(">I4s", 16, b"ftyp") + b"isom\x00\x00\x02\x00")
    assert_refused(path, says="no 'moov' box")


def test_an_mp4_with_broken_video_data_is_refused(files):
    path = files.mp4()
    data = bytearray(path.read_bytes())
    mdat = data.index(b"mdat") + 4
    size = struct.unpack(">I", data[mdat - 8 : mdat - 4])[0] - 8
    data[mdat : mdat + size] = bytes(size)  # same length, no decodable frame left
    path.write_bytes(bytes(data))
    assert_refused(path, says="video")


def test_a_webm_cut_short_is_refused(files):
    path = files.webm()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidMedia):
        verify_file(path, None)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(8), PNG),
        (b"\xff\xd8\xff\xe0" + bytes(8), JPEG),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", WEBP),
        (b"GIF89a" + bytes(8), GIF),
        (b"GIF87a" + bytes(8), GIF),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", MP4),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", MOV),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", AVIF),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", AVIF),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", None),
        (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\x82\x84webm", WEBM),
        (b"\x1aE\xdf\xa3\xa3B\x86\x81\x01B\xf7\x81\x01B\x82\x88matroska", MKV),
        (b"<html>", None),
        (b"", None),
    ],
)
def test_detect_media_by_magic_bytes(head, expected):
    assert detect_media(head) == expected


def _decodes_in_full(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, ValueError, SyntaxError):
        return False
    return True


def test_a_jpeg_with_broken_scan_data_is_refused(files):
    path = files.image("jpeg")
    data = path.read_bytes()
    middle = (data.index(b"\xff\xda") + len(data)) // 2
    path.write_bytes(data[:middle] + b"\xff" * 64 + data[middle + 64 :])
    assert_refused(path, says="does not decode")


def _png_chunk_offset(data: bytes, kind: bytes) -> int:
    """Where the data of the first chunk of `kind` starts."""
    return data.index(kind) + 4


def test_a_png_with_damaged_pixel_data_is_refused(files):
    path = files.image("png_rgb")
    data = bytearray(path.read_bytes())
    data[_png_chunk_offset(data, b"IDAT") + 20] ^= 0x01  # one bit, inside the pixel data
    path.write_bytes(bytes(data))
    assert_refused(path, says="chunk b'IDAT' is damaged")


@pytest.mark.parametrize("kind", ["png_rgb", "png_palette"])
def test_any_damage_to_a_png_is_refused_decodable_or_not(files, kind):
    """PNGs are judged by their CRCs, not decoded: every file a full decode refuses is
    refused, and so is damage a decoder would let through (in a text chunk, say)."""
    chooser = random.Random(29)
    original = files.image(kind).read_bytes()
    undecodable = 0
    for _ in range(150):
        damaged = bytearray(original)
        for _ in range(chooser.choice((1, 4, 16))):
            damaged[chooser.randrange(8, len(damaged))] = chooser.randrange(256)
        if damaged == original:
            continue
        with pytest.raises(InvalidMedia):
            verify_bytes(bytes(damaged), None)
        undecodable += not _decodes_in_full(bytes(damaged))
    assert undecodable >= 10  # the damage did reach the decoder, too
    assert verify_bytes(original, len(original)) == PNG


def test_jpegs_are_refused_exactly_when_a_full_size_decode_fails(files):
    """JPEGs are decoded at 1/8 of their size (every byte still read and decoded)."""
    chooser = random.Random(13)
    baseline = files.image("jpeg", name="baseline").read_bytes()
    progressive = files.image("jpeg", name="progressive", progressive=True).read_bytes()
    originals = [baseline, progressive]
    refused = 0
    for data in originals:
        variants = [data[:-cut] for cut in (1, 2, 40, len(data) // 3)]
        for _ in range(60):
            damaged = bytearray(data)
            for _ in range(chooser.choice((1, 4, 16))):
                damaged[chooser.randrange(len(damaged))] = chooser.randrange(256)
            variants.append(bytes(damaged))
        for variant in variants:
            try:
                verify_bytes(variant, None)
                ok = True
            except InvalidMedia:
                ok = False
                refused += 1
            assert ok == _decodes_in_full(variant)
    assert refused >= 10  # the damage did reach the decoder


@pytest.mark.parametrize("kind", IMAGE_TYPES)
def test_bytes_in_memory_are_judged_as_the_file_is(files, kind):
    path = files.image(kind)
    data = path.read_bytes()
    assert verify_bytes(data, len(data)) == verify_file(path, len(data))
    for cut in (1, len(data) // 2):
        with pytest.raises(InvalidMedia):
            verify_bytes(data[:-cut], None)
    with pytest.raises(InvalidMedia, match="announced"):
        verify_bytes(data, len(data) + 1)
