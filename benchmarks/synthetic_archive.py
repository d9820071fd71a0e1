"""Build a realistic, deterministic archive of any size for benchmarks.

    python benchmarks/synthetic_archive.py OUT_DIR [--images N] [--seed S]

or, from another benchmark:

    from synthetic_archive import build_archive
    build_archive(Path("out/big"), images=100_000, seed=1)

The archive is written by the tests' `ArchiveBuilder`, through the same writer
functions the sync engine uses, so its rows look like a synced one:
checkpoints, LoRAs and embeddings shared across images (with A1111 prompts that
name them: `(word:1.2)`, `<lora:name:0.8>`, BREAK), base models, samplers,
steps, CFG, clip skip, sizes, NSFW levels, scored tags, authors and their
posts, a few collections, dates spread over two years, some model versions
deleted or unpublished upstream, a few images gone upstream and a few failed
downloads. No media is written: file rows point to paths under `media/` that do
not exist.

One transaction per few thousand images keeps it fast (one to two minutes for
100,000 images); the same seed always gives the same archive.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
import uuid as uuid_module
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The shared builder lives with the tests: `tests.support.archive_builder`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.archive_builder import (
    ArchiveBuilder,
    FileRow,
    ModelVersionRow,
    ResourceRow,
    TagRow,
)

from civitai_vault.archive.schema import DB_NAME

BATCH_SIZE = 2_000
FIRST_IMAGE_ID = 10_000_000
START = datetime(2023, 6, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
CDN = "https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA"

# (family, sizes, sampler choices, steps range, cfg choices, clip skip choices)
BASE_MODELS: dict[
    str, tuple[list[tuple[int, int]], list[str], tuple[int, int], list[float], list]
] = {
    "SD 1.5": (
        [(512, 768), (768, 512), (512, 512), (640, 960)],
        ["DPM++ 2M Karras", "Euler a", "DPM++ SDE Karras", "DDIM"],
        (20, 40),
        [5.0, 6.0, 7.0, 7.5, 8.0, 9.0],
        [1, 2, 2],
    ),
    "SDXL 1.0": (
        [(832, 1216), (1024, 1024), (1216, 832), (896, 1152)],
        ["DPM++ 2M Karras", "DPM++ 2M SDE Karras", "Euler a", "DPM++ 3M SDE"],
        (25, 45),
        [4.0, 5.0, 6.0, 7.0],
        [None, 1, 2],
    ),
    "Pony": (
        [(832, 1216), (1024, 1024), (1216, 832)],
        ["Euler a", "DPM++ 2M Karras", "DPM++ SDE Karras"],
        (20, 35),
        [5.0, 6.0, 7.0, 7.5],
        [2],
    ),
    "Illustrious": (
        [(832, 1216), (896, 1152), (1024, 1024)],
        ["Euler a", "DPM++ 2M Karras", "Euler"],
        (24, 35),
        [4.5, 5.0, 5.5, 6.0, 7.0],
        [2, None],
    ),
    "Flux.1 D": (
        [(832, 1216), (1024, 1024), (896, 1152), (1216, 832)],
        ["Euler", "DEIS", "Undefined"],
        (20, 30),
        [1.0, 3.5, 3.5, 2.0],
        [None],
    ),
    "SDXL Lightning": (
        [(832, 1216), (1024, 1024)],
        ["DPM++ SDE", "Euler a", "LCM"],
        (4, 8),
        [1.0, 1.5, 2.0],
        [None, 1],
    ),
}
BASE_MODEL_WEIGHTS = {
    "SD 1.5": 18,
    "SDXL 1.0": 20,
    "Pony": 25,
    "Illustrious": 20,
    "Flux.1 D": 14,
    "SDXL Lightning": 3,
}

CHECKPOINT_NAMES = [
    "Pony Diffusion V6 XL",
    "Juggernaut XL",
    "DreamShaper",
    "Realistic Vision",
    "epiCRealism",
    "RealVisXL",
    "AutismMix SDXL",
    "WAI-NSFW-illustrious-SDXL",
    "NoobAI-XL (NAI-XL)",
    "Illustrious-XL",
    "FLUX.1 [dev]",
    "Flux Fusion",
    "majicMIX realistic 麦橘写实",
    "MeinaMix",
    "Counterfeit-V3.0",
    "AbyssOrangeMix3 (AOM3)",
    "CyberRealistic",
    "ZavyChromaXL",
    "Animagine XL",
    "T-ponynai3",
    "Hassaku XL (Illustrious)",
    "Nova Anime XL",
    "PerfectDeliberate",
    "ReV Animated",
    "Copax TimeLessXL",
    "DynaVision XL",
    "Lightning Juggernaut",
    "PixelWave",
    "CHEYENNE",
    "Prefect Pony XL",
]
VERSION_NAMES = ["v1.0", "v2.0", "V6 (start with this one)", "v3.1", "fp8", "Hyper", "v10", "1.5"]
LORA_WORDS = [
    "Detail",
    "Tweaker",
    "Add More Details",
    "Style",
    "Anime",
    "Lineart",
    "Watercolor",
    "Cyberpunk",
    "Pixel Art",
    "Film Grain",
    "Neon",
    "Glowing",
    "Armor",
    "Fantasy",
    "Concept",
    "Ghibli",
    "Oil Painting",
    "Hands",
    "Eyes",
    "Lighting",
    "Sketch",
    "Chibi",
    "Mecha",
    "Steampunk",
    "Vaporwave",
    "Ink",
    "Clay",
    "Isometric",
    "Retro",
    "Gothic",
]
EMBEDDING_NAMES = [
    "easynegative",
    "badhandv4",
    "negative_hand-neg",
    "ng_deepnegative_v1_75t",
    "FastNegativeV2",
    "verybadimagenegative_v1.3",
    "bad-picture-chill-75v",
    "BadDream",
    "UnrealisticDream",
    "CyberRealistic_Negative",
    "epiCNegative",
    "zPDXL3",
    "Stable_Yogis_PDXL_Positives",
    "lazypos",
    "lazyneg",
    "SimplePositiveXLv2",
]
SUBJECTS = [
    "1girl",
    "1boy",
    "a cat",
    "a fox",
    "an old knight",
    "a witch",
    "a robot",
    "a dragon",
    "a samurai",
    "an astronaut",
    "a lighthouse",
    "a castle",
    "a city street",
    "a forest spirit",
    "a mermaid",
    "a cyborg",
    "a librarian",
    "a tea house",
    "a spaceship",
    "a street vendor",
]
DETAILS = [
    "long hair",
    "silver hair",
    "blue eyes",
    "smile",
    "looking at viewer",
    "upper body",
    "full body",
    "from side",
    "dynamic pose",
    "holding sword",
    "wearing kimono",
    "hooded cloak",
    "rain",
    "snow",
    "cherry blossoms",
    "night sky",
    "sunset",
    "city lights",
    "reflections",
    "bokeh",
    "depth of field",
    "volumetric lighting",
    "rim light",
    "cinematic lighting",
    "dramatic shadows",
    "intricate details",
    "highly detailed",
    "ornate",
    "flowers",
    "fog",
]
STYLES = [
    "masterpiece",
    "best quality",
    "ultra detailed",
    "8k",
    "photorealistic",
    "anime style",
    "oil painting",
    "watercolor",
    "concept art",
    "digital painting",
    "score_9, score_8_up, score_7_up",
    "absurdres",
    "RAW photo",
    "film grain",
    "illustration",
]
NEGATIVES = [
    "worst quality",
    "low quality",
    "normal quality",
    "lowres",
    "blurry",
    "bad anatomy",
    "bad hands",
    "extra fingers",
    "missing fingers",
    "jpeg artifacts",
    "watermark",
    "signature",
    "text",
    "cropped",
    "deformed",
    "ugly",
    "score_4, score_5, score_6",
]
# Rare but real: text a prompt can carry that export formats must survive.
ODD_TEXT = [
    '"quoted, with comma"',
    "猫耳, 桜の木の下",
    "🌸✨ sparkles",
    "line one\nline two",
    "<script>alert(1)</script>",
    "a; b\tc",
    "café, naïve",
]
TAG_NAMES = [
    "woman",
    "man",
    "anime",
    "portrait",
    "landscape",
    "fantasy",
    "sci-fi",
    "cat",
    "animal",
    "photorealistic",
    "outdoors",
    "indoors",
    "night",
    "city",
    "nature",
    "flower",
    "armor",
    "sword",
    "robot",
    "dragon",
    "water",
    "sky",
    "clothing",
    "dress",
    "hair",
    "girl",
    "cyberpunk",
    "architecture",
    "car",
    "food",
    "horror",
    "cute",
    "character",
    "costume",
    "illustration",
    "painting",
    "3d",
    "pixel art",
    "comics",
    "mecha",
    "ocean",
    "forest",
    "snow",
    "rain",
    "sunset",
    "castle",
    "space",
    "monster",
    "magic",
    "witch",
]
COLLECTION_NAMES = [
    "Favourites",
    "Prompt ideas 💡",
    "Pony refs",
    "Landscapes",
    "To try: <b>later</b>",
    "写真 / photo",
]
USERNAME_PARTS = [
    "pixel",
    "neon",
    "dream",
    "art",
    "ai",
    "sama",
    "moon",
    "kitsune",
    "void",
    "lumen",
    "nova",
    "sketch",
    "zen",
    "mochi",
    "raven",
    "ember",
]
NSFW_LEVELS = [1, 2, 4, 8, 16]
NSFW_WEIGHTS = [55, 20, 12, 10, 3]


@dataclass(frozen=True)
class Resource:
    """A model version that images can use."""

    kind: str  # checkpoint | lora | embedding
    name: str
    model_id: int
    model_version_id: int
    version_name: str
    base_model: str
    availability: str  # available | deleted | unpublished | not_found
    trigger: str


@dataclass(frozen=True)
class Author:
    id: int
    username: str


class _World:
    """The shared pools images draw from: models, tags, authors, collections."""

    def __init__(self, rng: random.Random, images: int) -> None:
        self.rng = rng
        self._next_model_id = 100_000
        self.checkpoints = [self._resource("checkpoint", name) for name in CHECKPOINT_NAMES]
        self._lora_names: set[str] = set()
        lora_count = max(60, min(600, images // 150))
        self.loras = [self._resource("lora", self._lora_name(i)) for i in range(lora_count)]
        self.embeddings = [self._resource("embedding", name) for name in EMBEDDING_NAMES]
        self.tags = [TagRow(id=5000 + i, name=name) for i, name in enumerate(TAG_NAMES)]
        author_count = max(20, min(2_000, images // 50))
        self.authors = [self._author(i) for i in range(author_count)]
        # Popularity follows a long tail, as on the site.
        self.author_weights = [1 / (rank + 1) ** 0.8 for rank in range(author_count)]
        self.lora_weights = [1 / (rank + 1) ** 0.7 for rank in range(lora_count)]
        self.checkpoint_weights = [1 / (rank + 1) ** 0.5 for rank in range(len(CHECKPOINT_NAMES))]
        self.tag_weights = [1 / (rank + 1) ** 0.6 for rank in range(len(self.tags))]
        self.collections = list(range(7001, 7001 + len(COLLECTION_NAMES)))

    def _resource(self, kind: str, name: str) -> Resource:
        rng = self.rng
        self._next_model_id += rng.randint(1, 4000)
        model_id = self._next_model_id
        base_model = rng.choices(list(BASE_MODEL_WEIGHTS), list(BASE_MODEL_WEIGHTS.values()))[0]
        availability = rng.choices(
            ["available", "deleted", "unpublished", "not_found"], [86, 9, 4, 1]
        )[0]
        return Resource(
            kind=kind,
            name=name,
            model_id=model_id,
            model_version_id=model_id * 3 + rng.randint(0, 2),
            version_name=rng.choice(VERSION_NAMES),
            base_model=base_model,
            availability=availability,
            trigger="_".join(re.findall(r"[a-z0-9]+", name.lower())),
        )

    def _lora_name(self, index: int) -> str:
        words = self.rng.sample(LORA_WORDS, 2)
        suffix = self.rng.choice(["", " XL", " LoRA", " [Pony]", " - SD1.5", " (Flux)"])
        name = f"{words[0]} {words[1]}{suffix}"
        # Names repeat on the site too, but here each LoRA should be told apart.
        if name in self._lora_names:
            name = f"{name} v{index}"
        self._lora_names.add(name)
        return name

    def _author(self, index: int) -> Author:
        parts = self.rng.sample(USERNAME_PARTS, 2)
        sep = self.rng.choice(["", "_", "-"])
        return Author(id=1_000 + index * 7, username=f"{parts[0]}{sep}{parts[1]}{index}")

    def all_resources(self) -> list[Resource]:
        return [*self.checkpoints, *self.loras, *self.embeddings]


@dataclass
class _Post:
    id: int
    author: Author
    published_at: datetime
    remaining: int


def build_archive(path: Path, images: int = 100_000, seed: int = 1) -> Path:
    """Build an archive of `images` synthetic images at `path`; returns the archive folder.

    `path` must not hold an archive yet. The same seed gives the same rows.
    """
    path = Path(path)
    if (path / DB_NAME).exists():
        raise FileExistsError(f"{path / DB_NAME} exists; build into an empty folder")
    rng = random.Random(seed)
    world = _World(rng, images)
    # A benchmark archive can be rebuilt: no fsyncs.
    builder = ArchiveBuilder(path, batch_size=BATCH_SIZE, durable=False)
    _add_world(builder, world)
    post: _Post | None = None
    for index in range(images):
        if post is None or post.remaining == 0:
            post = _new_post(rng, world, index, images)
            _add_post(builder, post)
        _add_image(builder, rng, world, index, images, post)
        post.remaining -= 1
    for cid in world.collections:
        builder.finished(cid)
    return builder.build()


def _add_world(builder: ArchiveBuilder, world: _World) -> None:
    for cid, name in zip(world.collections, COLLECTION_NAMES, strict=True):
        owner = world.authors[0]
        builder.collection(
            cid,
            name,
            description=f"Synthetic collection {name}",
            owner_id=owner.id,
            owner_username=owner.username,
            read=world.rng.choice(["Private", "Public", "Unlisted"]),
            raw={"id": cid, "name": name},
        )
    for author in world.authors:
        builder.user(author.id, author.username)
    for resource in world.all_resources():
        builder.model_version(
            ModelVersionRow(
                id=resource.model_version_id,
                availability=resource.availability,
                name=resource.version_name,
                model_id=resource.model_id,
                model_name=resource.name,
                model_type={"checkpoint": "Checkpoint", "lora": "LORA"}.get(
                    resource.kind, "TextualInversion"
                ),
                base_model=resource.base_model,
                version_status="Deleted" if resource.availability == "deleted" else "Published",
                model_status="Deleted" if resource.availability == "deleted" else "Published",
            ),
            {"id": resource.model_version_id, "name": resource.version_name},
        )


def _new_post(rng: random.Random, world: _World, index: int, images: int) -> _Post:
    author = rng.choices(world.authors, world.author_weights)[0]
    post = _Post(
        id=2_000_000 + index,
        author=author,
        published_at=_date_for(index, images) + timedelta(minutes=rng.randint(1, 90)),
        remaining=rng.choices([1, 2, 3, 4, 6, 8], [35, 20, 15, 12, 10, 8])[0],
    )
    return post


def _add_post(builder: ArchiveBuilder, post: _Post) -> None:
    builder.post(
        post.id,
        user_id=post.author.id,
        published_at=post.published_at.isoformat(timespec="microseconds"),
    )


def _date_for(index: int, images: int) -> datetime:
    """Ids grow with time, as on the site: spread the images evenly over two years."""
    return START + SPAN * (index / max(1, images))


def _add_image(
    builder: ArchiveBuilder,
    rng: random.Random,
    world: _World,
    index: int,
    images: int,
    post: _Post,
) -> None:
    image_id = FIRST_IMAGE_ID + index * 3 + rng.randint(0, 2)
    created = _date_for(index, images) + timedelta(seconds=rng.randint(0, 600))
    is_video = rng.random() < 0.04
    has_meta = not is_video and rng.random() < 0.85
    image_uuid = str(uuid_module.UUID(int=rng.getrandbits(128), version=4))
    name = f"{index:05d}-{rng.getrandbits(32)}.{'mp4' if is_video else 'png'}"
    record: dict[str, Any] = {
        "uuid": image_uuid,
        "name": name,
        "type": "video" if is_video else "image",
        "mime_type": "video/mp4" if is_video else rng.choice(["image/png", "image/jpeg"]),
        "nsfw_level": rng.choices(NSFW_LEVELS, NSFW_WEIGHTS)[0],
        "created_at": created.isoformat(timespec="microseconds"),
        "published_at": post.published_at.isoformat(timespec="microseconds"),
        "post_id": post.id,
        "author": post.author.username,
        "author_id": post.author.id,
        "image_url": f"{CDN}/{image_uuid}/original=true/{name}",
    }
    checkpoint = rng.choices(world.checkpoints, world.checkpoint_weights)[0]
    resources: list[ResourceRow] = []
    if has_meta:
        resources = _generation(rng, world, record, checkpoint)
    else:
        width, height = rng.choice([(1024, 1024), (720, 1280), (1280, 720)])
        record.update(width=width, height=height, process="txt2img" if not is_video else None)
    tags = _tags_for(rng, world)
    collections = _collections_for(rng, world)
    file, failures = _file_or_failure(rng, image_id, record)
    builder.image(
        image_id,
        resources=resources,
        tags=tags,
        file=file,
        collections=collections,
        failures=failures,
        gone=rng.random() < 0.01,
        listing={"id": image_id, "url": image_uuid},
        raw={"generation": {"type": record["type"]}},
        **record,
    )


def _generation(
    rng: random.Random, world: _World, record: dict[str, Any], checkpoint: Resource
) -> list[ResourceRow]:
    """Fill the generation fields of `record`; returns the resources the image used."""
    sizes, samplers, (low, high), cfgs, clip_skips = BASE_MODELS[checkpoint.base_model]
    width, height = rng.choice(sizes)
    if rng.random() < 0.3:  # Hi-Res fix
        width, height = int(width * 1.5), int(height * 1.5)
    family = [lora for lora in world.loras if lora.base_model == checkpoint.base_model]
    lora_count = rng.choices([0, 1, 2, 3, 4, 6], [30, 28, 20, 12, 7, 3])[0]
    loras = _pick(rng, family or world.loras, min(lora_count, len(family or world.loras)))
    lora_weights = [
        round(rng.choice([0.4, 0.6, 0.7, 0.8, 0.8, 1.0, 1.0, 1.2, -0.5]), 2) for _ in loras
    ]
    embeddings = _pick(rng, world.embeddings, rng.choices([0, 1, 2, 3], [40, 30, 20, 10])[0])
    prompt = _prompt(rng, loras, lora_weights, embeddings[:1])
    negative = _negative(rng, embeddings[1:])
    sampler = rng.choice(samplers)
    steps = rng.randint(low, high)
    cfg = rng.choice(cfgs)
    clip_skip = rng.choice(clip_skips)
    seed = rng.getrandbits(32) if rng.random() < 0.9 else rng.getrandbits(50)
    process = rng.choices(
        ["txt2img", "txt2img + Hi-Res", "img2img", "comfy", "txt2img + ControlNet"],
        [45, 25, 10, 15, 5],
    )[0]
    meta = {
        "prompt": prompt,
        "negativePrompt": negative,
        "sampler": sampler,
        "steps": steps,
        "cfgScale": cfg,
        "seed": seed,
        "Size": f"{width}x{height}",
        "Model": checkpoint.name,
        "clipSkip": clip_skip,
        "hashes": {"model": hashlib.sha256(checkpoint.name.encode()).hexdigest()[:10]},
        "civitaiResources": [
            {"type": r.kind, "modelVersionId": r.model_version_id}
            for r in (checkpoint, *loras, *embeddings)
        ],
    }
    record.update(
        width=width,
        height=height,
        prompt=prompt,
        negative_prompt=negative,
        sampler=sampler,
        steps=steps,
        cfg_scale=cfg,
        seed=seed,
        clip_skip=clip_skip,
        base_model=checkpoint.base_model,
        process=process,
        engine=None,
        workflow="txt2img" if process.startswith("txt2img") else process,
        model=checkpoint.name,
        model_version=checkpoint.version_name,
        model_id=checkpoint.model_id,
        model_version_id=checkpoint.model_version_id,
        raw_meta_json=json.dumps(
            {k: v for k, v in meta.items() if v is not None}, ensure_ascii=False
        ),
    )
    rows = [_resource_row(checkpoint)]
    rows += [_resource_row(lora, weight) for lora, weight in zip(loras, lora_weights, strict=True)]
    rows += [_resource_row(embedding) for embedding in embeddings]
    return rows


def _pick(rng: random.Random, pool: list[Resource], count: int) -> list[Resource]:
    """`count` distinct items, the first ones of the pool (the popular ones) more often."""
    chosen: dict[int, Resource] = {}
    while len(chosen) < count:
        index = min(len(pool) - 1, int(rng.paretovariate(1.2)) - 1 + rng.randint(0, 2))
        chosen.setdefault(index, pool[index])
        if len(chosen) < count and rng.random() < 0.3:
            other = rng.randrange(len(pool))
            chosen.setdefault(other, pool[other])
    return list(chosen.values())[:count]


def _prompt(
    rng: random.Random, loras: list[Resource], weights: list[float], embeddings: list[Resource]
) -> str:
    parts = rng.sample(STYLES, rng.randint(1, 3))
    parts.append(rng.choice(SUBJECTS))
    for detail in rng.sample(DETAILS, rng.randint(2, 8)):
        if rng.random() < 0.25:
            detail = f"({detail}:{rng.choice([0.8, 1.1, 1.2, 1.3, 1.4])})"
        elif rng.random() < 0.1:
            detail = f"(({detail}))"
        parts.append(detail)
    if rng.random() < 0.02:
        parts.append(rng.choice(ODD_TEXT))
    parts += [lora.trigger for lora in loras if rng.random() < 0.5]
    parts += [embedding.name for embedding in embeddings]
    text = ", ".join(parts)
    if rng.random() < 0.15:
        text += "\nBREAK\n" + ", ".join(rng.sample(DETAILS, 3))
    if loras:
        text += " " + " ".join(
            f"<lora:{lora.trigger}:{weight:g}>" for lora, weight in zip(loras, weights, strict=True)
        )
    return text


def _negative(rng: random.Random, embeddings: list[Resource]) -> str | None:
    if rng.random() < 0.1:
        return None
    parts = [e.name for e in embeddings] + rng.sample(NEGATIVES, rng.randint(2, 8))
    if rng.random() < 0.2:
        parts[-1] = f"({parts[-1]}:1.4)"
    return ", ".join(parts)


def _resource_row(resource: Resource, weight: float | None = None) -> ResourceRow:
    return ResourceRow(
        kind=resource.kind,
        name=resource.name,
        weight=weight,
        model_id=resource.model_id,
        model_version_id=resource.model_version_id,
        version_name=resource.version_name,
        base_model=resource.base_model,
        model_type={"checkpoint": "Checkpoint", "lora": "LORA"}.get(
            resource.kind, "TextualInversion"
        ),
    )


def _tags_for(rng: random.Random, world: _World) -> list[TagRow]:
    count = rng.randint(3, 14)
    chosen = {tag.id: tag for tag in rng.choices(world.tags, world.tag_weights, k=count)}
    return [
        TagRow(id=tag.id, name=tag.name, score=float(rng.randint(1, 60)), type="Label")
        for tag in chosen.values()
    ]


def _collections_for(rng: random.Random, world: _World) -> list[int]:
    """Every image came from at least one collection; some from two."""
    count = rng.choices([1, 2, 3], [80, 17, 3])[0]
    return rng.sample(world.collections, count)


def _file_or_failure(
    rng: random.Random, image_id: int, record: dict[str, Any]
) -> tuple[FileRow | None, dict[str, str] | None]:
    if rng.random() < 0.02:
        return None, {"download": "the CDN answered 404 for the original"}
    extension = {"image/png": "png", "image/jpeg": "jpg", "video/mp4": "mp4"}[record["mime_type"]]
    digest = hashlib.sha256(record["uuid"].encode()).hexdigest()
    size = rng.randint(200_000, 9_000_000)
    file = FileRow(
        path=f"media/{record['author']}/{image_id}.{extension}",
        size=size,
        sha256=digest,
        mime_type=record["mime_type"],
        kind="video" if record["type"] == "video" else "image",
        served_size=size,
        served_sha256=digest,
        embedded=record["type"] == "image",
    )
    return file, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="empty folder for the new archive")
    parser.add_argument("--images", type=int, default=100_000, help="how many images")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same rows)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        root = build_archive(args.out_dir, images=args.images, seed=args.seed)
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    size_mb = (root / DB_NAME).stat().st_size / 1e6
    print(f"{args.images} images in {root} ({size_mb:.0f} MB) built in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
