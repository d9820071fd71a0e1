"""Gallery fixtures: a small archive with traps, the synced demo archive, live servers, a browser.

`mini_archive` is built by `tests.support.archive_builder` (the sync writer's
functions): images with real PNG/JPEG/MP4 files on disk, Civitai text that
tries to run script, a deleted checkpoint and LoRA, an image known only from a
listing, a file row whose file is missing, and a symlink inside media/
pointing at a secret outside the archive. `MiniArchive` holds what was stored,
so tests compare the gallery's answers with it, not with another reader.

`mini_gallery` serves it with uvicorn on a free loopback port;
`synced_gallery` serves a private copy of the shared `synced_archive` (the
gallery writes thumbnails into the archive it serves).

`browser` is Debian's Chromium driven by Playwright, one per test module; it
fails, never skips, when either is missing. `open_page(base_url)` gives a page whose `Watch`
records what must never happen: a dialog, a script error, a CSP refusal, a
request to another host.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.support.archive_builder import (
    ArchiveBuilder,
    FileRow,
    Media,
    ModelVersionRow,
    ResourceRow,
    TagRow,
)
from tests.support.browser import chromium

from civitai_vault.web.server import running_gallery

HOSTILE_PROMPT = (
    "a cat in a castle <script>window.__pwned = 1; alert('xss')</script> "
    '"><img src=x onerror="window.__pwned=2"> (masterpiece:1.2) <lora:detail:0.8>'
)
HOSTILE_NEGATIVE = "</pre><script>window.__pwned = 3</script> lowres"
HOSTILE_TAG = "<b onmouseover=alert(4)>bold</b>"
SECRET_TEXT = "secret outside the archive"
FILLERS = 70  # listing-only images, so the grid has more than one page


@dataclass
class MiniArchive:
    path: Path
    secret: Path
    ids: dict[str, int] = field(default_factory=dict)
    files: dict[int, bytes] = field(default_factory=dict)
    filler_ids: list[int] = field(default_factory=list)

    @property
    def all_ids(self) -> list[int]:
        return [*self.ids.values(), *self.filler_ids]


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (96, 128)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(color: tuple[int, int, int], size: tuple[int, int] = (128, 96)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=85)
    return out.getvalue()


def mp4_bytes(frames: int = 48, size: int = 64) -> bytes:
    """A two-second H.264 clip whose frames change colour (so playback is visible)."""
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            image = Image.new("RGB", (size, size), (index * 5 % 256, 80, 255 - index * 5 % 256))
            frame = av.VideoFrame.from_image(image)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _meta(prompt: str | None, negative: str | None) -> dict[str, Any]:
    """The generation data Civitai sends, with keys the gallery shows beside the usual ones."""
    return {
        "prompt": prompt,
        "negativePrompt": negative,
        "Hires upscale": 2,
        "ADetailer model": "face_yolov8n.pt",
    }


def _image(
    builder: ArchiveBuilder,
    archive: MiniArchive,
    image_id: int,
    *,
    file: Media | FileRow | None = None,
    **fields: Any,
) -> None:
    """An image with full details; the generation data is kept raw and as `raw_meta_json`."""
    meta = _meta(fields.get("prompt"), fields.get("negative_prompt"))
    if isinstance(file, Media):
        archive.files[image_id] = file.data
    builder.image(
        image_id, file=file, raw={"generation": meta}, raw_meta_json=json.dumps(meta), **fields
    )


def _file_row(path: str, data: bytes) -> FileRow:
    """A file row for `data` (the file at `path` is not written: it is missing or a trap)."""
    digest = hashlib.sha256(data).hexdigest()
    return FileRow(path, len(data), digest, "image/png", "image", len(data), digest, False)


def build_mini_archive(path: Path) -> MiniArchive:
    secret = path.parent / "secret.txt"
    secret.write_text(SECRET_TEXT)
    archive = MiniArchive(path=path, secret=secret)
    builder = ArchiveBuilder(path)
    builder.collection(7001, "Favourites <i>x</i>").collection(7002, "Landscapes")
    builder.model_version(
        ModelVersionRow(290640, "deleted", "V6", 257749, "Pony Diffusion V6 XL", "Checkpoint"), {}
    )
    builder.model_version(ModelVersionRow(111, "available", "v1", 11, "detail"), {})
    builder.model_version(ModelVersionRow(222, "not_found", None, 22, "Ghibli"), {})
    archive.ids.update(cat=101, landscape=102, video=103, missing_file=104, symlink=105)
    _image(
        builder,
        archive,
        101,
        uuid="u-101",
        name="cat.png",
        type="image",
        mime_type="image/png",
        width=96,
        height=128,
        nsfw_level=1,
        created_at="2024-03-01T10:00:00+00:00",
        post_id=5001,
        author="alice",
        author_id=7,
        prompt=HOSTILE_PROMPT,
        negative_prompt=HOSTILE_NEGATIVE,
        sampler="DPM++ 2M Karras",
        steps=30,
        cfg_scale=7.0,
        seed=1234,
        clip_skip=2,
        base_model="Pony",
        model="Pony Diffusion V6 XL",
        model_version="V6",
        model_id=257749,
        model_version_id=290640,
        resources=[
            ResourceRow("checkpoint", "Pony Diffusion V6 XL", None, 257749, 290640, "V6"),
            ResourceRow("lora", "detail", 0.8, 11, 111, "v1"),
        ],
        tags=[TagRow(1, "cat", 0.9), TagRow(2, "anime", 0.5), TagRow(3, HOSTILE_TAG, 0.1)],
        file=Media("media/alice/101.png", png_bytes((200, 40, 40)), "image/png"),
        collections=[7001],
    )
    _image(
        builder,
        archive,
        102,
        uuid="u-102",
        name="lake.jpg",
        type="image",
        mime_type="image/jpeg",
        width=128,
        height=96,
        nsfw_level=4,
        created_at="2024-05-20T08:30:00+00:00",
        author="bob",
        author_id=8,
        prompt="a quiet lake at dawn, castle ruins",
        negative_prompt="blurry",
        sampler="Euler a",
        steps=25,
        cfg_scale=5.0,
        seed=99,
        base_model="SDXL 1.0",
        model="Juggernaut XL",
        model_version="v9",
        model_id=133005,
        model_version_id=348913,
        resources=[ResourceRow("lora", "Ghibli Style", 0.6, 22, 222, "v2")],
        tags=[TagRow(4, "landscape", 0.8), TagRow(2, "anime", 0.3)],
        file=Media("media/bob/102.jpg", jpeg_bytes((40, 120, 200)), "image/jpeg"),
        collections=[7001, 7002],
    )
    _image(
        builder,
        archive,
        103,
        uuid="u-103",
        name="clip.mp4",
        type="video",
        mime_type="video/mp4",
        width=64,
        height=64,
        nsfw_level=1,
        created_at="2024-06-02T12:00:00+00:00",
        author="alice",
        author_id=7,
        prompt="a cat video, looping waves",
        base_model="Pony",
        model="Pony Diffusion V6 XL",
        model_id=257749,
        model_version_id=290640,
        tags=[TagRow(1, "cat", 0.7)],
        file=Media("media/alice/103.mp4", mp4_bytes(), "video/mp4", kind="video"),
        collections=[7002],
    )
    _image(
        builder,
        archive,
        104,
        type="image",
        mime_type="image/png",
        nsfw_level=8,
        created_at="2024-02-10T00:00:00+00:00",
        author="carol",
        prompt="lost file",
        base_model="SD 1.5",
        file=_file_row("media/carol/104.png", b"x"),  # the file itself is missing
    )
    # A file row whose path is a symlink inside media/ that leads outside the archive.
    _image(
        builder,
        archive,
        105,
        type="image",
        mime_type="image/png",
        nsfw_level=1,
        created_at="2024-01-05T00:00:00+00:00",
        author="mallory",
        prompt="symlink trap",
        file=_file_row("media/mallory/105.png", SECRET_TEXT.encode()),
    )
    for index in range(FILLERS):
        image_id = 1000 + index
        created = f"2023-{1 + index % 12:02d}-{1 + index % 28:02d}T00:00:00+00:00"
        builder.image(
            image_id,
            details=False,
            type="image",
            nsfw_level=2,
            created_at=created,
            author="filler",
        )
        archive.filler_ids.append(image_id)
    builder.build()
    link = path / "media" / "mallory" / "105.png"
    link.parent.mkdir(parents=True)
    link.symlink_to(secret)
    return archive


@pytest.fixture(scope="session")
def mini_archive(tmp_path_factory: pytest.TempPathFactory) -> MiniArchive:
    return build_mini_archive(tmp_path_factory.mktemp("gallery") / "archive")


@pytest.fixture(scope="session")
def mini_gallery(mini_archive: MiniArchive) -> Iterator[str]:
    """Base URL of a gallery serving `mini_archive` over real loopback HTTP."""
    with running_gallery(mini_archive.path) as url:
        yield url


@pytest.fixture(scope="session")
def synced_copy(synced_archive: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the synced demo archive, which the gallery may write thumbnails to."""
    copy = tmp_path_factory.mktemp("synced-gallery") / "archive"
    shutil.copytree(synced_archive.path, copy, symlinks=True)
    return copy


