"""Everything the detail page shows about one image, gathered from the archive."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from civitai_vault.archive.gallery import (
    collection_name,
    resources_with_availability,
    upstream_status,
    version_availability,
)
from civitai_vault.archive.queries import get_record, raw_meta
from civitai_vault.vocabulary import (
    NSFW_LABELS,
    SHOWN_META_KEYS,
    SITE_URLS,
    archive_model_url,
    model_url,
)
from civitai_vault.web.files import file_for_image, media_url

CIVITAI = SITE_URLS["com"]
# Availability values after which only the archive copy is left.
GONE_AVAILABILITY = frozenset({"deleted", "not_found"})

# Generation fields of the export record, in the order the page lists them.
GENERATION_FIELDS: tuple[tuple[str, str], ...] = (
    ("sampler", "Sampler"),
    ("steps", "Steps"),
    ("cfg_scale", "CFG scale"),
    ("seed", "Seed"),
    ("clip_skip", "Clip skip"),
    ("base_model", "Base model"),
    ("model", "Checkpoint"),
    ("model_version", "Checkpoint version"),
    ("process", "Process"),
    ("engine", "Engine"),
    ("workflow", "Workflow"),
)
IMAGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("image_id", "Image id"),
    ("type", "Type"),
    ("mime_type", "MIME type"),
    ("width", "Width"),
    ("height", "Height"),
    ("created_at", "Created"),
    ("published_at", "Published"),
    ("post_id", "Post"),
    ("author", "Author"),
    ("name", "File name on Civitai"),
    ("uuid", "UUID"),
    ("file_path", "File"),
    ("sha256", "SHA-256"),
)


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str | None
    weight: float | None
    model_id: int | None
    model_version_id: int | None
    version_name: str | None
    availability: str | None

    @property
    def civitai_url(self) -> str | None:
        return model_url(self.model_id, self.model_version_id)

    @property
    def archive_url(self) -> str | None:
        """The civitaiarchive.com copy, offered when Civitai no longer has the model."""
        if self.availability in GONE_AVAILABILITY and self.model_id is not None:
            return archive_model_url(self.model_id)
        return None


@dataclass
class ImageDetail:
    record: dict[str, Any]
    resources: list[Resource]
    upstream_status: str
    collections: list[tuple[int, str]]
    infotext: str | None
    extra_meta: list[tuple[str, str]] = field(default_factory=list)
    # The gallery URL of the file, when it is on disk and may be served.
    file_url: str | None = None

    @property
    def image_id(self) -> int:
        return int(self.record["image_id"])

    @property
    def civitai_url(self) -> str:
        return f"{CIVITAI}/images/{self.image_id}"

    @property
    def nsfw_label(self) -> str | None:
        level = self.record.get("nsfw_level")
        return None if level is None else NSFW_LABELS.get(level, str(level))


def load_detail(conn: sqlite3.Connection, archive_root: Path, image_id: int) -> ImageDetail | None:
    record = get_record(conn, image_id)
    if record is None:
        return None
    return ImageDetail(
        record=record,
        resources=load_resources(conn, image_id, record),
        upstream_status=upstream_status(conn, image_id),
        collections=[(cid, collection_name(conn, cid)) for cid in record["collections"]],
        infotext=infotext_for(record),
        extra_meta=extra_meta(record),
        file_url=media_url(record["file_path"])
        if file_for_image(conn, archive_root, image_id)
        else None,
    )


def load_resources(
    conn: sqlite3.Connection, image_id: int, record: dict[str, Any]
) -> list[Resource]:
    """The checkpoint, LoRAs and embeddings, each with what Civitai last said about it."""
    resources = [Resource(**row) for row in resources_with_availability(conn, image_id)]
    if record.get("model") and not any(r.kind == "checkpoint" for r in resources):
        resources.insert(0, _checkpoint_from_record(conn, record))
    return resources


def _checkpoint_from_record(conn: sqlite3.Connection, record: dict[str, Any]) -> Resource:
    version_id = record.get("model_version_id")
    availability = None if version_id is None else version_availability(conn, version_id)
    return Resource(
        kind="checkpoint",
        name=record.get("model"),
        weight=None,
        model_id=record.get("model_id"),
        model_version_id=version_id,
        version_name=record.get("model_version"),
        availability=availability,
    )


def extra_meta(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Generation data Civitai sent beyond the record's fields (hires, ADetailer, ...)."""
    try:
        meta = raw_meta(record)
    except ValueError:
        return []
    if not isinstance(meta, dict):
        return []
    extra = []
    for key, value in meta.items():
        if key in SHOWN_META_KEYS or value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        extra.append((str(key), text))
    return extra


def infotext_for(record: dict[str, Any]) -> str | None:
    """The A1111 "parameters" text a prompt reader would show, when that writer is present."""
    try:
        from civitai_vault.media.infotext import build_infotext
    except ImportError:
        return None
    return build_infotext(record) or None
