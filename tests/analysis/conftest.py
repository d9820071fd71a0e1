"""A small archive (`tests.support.archive_builder`) and the source data it was built from.

`small_archive` is deterministic: about eighty images with checkpoints, LoRAs
(weights), embeddings, tags, collections, files and failed downloads, videos,
missing values, CJK, emoji and hostile text, plus cached model-version answers.
Tests compute what they expect from `SmallArchive.images` in plain Python.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.support.archive_builder import (
    ArchiveBuilder,
    FileRow,
    ModelVersionRow,
    ResourceRow,
    TagRow,
)

HOSTILE_PROMPT = "<script>window.__pwned=1</script>"
HOSTILE_LORA = '<img src=x onerror="window.__pwned=2">'
HOSTILE_TAG = "</svg><script>window.__pwned=3</script>"
HOSTILE_AUTHOR = "[bold red]rich[/] & <b>co</b>"

CHECKPOINTS = [
    ("Pony Diffusion V6 XL", 257749, 290640, "Pony"),
    ("Juggernaut XL", 133005, 456194, "SDXL 1.0"),
    ("majicMIX realistic 麦橘写实", 43331, 176425, "SD 1.5"),
]
LORAS = [
    ("Detail Tweaker", 58390, 62833),
    (HOSTILE_LORA, 777, 7771),
    ("猫耳 Cat Ears 🐱", 888, 8881),
    ("Add More Details", 82098, 87153),
]
EMBEDDINGS = [("easynegative", 7808, 9208), ("badhandv4", 16993, 20068)]
TAGS = [(1, "woman"), (2, "portrait"), (3, "anime"), (4, HOSTILE_TAG), (5, "猫")]
AUTHORS = ["alice", "bob_sketch", HOSTILE_AUTHOR, "桜子"]
SAMPLERS = ["Euler a", "DPM++ 2M Karras", None]
COLLECTIONS = {701: "Favourites", 702: "Prompt ideas 💡 <i>"}
# What Civitai answered for some versions; the others stay unchecked.
VERSION_ANSWERS = {
    290640: ("available", "Published", "Published"),
    456194: ("deleted", "Deleted", "Deleted"),
    62833: ("unpublished", "Published", "Unpublished"),
    7771: ("not_found", None, None),
    9208: ("available", "Published", "Published"),
}
START = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
NEGATIVE_PROMPT = "worst quality, (bad hands:1.4), easynegative"


@dataclass
class SmallImage:
    id: int
    type: str
    nsfw_level: int
    created_at: str
    author: str
    post_id: int
    width: int
    height: int
    prompt: str | None
    negative_prompt: str | None
    sampler: str | None
    steps: int | None
    cfg_scale: float | None
    clip_skip: int | None
    checkpoint: tuple[str, int, int, str] | None
    loras: list[tuple[str, int, int, float]] = field(default_factory=list)
    embeddings: list[tuple[str, int, int]] = field(default_factory=list)
    tags: list[tuple[int, str]] = field(default_factory=list)
    collections: list[int] = field(default_factory=list)
    has_file: bool = True

    @property
    def base_model(self) -> str | None:
        return self.checkpoint[3] if self.checkpoint else None

    @property
    def model(self) -> str | None:
        return self.checkpoint[0] if self.checkpoint else None


@dataclass
class SmallArchive:
    path: Path
    images: list[SmallImage]
    versions: dict[int, tuple[str, str | None, str | None]]


def make_images(count: int = 80, seed: int = 5) -> list[SmallImage]:
    rng = random.Random(seed)
    images = []
    for index in range(count):
        checkpoint = rng.choice([*CHECKPOINTS, CHECKPOINTS[0], None])
        has_meta = checkpoint is not None
        loras = [
            (name, model_id, version_id, rng.choice([0.4, 0.75, 1.0, -0.5]))
            for name, model_id, version_id in rng.sample(LORAS, rng.randint(0, 3))
        ]
        prompt = None
        if has_meta:
            parts = [rng.choice(["masterpiece", "(best quality:1.2)", "photo"]), "1girl"]
            if index % 3 == 0:
                parts.append("(glowing lighthouse:1.3)")
            if index % 7 == 0:
                parts.append(HOSTILE_PROMPT)
            if index % 5 == 0:
                parts.append("猫耳, 🌸 sparkles BREAK night sky")
            parts += [f"<lora:{name.split()[0]}:{weight}>" for name, _, _, weight in loras]
            prompt = ", ".join(parts)
        images.append(
            SmallImage(
                id=1000 + index * 7,
                type="video" if index % 11 == 0 else "image",
                nsfw_level=rng.choice([1, 1, 2, 4, 8, 16]),
                # About five months: counted per month.
                created_at=(START + timedelta(days=index * 1.9, minutes=index)).isoformat(),
                author=rng.choice(AUTHORS),
                post_id=500 + index // 3,
                width=rng.choice([832, 1024, 1216]),
                height=rng.choice([1216, 1024, 832]),
                prompt=prompt,
                negative_prompt="worst quality, (bad hands:1.4), easynegative"
                if has_meta
                else None,
                sampler=rng.choice(SAMPLERS) if has_meta else None,
                steps=rng.choice([20, 25, 30, 30]) if has_meta else None,
                cfg_scale=rng.choice([4.5, 7.0, 7.0]) if has_meta else None,
                clip_skip=rng.choice([1, 2, None]) if has_meta else None,
                checkpoint=checkpoint,
                loras=loras if has_meta else [],
                embeddings=rng.sample(EMBEDDINGS, rng.randint(0, 2)) if has_meta else [],
                tags=rng.sample(TAGS, rng.randint(1, 4)),
                collections=rng.sample(sorted(COLLECTIONS), rng.randint(1, 2)),
                has_file=index % 13 != 5,
            )
        )
    return images


def write_archive(path: Path, images: list[SmallImage]) -> None:
    builder = ArchiveBuilder(path)
    for collection_id, name in COLLECTIONS.items():
        builder.collection(collection_id, name)
    for image in images:
        _add_image(builder, image)
    for version_id, (availability, version_status, model_status) in VERSION_ANSWERS.items():
        found = availability != "not_found"
        builder.model_version(
            ModelVersionRow(
                id=version_id,
                availability=availability,
                name="v1" if found else None,
                model_id=_model_id_of(version_id) if found else None,
                model_name=_name_of(version_id) if found else None,
                version_status=version_status,
                model_status=model_status,
            )
        )
    builder.build()


def _add_image(builder: ArchiveBuilder, image: SmallImage) -> None:
    resources = []
    if image.checkpoint:
        name, model_id, version_id, base_model = image.checkpoint
        resources.append(
            ResourceRow("checkpoint", name, None, model_id, version_id, "v1", base_model)
        )
    resources += [
        ResourceRow("lora", name, weight, model_id, version_id, "v1", image.base_model, "LORA")
        for name, model_id, version_id, weight in image.loras
    ]
    resources += [
        ResourceRow("embedding", name, None, model_id, version_id, "v1", None, "TextualInversion")
        for name, model_id, version_id in image.embeddings
    ]
    file = FileRow(
        f"media/x/{image.id}.png", 1000 + image.id, "ab" * 32, "image/png", "image", 1000,
        "cd" * 32, True,
    )  # fmt: skip
    builder.image(
        image.id,
        uuid=f"uuid-{image.id}",
        name=f"{image.id}.png",
        type=image.type,
        mime_type="video/mp4" if image.type == "video" else "image/png",
        width=image.width,
        height=image.height,
        nsfw_level=image.nsfw_level,
        created_at=image.created_at,
        post_id=image.post_id,
        author=image.author,
        author_id=1 + AUTHORS.index(image.author),  # str hash() differs between runs
        prompt=image.prompt,
        negative_prompt=image.negative_prompt,
        sampler=image.sampler,
        steps=image.steps,
        cfg_scale=image.cfg_scale,
        clip_skip=image.clip_skip,
        base_model=image.base_model,
        model=image.model,
        model_id=image.checkpoint[1] if image.checkpoint else None,
        model_version_id=image.checkpoint[2] if image.checkpoint else None,
        resources=resources,
        tags=[TagRow(tag_id, name, float(10 - n)) for n, (tag_id, name) in enumerate(image.tags)],
        collections=image.collections,
        file=file if image.has_file else None,
        failures=None if image.has_file else {"download": "the CDN answered 404"},
    )


def _model_id_of(version_id: int) -> int | None:
    for _, model_id, version, *_ in [*CHECKPOINTS, *LORAS, *EMBEDDINGS]:
        if version == version_id:
            return model_id
    return None


def _name_of(version_id: int) -> str | None:
    for name, _, version, *_ in [*CHECKPOINTS, *LORAS, *EMBEDDINGS]:
        if version == version_id:
            return name
    return None


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory) -> SmallArchive:
    path = tmp_path_factory.mktemp("analysis") / "archive"
    images = make_images()
    write_archive(path, images)
    return SmallArchive(path=path, images=images, versions=dict(VERSION_ANSWERS))
