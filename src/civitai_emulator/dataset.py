"""The emulator's deterministic dataset: users, images, posts, collections, tags, models.

`Dataset(seed, images)` always builds the same data for the same arguments. It is
plain Python data so tests can compute what the server must answer without any
client code. Everything the server says is derived from these objects.

Attributes of a `Dataset`:

- `owner`: the signed-in `User` (every credential of the emulator belongs to it).
- `users`: `{user_id: User}`. One of them is deleted: `username` None, `deleted_at`
  set, `former_username` = the name it had (`user.getCreator` with it → 404).
- `images`: `Mapping[int, ImageRecord]`, iterated in ascending id order (= upload
  order). Records are built on first access from the seed, so a dataset of 100,000
  images starts fast; the same id always gives an equal record.
- `posts`: `{post_id: PostRecord}`; every image belongs to exactly one post.
- `collections`: `{collection_id: CollectionRecord}`, see `named` below.
- `tags`: `{tag_id: Tag}`; an image's `tag_scores` maps tag ids to vote scores.
- `model_versions`: `{version_id: ModelVersionRecord}` with model and version status
  ("Published", "Deleted", "Unpublished"); `missing_version_ids`: ids that images
  reference but the server does not know (`modelVersion.getById` → 404).
- `named`: well-known ids and names, so tests need no searching:
  collections `demo_collection` (the owner's Private collection of min(images, 300)
  images less the three trap images below, with videos and hostile text; every other
  named image below is in it), `all_collection` (the owner's Private collection of
  every image but the traps),
  `public_collection`, `unlisted_collection` (the owner's), `others_private_collection`,
  `others_public_collection`; images `video_image`, `deleted_lora_image`,
  `deleted_checkpoint_image`, `unpublished_resource_image`, `missing_resource_image`,
  `deleted_author_image`, `hostile_image`, `comfy_png_image`, `a1111_png_image`,
  `exif_jpeg_image`, `no_meta_image`, `hidden_meta_image`, `r_rated_image`; `post_id`
  (a post with several images); and the strings `owner_username`, `other_username`
  (a user who has images and a public collection), `deleted_username`.
  Added for every source a person archives:
  - `long_post_id`: the owner's post of 230 images (more than one 200-item page);
    None when the dataset has fewer than 600 images.
  - `post_collection`, `model_collection`, `article_collection`: the owner's Private
    collections of type Post (`post_ids`: about 15 posts, `post_id` among them),
    Model (`model_ids`) and Article (`article_ids`); their `image_ids` are empty.
  - `gallery_model_id`, `gallery_version_id`: the showcase LoRA ("Community Showcase
    LoRA", three versions, `dataset.versions_of_model(id)`); about 8% of all images
    use one of its versions (`dataset.images_using(version_ids)`).
  - `tiff_image`, `b2_missing_video_image`, `still_only_video_image` (TRAP_IMAGE_ROLES)
    and `trap_username`, who posted exactly those three: a TIFF original, a video the
    Backblaze origin does not have, and a video every URL answers with a still. They
    are in no collection.
- the signed-in user's reactions: `dataset.reaction_of(image_id)` ("Like", "Heart",
  "Laugh", "Cry", "Dislike" or None; about 12% of all images, anyone's) and
  `dataset.reacted_images(kinds)`.
- `generations`: the owner's on-site generations (`GenerationRecord`, see
  `civitai_emulator.generations`), newest first, aged 10 minutes to 45 days: those
  older than 30 days are gone from `orchestrator.queryGeneratedImages`.
- `trap_user`: the `User` named by `trap_username`.

`ImageRecord` fields: `id`, `uuid` (the CDN key, `url` on the wire), `name` (as
uploaded: may carry a wrong extension, `/` or `..`), `type` ("image"|"video"),
`mime_type`, `width`, `height` (the pixel size of the CDN original), `nsfw_level`
(1 PG, 2 PG-13, 4 R, 8 X, 16 XXX), `created_at`, `published_at` (aware UTC datetimes),
`post_id`, `post_index`, `user_id`, `hide_meta`, `meta` (the generation meta as Civitai
stores it, or None), `process`, `engine`, `on_site`, `base_model`, `resources`
(`ResourceRef(model_version_id, strength, kind)` with kind "checkpoint"|"lora"|
"embedding"; strength None except for LoRAs), `tag_scores` ({tag_id: score}, highest
first), `embedded_kind` ("a1111": PNG `parameters` text, "comfy": PNG `prompt` and
`workflow` chunks, "exif": JPEG/WebP EXIF UserComment, None: nothing), `blurhash`,
`reaction_count` and `stats` (the nine counters `image.get` reports).
"""

