"""CDN URLs and downloads: the real file, never credentials, retries, no short files."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civitai_vault.api import CivitaiClient, MalformedResponse, NotFound
from civitai_vault.api.cdn import image_url

BASE = "https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA"
UUID = "69bf3279-df2c-4ec8-b795-479e9cd3db1b"


def test_original_image_url() -> None:
    assert image_url(BASE, UUID, "00014-3150861441.png", "image", 26962948) == (
        f"{BASE}/{UUID}/original=true/26962948.png"
    )
    assert image_url(BASE, UUID, "weird.name", "image", 7).endswith("/original=true/7.jpeg")
    assert image_url(BASE, UUID, None, None, 7).endswith("/original=true/7.jpeg")


def test_video_url_asks_for_the_real_video() -> None:
    url = image_url(BASE, UUID, "clip.webm", "video", 9)
    assert url == f"{BASE}/{UUID}/transcode=true,original=true/9.mp4"


def test_full_urls_pass_through_and_bad_uuids_are_refused() -> None:
    full = "https://image-b2.civitai.com/file/civitai-media-cache/abc/original"
    assert image_url(BASE, full, None, "image", 1) == full
    for bad in ("", "..", "a/b", "..\\x"):
        with pytest.raises(ValueError):
            image_url(BASE, bad, None, "image", 1)


@given(st.text(max_size=80), st.sampled_from(["image", "video", "audio", None, "x"]))
def test_name_part_never_comes_from_civitai_text(name: str, kind: str | None) -> None:
    url = image_url(BASE, UUID, name, kind, 123)
    tail = url.rsplit("/", 1)[1]
    stem, _, extension = tail.partition(".")
    assert stem == "123" and extension.isalnum()
    assert ".." not in url.removeprefix("https://")


def download_all(
    helpers: Any, urls: dict[int, str], folder: Path, in_memory: int = 0, **settings: Any
) -> Any:
    async def work(client: CivitaiClient) -> tuple[dict[int, Any], Any]:
        done = {}
        for image_id, url in urls.items():
            dest = folder / f"{image_id}.part"
            done[image_id] = await client.download(url, dest, in_memory=in_memory)
        return done, client.stats

    return helpers.call(work, **settings)


def urls_for(emu: Any, *roles: str) -> dict[int, str]:
    dataset = emu.dataset
    urls = {}
    for role in roles:
        record = dataset.images[dataset.named[role]]
        urls[record.id] = image_url(
            emu.image_base_url, record.uuid, record.name, record.type, record.id
        )
    return urls


def test_downloads_image_and_video_without_credentials(
    emu: Any, helpers: Any, tmp_path: Path, entry_header_of: Any
) -> None:
    urls = urls_for(emu, "comfy_png_image", "video_image", "hostile_image")
    done, stats = download_all(helpers, urls, tmp_path, auth="cookie")
    video_id = emu.dataset.named["video_image"]
    png_id = emu.dataset.named["comfy_png_image"]
    for image_id, download in done.items():
        path = tmp_path / f"{image_id}.part"
        assert path.stat().st_size == download.size > 0
        assert download.final_url == urls[image_id]
    assert (tmp_path / f"{png_id}.part").read_bytes().startswith(b"\x89PNG")
    assert done[video_id].content_type.startswith("video/")
    assert b"ftyp" in (tmp_path / f"{video_id}.part").read_bytes()[:16]
    assert stats.downloads == 3 and stats.bytes_downloaded == sum(d.size for d in done.values())

    cdn_entries = helpers.log("cdn")
    assert cdn_entries
    for entry in cdn_entries:
        assert entry_header_of(entry, "authorization") is None
        assert entry_header_of(entry, "cookie") is None


def test_no_credentials_reach_the_cdn_under_any_auth(
    emu: Any, helpers: Any, tmp_path: Path, entry_header_of: Any
) -> None:
    urls = urls_for(emu, "a1111_png_image")
    for auth in ("key", "cookie", "legacy"):
        download_all(helpers, urls, tmp_path, auth=auth)
    secrets = (emu.api_key, emu.session_token, emu.legacy_token)
    for entry in helpers.log("cdn"):
        for name in ("authorization", "cookie"):
            assert entry_header_of(entry, name) is None
        headers = str(entry.get("headers") if isinstance(entry, dict) else entry.headers)
        assert not any(secret in headers for secret in secrets)


@pytest.mark.parametrize(
    "kind",
    [
        "cdn_status_429",
        "cdn_status_500",
        "cdn_status_502",
        "cdn_status_503",
        "cdn_dropped",
        "cdn_truncated",
    ],
)
def test_cdn_faults_are_retried(emu: Any, helpers: Any, tmp_path: Path, kind: str) -> None:
    from civitai_emulator import Faults

    urls = urls_for(emu, "exif_jpeg_image")
    image_id = next(iter(urls))
    (tmp_path / "clean").mkdir()
    (tmp_path / "faulty").mkdir()
    clean, _ = download_all(helpers, urls, tmp_path / "clean")
    emu.set_faults(Faults(**{kind: 1.0}, limit=2))
    done, stats = download_all(helpers, urls, tmp_path / "faulty")
    assert done[image_id].size == clean[image_id].size
    name = f"{image_id}.part"
    assert (tmp_path / "faulty" / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()
    assert stats.cdn_retries == 2


def test_truncated_download_is_an_error_and_leaves_no_file(
    emu: Any, helpers: Any, tmp_path: Path
) -> None:
    from civitai_emulator import Faults

    urls = urls_for(emu, "exif_jpeg_image")
    emu.set_faults(Faults(cdn_truncated=1.0))
    with pytest.raises(MalformedResponse) as caught:
        download_all(helpers, urls, tmp_path, max_retries=1)
    assert "cut short" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_file_is_not_found(emu: Any, helpers: Any, tmp_path: Path) -> None:
    url = image_url(emu.image_base_url, "00000000-0000-4000-8000-000000000000", None, "image", 1)
    with pytest.raises(NotFound):
        download_all(helpers, {1: url}, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_small_body_stays_in_memory_and_a_large_one_goes_to_disk(
    emu: Any, helpers: Any, tmp_path: Path
) -> None:
    urls = urls_for(emu, "comfy_png_image", "video_image")
    png_id, video_id = emu.dataset.named["comfy_png_image"], emu.dataset.named["video_image"]
    (tmp_path / "disk").mkdir()
    on_disk, _ = download_all(helpers, urls, tmp_path / "disk")
    png = (tmp_path / "disk" / f"{png_id}.part").read_bytes()
    video = (tmp_path / "disk" / f"{video_id}.part").read_bytes()
    assert on_disk[png_id].data is None

    (tmp_path / "memory").mkdir()
    limit = max(len(png), len(video)) - 1  # the larger of the two does not fit
    done, stats = download_all(helpers, urls, tmp_path / "memory", in_memory=limit)
    small, large = (png_id, video_id) if len(png) < len(video) else (video_id, png_id)
    small_bytes = png if small == png_id else video
    large_bytes = video if small == png_id else png
    assert done[small].data == small_bytes and done[small].size == len(small_bytes)
    assert not (tmp_path / "memory" / f"{small}.part").exists()
    assert done[large].data is None
    assert (tmp_path / "memory" / f"{large}.part").read_bytes() == large_bytes
    assert stats.bytes_downloaded == len(png) + len(video)


def test_a_body_cut_short_in_memory_is_still_an_error(
    emu: Any, helpers: Any, tmp_path: Path
) -> None:
    from civitai_emulator import Faults

    urls = urls_for(emu, "exif_jpeg_image")
    emu.set_faults(Faults(cdn_truncated=1.0))
    with pytest.raises(MalformedResponse) as caught:
        download_all(helpers, urls, tmp_path, in_memory=1 << 24, max_retries=1)
    assert "cut short" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_client_downloads_again_after_it_is_closed_and_opened_on_a_new_loop(
    emu: Any, helpers: Any, tmp_path: Path
) -> None:
    """Downloads run on a loop of the client's own; closing ends it, opening makes another."""
    url = next(iter(urls_for(emu, "a1111_png_image").values()))
    client = CivitaiClient(helpers.settings("key"))

    async def once(n: int) -> int:
        async with client:
            download = await client.download(url, tmp_path / f"{n}.part", in_memory=1 << 24)
        assert download.data is not None and download.data.startswith(b"\x89PNG")
        return download.size

    sizes = [asyncio.run(once(n)) for n in range(2)]
    assert sizes[0] == sizes[1] > 0
    assert not [t for t in threading.enumerate() if t.name == "civitai-vault-cdn"]
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(client.download(url, tmp_path / "closed.part"))


