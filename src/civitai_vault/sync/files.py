"""Getting one image's file into the archive without ever exposing a half-written file.

The bytes are checked (length, type from magic bytes, a full decode), get the
generation data written into them, go to `media/.partial/<image id>.part`,
are flushed to the disk, and only then are renamed onto their final name. A
run killed at any moment leaves at most a stray `.part` file, which the next
run overwrites.

An image up to `IN_MEMORY_BYTES` (8 MB) stays in memory from the download to that
one write, so it is written once and read never; larger files and videos are
streamed to the `.part` file and checked there.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from civitai_vault.api import CivitaiClient, MalformedResponse, NotFound
from civitai_vault.api.cdn import DEFAULT_VIDEO_BASE_URL, video_urls
from civitai_vault.api.limits import DEFAULT_LIMITS
from civitai_vault.archive.writer import FileRow
from civitai_vault.media.detect import HEAD_SIZE, detect_media
from civitai_vault.media.embed import embedded_bytes
from civitai_vault.media.naming import check_template, render_relpath, safe_join
from civitai_vault.media.sidecars import write_sidecars
from civitai_vault.media.verify import InvalidMedia, verify_bytes, verify_file

PARTIAL_DIR = ".partial"
# Larger downloads go to disk as they arrive. A sync keeps 24 files in flight
# (six per CDN slot, `run.FILES_PER_CDN_SLOT`), each at most this much in memory.
IN_MEMORY_BYTES = 8 * 1024 * 1024
DEFAULT_TEMPLATE = "{username}/{image_id}.{ext}"
T = TypeVar("T")


@dataclass(frozen=True)
class FileOptions:
    template: str = DEFAULT_TEMPLATE
    embed: bool = True
    sidecar_txt: bool = False
    sidecar_json: bool = False
    video_base_url: str = DEFAULT_VIDEO_BASE_URL

    def __post_init__(self) -> None:
        # A mistyped template, or one that could give two images one name, fails
        # before a run starts, not after its first downloads.
        check_template(self.template)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def clear_partials(media_dir: Path) -> None:
    """Remove what an interrupted run left half-written; only this folder ever holds it."""
    folder = media_dir / PARTIAL_DIR
    if folder.is_dir():
        shutil.rmtree(folder)


def partial_path(media_dir: Path, image_id: int) -> Path:
    folder = media_dir / PARTIAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{image_id}.part"


async def fetch_file(
    client: CivitaiClient,
    media_dir: Path,
    record: dict[str, Any],
    options: FileOptions,
) -> FileRow:
    """Download, verify, embed and place one image's file; returns the row to record."""
    if not record.get("image_url"):
        raise MalformedResponse(
            f"Civitai gave no usable file address for image {record['image_id']}",
            procedure="download",
            server_message=f"CDN id {record.get('uuid')!r}",
        )
    part = partial_path(media_dir, record["image_id"])
    try:
        if (record.get("type") or "").lower() == "video":
            return await _fetch_video(client, media_dir, record, options, part)
        download = await client.download(
            record["image_url"], part, _subject(record), in_memory=IN_MEMORY_BYTES
        )
        # Decoding, hashing and fsync are slow and release the GIL: keep them off the
        # event loop so API calls stay in flight meanwhile.
        return await _checked(
            place_file,
            part,
            download.size,
            media_dir,
            record,
            options,
            max_pixels=client.settings.limits.image_pixels,
            data=download.data,
        )
    finally:
        part.unlink(missing_ok=True)


async def _fetch_video(
    client: CivitaiClient, media_dir: Path, record: dict[str, Any], options: FileOptions, part: Path
) -> FileRow:
    """A video must end as a video: an address that serves a still is passed over.

    Civitai's CDN answers some videos' `original=true` (or an old transcode)
    with a static WebP (gallery-dl gh#7502, gh#7626); such a still is never
    kept as the video. When no address gives a video, the image is a recorded
    failure that says so.
    """
    urls = video_urls(
        record["image_url"],
        client.image_base_url,
        # --video-base-url (settings) over the run's default.
        client.settings.video_base_url or options.video_base_url,
        record.get("uuid"),
        record["image_id"],
    )
    problems: list[str] = []
    for url in urls:
        try:
            download = await client.download(url, part, _subject(record))
        except NotFound:
            problems.append("not found")
            continue
        kind = await _checked(_kind_of, part, download.size)
        if kind == "video":
            return await _checked(place_file, part, download.size, media_dir, record, options)
        problems.append(kind)
    raise InvalidMedia(
        f"video {record['image_id']}: no address served the video "
        f"({len(urls)} tried: {', '.join(problems)})"
    )