from __future__ import annotations

import operator
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, reduce
from typing import Any

from civitai_emulator import vocabulary as vocab
from civitai_emulator.generations import build_generations
from civitai_emulator.models import (
    CollectionRecord,
    GenerationRecord,
    ImageRecord,
    ModelVersionRecord,
    PostRecord,
    ResourceRef,
    Tag,
    User,
    image_uuid,
    instant,
)
from civitai_emulator.records import make_record

__all__ = [
    "CollectionRecord",
    "Dataset",
    "ImageRecord",
    "ModelVersionRecord",
    "PostRecord",
    "ResourceRef",
    "Tag",
    "User",
    "image_uuid",
]

IMAGE_ID_START = 100_000_000
DATASET_START = datetime(2023, 3, 1, tzinfo=UTC)
DATASET_SPAN = timedelta(days=900)
DEMO_COLLECTION_SIZE = 300
NAMED_IMAGE_ROLES = (
    "video_image",
    "deleted_lora_image",
    "deleted_checkpoint_image",
    "unpublished_resource_image",
    "missing_resource_image",
    "deleted_author_image",
    "hostile_image",
    "comfy_png_image",
    "a1111_png_image",
    "exif_jpeg_image",
    "no_meta_image",
    "hidden_meta_image",
    "r_rated_image",
)
# Images that break a client's assumptions about files, kept out of the owner's
# collections (demo_collection, all_collection) and posted by a user of their own
# (`named["trap_username"]`): a TIFF original, a video missing from the Backblaze
# bucket, and a video no URL serves as a video.
TRAP_IMAGE_ROLES = ("tiff_image", "b2_missing_video_image", "still_only_video_image")
ALL_ROLES = NAMED_IMAGE_ROLES + TRAP_IMAGE_ROLES
VIDEO_ROLES = ("video_image", "b2_missing_video_image", "still_only_video_image")
# A post longer than one 200-item page, owned by the signed-in user; only datasets
# of at least LONG_POST_MIN_IMAGES images hold it.
LONG_POST_SIZE = 230
LONG_POST_MIN_IMAGES = 600
# The signed-in user's reactions: about one image in REACTION_SHARE, of these kinds.
REACTION_KINDS = (("Like", 0.5), ("Heart", 0.25), ("Laugh", 0.1), ("Cry", 0.08), ("Dislike", 0.07))
REACTION_SHARE = 0.12
# The showcase model: a LoRA with three versions whose community images are about
# GALLERY_SHARE of all images.
GALLERY_SHARE = 0.08
GALLERY_VERSIONS = 3
NSFW_WEIGHTS = ((1, 0.70), (2, 0.12), (4, 0.09), (8, 0.06), (16, 0.03))
VIDEO_SHARE = 0.08
RECORD_CACHE_SIZE = 20_000


