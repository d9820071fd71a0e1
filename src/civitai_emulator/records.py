"""Building one image's record: everything about it, drawn from a generator seeded by
(dataset seed, image id), so any record can be built alone, in any order, at any time.

The structural facts (id, rating, type, post, author) come from the dataset's compact
columns; this module adds the rest: file name and format, size, generation meta in
the style of its origin (AUTOMATIC1111, ComfyUI or Civitai's own generator),
resources, tags and what the file itself embeds.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from civitai_emulator import vocabulary as vocab
from civitai_emulator.models import (
    ImageRecord,
    ImageTagRow,
    ModelVersionRecord,
    ResourceRef,
    image_uuid,
    instant,
)
from civitai_emulator.tagging import visible_rows

if TYPE_CHECKING:
    from civitai_emulator.dataset import Dataset


class _QuickRandom(random.Random):
    """Draws from one float each: several times faster, and records draw a lot."""

    def choice(self, seq: Any) -> Any:
        return seq[int(self.random() * len(seq))]

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            start, stop = 0, start
        return start + int(self.random() * (stop - start))

    def sample(self, population: Any, k: int, *, counts: Any = None) -> list:
        pool = list(population)
        for index in range(min(k, len(pool))):
            swap = index + int(self.random() * (len(pool) - index))
            pool[index], pool[swap] = pool[swap], pool[index]
        return pool[:k]


def _replace_row(row: ImageTagRow, **changes: Any) -> ImageTagRow:
    values = {name: getattr(row, name) for name in ImageTagRow.__slots__}
    values.update(changes)
    return ImageTagRow(**values)


def make_record(dataset: Dataset, index: int) -> ImageRecord:
    return _RecordBuilder(dataset, index).build()


class _RecordBuilder:
    """Everything about one image, drawn from a generator seeded by (seed, image id)."""

    def __init__(self, dataset: Dataset, index: int) -> None:
        core = dataset._core
        self.dataset = dataset
        self.pools = dataset._pools
        self.index = index
        self.image_id = core.ids[index]
        self.role = core.role_of.get(index)
        self.rng = _QuickRandom(dataset.seed * 1_000_003 + self.image_id)
        self.is_video = bool(core.video[index])
        self.nsfw = core.nsfw[index]
        self.created = instant(core.created_ts[index])
        self.published = instant(core.published_ts[index])
        self.post_id = core.post_ids[index]
        self.post = core.posts[self.post_id]

    def _digest(self, label: bytes) -> bytes:
        key = f"{self.dataset.seed}:{self.image_id}:".encode() + label
        return hashlib.blake2b(key, digest_size=32).digest()

    def build(self) -> ImageRecord:
        rng = self.rng
        origin = self._origin()
        base = self._base_model()
        resources = self._resources(base)
        width, height, hires = self._size(base)
        mime, extension = self._format(origin)
        meta = self._meta(origin, base, resources, width, height, hires)
        embedded = self._embedded(origin, mime, meta)
        reactions = self.dataset._core.reactions[self.index]
        stats = {
            "likeCountAllTime": reactions // 2,
            "laughCountAllTime": reactions // 17,
            "heartCountAllTime": reactions // 4,
            "cryCountAllTime": reactions // 40,
            "commentCountAllTime": rng.randrange(0, 12),
            "collectedCountAllTime": reactions // 6,
            "tippedAmountCountAllTime": rng.choice((0, 0, 0, 25, 100)),
            "dislikeCountAllTime": 0,
            "viewCountAllTime": 0,
        }
        tag_rows = self._tag_rows()
        visible = visible_rows(tag_rows, self.dataset.tags, viewer_is_owner=True)
        return ImageRecord(
            id=self.image_id,
            uuid=image_uuid(self.dataset.seed, self.image_id),
            name=self._name(origin, extension, meta),
            type="video" if self.is_video else "image",
            mime_type=mime,
            width=width,
            height=height,
            nsfw_level=self.nsfw,
            created_at=self.created,
            published_at=self.published,
            post_id=self.post_id,
            post_index=self.post.image_ids.index(self.image_id),
            user_id=self.post.user_id,
            hide_meta=self.role == "hidden_meta_image"
            or (self.role is None and rng.random() < 0.03),
            meta=meta,
            process=self._process(origin, hires, meta),
            engine=meta.get("engine") if meta else None,
            on_site=origin == "civitai",
            base_model=base,
            resources=tuple(resources),
            tag_scores={row.tag_id: row.score for row in visible},
            tag_rows=tag_rows,
            embedded_kind=embedded,
            blurhash="U" + _base83(self._digest(b"blurhash"), 27),
            reaction_count=reactions,
            stats=stats,
        )

    # --- choices ---------------------------------------------------------------

    def _origin(self) -> str:
        role = self.role
        if self.is_video:
            return "civitai"
        if role in ("comfy_png_image",):
            return "comfy"
        if role in (
            "a1111_png_image",
            "exif_jpeg_image",
            "hostile_image",
            "deleted_checkpoint_image",
        ):
            return "a1111"
        return self.rng.choices(("a1111", "comfy", "civitai"), (0.45, 0.25, 0.30))[0]

    def _base_model(self) -> str:
        if self.is_video:
            return vocab.VIDEO_BASE_MODEL
        forced = {
            "deleted_lora_image": "Pony",
            "deleted_checkpoint_image": "SD 1.5",
            "unpublished_resource_image": "Illustrious",
            "missing_resource_image": "SDXL 1.0",
        }.get(self.role or "")
        if forced:
            return forced
        names = [name for name, *_ in vocab.BASE_MODELS]
        shares = [share for _, share, *_ in vocab.BASE_MODELS]
        return self.rng.choices(names, shares)[0]

    def _resources(self, base: str) -> list[ResourceRef]:
        rng, pools, role = self.rng, self.pools, self.role
        if role == "deleted_checkpoint_image":
            checkpoint = pools.deleted_checkpoint
        else:
            choices = [v for v in pools.checkpoints[base] if v != pools.deleted_checkpoint]
            checkpoint = (
                rng.choice(choices) if rng.random() > 0.01 else rng.choice(pools.checkpoints[base])
            )
        refs = [ResourceRef(checkpoint, None, "checkpoint")]
        lora_pool = pools.loras[base]
        ordinary = pools.usable_loras[base]
        count = rng.choice((0, 1, 1, 2, 2, 3))
        picks = rng.sample(ordinary, min(count, len(ordinary)))
        if rng.random() < 0.06:
            picks.append(rng.choice(lora_pool))
        gallery = self.dataset._core.gallery_version_of(self.index)
        if gallery is not None:
            picks.append(gallery)  # the showcase model's community images
        special = {
            "deleted_lora_image": pools.deleted_lora,
            "unpublished_resource_image": pools.unpublished,
            "missing_resource_image": pools.missing,
        }.get(role or "")
        if special is not None:
            picks.append(special)
        seen: set[int] = set()
        for version_id in picks:
            if version_id not in seen:
                seen.add(version_id)
                refs.append(
                    ResourceRef(version_id, rng.choice((0.4, 0.6, 0.7, 0.8, 1, 1.2)), "lora")
                )
        for version_id in rng.sample(
            pools.embeddings[base], min(rng.choice((0, 0, 1, 2)), len(pools.embeddings[base]))
        ):
            refs.append(ResourceRef(version_id, None, "embedding"))
        return refs

    def _size(self, base: str) -> tuple[int, int, bool]:
        rng = self.rng
        if self.is_video:
            width, height = rng.choice(vocab.VIDEO_SIZES)
            return width, height, False
        sizes = next(s for name, _, s, _ in vocab.BASE_MODELS if name == base)
        width, height = rng.choice(sizes)
        hires = base == "SD 1.5" and rng.random() < 0.4
        if hires:
            width, height = width * 3 // 2, height * 3 // 2
        return width, height, hires

    def _format(self, origin: str) -> tuple[str, str]:
        if self.is_video:
            return "video/mp4", "mp4"
        forced = {
            "comfy_png_image": "png",
            "a1111_png_image": "png",
            "exif_jpeg_image": "jpeg",
            "no_meta_image": "jpeg",
            "hostile_image": "png",
            "tiff_image": "tiff",
        }.get(self.role or "")
        if forced is None:
            if origin == "comfy":
                forced = "png"
            elif origin == "civitai":
                forced = self.rng.choices(("jpeg", "png", "webp"), (0.6, 0.3, 0.1))[0]
            else:
                forced = self.rng.choices(("png", "jpeg", "webp"), (0.57, 0.35, 0.08))[0]
        return {
            "png": ("image/png", "png"),
            "jpeg": ("image/jpeg", "jpeg"),
            "webp": ("image/webp", "webp"),
            "tiff": ("image/tiff", "tiff"),
        }[forced]

    def _embedded(self, origin: str, mime: str, meta: dict | None) -> str | None:
        forced = {
            "comfy_png_image": "comfy",
            "a1111_png_image": "a1111",
            "exif_jpeg_image": "exif",
            "no_meta_image": None,
            "hostile_image": "a1111",  # hostile text inside the file, too
            "tiff_image": None,
        }
        if self.role in forced:
            return forced[self.role]
        if meta is None or self.is_video or self.rng.random() < 0.25:
            return None
        if mime == "image/png":
            return "comfy" if origin == "comfy" else "a1111"
        return "exif"

    def _process(self, origin: str, hires: bool, meta: dict | None) -> str | None:
        if meta is None:
            return None
        if self.is_video:
            return "txt2vid"
        if origin == "comfy":
            return "comfy"
        return "txt2img + Hi-Res" if hires else self.rng.choice(("txt2img", "txt2img", "img2img"))

    def _name(self, origin: str, extension: str, meta: dict | None) -> str:
        rng = self.rng
        if self.role == "hostile_image":
            return vocab.HOSTILE_NAME
        if self.is_video:
            return f"WAN_{rng.randrange(1, 9999):05d}.mp4"
        if rng.random() < 0.08:
            # Real uploads sometimes carry an extension that does not match the bytes.
            extension = "png" if extension != "png" else "jpg"
        if origin == "comfy":
            return f"ComfyUI_{rng.randrange(1, 99999):05d}_.{extension}"
        if origin == "a1111":
            seed = meta.get("seed", rng.getrandbits(32)) if meta else rng.getrandbits(32)
            return f"{rng.randrange(0, 99999):05d}-{seed}.{extension}"
        return _crockford(self._digest(b"name"), 26) + f".{extension}"

    def _tag_rows(self) -> tuple[ImageTagRow, ...]:
        """The image's ImageTag rows: tagger and user tags, plus the kinds getVotableTags hides.

        The ordinary picks come from the record's own generator as before; the extra
        rows (Rekognition tags beside WD14 ones, vote-only tags, tags awaiting review,
        the owner's votes) from a generator of their own, so adding them changed no
        other field of the record.
        """
        rng = self.rng
        ordinary, moderation = self.dataset._tag_pools[self.nsfw]
        picks = rng.sample(ordinary, rng.randrange(4, 11))
        picks.extend(moderation[:1])
        scores = sorted((rng.randrange(1, 30) for _ in picks), reverse=True)
        extra = random.Random(self._digest(b"tag-rows"))
        rows = [self._tag_row(tag, score, extra) for tag, score in zip(picks, scores, strict=True)]
        unused = [tag for tag in ordinary if tag not in picks]
        extra.shuffle(unused)
        if unused and extra.random() < 0.35:  # a second tagger's opinion
            rows.append(self._extra_row(unused.pop(), extra, source="Rekognition"))
        if unused and extra.random() < 0.25:  # voted onto the image, never tagged
            up_voted = extra.random() < 0.5
            rows.append(self._extra_row(unused.pop(), extra, concrete=False, vote=up_voted))
        if unused and extra.random() < 0.1:  # suggested, waiting for a moderator
            rows.append(self._extra_row(unused.pop(), extra, concrete=False, review=True))
        if rows and extra.random() < 0.1:  # the owner disagrees with a tag that stays
            rows[0] = _replace_row(rows[0], owner_vote=-1)
        rows.sort(key=lambda row: (-row.score, row.tag_id))
        return tuple(rows)

    def _tag_row(self, tag: Any, score: int, rng: random.Random) -> ImageTagRow:
        automated = tag.type != "UserGenerated"
        if tag.type == "Moderation":
            source = "Rekognition"
        elif automated:
            source = "WD14" if rng.random() < 0.85 else "Rekognition"
        else:
            source = "User"
        return ImageTagRow(
            tag_id=tag.id,
            score=score,
            up_votes=0 if automated else score % 4,
            down_votes=0,
            automated=automated,
            needs_review=False,
            concrete=True,
            last_upvote=None if automated else self.published + timedelta(days=score),
            source=source,
        )

    def _extra_row(
        self,
        tag: Any,
        rng: random.Random,
        *,
        source: str = "User",
        concrete: bool = True,
        vote: bool = False,
        review: bool = False,
    ) -> ImageTagRow:
        automated = source != "User"
        score = rng.randrange(1, 4) if not automated else rng.randrange(1, 30)
        return ImageTagRow(
            tag_id=tag.id,
            score=score,
            up_votes=0 if automated else score,
            down_votes=0,
            automated=automated,
            needs_review=review,
            concrete=concrete,
            last_upvote=None if automated else self.published + timedelta(hours=score),
            source=source,
            owner_vote=1 if vote else None,
        )

    # --- generation meta -------------------------------------------------------

    def _meta(
        self,
        origin: str,
        base: str,
        resources: list[ResourceRef],
        width: int,
        height: int,
        hires: bool,
    ) -> dict[str, Any] | None:
        rng = self.rng
        if self.role == "no_meta_image" or (self.role is None and rng.random() < 0.05):
            return None
        versions = self.dataset.model_versions
        checkpoint = versions.get(resources[0].model_version_id)
        loras = [r for r in resources if r.kind == "lora"]
        embeddings = [r for r in resources if r.kind == "embedding"]
        prompt, negative = self._prompts(base, loras)
        sampler = "Euler" if base == "Flux.1 D" else rng.choice(vocab.SAMPLERS)
        steps = (
            rng.choice((20, 25, 28, 30, 30, 35, 40))
            if base != "Flux.1 D"
            else rng.choice((20, 25, 28))
        )
        cfg = rng.choice((7, 7, 6.5, 5, 4.5, 8)) if base != "Flux.1 D" else 3.5
        seed = rng.getrandbits(32)
        clip_skip = (
            next(c for name, _, _, c in vocab.BASE_MODELS if name == base)
            if not self.is_video
            else 1
        )
        base_size = (width * 2 // 3, height * 2 // 3) if hires else (width, height)
        meta: dict[str, Any] = {"prompt": prompt}
        if negative:
            meta["negativePrompt"] = negative
        meta.update({"steps": steps, "sampler": sampler, "cfgScale": cfg, "seed": seed})
        if origin == "civitai":
            meta.update(self._civitai_meta(base, resources, clip_skip, width, height))
            return meta
        meta["Size"] = f"{base_size[0]}x{base_size[1]}"
        meta["clipSkip"] = clip_skip
        if checkpoint is not None:
            meta["Model"] = checkpoint.model_name.replace(" ", "_")
            meta["Model hash"] = checkpoint.autov2_hash
        hashes: dict[str, str] = {}
        if checkpoint is not None:
            hashes["model"] = checkpoint.autov2_hash
        for ref in loras + embeddings:
            version = versions.get(ref.model_version_id)
            name = _alias(version.model_name) if version else f"unknown_{ref.model_version_id}"
            prefix = "lora" if ref.kind == "lora" else "embed"
            hashes[f"{prefix}:{name}"] = (
                version.autov2_hash if version else f"{ref.model_version_id:010x}"[-10:]
            )
        meta["hashes"] = hashes
        meta["resources"] = self._a1111_resources(checkpoint, loras, embeddings)
        if hires:
            meta["Hires upscale"] = 1.5
            meta["Hires upscaler"] = rng.choice(vocab.UPSCALERS)
            meta["Denoising strength"] = rng.choice((0.35, 0.4, 0.45, 0.5))
        if origin == "comfy":
            meta["comfy"] = json.dumps(self._comfy_summary(meta), separators=(",", ":"))
        else:
            meta["Version"] = rng.choice(("v1.10.1", "v1.9.4", "f2.0.1v1.10.1-previous-313"))
        return meta

    def _prompts(self, base: str, loras: list[ResourceRef]) -> tuple[str, str | None]:
        rng = self.rng
        if self.role == "hostile_image":
            return vocab.HOSTILE_PROMPT, vocab.HOSTILE_NEGATIVE
        subject = rng.choice(vocab.SUBJECTS)
        if base == "Flux.1 D":
            prompt = rng.choice(vocab.FLUX_SENTENCES).format(subject=subject)
            negative = None
        else:
            details = ", ".join(rng.sample(vocab.DETAILS, rng.randrange(3, 7)))
            prompt = f"{vocab.QUALITY_PREFIX.get(base, '')}{subject}, {details}"
            if rng.random() < 0.2:
                prompt += f", ({rng.choice(vocab.DETAILS)}:1.3)"
            negative = ", ".join(rng.sample(vocab.NEGATIVES, rng.randrange(1, 4)))
        versions = self.dataset.model_versions
        for ref in loras:
            version = versions.get(ref.model_version_id)
            alias = _alias(version.model_name) if version else f"lora_{ref.model_version_id}"
            prompt += f", <lora:{alias}:{ref.strength}>"
        return prompt, negative

    def _civitai_meta(
        self, base: str, resources: list[ResourceRef], clip_skip: int, width: int, height: int
    ) -> dict[str, Any]:
        rng = self.rng
        civitai_resources = []
        for ref in resources:
            entry: dict[str, Any] = {"type": ref.kind if ref.kind != "embedding" else "embed"}
            if ref.strength is not None:
                entry["weight"] = ref.strength
            entry["modelVersionId"] = ref.model_version_id
            version = self.dataset.model_versions.get(ref.model_version_id)
            if version is not None:
                entry["modelVersionName"] = version.name
            civitai_resources.append(entry)
        return {
            "clipSkip": clip_skip,
            "width": width,
            "height": height,
            "workflow": "txt2vid"
            if self.is_video
            else rng.choice(("txt2img", "txt2img", "txt2img-hires", "img2img-hires")),
            "engine": "wan" if self.is_video else "comfyui",
            "baseModel": base,
            "quantity": rng.choice((1, 2, 4)),
            "civitaiResources": civitai_resources,
            "Created Date": self.created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z",
        }

    def _a1111_resources(
        self,
        checkpoint: ModelVersionRecord | None,
        loras: list[ResourceRef],
        embeddings: list[ResourceRef],
    ) -> list[dict[str, Any]]:
        versions = self.dataset.model_versions
        out: list[dict[str, Any]] = []
        if checkpoint is not None:
            out.append(
                {"name": checkpoint.model_name, "type": "model", "hash": checkpoint.autov2_hash}
            )
        for ref in loras:
            version = versions.get(ref.model_version_id)
            name = _alias(version.model_name) if version else f"lora_{ref.model_version_id}"
            out.append({"name": name, "type": "lora", "weight": ref.strength})
        for ref in embeddings:
            version = versions.get(ref.model_version_id)
            if version is not None:
                out.append({"name": version.model_name, "type": "embed"})
        return out

    def _comfy_summary(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {
            "prompt": {
                "3": {
                    "class_type": "KSampler",
                    "inputs": {
                        "seed": meta["seed"],
                        "steps": meta["steps"],
                        "cfg": meta["cfgScale"],
                        "sampler_name": "euler_ancestral",
                        "scheduler": "karras",
                        "denoise": 1,
                    },
                },
                "4": {
                    "class_type": "CheckpointLoaderSimple",
                    "inputs": {"ckpt_name": f"{meta.get('Model', 'model')}.safetensors"},
                },
                "6": {"class_type": "CLIPTextEncode", "inputs": {"text": meta["prompt"]}},
            },
        }


@lru_cache(maxsize=4096)
def _alias(model_name: str) -> str:
    """How a model's file is usually named: `Detail Tweaker XL (Pony)` -> `detail_tweaker_xl`."""
    base = model_name.split(" (")[0]
    return "".join(ch if ch.isalnum() else "_" for ch in base.lower()).strip("_")


_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_BASE83 = bytes(ord(_BASE83[b % 83]) for b in range(256))
_TO_CROCKFORD = bytes(ord(_CROCKFORD[b % 32]) for b in range(256))


def _base83(digest: bytes, length: int) -> str:
    """Blurhash-looking text (the alphabet blurhash uses) from random bytes."""
    return digest[:length].translate(_TO_BASE83).decode("ascii")


def _crockford(digest: bytes, length: int) -> str:
    """An upload id like Civitai's generator names files (Crockford base32)."""
    return digest[:length].translate(_TO_CROCKFORD).decode("ascii")


# ------------------------------------------------------------------ collections
