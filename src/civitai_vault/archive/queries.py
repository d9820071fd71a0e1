"""Reading the archive: export records and the filters every reader shares.

Export, statistics and the gallery all select images with one `RecordFilter`
and read them back as export records, so a filter means the same thing on the
command line, in a report and in the browser.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from civitai_vault.archive.search import query_condition
from civitai_vault.archive.values import seed_from_columns
from civitai_vault.records import EXPORT_FIELDS, IMAGE_COLUMN_FIELDS, RESOURCE_FIELDS

# Only what records need: the raw JSON columns are large and records never show them.
ROW_COLUMNS = ", ".join(["i.id", *(f"i.{name}" for name in IMAGE_COLUMN_FIELDS), "i.seed_exact"])

SORTS = {
    "newest": "i.created_at DESC, i.id DESC",
    "oldest": "i.created_at ASC, i.id ASC",
    "id": "i.id DESC",
    "id_asc": "i.id ASC",
    "random": "random()",
}


@dataclass
class RecordFilter:
    """Which images to read. Empty fields do not filter; all given fields must match.

    Names (tag, model, lora, base model, author) match whole, ignoring case; a
    model or LoRA given as a number matches its model or model-version id.
    Dates compare as ISO-8601 text, so "2024", "2024-05" and full stamps work.
    """

    q: str | None = None
    collection: int | None = None
    tag: str | None = None
    model: str | None = None
    lora: str | None = None
    base_model: str | None = None
    author: str | None = None
    since: str | None = None
    until: str | None = None
    nsfw_levels: Sequence[int] = ()
    type: str | None = None
    image_ids: Sequence[int] = ()
    sort: str = "newest"
    limit: int | None = None
    offset: int = 0
    extra_where: list[tuple[str, list[Any]]] = field(default_factory=list)


def _as_id(text: str) -> int | None:
    """`"123"` -> 123; a name, or a number SQLite cannot hold (2**63 and up), -> None."""
    if not (text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if number < 2**63 else None


def where_clause(f: RecordFilter) -> tuple[str, list[Any]]:
    """SQL condition on alias `i` (images) for a filter, with its parameters."""
    parts: list[str] = []
    params: list[Any] = []

    def add(sql: str, *values: Any) -> None:
        parts.append(sql)
        params.extend(values)

    if f.q and (searched := query_condition(f.q)):
        add(searched[0], *searched[1])
    if f.collection is not None:
        add(
            """i.id IN (SELECT image_id FROM target_items
                        WHERE target_key = ? AND removed_at IS NULL)""",
            f"collection:{f.collection}",
        )
    if f.tag:
        add(
            """i.id IN (SELECT it.image_id FROM image_tags it JOIN tags t ON t.id = it.tag_id
                        WHERE t.name = ? COLLATE NOCASE)""",
            f.tag,
        )
    if f.model:
        if (model_id := _as_id(f.model)) is not None:
            add("(i.model_version_id = ? OR i.model_id = ?)", model_id, model_id)
        else:
            add("i.model = ? COLLATE NOCASE", f.model)
    if f.lora:
        if (lora_id := _as_id(f.lora)) is not None:
            condition = "(model_version_id = ? OR model_id = ?)"
            values: tuple[Any, ...] = (lora_id, lora_id)
        else:
            condition = "name = ? COLLATE NOCASE"
            values = (f.lora,)
        add(
            f"i.id IN (SELECT image_id FROM image_resources WHERE kind = 'lora' AND {condition})",
            *values,
        )
    if f.base_model:
        add("i.base_model = ? COLLATE NOCASE", f.base_model)
    if f.author:
        add("i.author = ? COLLATE NOCASE", f.author)
    if f.since:
        add("i.created_at >= ?", f.since)
    if f.until:
        # "until 2024-05" includes all of May: compare against the prefix.
        add("substr(i.created_at, 1, ?) <= ?", len(f.until), f.until)
    if f.nsfw_levels:
        add(f"i.nsfw_level IN ({', '.join('?' for _ in f.nsfw_levels)})", *f.nsfw_levels)
    if f.type:
        add("i.type = ?", f.type)
    if f.image_ids:
        add(f"i.id IN ({', '.join('?' for _ in f.image_ids)})", *f.image_ids)
    for sql, extra in f.extra_where:
        add(sql, *extra)
    return (" AND ".join(parts) or "1"), params


def count_images(conn: sqlite3.Connection, f: RecordFilter | None = None) -> int:
    where, params = where_clause(f or RecordFilter())
    return conn.execute(f"SELECT count(*) FROM images i WHERE {where}", params).fetchone()[0]


def select_image_ids(conn: sqlite3.Connection, f: RecordFilter) -> list[int]:
    """The ids a filter selects, in its sort order, after its limit and offset."""
    where, params = where_clause(f)
    sql = f"SELECT i.id FROM images i WHERE {where} ORDER BY {SORTS.get(f.sort, SORTS['newest'])}"
    if f.limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params = [*params, f.limit, f.offset]
    return [row[0] for row in conn.execute(sql, params)]


def iter_records(
    conn: sqlite3.Connection, f: RecordFilter | None = None, *, batch_size: int = 500
) -> Iterator[dict[str, Any]]:
    """Stream export records for a filter, a batch of images at a time (constant memory)."""
    f = f or RecordFilter()
    where, params = where_clause(f)
    order = SORTS.get(f.sort, SORTS["newest"])
    sql = f"""SELECT {ROW_COLUMNS}, fl.path AS file_path, fl.sha256 AS file_sha256,
                     fl.mime_type AS file_mime_type
              FROM images i LEFT JOIN files fl ON fl.image_id = i.id
              WHERE {where} ORDER BY {order}"""
    if f.limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params = [*params, f.limit, f.offset]
    # A separate cursor per batch of rows: the per-batch lookups use `conn` too.
    cursor = conn.execute(sql, params)
    while rows := cursor.fetchmany(batch_size):
        yield from _records_for_rows(conn, rows)


def get_record(conn: sqlite3.Connection, image_id: int) -> dict[str, Any] | None:
    records = list(iter_records(conn, RecordFilter(image_ids=[image_id])))
    return records[0] if records else None


def _records_for_rows(
    conn: sqlite3.Connection, rows: Sequence[sqlite3.Row]
) -> Iterator[dict[str, Any]]:
    ids = [row["id"] for row in rows]
    resources = _resources_by_image(conn, ids)
    tags = _tags_by_image(conn, ids)
    collections = _collections_by_image(conn, ids)
    for row in rows:
        image_resources = resources.get(row["id"], [])
        yield _record_from_row(
            row,
            loras=[r for kind, r in image_resources if kind == "lora"],
            embeddings=[r for kind, r in image_resources if kind == "embedding"],
            tags=tags.get(row["id"], []),
            collections=collections.get(row["id"], []),
        )


def _record_from_row(
    row: sqlite3.Row,
    *,
    loras: list[dict[str, Any]],
    embeddings: list[dict[str, Any]],
    tags: list[str],
    collections: list[int],
) -> dict[str, Any]:
    record = {name: row[name] for name in IMAGE_COLUMN_FIELDS}
    record.update(
        image_id=row["id"],
        seed=seed_from_columns(row["seed"], row["seed_exact"]),
        loras=loras,
        embeddings=embeddings,
        tags=tags,
        collections=collections,
        file_path=row["file_path"],
        sha256=row["file_sha256"],
        # Listings carry no MIME type; the file's own (from its magic bytes) fills in.
        mime_type=row["mime_type"] or row["file_mime_type"],
    )
    return {name: record[name] for name in EXPORT_FIELDS}


def _in_clause(ids: Sequence[int]) -> str:
    return ", ".join("?" for _ in ids)


def _resources_by_image(
    conn: sqlite3.Connection, ids: Sequence[int]
) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    out: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for row in conn.execute(
        f"""SELECT image_id, kind, {", ".join(RESOURCE_FIELDS)}
            FROM image_resources WHERE image_id IN ({_in_clause(ids)})
            ORDER BY image_id, position""",
        ids,
    ):
        resource = {name: row[name] for name in RESOURCE_FIELDS}
        out.setdefault(row["image_id"], []).append((row["kind"], resource))
    return out


def _tags_by_image(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for row in conn.execute(
        f"""SELECT it.image_id, t.name FROM image_tags it JOIN tags t ON t.id = it.tag_id
            WHERE it.image_id IN ({_in_clause(ids)})
            ORDER BY it.image_id, it.score DESC, t.name""",
        ids,
    ):
        out.setdefault(row[0], []).append(row[1])
    return out


def _collections_by_image(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for row in conn.execute(
        f"""SELECT image_id, collection_id FROM collection_images
            WHERE removed_at IS NULL AND image_id IN ({_in_clause(ids)})
            ORDER BY image_id, collection_id""",
        ids,
    ):
        out.setdefault(row[0], []).append(row[1])
    return out


def raw_meta(record: dict[str, Any]) -> dict[str, Any] | None:
    """The generation `meta` object of a record, decoded."""
    text = record.get("raw_meta_json")
    return json.loads(text) if text else None


def collection_target_ids(conn: sqlite3.Connection) -> list[int]:
    """Ids of the collections the archive has synced, from the targets' own columns."""
    return [
        int(row[0])
        for row in conn.execute(
            """SELECT DISTINCT source_id FROM targets
               WHERE kind = 'collection' AND source_id IS NOT NULL ORDER BY 1"""
        )
    ]


def has_members(conn: sqlite3.Connection, target_key: str) -> bool:
    """Whether an earlier listing of `target_key` showed images that are still in it."""
    row = conn.execute(
        "SELECT EXISTS(SELECT 1 FROM target_items WHERE target_key = ? AND removed_at IS NULL)",
        (target_key,),
    ).fetchone()
    return bool(row[0])


def missing_lookups(conn: sqlite3.Connection) -> tuple[list[int], list[int]]:
    """Posts and model versions archived images refer to that the archive holds no row for.

    A sync stores an image's details before its post and model versions are
    looked up (they go in batches of their own); a run stopped in between leaves
    these, and the next run asks for them.
    """
    posts = [
        row[0]
        for row in conn.execute(
            """SELECT DISTINCT i.post_id FROM images i
               WHERE i.details_at IS NOT NULL AND i.post_id IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM posts p WHERE p.id = i.post_id)
               ORDER BY i.post_id"""
        )
    ]
    versions = [
        row[0]
        for row in conn.execute(
            """SELECT DISTINCT r.model_version_id FROM image_resources r
               WHERE r.model_version_id IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM model_versions v WHERE v.id = r.model_version_id)
               ORDER BY r.model_version_id"""
        )
    ]
    return posts, versions