class Dataset:
    """See the module docstring."""

    def __init__(self, seed: int = 1, images: int = 600) -> None:
        if images < len(ALL_ROLES) + 1:
            raise ValueError(f"images must be at least {len(ALL_ROLES) + 1}")
        self.seed = seed
        self.image_count = images
        rng = random.Random(f"civitai-emulator/{seed}")
        self.tags = _build_tags(rng)
        self._tag_pools = _tag_pools(self.tags)
        self.users, self.owner, self._others, deleted = _build_users(rng)
        self.model_versions, self.missing_version_ids, self._pools = _build_models(rng, self.users)
        self._gallery_versions = _add_gallery_model(seed, self.model_versions, self.users)
        self.trap_user = self._others[-1]
        self._core = _Core(rng, images, self)
        self.posts = self._core.posts
        self.images: _ImageMap = _ImageMap(self)
        self.collections, collection_names = _build_collections(rng, self)
        collection_names.update(_add_typed_collections(self))
        self.generations: list[GenerationRecord] = build_generations(self)
        self._by_versions: dict[frozenset[int], list[int]] = {}
        self.post_metrics_cache: dict[int, dict[str, int]] = {}  # see posts.post_metrics
        gallery = self.model_versions[self._gallery_versions[0]]
        self.named: dict[str, Any] = {
            **collection_names,
            **{role: self._core.ids[index] for role, index in self._core.role_index.items()},
            "post_id": self._core.multi_image_post_id,
            "long_post_id": self._core.long_post_id,
            "gallery_model_id": gallery.model_id,
            "gallery_version_id": gallery.id,
            "owner_username": self.owner.username,
            "other_username": self.users[
                self.collections[collection_names["others_public_collection"]].owner_id
            ].username,
            "deleted_username": deleted.former_username,
            "trap_username": self.trap_user.username,
        }
        self.tag_by_name = {tag.name: tag for tag in self.tags.values()}

    # --- lookups the server needs -------------------------------------------------

    @property
    def image_ids(self) -> list[int]:
        """Every image id, ascending."""
        return self._core.ids

    def has_image(self, image_id: int) -> bool:
        return image_id in self._core.index_of

    def nsfw_level_of(self, image_id: int) -> int:
        return self._core.nsfw[self._core.index_of[image_id]]

    def user_of(self, image_id: int) -> int:
        return self.posts[self.post_of(image_id)].user_id

    def post_of(self, image_id: int) -> int:
        return self._core.post_ids[self._core.index_of[image_id]]

    def type_of(self, image_id: int) -> str:
        return "video" if self._core.video[self._core.index_of[image_id]] else "image"

    def reactions_of(self, image_id: int) -> int:
        return self._core.reactions[self._core.index_of[image_id]]

    def published_ts_of(self, image_id: int) -> float:
        return self._core.published_ts[self._core.index_of[image_id]]

    def image_by_uuid(self, uuid: str) -> ImageRecord | None:
        image_id = self._core.id_for_uuid(uuid)
        return None if image_id is None else self.images[image_id]

    def user_by_username(self, username: str) -> User | None:
        wanted = username.lower()
        for user in self.users.values():
            if user.username is not None and user.username.lower() == wanted:
                return user
        return None

    def images_of_user(self, user_id: int) -> list[int]:
        """Ids (ascending) of the images the user posted."""
        return self._core.images_by_user.get(user_id, [])

    def other_users(self) -> list[User]:
        return list(self._others)

    def reaction_of(self, image_id: int) -> str | None:
        """The signed-in user's reaction to an image ("Like", "Heart", ...), if any."""
        slot = self._core.reaction[self._core.index_of[image_id]]
        return REACTION_KINDS[slot - 1][0] if slot else None

    def reacted_images(self, kinds: Iterable[str] | None = None) -> list[int]:
        """Ids (ascending) of the images the signed-in user reacted to with one of `kinds`."""
        chosen = None if kinds is None else set(kinds)
        wanted = {
            1 + i for i, (kind, _) in enumerate(REACTION_KINDS) if chosen is None or kind in chosen
        }
        reaction = self._core.reaction
        return [i for index, i in enumerate(self._core.ids) if reaction[index] in wanted]

    def versions_of_model(self, model_id: int) -> list[int]:
        return sorted(v.id for v in self.model_versions.values() if v.model_id == model_id)

    def images_using(self, version_ids: Iterable[int]) -> list[int]:
        """Ids (ascending) of the images whose resources include one of these model
        versions (Civitai's ImageResourceNew rows). The showcase model's come from a
        column; any other model costs one pass over every record, cached."""
        wanted = frozenset(version_ids)
        cached = self._by_versions.get(wanted)
        if cached is not None:
            return cached
        core = self._core
        if wanted and wanted <= set(core.gallery_versions):
            slots = {1 + core.gallery_versions.index(v) for v in wanted}
            found = [i for index, i in enumerate(core.ids) if core.gallery[index] in slots]
        else:
            found = [
                i
                for i in core.ids
                if any(r.model_version_id in wanted for r in self.images[i].resources)
            ]
        self._by_versions[wanted] = found
        return found


