"""A small archive whose text is as hostile as Civitai's can be (`tests.support.archive_builder`).

Three images: one with every field filled and text that breaks naive exporters
(quotes, commas, line breaks, emoji, CJK, `<script>`, a leading `=`, `|` and
`\\` in tag names), one known only from a listing (almost everything null),
and a video with a seed beyond 2**53. The expected values live here too, so
tests compare exports with what was stored, not only with another reader.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.archive_builder import ArchiveBuilder, FileRow, ResourceRow, TagRow, record

from civitai_vault.records import EXPORT_FIELDS

HOSTILE_PROMPT = (
    'a cat, "quoted, with comma", 猫耳 <script>alert(1)</script>\n'
    "second line\r\nthird line 🌸✨, (masterpiece:1.2) <lora:detail:0.8>\nBREAK\n'single'"
)
HOSTILE_TAGS = ["anime", 'tag, with "comma"', "pipe|tag", "back\\slash", "猫 🐱"]
HOSTILE_LORAS = [('detail, tweaker "x"', 0.8, 11, 111), ("cjk 風 🌸|pipe", -0.5, 12, 121)]


RICH = record(
    101,
    image_url="https://image.civitai.com/x/uuid-101/original=true/00014.png",
    uuid="uuid-101",
    name='00014 "final", v2.png',
    type="image",
    mime_type="image/png",
    width=832,
    height=1216,
    nsfw_level=1,
    created_at="2024-01-15T10:20:30.123000+00:00",
    published_at="2024-01-15T10:25:00.000000+00:00",
    post_id=5001,
    author="alice",
    author_id=7,
    prompt=HOSTILE_PROMPT,
    negative_prompt='=HYPERLINK("http://evil.example","click")',
    sampler="DPM++ 2M Karras",
    steps=30,
    cfg_scale=7.5,
    seed=1234567890,
    clip_skip=2,
    base_model="Pony",
    process="txt2img + Hi-Res",
    engine=None,
    workflow="txt2img",
    model="Pony Diffusion V6 XL",
    model_version="V6 (start with this one)",
    model_id=257749,
    model_version_id=290640,
    raw_meta_json=json.dumps(
        {"prompt": HOSTILE_PROMPT, "cfgScale": 7.5, "comfy": {"nodes": [1, 2]}},
        ensure_ascii=False,
    ),
)
LISTED_ONLY = record(
    102,
    uuid="uuid-102",
    type="image",
    created_at="2024-05-31T23:59:59.000000+00:00",
    author="bob",
    author_id=8,
)
VIDEO = record(
    103,
    image_url="https://image.civitai.com/x/uuid-103/original=true/clip.mp4",
    uuid="uuid-103",
    name="clip 🎬.mp4",
    type="video",
    mime_type="video/mp4",
    width=720,
    height=1280,
    nsfw_level=4,
    created_at="2024-06-01T00:00:00.000000+00:00",
    published_at=None,
    post_id=5002,
    author="Carol",
    author_id=9,
    prompt="a dog in the rain",
    negative_prompt=None,
    sampler="Euler",
    steps=20,
    cfg_scale=3.5,
    seed=2**53 + 1,
    clip_skip=None,
    base_model="SDXL 1.0",
    process="comfy",
    model="Juggernaut XL",
    model_version="Hyper",
    model_id=133005,
    model_version_id=471120,
    raw_meta_json=None,
)
RECORDS = {record["image_id"]: record for record in (RICH, LISTED_ONLY, VIDEO)}
# What each export must say about the list fields, in order.
EXPECTED_TAGS = {101: HOSTILE_TAGS, 102: [], 103: ["cat"]}
EXPECTED_COLLECTIONS = {101: [5, 9], 102: [5], 103: [5]}
EXPECTED_FILES = {101: ("media/alice/101.png", "ab" * 32), 102: (None, None), 103: (None, None)}


def _lora(name: str, weight: float, model_id: int, version_id: int) -> ResourceRow:
    return ResourceRow(
        kind="lora",
        name=name,
        weight=weight,
        model_id=model_id,
        model_version_id=version_id,
        version_name='v1 "β"',
        base_model="Pony",
        model_type="LORA",
    )


def expected_loras(image_id: int) -> list[dict[str, Any]]:
    if image_id == 101:
        return [
            {
                "name": name,
                "weight": weight,
                "model_id": model_id,
                "model_version_id": version_id,
                "version_name": 'v1 "β"',
                "base_model": "Pony",
            }
            for name, weight, model_id, version_id in HOSTILE_LORAS
        ]
    if image_id == 103:
        return [
            {
                "name": "rainy",
                "weight": 1.0,
                "model_id": 3,
                "model_version_id": 33,
                "version_name": None,
                "base_model": None,
            }
        ]
    return []


def expected_embeddings(image_id: int) -> list[dict[str, Any]]:
    if image_id != 101:
        return []
    return [
        {
            "name": "easynegative",
            "weight": None,
            "model_id": 7808,
            "model_version_id": 9208,
            "version_name": "v1",
            "base_model": "SD 1.5",
        }
    ]


def build_hostile_archive(root: Path) -> Path:
    builder = ArchiveBuilder(root)
    builder.collection(5, cached=False).collection(9, cached=False)
    tag_ids = {name: 1000 + index for index, name in enumerate(HOSTILE_TAGS)}
    builder.image(
        RICH,
        resources=[
            ResourceRow(kind="checkpoint", name=RICH["model"], model_version_id=290640),
            *(_lora(*lora) for lora in HOSTILE_LORAS),
            ResourceRow(
                kind="embedding",
                name="easynegative",
                model_id=7808,
                model_version_id=9208,
                version_name="v1",
                base_model="SD 1.5",
            ),
        ],
        # Scores fall with the list order, so "highest score first" is HOSTILE_TAGS.
        tags=[
            TagRow(tag_ids[name], name, score=100.0 - index)
            for index, name in enumerate(HOSTILE_TAGS)
        ],
        file=FileRow(
            "media/alice/101.png", 10, "ab" * 32, "image/png", "image", 9, "cd" * 32, True
        ),
        collections=[5, 9],
    )
    builder.image(LISTED_ONLY, details=False, collections=[5])
    builder.image(
        VIDEO,
        resources=[
            ResourceRow(kind="checkpoint", name="Juggernaut XL", model_version_id=471120),
            ResourceRow(kind="lora", name="rainy", weight=1.0, model_id=3, model_version_id=33),
        ],
        tags=[TagRow(2000, "cat", score=5.0)],
        collections=[5],
    )
    return builder.build()


def expected_record(image_id: int) -> dict[str, Any]:
    """The full export record an image of the hostile archive must come out as."""
    record = dict(RECORDS[image_id])
    file_path, sha256 = EXPECTED_FILES[image_id]
    record.update(
        loras=expected_loras(image_id),
        embeddings=expected_embeddings(image_id),
        tags=EXPECTED_TAGS[image_id],
        collections=EXPECTED_COLLECTIONS[image_id],
        file_path=file_path,
        sha256=sha256,
    )
    return {name: record[name] for name in EXPORT_FIELDS}


@dataclass(frozen=True)
class HostileArchive:
    path: Path
    # Export order (newest first) and the record each image must come out as.
    expected: list[dict[str, Any]]
    hostile_prompt: str = HOSTILE_PROMPT
    hostile_tags: tuple[str, ...] = tuple(HOSTILE_TAGS)


@pytest.fixture(scope="module")
def hostile_archive(tmp_path_factory: pytest.TempPathFactory) -> HostileArchive:
    """The archive and what its export must contain; treat it as read-only."""
    path = build_hostile_archive(tmp_path_factory.mktemp("hostile") / "archive")
    return HostileArchive(path, [expected_record(i) for i in (103, 102, 101)])


@pytest.fixture(scope="session")
def cli_command() -> list[str]:
    """The `civitai-vault` command line, run from this test environment."""
    return [sys.executable, "-m", "civitai_vault.cli"]


@pytest.fixture(scope="session")
def cli(cli_command: list[str]) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Run the real `civitai-vault` command in a child process; output stays bytes."""

    def run(*args: str, **options: Any) -> subprocess.CompletedProcess[bytes]:
        options.setdefault("capture_output", True)
        return subprocess.run([*cli_command, *args], check=False, **options)

    return run