def test_a_cancelled_download_stops_and_leaves_no_file(
    emu: Any, helpers: Any, tmp_path: Path
) -> None:
    """Ctrl+C during a slow download: the request is dropped, no partial file stays."""
    from civitai_emulator import Faults

    emu.set_faults(Faults(cdn_latency=120.0))
    url = next(iter(urls_for(emu, "comfy_png_image").values()))
    dest = tmp_path / "slow.part"

    async def main() -> None:
        async with CivitaiClient(helpers.settings("key")) as client:
            task = asyncio.create_task(client.download(url, dest))
            for _ in range(2000):  # until the request is on its way (bounded)
                if client.stats.cdn_requests:
                    break
                await asyncio.sleep(0.01)
            assert client.stats.cdn_requests == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert not dest.exists()
    assert not [t for t in threading.enumerate() if t.name == "civitai-vault-cdn"]


def test_the_time_downloads_hold_a_slot_is_counted(emu: Any, helpers: Any, tmp_path: Path) -> None:
    """`cdn_seconds` (a sync summary's and benchmarks' "CDN slots busy") sums each
    download's time in its slot: at least the latency the CDN adds to every answer."""
    from civitai_emulator import Faults

    urls = urls_for(emu, "comfy_png_image", "exif_jpeg_image", "a1111_png_image")
    emu.set_faults(Faults(cdn_latency=0.1))
    _, stats = download_all(helpers, urls, tmp_path)
    assert stats.cdn_requests == 3
    assert stats.cdn_seconds >= 3 * 0.1
    assert stats.as_dict()["cdn_seconds"] == round(stats.cdn_seconds, 3)