# ------------------------------------------------------------------ users, tags


def _build_tags(rng: random.Random) -> dict[int, Tag]:
    tags: dict[int, Tag] = {}
    tag_id = 100
    for name, kind, level in vocab.TAGS:
        tag_id += rng.randrange(1, 900)
        tags[tag_id] = Tag(tag_id, name, kind, level)
    return tags


def _tag_pools(tags: dict[int, Tag]) -> dict[int, tuple[list[Tag], list[Tag]]]:
    """Per image rating: (ordinary tags it may get, the moderation tag it gets)."""
    pools = {}
    for level in (1, 2, 4, 8, 16):
        ordinary = [t for t in tags.values() if t.type != "Moderation" and t.nsfw_level <= level]
        moderation = [t for t in tags.values() if t.type == "Moderation" and t.nsfw_level == level]
        pools[level] = (ordinary, moderation if level > 1 else [])
    return pools


def _build_users(rng: random.Random) -> tuple[dict[int, User], User, list[User], User]:
    names: list[str] = []
    for head in vocab.USERNAME_HEADS:
        for tail in vocab.USERNAME_TAILS:
            names.append(f"{head}{tail}")
    rng.shuffle(names)
    users: dict[int, User] = {}

    def make(name: str) -> User:
        user_id = rng.randrange(10_000, 9_000_000)
        while user_id in users:
            user_id = rng.randrange(10_000, 9_000_000)
        created = DATASET_START - timedelta(days=rng.randrange(30, 700))
        if rng.random() < 0.5:
            name = f"{name}{rng.randrange(1, 999)}"
        return User(user_id, name, created)

    owner = make(names[0])
    users[owner.id] = owner
    others = []
    for name in names[1:41]:
        user = make(name)
        users[user.id] = user
        others.append(user)
    gone = make(names[41])
    deleted = User(
        gone.id,
        None,
        gone.created_at,
        deleted_at=DATASET_START + DATASET_SPAN * 0.7,
        former_username=gone.username,
    )
    users[deleted.id] = deleted
    return users, owner, others, deleted


# ----------------------------------------------------------------------- models


@dataclass
class _ResourcePools:
    """Version ids by kind and base model, plus the special ones named images use."""

    checkpoints: dict[str, list[int]]
    loras: dict[str, list[int]]  # every LoRA, removed ones and unknown ids included
    usable_loras: dict[str, list[int]]  # published LoRAs only
    embeddings: dict[str, list[int]]
    deleted_lora: int
    deleted_checkpoint: int
    unpublished: int
    missing: int