@pytest.fixture(scope="session")
def synced_gallery(synced_copy: Path) -> Iterator[str]:
    """Base URL of a gallery serving the synced demo archive (a copy of it)."""
    with running_gallery(synced_copy) as url:
        yield url


# ---------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright holds this thread's asyncio loop while it
    runs, so it must stop before another module's tests (see `tests.support.browser`)."""
    with chromium() as launched:
        yield launched


@dataclass
class Watch:
    """What a page did that it must not: dialogs, script errors, CSP refusals, foreign requests."""

    origin: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_console(message: Any) -> None:
            if "Content Security Policy" in message.text:
                self.csp_violations.append(message.text)

        def on_request(request: Any) -> None:
            if not request.url.startswith((self.origin + "/", "data:", "blob:")):
                self.foreign_requests.append(request.url)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", on_request)

    def assert_clean(self, page: Any) -> None:
        assert self.dialogs == []
        assert self.errors == []
        assert self.csp_violations == []
        assert self.foreign_requests == []
        assert page.evaluate("typeof window.__pwned") == "undefined"


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[str], Any]]:
    """`open_page(base_url, **context_options)`: a fresh page (clipboard allowed, its own
    storage) checked for misdeeds at the end; `viewport={"width": 390, "height": 844}`."""
    opened: list[tuple[Any, Any, Watch]] = []

    def open_(base_url: str, **context_options: Any) -> Any:
        context = browser.new_context(base_url=base_url, **context_options)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        page = context.new_page()
        watch = Watch(origin=base_url)
        watch.attach(page)
        opened.append((context, page, watch))
        return page

    yield open_
    try:
        for _, page, watch in opened:
            watch.assert_clean(page)
    finally:
        for context, _, _ in opened:
            context.close()
