"""What each procedure returns, built from dataset records, field by field as Civitai does.

Dates are `datetime` objects and missing-but-present keys are `UNDEFINED`, so the
codecs can annotate them. Every call builds fresh dicts: superjson reports objects
that occur twice in one response, so sharing happens only where the real server
shares (an image's `sortAt` is the same Date object as its `publishedAt`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from civitai_emulator.dataset import (
    CollectionRecord,
    Dataset,
    ImageRecord,
    ModelVersionRecord,
    PostRecord,
    User,
    image_uuid,
)
from civitai_emulator.jsvalues import UNDEFINED
from civitai_emulator.models import ImageTagRow
from civitai_emulator.tagging import visible_rows


def _copy(value: datetime | None) -> datetime | None:
    """A new Date object with the same instant (records keep one object per field)."""
    return None if value is None else value + timedelta(0)


def user_summary(user: User | None, user_id: int) -> dict[str, Any]:
    if user is None:
        return {"id": user_id, "username": None, "image": None, "deletedAt": None}
    return {
        "id": user.id,
        "username": user.username,
        "image": None,
        "deletedAt": _copy(user.deleted_at),
        "cosmetics": [],
        "profilePicture": None,
    }


def _image_metadata(record: ImageRecord) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "hash": record.blurhash,
        "width": record.width,
        "height": record.height,
    }
    if record.type == "video":
        metadata.update({"duration": 2, "audio": False})
    return metadata


def _has_meta(record: ImageRecord) -> tuple[bool, bool]:
    visible = record.meta is not None and not record.hide_meta
    has_prompt = visible and bool(record.meta and record.meta.get("prompt"))
    return visible, has_prompt


def image_detail(dataset: Dataset, record: ImageRecord) -> dict[str, Any]:
    """`image.get` (civitai/civitai @ ebed6616, src/server/services/image.service.ts getImage).
    No top-level userId."""
    has_meta, has_prompt = _has_meta(record)
    return {
        "id": record.id,
        "name": record.name,
        "url": record.uuid,
        "height": record.height,
        "width": record.width,
        "index": record.post_index,
        "hash": record.blurhash,
        "hideMeta": record.hide_meta,
        "createdAt": _copy(record.created_at),
        "mimeType": record.mime_type,
        "scannedAt": record.created_at + timedelta(seconds=20),
        "needsReview": None,
        "postId": record.post_id,
        "ingestion": "Scanned",
        "blockedFor": None,
        "type": record.type,
        "metadata": _image_metadata(record),
        "nsfwLevel": record.nsfw_level,
        "minor": False,
        "poi": False,
        "acceptableMinor": False,
        "hasMeta": has_meta,
        "hasPositivePrompt": has_prompt,
        "onSite": record.on_site,
        "remixOfId": None,
        "profilePictureId": None,
        "availability": "Public",
        "publishedAt": _copy(record.published_at),
        "model3dId": None,
        "cosmetic": None,
        "user": user_summary(dataset.users.get(record.user_id), record.user_id),
        "stats": dict(record.stats),
        "reactions": [],
    }


def listing_item(
    dataset: Dataset,
    record: ImageRecord,
    include: list[str],
    in_collection: bool,
    from_index: bool,
    viewer_is_owner: bool = False,
) -> dict[str, Any]:
    """One `image.getInfinite` item (civitai/civitai @ ebed6616:
    src/server/services/image.service.ts getAllImages, after
    src/server/utils/image-infinite-wire.ts stripImageForInfiniteWire)."""
    has_meta, has_prompt = _has_meta(record)
    sort_at = _copy(record.published_at)
    created_at = sort_at if from_index else _copy(record.created_at)
    item: dict[str, Any] = {
        "id": record.id,
        "name": None if from_index else record.name,
        "url": record.uuid,
        "nsfwLevel": record.nsfw_level,
        "width": record.width,
        "height": record.height,
        "hash": record.blurhash,
        "hasMeta": has_meta,
        "hasPositivePrompt": has_prompt,
        "onSite": record.on_site,
        "remixOfId": None,
        "createdAt": created_at,
        "sortAt": sort_at,
        "type": record.type,
        "metadata": _image_metadata(record),
        "ingestion": "Scanned",
        "blockedFor": None,
        "needsReview": None,
        "postId": record.post_id,
        "index": record.post_index,
        "publishedAt": sort_at,
        "modelVersionId": None,
        "model3dId": None,
        "availability": "Public",
        "minor": False,
        "poi": False,
    }
    if from_index:
        _add_index_fields(item, record)
    if in_collection:
        item["collectionItemStatus"] = "ACCEPTED"
    wants_meta = "metaSelect" in include or "meta" in include
    item["meta"] = dict(record.meta) if wants_meta and has_meta and record.meta else None
    item["modelVersionIds"] = []
    item["modelVersionIdsManual"] = []
    item.setdefault("baseModel", UNDEFINED)
    item["user"] = user_summary(dataset.users.get(record.user_id), record.user_id)
    item["stats"] = dict(record.stats)
    item["reactions"] = []
    tags = _listing_tags(dataset, record, viewer_is_owner) if "tags" in include else UNDEFINED
    if from_index:
        tags = [] if tags is UNDEFINED else tags  # `tagsByImageId?.get(sr.id) ?? []`
    item["tags"] = tags
    item["tagIds"] = list(record.tag_scores)
    item["cosmetic"] = None
    item["thumbnailUrl"] = poster_uuid(dataset, record) if record.type == "video" else UNDEFINED
    item["judgeScore"] = None
    if from_index:
        del item["judgeScore"]  # a search document has none
        for key in ("createdAt", "sortAt", "publishedAt"):
            item[key] = _iso(item[key])  # a search document's dates are strings
    return item


def _add_index_fields(item: dict[str, Any], record: ImageRecord) -> None:
    """What a Meilisearch image document adds to the item (a live page of 2026-07-26,
    recorded in panopticoncentral/diffusely DiffuselyTests/LiveDevalueFeedFixture.swift).
    `mimeType` and `postTitle` are stripped from the wire."""
    published_ms = int(record.published_at.timestamp() * 1000)
    item.update(
        {
            "userId": record.user_id,
            "reactionCount": record.reaction_count,
            "commentCount": record.stats["commentCountAllTime"],
            "collectedCount": record.stats["collectedCountAllTime"],
            "aiNsfwLevel": record.nsfw_level,
            "combinedNsfwLevel": record.nsfw_level,
            "postedToId": None,
            "baseModel": record.base_model,
            "toolIds": [],
            "techniqueIds": [],
            "existedAtUnix": int(record.created_at.timestamp() * 1000),
            "sortAtUnix": published_ms,
        }
    )


def _iso(value: Any) -> Any:
    """Date.toJSON(): milliseconds and a Z."""
    if not isinstance(value, datetime):
        return value
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def post_feed_image(dataset: Dataset, record: ImageRecord) -> dict[str, Any]:
    """One image embedded in a `post.getInfinite` item (image.service.ts getImagesForPosts)."""
    return {
        "id": record.id,
        "userId": record.user_id,
        "name": record.name,
        "url": record.uuid,
        "nsfwLevel": record.nsfw_level,
        "width": record.width,
        "height": record.height,
        "hash": record.blurhash,
        "type": record.type,
        "metadata": _image_metadata(record),
        "postId": record.post_id,
        "onSite": record.on_site,
        "remixOfId": None,
        "minor": False,
        "poi": False,
        "tagIds": list(record.tag_scores),
    }


def poster_uuid(dataset: Dataset, record: ImageRecord) -> str:
    """The still shown before a video plays; the CDN serves it like an image."""
    return image_uuid(dataset.seed, -record.id)


def _listing_tags(
    dataset: Dataset, record: ImageRecord, viewer_is_owner: bool
) -> list[dict[str, Any]] | Any:
    """`include: ["tags"]`: every ImageTag row, unfiltered, as getImageTagsForImages maps
    them (civitai/civitai @ ebed6616 image.service.ts): imageId, the composite's fields,
    source kept, and the viewer's vote merged in. An image without rows gets undefined
    on the database path (`tagsByImageId.get(id)`)."""
    rows = [_tag_row(dataset, row, viewer_is_owner, record.id) for row in record.tag_rows]
    return rows or UNDEFINED


def _tag_row(
    dataset: Dataset, row: ImageTagRow, viewer_is_owner: bool, image_id: int | None
) -> dict[str, Any]:
    """An imageTagCompositeSelect row renamed as getVotableTags / the listing renames it."""
    tag = dataset.tags[row.tag_id]
    out: dict[str, Any] = {} if image_id is None else {"imageId": image_id}
    out.update(
        {
            "score": row.score,
            "upVotes": row.up_votes,
            "downVotes": row.down_votes,
            "automated": row.automated,
            "needsReview": row.needs_review,
            "concrete": row.concrete,
            "lastUpvote": _copy(row.last_upvote),
        }
    )
    if image_id is not None:
        out["source"] = row.source  # the listing keeps it; getVotableTags drops it
    out.update({"id": tag.id, "type": tag.type, "nsfwLevel": tag.nsfw_level, "name": tag.name})
    if viewer_is_owner and row.owner_vote is not None:
        out["vote"] = 1 if row.owner_vote > 0 else -1
    return out


def generation_data(dataset: Dataset, record: ImageRecord) -> dict[str, Any]:
    """`image.getGenerationData` (civitai/civitai @ ebed6616, src/server/services/image.service.ts
    getImageGenerationData)."""
    if record.hide_meta:
        meta: Any = UNDEFINED
    else:
        meta = None if record.meta is None else _deep_copy(record.meta)
    data: dict[str, Any] = {
        "type": record.type,
        "onSite": record.on_site,
        "process": record.process,
        "meta": meta,
        "resources": [_resource(dataset, record, ref) for ref in record.resources],
        "tools": [],
        "techniques": [],
        "external": None,
        "canRemix": record.on_site and not record.hide_meta,
        "remixOfId": None,
    }
    if record.engine:
        data["engine"] = record.engine
    return data


def _resource(dataset: Dataset, record: ImageRecord, ref: Any) -> dict[str, Any]:
    version = dataset.model_versions.get(ref.model_version_id)
    lora_like = ref.kind == "lora"
    return {
        "imageId": record.id,
        "modelVersionId": ref.model_version_id,
        "strength": ref.strength if lora_like and ref.strength is not None else UNDEFINED,
        "modelId": version.model_id if version else None,
        "modelName": version.model_name if version else None,
        "modelType": version.model_type if version else None,
        "versionId": version.id if version else None,
        "versionName": version.name if version else None,
        "baseModel": version.base_model if version else None,
    }


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def votable_tags(
    dataset: Dataset, record: ImageRecord, take: int, viewer_is_owner: bool
) -> list[dict[str, Any]]:
    """`tag.getVotableTags` for an image: the filtered rows (see `tagging`)."""
    rows = visible_rows(record.tag_rows, dataset.tags, viewer_is_owner=viewer_is_owner, take=take)
    return [_tag_row(dataset, row, viewer_is_owner, None) for row in rows]


def tag_summary(dataset: Dataset, tag_id: int) -> dict[str, Any] | None:
    tag = dataset.tags.get(tag_id)
    return None if tag is None else {"id": tag.id, "name": tag.name, "type": tag.type}


def model_version(version: ModelVersionRecord, with_files: bool) -> dict[str, Any]:
    """`modelVersion.getById` (civitai/civitai @ ebed6616,
    src/server/controllers/model-version.controller.ts)."""
    data: dict[str, Any] = {
        "id": version.id,
        "name": version.name,
        "description": None,
        "baseModel": version.base_model,
        "baseModelType": "Standard",
        "trainedWords": list(version.trained_words),
        "epochs": None,
        "steps": None,
        "clipSkip": None,
        "status": version.status,
        "createdAt": _copy(version.created_at),
        "trainingDetails": None,
        "trainingStatus": None,
        "uploadType": "Created",
        "usageControl": "Download",
        "availability": "Public",
        "licensingFee": None,
        "licensingFeeType": None,
        "licensingFeeSettlementCurrency": None,
        "licensingSourceVersionId": None,
        "flags": [],
        "meta": {},
        "requireAuth": False,
        "settings": {"strength": 1, "maxStrength": 2, "minStrength": -1}
        if version.model_type == "LORA"
        else None,
        "model": {
            "id": version.model_id,
            "name": version.model_name,
            "type": version.model_type,
            "status": version.model_status,
            "publishedAt": _copy(version.published_at),
            "nsfw": version.nsfw,
            "uploadType": "Created",
            "user": {"id": version.user_id},
            "availability": "Public",
        },
    }
    if with_files:
        data["files"] = [_model_file(version)]
        data["posts"] = []
    data.update(
        {
            "recommendedResources": [],
            "monetization": None,
            "generationCoverage": {"covered": version.status == "Published"},
            "canGenerate": version.status == version.model_status == "Published",
            "wildcardSetId": None,
            "paidAccess": False,
            "donationGoal": None,
            "linkedComponents": [],
        }
    )
    return data


def simple_model(version: ModelVersionRecord, user: User | None) -> dict[str, Any]:
    """`model.getSimple`: the model's own columns and its user (userWithCosmeticsSelect)."""
    return {
        "id": version.model_id,
        "name": version.model_name,
        "createdAt": _copy(version.created_at),  # the first version's, as the model's
        "locked": False,
        "status": version.model_status,
        "user": user_summary(user, version.user_id),
    }