def _build_models(
    rng: random.Random, users: dict[int, User]
) -> tuple[dict[int, ModelVersionRecord], frozenset[int], _ResourcePools]:
    creators = [user.id for user in users.values() if user.username]
    versions: dict[int, ModelVersionRecord] = {}
    next_model = [rng.randrange(100_000, 200_000)]
    next_version = [rng.randrange(150_000, 300_000)]

    def add_model(
        name: str, model_type: str, base: str, count: int, model_status: str = "Published"
    ) -> list[int]:
        next_model[0] += rng.randrange(50, 40_000)
        model_id = next_model[0]
        created = DATASET_START - timedelta(days=rng.randrange(60, 400))
        owner = rng.choice(creators)
        words = tuple(rng.sample(["masterpiece", "style", "detailed", name.split()[0].lower()], 2))
        ids = []
        for position in range(count):
            next_version[0] += rng.randrange(100, 60_000)
            version_id = next_version[0]
            status = "Published"
            versions[version_id] = ModelVersionRecord(
                id=version_id,
                name=vocab.VERSION_NAMES[(position + model_id) % len(vocab.VERSION_NAMES)],
                model_id=model_id,
                model_name=name,
                model_type=model_type,
                base_model=base,
                status=status,
                model_status=model_status,
                created_at=created + timedelta(days=30 * position),
                published_at=created + timedelta(days=30 * position, hours=2),
                trained_words=words if model_type != "Checkpoint" else (),
                nsfw=rng.random() < 0.3,
                user_id=owner,
                autov2_hash=f"{rng.getrandbits(40):010x}",
            )
            ids.append(version_id)
        return ids

    bases = [base for base, *_ in vocab.BASE_MODELS] + [vocab.VIDEO_BASE_MODEL]
    checkpoints = {
        base: [
            v
            for name in vocab.CHECKPOINTS[base]
            for v in add_model(name, "Checkpoint", base, rng.randrange(1, 3))
        ]
        for base in bases
    }
    loras: dict[str, list[int]] = {}
    embeddings: dict[str, list[int]] = {}
    for base in bases:
        chosen = rng.sample(vocab.LORAS, 8)
        loras[base] = [add_model(f"{name} ({base})", "LORA", base, 1)[0] for name in chosen]
        if base in ("SD 1.5", "SDXL 1.0", "Pony"):
            picks = rng.sample(vocab.EMBEDDINGS, 3)
            embeddings[base] = [add_model(name, "TextualInversion", base, 1)[0] for name in picks]
        else:
            embeddings[base] = []

    def restatus(
        version_id: int, status: str | None = None, model_status: str | None = None
    ) -> None:
        record = versions[version_id]
        versions[version_id] = _replace(
            record, status=status or record.status, model_status=model_status or record.model_status
        )

    # Ordinary images draw from these pools too, so some of them reference removed models.
    for base in bases:
        lora_ids = loras[base]
        restatus(lora_ids[-1], model_status="Deleted")
        restatus(lora_ids[-2], status="Deleted")
        restatus(lora_ids[-3], status="Unpublished")
    deleted_lora = loras["Pony"][-1]
    unpublished = loras["Illustrious"][-3]
    deleted_checkpoint = checkpoints["SD 1.5"][-1]
    restatus(deleted_checkpoint, model_status="Deleted")
    usable = {
        base: [v for v in ids if versions[v].status == versions[v].model_status == "Published"]
        for base, ids in loras.items()
    }
    missing_ids = []
    for _ in range(6):
        next_version[0] += rng.randrange(100, 60_000)
        missing_ids.append(next_version[0])
    loras["SDXL 1.0"].append(missing_ids[0])
    loras["Pony"].append(missing_ids[1])
    pools = _ResourcePools(
        checkpoints=checkpoints,
        loras=loras,
        usable_loras=usable,
        embeddings=embeddings,
        deleted_lora=deleted_lora,
        deleted_checkpoint=deleted_checkpoint,
        unpublished=unpublished,
        missing=missing_ids[2],
    )
    return versions, frozenset(missing_ids), pools


def _replace(record: Any, **changes: Any) -> Any:
    values = {name: getattr(record, name) for name in record.__slots__}
    values.update(changes)
    return type(record)(**values)


# ---------------------------------------------------------------- image columns


