"""The export record: one dict per archived image, the shape every output shares.

Field names follow the seed project's so that its users' scripts keep working
(the `CivitaiImage` of the seed's single-image flow). The API layer builds records from live objects
(`CivitaiImage.to_record`), the archive rebuilds them from rows
(`archive.queries.iter_records`); exports, the gallery and sidecars only ever
see this shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Generic, TypedDict, TypeVar


class ResourceEntry(TypedDict):
    """One entry of a record's `loras` or `embeddings`."""

    name: str | None
    weight: float | None
    model_id: int | None
    model_version_id: int | None
    version_name: str | None
    base_model: str | None


DateT = TypeVar("DateT", str, datetime)


@dataclass
class ExportFields(Generic[DateT]):
    """Every field of the export record but `raw_meta_json`, in the record's order.

    The one declaration of those fields: `ImageRecord` (dates as ISO strings)
    and the API's `CivitaiImage` (dates as datetimes) both take them from here.
    """

    image_id: int
    image_url: str | None = None
    uuid: str | None = None
    name: str | None = None
    type: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    nsfw_level: int | None = None
    created_at: DateT | None = None
    published_at: DateT | None = None
    post_id: int | None = None
    author: str | None = None
    author_id: int | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    sampler: str | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    seed: int | None = None
    clip_skip: int | None = None
    base_model: str | None = None
    process: str | None = None
    engine: str | None = None
    workflow: str | None = None
    model: str | None = None
    model_version: str | None = None
    model_id: int | None = None
    model_version_id: int | None = None
    loras: list[ResourceEntry] = field(default_factory=list)
    embeddings: list[ResourceEntry] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    collections: list[int] = field(default_factory=list)
    file_path: str | None = None
    sha256: str | None = None


@dataclass
class ImageRecord(ExportFields[str]):
    """One archived image as the export record: an attribute for every field.

    `to_dict()` is exactly the record every export format writes (the same
    fields, in this order); `from_dict()` reads one back.
    """

    raw_meta_json: str | None = None

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> ImageRecord:
        """The record's fields; other keys are ignored."""
        return cls(**{name: record[name] for name in EXPORT_FIELDS if name in record})

    def to_dict(self) -> dict[str, Any]:
        """The export record: every field, in EXPORT_FIELDS order."""
        return {name: getattr(self, name) for name in EXPORT_FIELDS}

    @property
    def meta(self) -> dict[str, Any] | None:
        """The generation `meta` object, decoded from raw_meta_json."""
        return json.loads(self.raw_meta_json) if self.raw_meta_json else None


# The export record's fields, in order: ImageRecord's.
EXPORT_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(ImageRecord))

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
