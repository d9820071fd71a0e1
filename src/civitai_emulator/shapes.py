"""What each procedure returns, built from dataset records, field by field as Civitai does.

Dates are `datetime` objects and missing-but-present keys are `UNDEFINED`, so the
codecs can annotate them. Every call builds fresh dicts: superjson reports objects
that occur twice in one response, so sharing happens only where the real server
shares (an image's `sortAt` is the same Date object as its `publishedAt`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
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
    """`image.get` (civitai-api.md §3.1). No top-level userId."""
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
) -> dict[str, Any]:
    """One `image.getInfinite` item (civitai-api.md §3.3, after stripImageForInfiniteWire)."""
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
        item["mimeType"] = None
        item["postTitle"] = None
    if in_collection:
        item["collectionItemStatus"] = "ACCEPTED"
    wants_meta = "metaSelect" in include or "meta" in include
    item["meta"] = dict(record.meta) if wants_meta and has_meta and record.meta else None
    item["modelVersionIds"] = []
    item["modelVersionIdsManual"] = []
    item["baseModel"] = UNDEFINED
    item["user"] = user_summary(dataset.users.get(record.user_id), record.user_id)
    item["stats"] = dict(record.stats)
    item["reactions"] = []
    item["tags"] = _listing_tags(dataset, record) if "tags" in include else UNDEFINED
    item["tagIds"] = list(record.tag_scores)
    item["cosmetic"] = None
    item["thumbnailUrl"] = poster_uuid(dataset, record) if record.type == "video" else UNDEFINED
    item["judgeScore"] = None
    return item


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


def _listing_tags(dataset: Dataset, record: ImageRecord) -> list[dict[str, Any]]:
    tags = []
    for tag_id in record.tag_scores:
        tag = dataset.tags[tag_id]
        tags.append({"id": tag.id, "name": tag.name, "type": tag.type, "nsfwLevel": tag.nsfw_level})
    return tags


def generation_data(dataset: Dataset, record: ImageRecord) -> dict[str, Any]:
    """`image.getGenerationData` (civitai-api.md §3.2)."""
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


def votable_tags(dataset: Dataset, record: ImageRecord, take: int) -> list[dict[str, Any]]:
    """`tag.getVotableTags` for an image, highest score first."""
    out = []
    for tag_id, score in list(record.tag_scores.items())[: max(take, 0)]:
        tag = dataset.tags[tag_id]
        automated = tag.type != "UserGenerated"
        out.append(
            {
                "id": tag.id,
                "name": tag.name,
                "type": tag.type,
                "nsfwLevel": tag.nsfw_level,
                "score": score,
                "upVotes": 0 if automated else score % 4,
                "downVotes": 0,
                "automated": automated,
                "needsReview": False,
                "concrete": True,
                "lastUpvote": None if automated else record.published_at + timedelta(days=score),
            }
        )
    return out


def tag_summary(dataset: Dataset, tag_id: int) -> dict[str, Any] | None:
    tag = dataset.tags.get(tag_id)
    return None if tag is None else {"id": tag.id, "name": tag.name, "type": tag.type}


def model_version(version: ModelVersionRecord, with_files: bool) -> dict[str, Any]:
    """`modelVersion.getById` (civitai-api.md §3.6)."""
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
    """`post.get` (civitai-api.md §3.7)."""
    return {
        "id": post.id,
        "nsfw": post.nsfw_level > 2,
        "nsfwLevel": post.nsfw_level,
        "title": post.title,
        "detail": None,
        "modelVersionId": None,
        "modelVersion": None,
        "user": user_summary(dataset.users.get(post.user_id), post.user_id),
        "publishedAt": _copy(post.published_at),
        "availability": "Public",
        "tags": [],
        "collectionId": None,
        "wasPublished": True,
        "unpublishedAt": None,
        "unpublishedBy": None,
        "parentModelId": None,
    }


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
    """`collection.getById`'s `collection` (civitai-api.md §3.8). No item count."""
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
    """One `collection.getInfinite` item (civitai-api.md §3.9)."""
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
    """One `collection.getAllUser` entry (civitai-api.md §3.9)."""
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
    """`user.getCreator` (civitai-api.md §3.10)."""
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