class _Core:
    """Per-image columns the listings filter on, built eagerly and compactly."""

    def __init__(self, rng: random.Random, count: int, dataset: Dataset) -> None:
        self.seed = dataset.seed
        self.count = count
        demo_size = min(count, DEMO_COLLECTION_SIZE)
        self.demo_indices = [int(k * count / demo_size) for k in range(demo_size)]
        spacing = demo_size / len(ALL_ROLES)
        self.role_index = {
            role: self.demo_indices[int((k + 0.5) * spacing)] for k, role in enumerate(ALL_ROLES)
        }
        self.role_of = {index: role for role, index in self.role_index.items()}
        self.trap_indices = frozenset(self.role_index[role] for role in TRAP_IMAGE_ROLES)
        self._build_columns(rng, count)
        self._build_side_columns(dataset)
        self._build_posts(rng, dataset)
        self._uuid_index: dict[str, int] | None = None

    def _build_columns(self, rng: random.Random, count: int) -> None:
        ids: list[int] = []
        current = IMAGE_ID_START + rng.randrange(1_000_000)
        step = max(2, int(4000 * 600 / max(count, 600)) + 1)
        created: list[float] = []
        span = DATASET_SPAN.total_seconds()
        start = DATASET_START.timestamp()
        nsfw = bytearray(count)
        video = bytearray(count)
        reactions: list[int] = []
        levels = [level for level, _ in NSFW_WEIGHTS]
        weights = [weight for _, weight in NSFW_WEIGHTS]
        random_value = rng.random
        for index in range(count):
            current += 1 + int(random_value() * step)
            ids.append(current)
            created.append(start + (index + random_value() * 0.9) * span / count)
            nsfw[index] = rng.choices(levels, weights)[0]
            video[index] = random_value() < VIDEO_SHARE
            reactions.append(int(random_value() ** 3 * 900))
        for role, index in self.role_index.items():
            nsfw[index] = 4 if role == "r_rated_image" else 1
            video[index] = role in VIDEO_ROLES
        self.ids = ids
        self.index_of = {image_id: index for index, image_id in enumerate(ids)}
        self.created_ts = created
        self.nsfw = nsfw
        self.video = video
        self.reactions = reactions

    def _build_side_columns(self, dataset: Dataset) -> None:
        """Columns added later than the first ones, each from its own generator so the
        older columns (and every record built from them) keep their values."""
        count = self.count
        kinds = [kind for kind, _ in REACTION_KINDS]
        weights = [weight for _, weight in REACTION_KINDS]
        react = random.Random(f"civitai-emulator/{self.seed}/reactions")
        # 0 = no reaction of the signed-in user, else 1 + the index into REACTION_KINDS
        self.reaction = bytearray(count)
        for index in range(count):
            if react.random() < REACTION_SHARE:
                self.reaction[index] = 1 + kinds.index(react.choices(kinds, weights)[0])
        self.gallery_versions: list[int] = dataset._gallery_versions
        pick = random.Random(f"civitai-emulator/{self.seed}/gallery")
        # 0 = none, else 1 + the index into gallery_versions; never on a named image,
        # whose resources are what its name says
        self.gallery = bytearray(count)
        for index in range(count):
            if pick.random() < GALLERY_SHARE and index not in self.role_of:
                self.gallery[index] = 1 + int(pick.random() * len(self.gallery_versions))

    def gallery_version_of(self, index: int) -> int | None:
        slot = self.gallery[index]
        return self.gallery_versions[slot - 1] if slot else None

    def _long_post_members(self) -> set[int]:
        """Indices of the long post: consecutive uploads from the middle, named images
        (which are single-image posts) left out."""
        if self.count < LONG_POST_MIN_IMAGES:
            return set()
        members: list[int] = []
        index = self.count // 3
        while len(members) < LONG_POST_SIZE and index < self.count:
            if index not in self.role_of:
                members.append(index)
            index += 1
        return set(members)

    def _build_posts(self, rng: random.Random, dataset: Dataset) -> None:
        owner = dataset.owner.id
        trap = dataset.trap_user.id
        others = [user.id for user in dataset.other_users() if user.id != trap]
        weights = [1.0 / (rank + 1) ** 0.7 for rank in range(len(others))]
        deleted = next(user.id for user in dataset.users.values() if user.deleted_at)
        post_id = 20_000_000 + rng.randrange(1_000_000)
        self.post_ids: list[int] = [0] * self.count
        self.published_ts: list[float] = [0.0] * self.count
        self.posts: dict[int, PostRecord] = {}
        self.images_by_user: dict[int, list[int]] = {}
        self.multi_image_post_id = 0
        self.long_post_id: int | None = None
        long_members = self._long_post_members()
        first_long = min(long_members) if long_members else -1
        index = 0
        while index < self.count:
            role = self.role_of.get(index)
            if index == first_long:
                post_id += rng.randrange(3, 5000)
                self._add_post(rng, post_id, sorted(long_members), owner)
                self.long_post_id = post_id
                index += 1
                continue
            if index in long_members:
                index += 1
                continue
            if role is not None:
                size = 1
            else:
                size = rng.choice((1, 1, 2, 2, 3, 4, 6))
                for offset in range(1, size):
                    ahead = index + offset
                    if ahead >= self.count or ahead in self.role_of or ahead in long_members:
                        size = offset
                        break
            if role == "deleted_author_image":
                user_id = deleted
            elif role in TRAP_IMAGE_ROLES:
                user_id = trap
            elif role == "hostile_image" or (role is None and rng.random() >= 0.25):
                user_id = rng.choices(others, weights)[0]
            else:
                user_id = owner
            post_id += rng.randrange(3, 5000)
            self._add_post(rng, post_id, list(range(index, index + size)), user_id)
            if size >= 3 and not self.multi_image_post_id:
                self.multi_image_post_id = post_id
            index += size
        if not self.multi_image_post_id:
            self.multi_image_post_id = max(self.posts.values(), key=lambda p: len(p.image_ids)).id
        for images in self.images_by_user.values():
            images.sort()

    def _add_post(self, rng: random.Random, post_id: int, members: list[int], user_id: int) -> None:
        last_created = self.created_ts[members[-1]]
        published = last_created + rng.randrange(60, 7200)
        image_ids = tuple(self.ids[i] for i in members)
        for i in members:
            self.post_ids[i] = post_id
            self.published_ts[i] = max(published, self.created_ts[i] + 30)
        self.images_by_user.setdefault(user_id, []).extend(image_ids)
        title = None if rng.random() < 0.6 else rng.choice(vocab.SUBJECTS).capitalize()
        self.posts[post_id] = PostRecord(
            post_id,
            user_id,
            title,
            instant(published),
            image_ids,
            # bit_or of its images' levels, as updatePostNsfwLevels computes it
            # (src/server/services/nsfwLevels.service.ts @ ebed6616)
            reduce(operator.or_, (self.nsfw[i] for i in members), 0) or 1,
        )

    def id_for_uuid(self, uuid: str) -> int | None:
        if self._uuid_index is None:
            self._uuid_index = {image_uuid(self.seed, image_id): image_id for image_id in self.ids}
        return self._uuid_index.get(uuid)


