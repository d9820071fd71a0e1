"""Files: served from inside media/ only, with the archived type; thumbnails made and cached."""

from __future__ import annotations

import http.client
import io
import shutil
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

SQLITE_MAGIC = b"SQLite format 3"


def raw_get(base_url: str, raw_path: str) -> tuple[int, bytes]:
    """GET exactly `raw_path`: http.client sends it as written (httpx would normalize `..`)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    try:
        conn.request("GET", raw_path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_an_archived_file_is_served_whole_with_its_detected_type(mini_gallery, mini_archive):
    for image_id, path, mime in (
        (101, "/media/alice/101.png", "image/png"),
        (102, "/media/bob/102.jpg", "image/jpeg"),
        (103, "/media/alice/103.mp4", "video/mp4"),
    ):
        answer = httpx.get(mini_gallery + path)
        assert answer.status_code == 200
        assert answer.headers["content-type"] == mime
        assert answer.content == mini_archive.files[image_id]
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_video_can_be_fetched_in_ranges_for_seeking(mini_gallery, mini_archive):
    answer = httpx.get(mini_gallery + "/media/alice/103.mp4", headers={"Range": "bytes=10-19"})
    assert answer.status_code == 206
    assert answer.content == mini_archive.files[103][10:20]


@pytest.mark.parametrize(
    "raw_path",
    [
        "/media/../vault.db",
        "/media/%2e%2e/vault.db",
        "/media/%2E%2E%2Fvault.db",
        "/media/alice/../../vault.db",
        "/media/alice/%2e%2e/%2e%2e/vault.db",
        "/media/..%5cvault.db",
        "/media/..%255cvault.db",
        "/media/%252e%252e/vault.db",
        "/media//etc/passwd",
        "/media/%2Fetc%2Fpasswd",
        "/media/%00/../vault.db",
        "/media/C:/Windows/win.ini",
        "/media/mallory/105.png",  # a symlink inside media/ that leads outside
        "/media/carol/104.png",  # recorded, but not on disk
        "/media/alice/",
        "/media/",
        "/static/../vault.db",
        "/static/%2e%2e/web/app.py",
        "/thumbs/../vault.db",
        "/vault.db",
        "/.thumbs/",
    ],
)
def test_nothing_outside_media_can_be_fetched(mini_gallery, mini_archive, raw_path):
    status, body = raw_get(mini_gallery, raw_path)
    assert status in (400, 404, 405)
    assert SQLITE_MAGIC not in body
    assert b"secret outside the archive" not in body


def test_a_file_on_disk_that_the_archive_does_not_know_is_not_served(mini_gallery, mini_archive):
    stray = mini_archive.path / "media" / "alice" / "stray.html"
    stray.write_text("<script>alert(1)</script>")
    try:
        status, _ = raw_get(mini_gallery, "/media/alice/stray.html")
        assert status == 404
    finally:
        stray.unlink()


def test_thumbnails_are_made_once_and_cached_under_the_archive(mini_gallery, mini_archive):
    answer = httpx.get(mini_gallery + "/thumbs/101")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/webp"
    cached = list((mini_archive.path / ".thumbs").rglob("101-*.webp"))
    assert len(cached) == 1
    made = cached[0].stat().st_mtime_ns
    again = httpx.get(mini_gallery + "/thumbs/101")
    assert again.content == answer.content
    assert cached[0].stat().st_mtime_ns == made
    with Image.open(cached[0]) as thumb:
        assert thumb.size == (96, 128)  # small pictures are not enlarged
        assert thumb.getpixel((10, 10))[0] > 150  # the red of the original
    # Written atomically: no temporary file stays behind.
    assert not list((mini_archive.path / ".thumbs").rglob(".tmp-*"))
    assert not list((mini_archive.path / ".thumbs").rglob("*.tmp"))


def test_a_video_thumbnail_is_its_first_frame(mini_gallery, mini_archive):
    for size in ("grid", "poster"):
        answer = httpx.get(mini_gallery + "/thumbs/103", params={"size": size})
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "image/webp"
    poster = next((mini_archive.path / ".thumbs").rglob("103-*.webp"))
    with Image.open(poster) as frame:
        assert frame.size == (64, 64)
        red, _green, blue = frame.convert("RGB").getpixel((32, 32))
        assert blue > 200 and red < 60  # the first frame is blue, later ones turn red


@pytest.mark.parametrize("image_id", [104, 105, 1000, 424242])
def test_without_a_usable_file_the_thumbnail_is_a_placeholder(mini_gallery, image_id):
    answer = httpx.get(mini_gallery + f"/thumbs/{image_id}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "image/svg+xml"
    assert b"no file" in answer.content
    assert b"secret" not in answer.content


def test_only_named_thumbnail_sizes_exist(mini_gallery):
    assert httpx.get(mini_gallery + "/thumbs/101", params={"size": "99999"}).status_code == 400


def test_thumbnails_still_work_when_the_archive_cannot_be_written(mini_archive, tmp_path):
    from civitai_vault.web.server import running_gallery

    copy = shutil.copytree(mini_archive.path, tmp_path / "archive", symlinks=True)
    shutil.rmtree(copy / ".thumbs", ignore_errors=True)
    (copy / ".thumbs").write_text("a file where the thumbnail folder would be")
    with running_gallery(copy) as url:
        answer = httpx.get(url + "/thumbs/102")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(answer.content)) as thumb:
        assert thumb.size == (128, 96)
