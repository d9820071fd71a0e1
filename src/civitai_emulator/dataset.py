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
  images, with videos and hostile text; every named image below is in it),
  `all_collection` (the owner's Private collection of every image),
  `public_collection`, `unlisted_collection` (the owner's), `others_private_collection`,
  `others_public_collection`; images `video_image`, `deleted_lora_image`,
  `deleted_checkpoint_image`, `unpublished_resource_image`, `missing_resource_image`,
  `deleted_author_image`, `hostile_image`, `comfy_png_image`, `a1111_png_image`,
  `exif_jpeg_image`, `no_meta_image`, `hidden_meta_image`, `r_rated_image`; `post_id`
  (a post with several images); and the strings `owner_username`, `other_username`
  (a user who has images and a public collection), `deleted_username`.

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

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from civitai_emulator import vocabulary as vocab
from civitai_emulator.models import (
    CollectionRecord,
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
NSFW_WEIGHTS = ((1, 0.70), (2, 0.12), (4, 0.09), (8, 0.06), (16, 0.03))
VIDEO_SHARE = 0.08
RECORD_CACHE_SIZE = 20_000


class Dataset:
    """See the module docstring."""

    def __init__(self, seed: int = 1, images: int = 600) -> None:
        if images < len(NAMED_IMAGE_ROLES) + 1:
            raise ValueError(f"images must be at least {len(NAMED_IMAGE_ROLES) + 1}")
        self.seed = seed
        self.image_count = images
        rng = random.Random(f"civitai-emulator/{seed}")
        self.tags = _build_tags(rng)
        self._tag_pools = _tag_pools(self.tags)
        self.users, self.owner, self._others, deleted = _build_users(rng)
        self.model_versions, self.missing_version_ids, self._pools = _build_models(rng, self.users)
        self._core = _Core(rng, images, self)
        self.posts = self._core.posts
        self.images: _ImageMap = _ImageMap(self)
        self.collections, collection_names = _build_collections(rng, self)
        self.named: dict[str, Any] = {
            **collection_names,
            **{role: self._core.ids[index] for role, index in self._core.role_index.items()},
            "post_id": self._core.multi_image_post_id,
            "owner_username": self.owner.username,
            "other_username": self.users[
                self.collections[collection_names["others_public_collection"]].owner_id
            ].username,
            "deleted_username": deleted.former_username,
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
        spacing = demo_size / len(NAMED_IMAGE_ROLES)
        self.role_index = {
            role: self.demo_indices[int((k + 0.5) * spacing)]
            for k, role in enumerate(NAMED_IMAGE_ROLES)
        }
        self.role_of = {index: role for role, index in self.role_index.items()}
        self._build_columns(rng, count)
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
            video[index] = role == "video_image"
        self.ids = ids
        self.index_of = {image_id: index for index, image_id in enumerate(ids)}
        self.created_ts = created
        self.nsfw = nsfw
        self.video = video
        self.reactions = reactions

    def _build_posts(self, rng: random.Random, dataset: Dataset) -> None:
        owner = dataset.owner.id
        others = [user.id for user in dataset.other_users()]
        weights = [1.0 / (rank + 1) ** 0.7 for rank in range(len(others))]
        deleted = next(user.id for user in dataset.users.values() if user.deleted_at)
        post_id = 20_000_000 + rng.randrange(1_000_000)
        self.post_ids: list[int] = [0] * self.count
        self.published_ts: list[float] = [0.0] * self.count
        self.posts: dict[int, PostRecord] = {}
        self.images_by_user: dict[int, list[int]] = {}
        self.multi_image_post_id = 0
        index = 0
        while index < self.count:
            role = self.role_of.get(index)
            if role is not None:
                size = 1
            else:
                size = rng.choice((1, 1, 2, 2, 3, 4, 6))
                for offset in range(1, size):
                    if index + offset >= self.count or (index + offset) in self.role_of:
                        size = offset
                        break
            if role == "deleted_author_image":
                user_id = deleted
            elif role == "hostile_image" or (role is None and rng.random() >= 0.25):
                user_id = rng.choices(others, weights)[0]
            else:
                user_id = owner
            post_id += rng.randrange(3, 5000)
            members = range(index, index + size)
            last_created = self.created_ts[index + size - 1]
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
                max((self.nsfw[i] for i in members), default=1),
            )
            if size >= 3 and not self.multi_image_post_id:
                self.multi_image_post_id = post_id
            index += size
        if not self.multi_image_post_id:
            self.multi_image_post_id = max(self.posts.values(), key=lambda p: len(p.image_ids)).id

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
    others = sorted(dataset.other_users(), key=lambda u: -len(core.images_by_user.get(u.id, [])))
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
        return list(range(offset % count, count, step))[:cap]

    owner = dataset.owner.id
    add(
        "demo_collection",
        vocab.HOSTILE_COLLECTION_NAME,
        owner,
        "Private",
        core.demo_indices,
        "Everything worth keeping, <i>hostile</i> text included.",
    )
    add("all_collection", "Everything", owner, "Private", list(range(count)))
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