# --------------------------------------------------------------- image records


class _ImageMap(Mapping[int, ImageRecord]):
    """`dataset.images`: records built on demand, a bounded cache of recent ones."""

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset
        # lru_cache is thread-safe: the server thread and a test's thread read at once.
        self._record = lru_cache(maxsize=RECORD_CACHE_SIZE)(self._build)

    def _build(self, image_id: int) -> ImageRecord:
        return make_record(self._dataset, self._dataset._core.index_of[image_id])

    def __getitem__(self, image_id: int) -> ImageRecord:
        return self._record(image_id)

    def __iter__(self) -> Iterator[int]:
        return iter(self._dataset._core.ids)

    def __len__(self) -> int:
        return self._dataset._core.count

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._dataset._core.index_of


def _build_collections(
    rng: random.Random, dataset: Dataset
) -> tuple[dict[int, CollectionRecord], dict[str, int]]:
    core = dataset._core
    ids = core.ids
    count = len(ids)
    # The two other users with the most images own the others' collections, so
    # `other_username` always names someone with images to list.
    others = sorted(
        (u for u in dataset.other_users() if u.id != dataset.trap_user.id),
        key=lambda u: -len(core.images_by_user.get(u.id, [])),
    )
    first_other, second_other = others[1], others[0]
    collection_id = 9_000_000 + rng.randrange(1_000_000)
    collections: dict[int, CollectionRecord] = {}
    named: dict[str, int] = {}

    def add(
        key: str,
        name: str,
        owner: int,
        read: str,
        indices: list[int],
        description: str | None = None,
    ) -> None:
        nonlocal collection_id
        collection_id += rng.randrange(7, 90_000)
        chosen = tuple(sorted(ids[i] for i in set(indices)))
        created = DATASET_START + timedelta(days=rng.randrange(0, 300))
        collections[collection_id] = CollectionRecord(
            collection_id,
            name,
            owner,
            read,
            "Image",
            chosen,
            description,
            "Private" if read == "Private" else "Public",
            created,
        )
        named[key] = collection_id

    def every(step: int, offset: int, cap: int) -> list[int]:
        picked = range(offset % count, count, step)
        return [i for i in picked if i not in core.trap_indices][:cap]

    owner = dataset.owner.id
    add(
        "demo_collection",
        vocab.HOSTILE_COLLECTION_NAME,
        owner,
        "Private",
        [i for i in core.demo_indices if i not in core.trap_indices],
        "Everything worth keeping, <i>hostile</i> text included.",
    )
    add(
        "all_collection",
        "Everything",
        owner,
        "Private",
        [i for i in range(count) if i not in core.trap_indices],
    )
    add("public_collection", vocab.COLLECTION_NAMES[0], owner, "Public", every(9, 4, 60))
    add("unlisted_collection", vocab.COLLECTION_NAMES[1], owner, "Unlisted", every(13, 6, 40))
    add(
        "others_private_collection",
        vocab.COLLECTION_NAMES[2],
        first_other.id,
        "Private",
        every(11, 3, 50),
    )
    add(
        "others_public_collection",
        vocab.COLLECTION_NAMES[3],
        second_other.id,
        "Public",
        every(7, 5, 80),
    )
    return collections, named