def _model_file(version: ModelVersionRecord) -> dict[str, Any]:
    return {
        "id": version.id + 7,
        "name": f"{version.model_name.split(' (')[0].replace(' ', '_')}.safetensors",
        "type": "Model",
        "sizeKB": 6_775_430 if version.model_type == "Checkpoint" else 223_100,
        "metadata": {"format": "SafeTensor", "size": "pruned", "fp": "fp16"},
        "hashes": [{"type": "AutoV2", "hash": version.autov2_hash.upper()}],
    }


def post_detail(dataset: Dataset, post: PostRecord) -> dict[str, Any]:
    """`post.get` (civitai/civitai @ ebed6616, src/server/services/post.service.ts
    getPostDetail)."""
    return {
        "id": post.id,
        "nsfw": bool(post.nsfw_level & 28),  # R, X or XXX among its images
        "nsfwLevel": post.nsfw_level,
        "title": post.title,
        "detail": None,
        "modelVersionId": None,
        "modelVersion": None,
        "user": user_summary(dataset.users.get(post.user_id), post.user_id),
        "publishedAt": _copy(post.published_at),
        "availability": "Public",
        "tags": post_tags(dataset, post),
        "collectionId": None,
        "wasPublished": True,
        "unpublishedAt": None,
        "unpublishedBy": None,
        "parentModelId": None,
    }


