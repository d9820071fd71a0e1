"""Fixture files made with Pillow and PyAV, records with hostile text, and the outside readers.

The readers are the point of these tests: what we write must be read back by
programs we did not write. sd-parsers and exiftool are required; when either
is missing the tests fail (they never skip), because an unchecked embed is
exactly the failure these tests exist to catch.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import exiftool
import pytest
from PIL import Image, PngImagePlugin

# Everything that breaks naive writers: quotes, commas, colons, line breaks, tabs,
# emoji, CJK, markup. The expected values in tests come from the record itself.
HOSTILE_PROMPT = (
    'masterpiece, a "quoted, comma" cat: 猫耳 <script>alert(1)</script> 🌸✨\n'
    "second line with (emphasis:1.2) and <lora:detail:0.8>\n"
    "BREAK 'single' & ampersand; tab\tend"
)
HOSTILE_NEGATIVE = 'lowres, bad hands: "worst", 最悪\n<img src=x onerror=alert(1)> 💀'
HOSTILE_TAGS = ["anime", 'tag, with "comma"', "猫 🐱", "a<b>&c", "slash/tag"]

COMFY_PROMPT = json.dumps(
    {"3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20, "cfg": 7.0}}}
)
COMFY_WORKFLOW = json.dumps({"nodes": [{"id": 3, "type": "KSampler"}], "links": []})


def make_record(**overrides: Any) -> dict[str, Any]:
    """A complete export record, as `CivitaiImage.to_record()` produces it."""
    record: dict[str, Any] = {
        "image_id": 4242,
        "image_url": "https://image.civitai.com/x/uuid-4242/original=true/00001.png",
        "uuid": "uuid-4242",
        "name": "00001.png",
        "type": "image",
        "mime_type": "image/png",
        "width": 64,
        "height": 48,
        "nsfw_level": 1,
        "created_at": "2024-03-05T10:20:30.123000+00:00",
        "published_at": "2024-03-05T10:25:00+00:00",
        "post_id": 777,
        "author": "alice",
        "author_id": 7,
        "prompt": HOSTILE_PROMPT,
        "negative_prompt": HOSTILE_NEGATIVE,
        "sampler": "DPM++ 2M Karras",
        "steps": 28,
        "cfg_scale": 6.5,
        "seed": 3141592653,
        "clip_skip": 2,
        "base_model": "Pony",
        "process": "txt2img",
        "engine": None,
        "workflow": "txt2img",
        "model": "PonyDiffusionV6XL",
        "model_version": "V6 (start with this one)",
        "model_id": 257749,
        "model_version_id": 290640,
        "loras": [
            {
                "name": 'detail, tweaker "x" 🌸',
                "weight": 0.8,
                "model_id": 11,
                "model_version_id": 111,
                "version_name": "v1: β",
                "base_model": "Pony",
            }
        ],
        "embeddings": [
            {
                "name": "easynegative",
                "weight": 1.0,
                "model_id": 7808,
                "model_version_id": 9208,
                "version_name": "v1",
                "base_model": "SD 1.5",
            }
        ],
        "tags": list(HOSTILE_TAGS),
        "collections": [5, 9],
        "file_path": None,
        "sha256": None,
        "raw_meta_json": json.dumps(
            {"prompt": HOSTILE_PROMPT, "Model hash": "a1b2c3d4e5", "Hires upscale": 1.5},
            ensure_ascii=False,
        ),
    }
    record.update(overrides)
    return record


@pytest.fixture
def record() -> dict[str, Any]:
    return make_record()


def gradient(mode: str, size: tuple[int, int] = (64, 48)) -> Image.Image:
    """An image with varied pixels, so a re-encode could not go unnoticed."""
    image = Image.new("RGBA", size)
    image.putdata(
        [
            ((x * 4) % 256, (y * 5) % 256, (x * y) % 256, 255 if (x + y) % 3 else 128)
            for y in range(size[1])
            for x in range(size[0])
        ]
    )
    if mode == "P":
        return image.convert("RGB").quantize(colors=32)
    return image.convert(mode)


def save_image(path: Path, kind: str, **extra: Any) -> Path:
    """Write one of the fixture image kinds (see `IMAGE_KINDS`) to `path`."""
    maker = IMAGE_KINDS[kind]
    maker(path, **extra)
    return path


IMAGE_KINDS: dict[str, Callable[..., None]] = {
    "png_rgb": lambda path, **kw: gradient("RGB").save(path, "PNG", **kw),
    "png_rgba": lambda path, **kw: gradient("RGBA").save(path, "PNG", **kw),
    "png_palette": lambda path, **kw: gradient("P").save(path, "PNG", **kw),
    "jpeg": lambda path, **kw: gradient("RGB").save(path, "JPEG", quality=87, **kw),
    "webp_lossy": lambda path, **kw: gradient("RGB").save(path, "WEBP", quality=80, **kw),
    "webp_lossy_alpha": lambda path, **kw: gradient("RGBA").save(path, "WEBP", quality=80, **kw),
    "webp_lossless": lambda path, **kw: gradient("RGBA").save(path, "WEBP", lossless=True, **kw),
    "gif": lambda path, **kw: gradient("P").save(path, "GIF", **kw),
}
SUFFIX = {"png": ".png", "jpe": ".jpg", "web": ".webp", "gif": ".gif"}


@dataclass
class MediaFiles:
    """Makes fixture files in one test's temporary folder."""

    folder: Path

    def image(self, kind: str, name: str = "image", **save_options: Any) -> Path:
        """One of `IMAGE_KINDS`, saved by Pillow."""
        path = self.folder / f"{name}{SUFFIX[kind[:3]]}"
        IMAGE_KINDS[kind](path, **save_options)
        return path

    def comfy_png(self, name: str = "comfy") -> Path:
        info = PngImagePlugin.PngInfo()
        info.add_text("prompt", COMFY_PROMPT)
        info.add_text("workflow", COMFY_WORKFLOW)
        path = self.folder / f"{name}.png"
        gradient("RGB").save(path, "PNG", pnginfo=info)
        return path

    def a1111_png(self, text: str, name: str = "a1111") -> Path:
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", text)
        path = self.folder / f"{name}.png"
        gradient("RGB").save(path, "PNG", pnginfo=info)
        return path

    def mp4(self, name: str = "clip", frames: int = 6) -> Path:
        """A real H.264 MP4 with the index at the end, as most encoders write it."""
        path = self.folder / f"{name}.mp4"
        with av.open(str(path), "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=12)
            _encode(container, stream, frames)
        return path

    def webm(self, name: str = "clip", frames: int = 4) -> Path:
        path = self.folder / f"{name}.webm"
        with av.open(str(path), "w", format="webm") as container:
            stream = container.add_stream("libvpx", rate=12)
            _encode(container, stream, frames)
        return path


def _encode(container: Any, stream: Any, frames: int, size: tuple[int, int] = (64, 48)) -> None:
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    for index in range(frames):
        frame = av.VideoFrame.from_image(gradient("RGB", size).rotate(index * 10))
        frame.pts = index
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def pixels(path: Path) -> tuple[str, tuple[int, int], bytes]:
    """What a viewer shows: mode, size and the decoded pixel bytes."""
    with Image.open(path) as image:
        image.load()
        return image.mode, image.size, image.tobytes()


@pytest.fixture
def files(tmp_path: Path) -> MediaFiles:
    return MediaFiles(tmp_path)


@pytest.fixture
def decoded() -> Callable[[Path], tuple[str, tuple[int, int], bytes]]:
    """`decoded(path)`: mode, size and pixel bytes, to prove nothing was re-encoded."""
    return pixels


@pytest.fixture(scope="session")
def exif_tool() -> Iterator[ExifTool]:
    """exiftool, the reference reader for EXIF, XMP and PNG text. Missing = failure."""
    executable = shutil.which("exiftool")
    assert executable, "exiftool is required (Debian: apt install libimage-exiftool-perl)"
    with exiftool.ExifToolHelper(executable=executable) as helper:
        yield ExifTool(helper)


class ExifTool:
    def __init__(self, helper: exiftool.ExifToolHelper) -> None:
        self.helper = helper

    def tags(self, path: Path) -> dict[str, Any]:
        """exiftool's view of a file: "Group:Tag" keys (XMP:Subject, PNG:Parameters...)."""
        [metadata] = self.helper.get_metadata(str(path))
        return metadata

    def list(self, path: Path, key: str) -> list[str]:
        """A list tag as strings (exiftool gives a bare value for a one-item list)."""
        value = self.tags(path).get(key)
        if value is None:
            return []
        return [str(item) for item in value] if isinstance(value, list) else [str(value)]