def _add_gallery_model(
    seed: int, versions: dict[int, ModelVersionRecord], users: dict[int, User]
) -> list[int]:
    """The showcase model (a LoRA with several versions, each used by many images),
    drawn from its own generator so the other models keep their ids."""
    rng = random.Random(f"civitai-emulator/{seed}/gallery-model")
    model_id = max(v.model_id for v in versions.values()) + rng.randrange(50, 40_000)
    next_version = max(versions) + rng.randrange(100, 60_000)
    creators = sorted(user.id for user in users.values() if user.username)
    owner = rng.choice(creators)
    created = DATASET_START - timedelta(days=rng.randrange(60, 400))
    ids = []
    for position in range(GALLERY_VERSIONS):
        version_id = next_version + position * rng.randrange(100, 60_000)
        versions[version_id] = ModelVersionRecord(
            id=version_id,
            name=vocab.VERSION_NAMES[position % len(vocab.VERSION_NAMES)],
            model_id=model_id,
            model_name="Community Showcase LoRA",
            model_type="LORA",
            base_model="SDXL 1.0",
            status="Published",
            model_status="Published",
            created_at=created + timedelta(days=30 * position),
            published_at=created + timedelta(days=30 * position, hours=2),
            trained_words=("showcase style",),
            nsfw=False,
            user_id=owner,
            autov2_hash=f"{rng.getrandbits(40):010x}",
        )
        ids.append(version_id)
    return ids


def _add_typed_collections(dataset: Dataset) -> dict[str, int]:
    """The signed-in user's collections of posts, models and articles (Civitai's
    CollectionType Post, Model, Article), from their own generator."""
    rng = random.Random(f"civitai-emulator/{dataset.seed}/typed-collections")
    collections = dataset.collections
    owner = dataset.owner.id
    next_id = max(collections)
    posts = sorted(dataset.posts)
    step = max(len(posts) // 15, 1)
    post_ids = sorted({*posts[step // 2 :: step][:15], dataset._core.multi_image_post_id})
    model_ids = sorted({v.model_id for v in dataset.model_versions.values()})
    named: dict[str, int] = {}
    specs = (
        ("post_collection", "Posts I keep coming back to", "Post", {"post_ids": tuple(post_ids)}),
        (
            "model_collection",
            "Models to try",
            "Model",
            {"model_ids": tuple(rng.sample(model_ids, min(6, len(model_ids))))},
        ),
        (
            "article_collection",
            "Guides",
            "Article",
            {"article_ids": tuple(sorted(rng.sample(range(1_000, 90_000), 4)))},
        ),
    )
    for key, name, kind, items in specs:
        next_id += rng.randrange(7, 90_000)
        collections[next_id] = CollectionRecord(
            next_id,
            name,
            owner,
            "Private",
            kind,
            (),
            None,
            "Private",
            DATASET_START + timedelta(days=rng.randrange(0, 300)),
            **items,
        )
        named[key] = next_id
    return named
