"""From API objects to archive rows.

The export record itself is built by the API layer (`CivitaiImage.to_record`),
so that `civitai-vault image --json` and the archive agree field for field;
this module adds what the archive keeps beyond the record: typed resource
rows, tag ids and scores, post and model-version cache rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from civitai_vault.api.cdn import image_url_or_none
from civitai_vault.api.image_analysis import CivitaiImage, ResourceUse, resources_of
from civitai_vault.api.models import GenerationData, ModelVersion, Post, VotableTag
from civitai_vault.archive.writer import ModelVersionRow, ResourceRow, TagRow
from civitai_vault.records import empty_record, iso_utc
from civitai_vault.untrusted import sound_value


@dataclass(frozen=True)
class NormalizedImage:
    record: dict[str, Any]
    resources: list[ResourceRow]
    tags: list[TagRow]


def listing_record(item: Any, image_base_url: str) -> dict[str, Any]:
    """What a listing item (or `image.get`) says, as a partial export record."""
    user = getattr(item, "user", None)
    record = empty_record()
    record.update(
        image_id=int(item.id),
        uuid=item.url,
        name=item.name,
        type=item.type,
        mime_type=getattr(item, "mime_type", None),
        width=item.width,
        height=item.height,
        nsfw_level=item.nsfw_level,
        created_at=iso_utc(item.created_at),
        published_at=iso_utc(item.published_at),
        post_id=item.post_id,
        author=getattr(user, "username", None),
        author_id=getattr(user, "id", None),
        image_url=image_url_or_none(image_base_url, item),
    )
    # Records go into files and the terminal too: no lone surrogates (the raw JSON keeps them).
    return sound_value(record)


def build_image(
    listing: Any,
    generation: GenerationData,
    tags: list[VotableTag],
    image_base_url: str,
) -> NormalizedImage:
    image = CivitaiImage.from_api(listing, generation, tags, image_base_url)
    return NormalizedImage(
        record=sound_value(image.to_record()),
        resources=resource_rows(image.resources),
        tags=tag_rows(tags),
    )


ROW_KINDS = frozenset({"checkpoint", "lora", "embedding"})


def resource_rows(resources: list[ResourceUse]) -> list[ResourceRow]:
    return [
        ResourceRow(
            kind=r.kind if r.kind in ROW_KINDS else "other",
            name=r.name,
            weight=r.weight,
            model_id=r.model_id,
            model_version_id=r.model_version_id,
            version_name=r.version_name,
            base_model=r.base_model,
            model_type=r.kind,
        )
        for r in resources
    ]


def tag_rows(tags: list[VotableTag]) -> list[TagRow]:
    rows = [
        TagRow(id=int(t.id), name=t.name, score=t.score, type=t.type, nsfw_level=t.nsfw_level)
        for t in tags
        if t.id is not None and t.name
    ]
    return sorted(rows, key=lambda t: (-(t.score or 0), t.name))


def version_ids(generation: GenerationData) -> list[int]:
    return sorted({int(r.model_version_id) for r in resources_of(generation) if r.model_version_id})


def version_row(version: ModelVersion) -> ModelVersionRow:
    """The cache row for a version Civitai answered for (classed by the API layer's rule)."""
    from civitai_vault.api.image_analysis import availability_of

    model = version.model
    return ModelVersionRow(
        id=int(version.id or 0),
        availability=availability_of(version),
        name=version.name,
        model_id=model.id if model else None,
        model_name=model.name if model else None,
        model_type=model.type if model else None,
        base_model=version.base_model,
        version_status=version.status,
        model_status=model.status if model else None,
    )


def post_row(post: Post) -> dict[str, Any]:
    return {
        "user_id": getattr(post.user, "id", None),
        "title": post.title,
        "published_at": iso_utc(post.published_at),
        "nsfw_level": post.nsfw_level,
        "raw": post.raw,
    }
