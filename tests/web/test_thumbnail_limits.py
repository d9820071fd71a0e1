"""Thumbnails of hostile files and rows: small memory, nothing written outside the archive.

Memory is measured by the gallery process itself: its peak resident size
(`VmHWM` in /proc/self/status, the kernel's count for this process's memory
since it started; `getrusage` would also count what the parent had when it
forked), in a subprocess of its own so that nothing else in the test run counts.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image
from tests.support.archive_builder import ArchiveBuilder, Media

from civitai_vault.web.server import running_gallery

from .conftest import png_bytes

BOMB_SIDE = 12_000  # 144 Mpx: 432 MB as RGB, in a PNG of about 420 KB
BOMBS = 8


def png_bomb(side: int) -> bytes:
    """A valid RGB PNG of side x side black pixels, compressed without ever holding them."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + side * 3)  # filter byte, then the pixels
    compressed = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", compressed)
        + chunk(b"IEND", b"")
    )


def big_jpeg(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (side, side), 200).save(out, "JPEG", quality=50)
    return out.getvalue()


def add_image(
    builder: ArchiveBuilder, image_id: int, data: bytes, mime: str, sha256: str | None = None
) -> None:
    """An image known from a listing, with its file (whose recorded hash may be `sha256`)."""
    relative = f"media/u/{image_id}.{mime.split('/')[1]}"
    builder.image(
        image_id,
        details=False,
        type="image",
        created_at=f"2024-01-01T00:00:{image_id % 60:02d}",
        file=Media(relative, data, mime, sha256=sha256),
    )


MEASURE = """
import json, re, sys
import httpx
from civitai_vault.web.server import running_gallery

ids = json.loads(sys.argv[2])
with running_gallery(sys.argv[1]) as url, httpx.Client(base_url=url, timeout=120) as http:
    answers = {i: (r.status_code, r.headers["content-type"], len(r.content))
               for i in ids for r in [http.get(f"/thumbs/{i}")]}
with open("/proc/self/status") as status:
    peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1))
print(json.dumps({"peak_kb": peak_kb, "answers": answers}))
"""


def test_eight_decompression_bombs_and_a_huge_jpeg_cost_little_memory(tmp_path):
    root = tmp_path / "archive"
    bomb = png_bomb(BOMB_SIDE)
    assert len(bomb) < 600_000
    builder = ArchiveBuilder(root)
    for image_id in range(1, BOMBS + 1):
        add_image(builder, image_id, bomb, "image/png")
    add_image(builder, 100, big_jpeg(9_000), "image/jpeg")  # 81 Mpx, decodes at 1/8
    builder.build()
    ids = [*range(1, BOMBS + 1), 100]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(root), json.dumps(ids)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    answers = {int(k): v for k, v in result["answers"].items()}
    # The bombs are not previewed (the grey "no file" tile); the JPEG is.
    for image_id in range(1, BOMBS + 1):
        assert answers[image_id][:2] == [404, "image/svg+xml"]
    assert answers[100][:2] == [200, "image/webp"]
    # One bomb decoded would be 432 MB; the gallery with everything loaded stays near 100 MB.
    assert result["peak_kb"] < 250_000, result["peak_kb"]
    cached = list((root / ".thumbs").rglob("100-*.webp"))
    assert len(cached) == 1
    with Image.open(cached[0]) as thumb:
        assert thumb.size == (400, 400)


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


@pytest.fixture
def hostile_rows_archive(tmp_path: Path) -> Path:
    root = tmp_path / "inside" / "archive"
    root.parent.mkdir()
    builder = ArchiveBuilder(root)
    # The hashes in the database try to steer the thumbnail's name out of `.thumbs`.
    for image_id, sha256 in ((1, "/../../../../../../escaped"), (2, "../../../../../../../../tmp")):
        add_image(builder, image_id, png_bytes((10, 200, 10)), "image/png", sha256)
    add_image(builder, 3, png_bytes((10, 200, 10)), "image/png")
    return builder.build()


def test_hashes_from_the_database_never_place_a_thumbnail_outside_it(hostile_rows_archive):
    root = hostile_rows_archive
    outside = root.parent.parent
    before = files_under(outside) - files_under(root)
    with running_gallery(root) as url:
        for image_id in (1, 2, 3):
            answer = httpx.get(f"{url}/thumbs/{image_id}")
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "image/webp"
    assert files_under(outside) - files_under(root) == before
    # Only the image with a real hash was cached, inside the archive.
    assert [p.name.split("-")[0] for p in (root / ".thumbs").rglob("*.webp")] == ["3"]


def test_a_thumbnail_folder_that_leads_outside_is_neither_written_nor_read(
    hostile_rows_archive, tmp_path
):
    root = hostile_rows_archive
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / ".thumbs").symlink_to(elsewhere, target_is_directory=True)
    # A planted "thumbnail" that is a symlink to a private file.
    private = tmp_path / "private.txt"
    private.write_text("private text")
    with running_gallery(root) as url:
        answer = httpx.get(f"{url}/thumbs/3")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/webp"
    assert list(elsewhere.rglob("*")) == []

    (root / ".thumbs").unlink()
    record = (
        sqlite3.connect(root / "vault.db")
        .execute("SELECT sha256 FROM files WHERE image_id = 3")
        .fetchone()
    )
    shard = root / ".thumbs" / "003"
    shard.mkdir(parents=True)
    (shard / f"3-{record[0][:16]}-400.webp").symlink_to(private)
    with running_gallery(root) as url:
        answer = httpx.get(f"{url}/thumbs/3")
    assert answer.status_code == 200
    assert b"private text" not in answer.content
    assert answer.headers["content-type"] == "image/webp"
    # The planted link was replaced by a real thumbnail; the private file is untouched.
    assert not os.path.islink(shard / f"3-{record[0][:16]}-400.webp")
    assert private.read_text() == "private text"