def post_tags(dataset: Dataset, post: PostRecord) -> list[dict[str, Any]]:
    """The tags the poster gave the post, `{id, name, isCategory}` (post.selector.ts): here
    the two best tags of its first image; a Label tag stands for a category."""
    first = dataset.images[post.image_ids[0]]
    best = list(first.tag_scores)[:2]
    return [
        {"id": tag.id, "name": tag.name, "isCategory": tag.type == "Label"}
        for tag in (dataset.tags[tag_id] for tag_id in best)
    ]


def collection_permissions(
    collection: CollectionRecord | None, viewer: User | None, collection_id: int
) -> dict[str, Any]:
    owner = collection is not None and viewer is not None and viewer.id == collection.owner_id
    readable = collection is not None and (owner or collection.read in ("Public", "Unlisted"))
    return {
        "collectionId": collection_id,
        "read": readable,
        "write": owner,
        "writeReview": owner,
        "manage": owner,
        "follow": readable and not owner,
        "isContributor": owner,
        "isOwner": owner,
        "publicCollection": collection is not None and collection.read == "Public",
        "followPermissions": ["VIEW"] if readable else [],
        "collectionType": collection.type if readable and collection else None,
        "collectionMode": None,
    }


def collection_detail(
    dataset: Dataset, collection: CollectionRecord, nsfw_level: int
) -> dict[str, Any]:
    """`collection.getById`'s `collection` (civitai/civitai @ ebed6616,
    src/server/selectors/collection.selector.ts). No item count."""
    owner = dataset.users.get(collection.owner_id)
    return {
        "id": collection.id,
        "name": collection.name,
        "description": collection.description,
        "read": collection.read,
        "write": collection.write,
        "type": collection.type,
        "nsfw": nsfw_level > 2,
        "nsfwLevel": nsfw_level,
        "image": None,
        "mode": None,
        "metadata": {},
        "availability": "Public",
        "userId": collection.owner_id,
        "user": user_summary(owner, collection.owner_id),
        "tags": [],
    }