# Checking a file is CPU work, done on one thread per core but one: that core is
# the event loops', which keep the downloads and API calls moving. Every thread
# that checks files also takes the interpreter lock back after each step that
# let it go (a hash, a write, an fsync), and competes for it with the loop that
# holds the CDN slots: on two cores, a second checking thread made each download
# hold its slot 1-2 ms longer and the sync as a whole slower, though it checked
# no faster (`benchmarks/batching.py`, four runs each way).
_CHECKERS = ThreadPoolExecutor(
    max_workers=max(1, min(4, (os.cpu_count() or 2) - 1)),
    thread_name_prefix="civitai-vault-files",
)


async def _checked(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` on a file-checking thread."""
    return await asyncio.get_running_loop().run_in_executor(
        _CHECKERS, functools.partial(fn, *args, **kwargs)
    )


def _kind_of(part: Path, size: int) -> str:
    """'video' for a decodable video; else what was served instead (a still, a bad file)."""
    try:
        media = verify_file(part, size)
    except InvalidMedia as exc:
        return f"unusable ({exc})"
    return "video" if media.kind == "video" else f"a still {media.ext[1:].upper()}"


def place_file(
    part: Path,
    size: int,
    media_dir: Path,
    record: dict[str, Any],
    options: FileOptions,
    *,
    max_pixels: int = DEFAULT_LIMITS.image_pixels,
    data: bytes | None = None,
) -> FileRow:
    """Verify the download, write the generation data into it, move it into place.

    The download is `data` when it stayed in memory, else the file at `part`.
    """
    if data is not None and _is_video(data):
        part.write_bytes(data)  # PyAV decodes from a file
        data = None
    if data is None:
        media_type = verify_file(part, size, max_pixels)
        on_disk = True
        if media_type.kind == "image":
            data = part.read_bytes()  # the embedders work on the whole file
    else:
        media_type = verify_bytes(data, size, max_pixels)
        on_disk = False
    relpath = render_relpath(options.template, record, media_type.ext.lstrip("."))
    final = safe_join(media_dir, relpath)
    # Records name files relative to the archive folder, so `media/` leads.
    stored_path = f"{media_dir.name}/{relpath}"
    placed = {**record, "file_path": stored_path, "sha256": None}
    if data is None:  # a video: kept exactly as served
        served_sha = sha = sha256_of(part)
        served_size = final_size = part.stat().st_size
        embedded = False
        _flush(part)
    else:
        served_sha, served_size = hashlib.sha256(data).hexdigest(), len(data)
        body = data
        if options.embed and media_type.kind == "image":
            body = embedded_bytes(data, placed)
        embedded = body != data
        sha = hashlib.sha256(body).hexdigest() if embedded else served_sha
        final_size = len(body)
        if embedded or not on_disk:
            _write_durably(part, body)
        else:
            _flush(part)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(part, final)
    if options.sidecar_txt or options.sidecar_json:
        write_sidecars(
            final, {**placed, "sha256": sha}, txt=options.sidecar_txt, json=options.sidecar_json
        )
    return FileRow(
        path=stored_path,
        size=final_size,
        sha256=sha,
        mime_type=media_type.mime,
        kind=media_type.kind,
        served_size=served_size,
        served_sha256=served_sha,
        embedded=embedded,
    )


def _is_video(data: bytes) -> bool:
    media = detect_media(data[:HEAD_SIZE])
    return media is not None and media.kind == "video"


def _write_durably(path: Path, data: bytes) -> None:
    """`data` at `path`, on the disk before the rename makes it visible under its final name.

    Written in place: a `.part` file is never shown to anyone, so a crash
    half-way leaves only what the next run clears.
    """
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _flush(path: Path) -> None:
    """Make the bytes durable before the rename makes them visible under their final name."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _subject(record: dict[str, Any]) -> str:
    """How a long wait names the file: "image 123"."""
    return f"image {record['image_id']}"
