"""Typed views of what each procedure returns (civitai/civitai @ ebed6616: the image, tag,
model-version, post, collection and user services in src/server/services/, and
src/server/utils/image-infinite-wire.ts for listing items).

Civitai changes its payloads often, so every model is forgiving: every field
is optional, a value of an unexpected type reads as None (or an empty list)
instead of failing the whole object, unknown fields are kept
(`model_extra`), and `.raw` is the decoded JSON exactly as it arrived. Field
names are snake_case; the camelCase wire names work too (`Model(nsfwLevel=4)`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from civitai_vault.untrusted import sound_text

__all__ = [
    "CivitaiModel",
    "Collection",
    "CollectionPermissions",
    "CollectionResult",
    "Creator",
    "GenerationData",
    "GenerationMeta",
    "ImageInfo",
    "ImageListItem",
    "ImageStats",
    "ModelSummary",
    "ModelVersion",
    "Post",
    "Resource",
    "Tag",
    "User",
    "UserCollection",
    "VotableTag",
]


def _none_on_error(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


def _empty_on_error(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if value is None:
        return []
    try:
        return handler(value)
    except ValidationError:
        return []


def _sound_text(value: str | None) -> str | None:
    # A lone surrogate (JavaScript cut a string inside an emoji) cannot be encoded
    # anywhere; `.raw` keeps the text exactly as it came.
    return None if value is None else sound_text(value)


_lenient = WrapValidator(_none_on_error)
_lenient_list = WrapValidator(_empty_on_error)

OptInt = Annotated[int | None, _lenient]
OptFloat = Annotated[float | None, _lenient]
OptStr = Annotated[str | None, _lenient, AfterValidator(_sound_text)]
OptBool = Annotated[bool | None, _lenient]
OptDate = Annotated[datetime | None, _lenient]
OptDict = Annotated[dict[str, Any] | None, _lenient]
AnyList = Annotated[list[Any], _lenient_list]
IntList = Annotated[list[int], _lenient_list]


class CivitaiModel(BaseModel):
    """Base of every payload model: tolerant, keeps unknown fields and the raw JSON."""

    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        alias_generator=to_camel,
        frozen=False,
        protected_namespaces=(),
    )
    _raw: Any = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_raw(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        model = handler(data)
        # Straight to pydantic's private-attribute dict: `model._raw` goes through
        # BaseModel.__getattr__/__setattr__, and this runs for every object of
        # every answer (a sixth of the time a sync spends reading answers).
        private = model.__pydantic_private__ if isinstance(model, CivitaiModel) else None
        if private is not None and private.get("_raw") is None:
            private["_raw"] = data
        return model

    @property
    def raw(self) -> Any:
        """The decoded JSON this object was read from (dates already datetimes)."""
        private = self.__pydantic_private__
        return private.get("_raw") if private is not None else None


class User(CivitaiModel):
    id: OptInt = None
    username: OptStr = None
    image: OptStr = None
    deleted_at: OptDate = None
    profile_picture: Any = None
    cosmetics: AnyList = Field(default_factory=list)


OptUser = Annotated[User | None, _lenient]


class ImageStats(CivitaiModel):
    like_count_all_time: OptInt = None
    laugh_count_all_time: OptInt = None
    heart_count_all_time: OptInt = None
    cry_count_all_time: OptInt = None
    comment_count_all_time: OptInt = None
    collected_count_all_time: OptInt = None
    tipped_amount_count_all_time: OptInt = None
    dislike_count_all_time: OptInt = None
    view_count_all_time: OptInt = None


class _ImageCommon(CivitaiModel):
    id: OptInt = None
    name: OptStr = None
    url: OptStr = None  # the CDN uuid, not a full URL (cdn.image_url builds that)
    width: OptInt = None
    height: OptInt = None
    hash: OptStr = None
    type: OptStr = None  # "image" | "video" | "audio"
    nsfw_level: OptInt = None
    post_id: OptInt = None
    index: OptInt = None
    created_at: OptDate = None
    published_at: OptDate = None
    has_meta: OptBool = None
    has_positive_prompt: OptBool = None
    on_site: OptBool = None
    remix_of_id: OptInt = None
    metadata: OptDict = None
    ingestion: OptStr = None
    blocked_for: OptStr = None
    needs_review: OptStr = None
    availability: OptStr = None
    minor: OptBool = None
    poi: OptBool = None
    user: OptUser = None
    stats: Annotated[ImageStats | None, _lenient] = None
    reactions: AnyList = Field(default_factory=list)
    cosmetic: Any = None


class ImageInfo(_ImageCommon):
    """`image.get`: one image by id."""

    mime_type: OptStr = None
    scanned_at: OptDate = None
    hide_meta: OptBool = None
    acceptable_minor: OptBool = None
    profile_picture_id: OptInt = None
    model3d_id: OptInt = Field(default=None, alias="model3dId")


class ImageListItem(_ImageCommon):
    """One item of an `image.getInfinite` page (no mimeType on the wire)."""

    sort_at: OptDate = None
    model_version_id: OptInt = None
    model_version_ids: IntList = Field(default_factory=list)
    model_version_ids_manual: IntList = Field(default_factory=list)
    base_model: OptStr = None
    collection_item_status: OptStr = None
    meta: OptDict = None
    tags: AnyList = Field(default_factory=list)
    tag_ids: IntList = Field(default_factory=list)
    thumbnail_url: OptStr = None
    mime_type: OptStr = None  # index-path items carry it (as null)
    model3d_id: OptInt = Field(default=None, alias="model3dId")


class GenerationMeta(CivitaiModel):
    """The cleaned prompt meta inside `image.getGenerationData` (free-form; common keys typed)."""

    prompt: OptStr = None
    negative_prompt: OptStr = None
    cfg_scale: OptFloat = None
    steps: OptInt = None
    sampler: OptStr = None
    seed: OptInt = None
    clip_skip: OptInt = None
    base_model: OptStr = None
    engine: OptStr = None
    workflow: OptStr = None
    model: OptStr = Field(default=None, alias="Model")
    size: OptStr = Field(default=None, alias="Size")
    width: OptInt = None
    height: OptInt = None
    civitai_resources: AnyList = Field(default_factory=list)
    resources: AnyList = Field(default_factory=list)
    hashes: OptDict = None


class Resource(CivitaiModel):
    """One resource an image was made with (checkpoint, LoRA, embedding, ...)."""

    image_id: OptInt = None
    model_version_id: OptInt = None
    strength: OptFloat = None
    model_id: OptInt = None
    model_name: OptStr = None
    model_type: OptStr = None
    version_id: OptInt = None
    version_name: OptStr = None
    base_model: OptStr = None


class GenerationData(CivitaiModel):
    """`image.getGenerationData`: prompt, parameters and resources of one image."""

    type: OptStr = None
    on_site: OptBool = None
    process: OptStr = None
    engine: OptStr = None
    meta: Annotated[GenerationMeta | None, _lenient] = None
    display_keys: AnyList = Field(default_factory=list)
    resources: Annotated[list[Resource], _lenient_list] = Field(default_factory=list)
    tools: AnyList = Field(default_factory=list)
    techniques: AnyList = Field(default_factory=list)
    external: Any = None
    can_remix: OptBool = None
    remix_of_id: OptInt = None


class VotableTag(CivitaiModel):
    """One entry of `tag.getVotableTags` (score: higher = more certain)."""

    id: OptInt = None
    name: OptStr = None
    type: OptStr = None
    nsfw_level: OptInt = None
    score: OptFloat = None
    up_votes: OptInt = None
    down_votes: OptInt = None
    automated: OptBool = None
    needs_review: OptBool = None
    concrete: OptBool = None
    last_upvote: OptDate = None
    vote: OptInt = None


class Tag(CivitaiModel):
    """`tag.getById`."""

    id: OptInt = None
    name: OptStr = None
    type: OptStr = None


class ModelSummary(CivitaiModel):
    """The parent model inside a model version."""

    id: OptInt = None
    name: OptStr = None
    type: OptStr = None
    status: OptStr = None  # "Published", "Deleted", "Unpublished", ...
    published_at: OptDate = None
    nsfw: OptBool = None
    upload_type: OptStr = None
    user: OptUser = None
    availability: OptStr = None


class ModelVersion(CivitaiModel):
    """`modelVersion.getById`."""

    id: OptInt = None
    name: OptStr = None
    description: OptStr = None
    base_model: OptStr = None
    base_model_type: OptStr = None
    trained_words: AnyList = Field(default_factory=list)
    status: OptStr = None
    created_at: OptDate = None
    availability: OptStr = None
    upload_type: OptStr = None
    model: Annotated[ModelSummary | None, _lenient] = None
    files: AnyList = Field(default_factory=list)
    settings: OptDict = None


class Post(CivitaiModel):
    """`post.get`, or an item of `post.getInfinite` (without `detail`, `tags`, `availability`)."""

    id: OptInt = None
    nsfw: OptBool = None
    nsfw_level: OptInt = None
    title: OptStr = None
    detail: OptStr = None
    model_version_id: OptInt = None
    model_version: Any = None
    user: OptUser = None
    published_at: OptDate = None
    availability: OptStr = None
    tags: AnyList = Field(default_factory=list)
    collection_id: OptInt = None


class Collection(CivitaiModel):
    """The `collection` of `collection.getById`."""

    id: OptInt = None
    name: OptStr = None
    description: OptStr = None
    read: OptStr = None  # "Private" | "Public" | "Unlisted"
    write: OptStr = None
    type: OptStr = None
    nsfw: OptBool = None
    nsfw_level: OptInt = None
    image: Any = None
    mode: OptStr = None
    metadata: OptDict = None
    availability: OptStr = None
    user_id: OptInt = None
    user: OptUser = None
    tags: AnyList = Field(default_factory=list)

    @property
    def item_count(self) -> int | None:
        """`_count.items` (collection.getInfinite only): its ACCEPTED items, counted before
        anything is hidden from the viewer, so what a listing shows may be fewer."""
        counts = self.raw.get("_count") if isinstance(self.raw, dict) else None
        value = counts.get("items") if isinstance(counts, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        return None


class CollectionPermissions(CivitaiModel):
    collection_id: OptInt = None
    read: OptBool = None
    write: OptBool = None
    write_review: OptBool = None
    manage: OptBool = None
    follow: OptBool = None
    is_contributor: OptBool = None
    is_owner: OptBool = None
    public_collection: OptBool = None
    collection_type: OptStr = None
    collection_mode: OptStr = None


class CollectionResult(CivitaiModel):
    """`collection.getById`: `collection` is None when it is private to someone else or missing."""

    collection: Annotated[Collection | None, _lenient] = None
    permissions: Annotated[CollectionPermissions | None, _lenient] = None


class UserCollection(CivitaiModel):
    """One entry of `collection.getAllUser` (the caller's own collections, private ones too)."""

    id: OptInt = None
    name: OptStr = None
    description: OptStr = None
    read: OptStr = None
    write: OptStr = None
    user_id: OptInt = None
    image_id: OptInt = None
    type: OptStr = None
    mode: OptStr = None
    is_owner: OptBool = None
    image: Any = None
    tags: AnyList = Field(default_factory=list)


class Creator(CivitaiModel):
    """`user.getCreator`."""

    id: OptInt = None
    username: OptStr = None
    image: OptStr = None
    muted: OptBool = None
    banned_at: OptDate = None
    deleted_at: OptDate = None
    created_at: OptDate = None
    public_settings: Any = None
    links: AnyList = Field(default_factory=list)
    stats: OptDict = None
    rank: OptDict = None
    cosmetics: AnyList = Field(default_factory=list)
    profile_picture: Any = None
    creator_shop_enabled: OptBool = None
    count: OptDict = Field(default=None, alias="_count")