def collection_feed_item(
    dataset: Dataset, collection: CollectionRecord, nsfw_level: int
) -> dict[str, Any]:
    """One `collection.getInfinite` item (civitai/civitai @ ebed6616,
    src/server/services/collection.service.ts getAllCollections)."""
    return {
        "id": collection.id,
        "name": collection.name,
        "read": collection.read,
        "type": collection.type,
        "userId": collection.owner_id,
        "user": user_summary(dataset.users.get(collection.owner_id), collection.owner_id),
        "nsfwLevel": nsfw_level,
        "image": None,
        "mode": None,
        "createdAt": collection.created_at,
        "metadata": {},
        "_count": {"items": collection.item_count, "contributors": 1},
        "images": [],
        "srcs": [],
    }


def user_collection(collection: CollectionRecord) -> dict[str, Any]:
    """One `collection.getAllUser` entry (civitai/civitai @ ebed6616,
    src/server/services/collection.service.ts getUserCollectionsWithPermissions)."""
    return {
        "id": collection.id,
        "name": collection.name,
        "description": collection.description,
        "read": collection.read,
        "userId": collection.owner_id,
        "write": collection.write,
        "imageId": None,
        "type": collection.type,
        "mode": None,
        "isOwner": True,
        "image": UNDEFINED,
        "tags": [],
    }


def creator(dataset: Dataset, user: User) -> dict[str, Any]:
    """`user.getCreator` (civitai/civitai @ ebed6616, src/server/services/user.service.ts
    getUserCreator)."""
    uploads = len(dataset.images_of_user(user.id))
    models = len({v.model_id for v in dataset.model_versions.values() if v.user_id == user.id})
    return {
        "id": user.id,
        "image": None,
        "username": user.username,
        "muted": False,
        "bannedAt": None,
        "deletedAt": None,
        "createdAt": _copy(user.created_at),
        "publicSettings": {},
        "excludeFromLeaderboards": False,
        "links": [],
        "stats": {
            "downloadCountAllTime": models * 311,
            "thumbsUpCountAllTime": uploads * 3,
            "followerCountAllTime": uploads // 2,
            "reactionCountAllTime": uploads * 7,
            "uploadCountAllTime": uploads,
            "generationCountAllTime": uploads * 2,
        },
        "rank": None,
        "cosmetics": [],
        "profilePicture": None,
        "creatorShopEnabled": False,
        "_count": {"models": models},
    }
