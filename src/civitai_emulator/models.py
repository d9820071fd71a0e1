"""The records the emulator's dataset is made of (see `civitai_emulator.dataset`)."""

from __future__ import annotations

import hashlib
import uuid as uuid_module
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str | None
    created_at: datetime
    deleted_at: datetime | None = None
    former_username: str | None = None


@dataclass(frozen=True, slots=True)
class Tag:
    id: int
    name: str
    type: str
    nsfw_level: int


@dataclass(frozen=True, slots=True)
class ImageTagRow:
    """One row of Civitai's `ImageTag` view for an image (what `imageTagsCache` holds).

    `source` is the TagSource ("User", "WD14", "Rekognition"); `concrete` is False for
    a tag that exists only through votes; `owner_vote` is the dataset owner's vote on
    it (1, -1 or None), the only viewer whose votes the dataset knows.
    """

    tag_id: int
    score: int
    up_votes: int
    down_votes: int
    automated: bool
    needs_review: bool
    concrete: bool
    last_upvote: datetime | None
    source: str
    owner_vote: int | None = None


@dataclass(frozen=True, slots=True)
class ModelVersionRecord:
    id: int
    name: str
    model_id: int
    model_name: str
    model_type: str  # "Checkpoint" | "LORA" | "TextualInversion"
    base_model: str
    status: str  # version status
    model_status: str
    created_at: datetime
    published_at: datetime | None
    trained_words: tuple[str, ...]
    nsfw: bool
    user_id: int
    autov2_hash: str


@dataclass(frozen=True, slots=True)
class ResourceRef:
    model_version_id: int
    strength: float | None
    kind: str  # "checkpoint" | "lora" | "embedding"


@dataclass(frozen=True, slots=True)
class PostRecord:
    id: int
    user_id: int
    title: str | None
    published_at: datetime
    image_ids: tuple[int, ...]
    nsfw_level: int  # the bitwise OR of its images' levels


@dataclass(frozen=True, slots=True)
class CollectionRecord:
    id: int
    name: str
    owner_id: int
    read: str  # "Private" | "Public" | "Unlisted"
    type: str  # "Image"
    image_ids: tuple[int, ...]  # ascending ids
    description: str | None
    write: str
    created_at: datetime
    # What a collection of another type holds (CollectionItem.postId / modelId /
    # articleId); an Image collection's items are `image_ids`, the others' are empty.
    post_ids: tuple[int, ...] = ()
    model_ids: tuple[int, ...] = ()
    article_ids: tuple[int, ...] = ()

    @property
    def item_count(self) -> int:
        return (
            len(self.image_ids) + len(self.post_ids) + len(self.model_ids) + len(self.article_ids)
        )


@dataclass(frozen=True, slots=True)
class ImageRecord:
    id: int
    uuid: str
    name: str
    type: str
    mime_type: str
    width: int
    height: int
    nsfw_level: int
    created_at: datetime
    published_at: datetime
    post_id: int
    post_index: int
    user_id: int
    hide_meta: bool
    meta: dict[str, Any] | None
    process: str | None
    engine: str | None
    on_site: bool
    base_model: str
    resources: tuple[ResourceRef, ...]
    tag_scores: dict[int, int]  # what tag.getVotableTags shows the owner: {tag id: score}
    tag_rows: tuple[ImageTagRow, ...]  # every ImageTag row, score desc then tag id
    embedded_kind: str | None
    blurhash: str
    reaction_count: int
    stats: dict[str, int]


@dataclass(frozen=True, slots=True)
class GeneratedOutput:
    """One file a generation produced, kept on the orchestrator's blob host."""

    blob_id: str
    type: str  # "image" | "video"
    width: int
    height: int
    seed: int
    nsfw_level: str  # the orchestrator's words: "pg", "pg13", "r", "x"


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """One on-site generation (an orchestrator workflow) of the signed-in user.

    `age_seconds` is how long before the emulator's `now` it was made: Civitai keeps
    generations for 30 days, so the server lists only those younger than that.
    """

    id: str
    age_seconds: int
    status: str  # "succeeded" | "failed"
    step_type: str  # "textToImage" | "videoGen"
    tags: tuple[str, ...]
    params: dict[str, Any]
    resources: tuple[ResourceRef, ...]
    outputs: tuple[GeneratedOutput, ...]
    cost: int
    duration: int


def image_uuid(seed: int, image_id: int) -> str:
    digest = hashlib.blake2b(f"{seed}:{image_id}".encode(), digest_size=16).digest()
    return str(uuid_module.UUID(bytes=digest, version=4))


# ----------------------------------------------------------------- the dataset


def instant(timestamp: float) -> datetime:
    """An aware UTC datetime with millisecond precision: what a JavaScript Date holds."""
    return datetime.fromtimestamp(round(timestamp, 3), tz=UTC)
