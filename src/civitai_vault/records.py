"""The export record: one dict per archived image, the shape every output shares.

Field names follow the seed project's so that its users' scripts keep working
(DESIGN.md, "Export record"). The API layer builds records from live objects
(`CivitaiImage.to_record`), the archive rebuilds them from rows
(`archive.queries.iter_records`); exports, the gallery and sidecars only ever
see this shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

EXPORT_FIELDS: tuple[str, ...] = (
    "image_id",
    "image_url",
    "uuid",
    "name",
    "type",
    "mime_type",
    "width",
    "height",
    "nsfw_level",
    "created_at",
    "published_at",
    "post_id",
    "author",
    "author_id",
    "prompt",
    "negative_prompt",
    "sampler",
    "steps",
    "cfg_scale",
    "seed",
    "clip_skip",
    "base_model",
    "process",
    "engine",
    "workflow",
    "model",
    "model_version",
    "model_id",
    "model_version_id",
    "loras",
    "embeddings",
    "tags",
    "collections",
    "file_path",
    "sha256",
    "raw_meta_json",
)

# Each entry of `loras` and `embeddings`.
RESOURCE_FIELDS: tuple[str, ...] = (
    "name",
    "weight",
    "model_id",
    "model_version_id",
    "version_name",
    "base_model",
)

LIST_FIELDS: frozenset[str] = frozenset({"loras", "embeddings", "tags", "collections"})

# Fields kept as columns of the archive's `images` table; the others come from
# joined tables (lists, the file) or are the row id.
IMAGE_COLUMN_FIELDS: tuple[str, ...] = tuple(
    name
    for name in EXPORT_FIELDS
    if name not in LIST_FIELDS and name not in ("image_id", "file_path", "sha256")
)


def empty_record() -> dict[str, Any]:
    """A record with every field present and unknown: lists empty, the rest None."""
    return {name: ([] if name in LIST_FIELDS else None) for name in EXPORT_FIELDS}


def iso_utc(value: datetime | str | None) -> str | None:
    """Dates in records are ISO-8601 strings in UTC; naive datetimes are taken as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()
