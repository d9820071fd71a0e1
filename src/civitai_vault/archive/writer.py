"""Writing to the archive: every function here changes rows, none commits.

The caller owns the transaction (`with transaction(conn): ...`), so that one
image's rows, or one batch of images, land together or not at all. Values come
in as export records (see `civitai_vault.records`) plus the raw JSON Civitai
returned, which is kept whole so that nothing is lost to normalizing.

Every value is checked before it is bound (`values.storable`): one the archive
cannot hold raises UnstorableValue before anything of that image is written,
and `savepoint` lets a caller undo one image's rows without losing the batch.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from civitai_vault.archive.values import (
    seed_columns,
    storable,
    storable_values,
)
from civitai_vault.records import IMAGE_COLUMN_FIELDS, RESOURCE_FIELDS
from civitai_vault.untrusted import exact_json

# Columns of `images` that come straight from the export record.

# What a listing page tells about an image before its details are fetched.
LISTING_COLUMNS: tuple[str, ...] = (
    "uuid",
    "name",
    "type",
    "width",
    "height",
    "nsfw_level",
    "created_at",
    "published_at",
    "post_id",
    "author",
    "author_id",
    "image_url",
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def to_json(value: Any) -> str | None:
    """The raw JSON to keep: exactly what Civitai sent, lone surrogates included."""
    if value is None:
        return None
    return exact_json(value)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (including KeyboardInterrupt).

    SQLite rolls a transaction back by itself on some errors (a full disk, for
    one), and a COMMIT can fail too: either way the connection must end with no
    transaction open, and the error to report is the original one.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        rollback_quietly(conn)
        raise


@contextmanager
def savepoint(conn: sqlite3.Connection, name: str = "one_image") -> Iterator[None]:
    """Inside a transaction: undo what the block wrote if it raises, keep the rest."""
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back whatever is open, without hiding the error that got us here."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


@dataclass(frozen=True)
class ResourceRow:
    kind: str  # checkpoint | lora | embedding | other
    name: str | None
    weight: float | None = None
    model_id: int | None = None
    model_version_id: int | None = None
    version_name: str | None = None
    base_model: str | None = None
    model_type: str | None = None


@dataclass(frozen=True)
class TagRow:
    id: int
    name: str
    score: float | None = None
    type: str | None = None
    nsfw_level: int | None = None


@dataclass(frozen=True)
class FileRow:
    path: str
    size: int
    sha256: str
    mime_type: str
    kind: str
    served_size: int
    served_sha256: str
    embedded: bool


# ----------------------------------------------------------------- targets


def upsert_target(
    conn: sqlite3.Connection,
    key: str,
    kind: str,
    ref: str,
    label: str | None,
    *,
    source_id: int | None = None,
    source_name: str | None = None,
    filters: dict[str, str] | None = None,
) -> None:
    """Record a target: its source kind, id or user name, and the filter it is synced with.

    Without `source_id`, a numeric `ref` is taken as the id (`collection:5` has id 5).
    """
    if source_id is None and ref.isdigit():
        source_id = int(ref)
    conn.execute(
        """INSERT INTO targets (key, kind, ref, label, source_id, source_name, filters_json)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(key) DO UPDATE SET label = coalesce(excluded.label, targets.label),
               source_id = coalesce(excluded.source_id, targets.source_id),
               source_name = coalesce(excluded.source_name, targets.source_name),
               filters_json = excluded.filters_json""",
        storable_values(
            (
                "target",
                "target kind",
                "target ref",
                "target label",
                "target id",
                "target user",
                "target filter",
            ),
            (key, kind, ref, label, source_id, source_name, to_json(filters) if filters else None),
        ),
    )


def finish_target(
    conn: sqlite3.Connection,
    key: str,
    *,
    listed: int,
    new: int,
    updated: int,
    failed: int,
    gone: int,
    complete: bool,
    note: str | None,
    label: str | None = None,
    hidden: int | None = None,
) -> None:
    conn.execute(
        """UPDATE targets SET last_run_at = ?, listed = ?, new = ?, updated = ?, failed = ?,
           gone = ?, complete = ?, note = ?, label = coalesce(?, label), hidden = ?
           WHERE key = ?""",
        (
            now_iso(),
            listed,
            new,
            updated,
            failed,
            gone,
            int(complete),
            storable("target note", note),
            storable("target label", label),
            hidden,
            key,
        ),
    )


def mark_listed(conn: sqlite3.Connection, target_key: str, image_ids: Iterable[int]) -> None:
    """Record that a listing of `target_key` showed these images (again)."""
    stamp = now_iso()
    conn.executemany(
        """INSERT INTO target_items (target_key, image_id, first_seen_at, last_seen_at)
           VALUES (?, ?, ?, ?)
           ON CONFLICT(target_key, image_id) DO UPDATE SET
               last_seen_at = excluded.last_seen_at, removed_at = NULL""",
        [(target_key, storable("image id", image_id), stamp, stamp) for image_id in image_ids],
    )


@dataclass(frozen=True)
class Removals:
    """What a complete listing said about the target's images it did not show."""

    removed: list[int]  # newly flagged: the listing could have shown them
    hidden: int  # not shown, but the listing could not have (the site hides their level)
    repaired: int  # flags an earlier listing set wrongly (it could not have shown them either)


def mark_removed_except(
    conn: sqlite3.Connection, target_key: str, seen_ids: Sequence[int], levels: int = 31
) -> Removals:
    """Flag the target's images that a complete listing showing `levels` no longer shows.

    Only images the listing could have shown are flagged (their NSFW level
    shares a bit with `levels`, or is unknown). A flag set by a listing that
    could not have shown the image either (or by a version that did not record
    what its listing could show) is cleared: nothing says the image left.
    """
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS seen_now (image_id INTEGER PRIMARY KEY)")
    conn.execute("DELETE FROM seen_now")
    conn.executemany("INSERT OR IGNORE INTO seen_now VALUES (?)", [(i,) for i in seen_ids])
    unseen = """FROM target_items ti LEFT JOIN images i ON i.id = ti.image_id
                WHERE ti.target_key = ? AND ti.image_id NOT IN (SELECT image_id FROM seen_now)"""
    listable = "(coalesce(i.nsfw_level, 0) = 0 OR (i.nsfw_level & ?) != 0)"
    removed = [
        row[0]
        for row in conn.execute(
            f"SELECT ti.image_id {unseen} AND ti.removed_at IS NULL AND {listable}",
            (target_key, levels),
        )
    ]
    hidden = conn.execute(
        f"SELECT count(*) {unseen} AND ti.removed_at IS NULL AND NOT {listable}",
        (target_key, levels),
    ).fetchone()[0]
    wrongly = [
        row[0]
        for row in conn.execute(
            f"""SELECT ti.image_id {unseen} AND ti.removed_at IS NOT NULL AND NOT {listable}
                AND (ti.removed_levels IS NULL
                     OR (coalesce(i.nsfw_level, 0) & ti.removed_levels) = 0)""",
            (target_key, levels),
        )
    ]
    stamp = now_iso()
    conn.executemany(
        """UPDATE target_items SET removed_at = ?, removed_levels = ?
           WHERE target_key = ? AND image_id = ?""",
        [(stamp, levels, target_key, image_id) for image_id in removed],
    )
    conn.executemany(
        """UPDATE target_items SET removed_at = NULL, removed_levels = NULL
           WHERE target_key = ? AND image_id = ?""",
        [(target_key, image_id) for image_id in wrongly],
    )
    conn.execute("DELETE FROM seen_now")
    return Removals(removed, int(hidden) + len(wrongly), len(wrongly))


def record_listing_site(conn: sqlite3.Connection, key: str, site: str, levels: int) -> None:
    """Remember which site a target was listed on and which levels that listing could show."""
    conn.execute(
        "UPDATE targets SET site = ?, listing_levels = ? WHERE key = ?", (site, levels, key)
    )


def store_listing(conn: sqlite3.Connection, record: dict[str, Any], listing_raw: Any) -> bool:
    """Insert or refresh what a listing page says about an image. Returns True if it is new.

    Details already stored are left alone: a listing never blanks them.
    """
    stamp = now_iso()
    image_id = storable("image id", record["image_id"])
    values = storable_values(LISTING_COLUMNS, (record.get(c) for c in LISTING_COLUMNS))
    cursor = conn.execute(
        f"""INSERT INTO images (id, {", ".join(LISTING_COLUMNS)}, listing_json,
                                first_seen_at, updated_at)
            VALUES (?, {", ".join("?" for _ in LISTING_COLUMNS)}, ?, ?, ?)
            ON CONFLICT(id) DO NOTHING""",
        (image_id, *values, to_json(listing_raw), stamp, stamp),
    )
    if cursor.rowcount:
        return True
    assignments = ", ".join(f"{c} = coalesce(?, {c})" for c in LISTING_COLUMNS)
    conn.execute(
        f"""UPDATE images SET {assignments}, listing_json = ?, upstream_status = 'present',
            gone_at = NULL WHERE id = ?""",
        (*values, to_json(listing_raw), image_id),
    )
    return False


def store_details(
    conn: sqlite3.Connection,
    record: dict[str, Any],
    *,
    resources: Sequence[ResourceRow],
    tags: Sequence[TagRow],
    raw: dict[str, Any],
) -> None:
    """Store an image's full record, resources, tags and raw answers, replacing older ones."""
    image_id = storable("image id", record["image_id"])
    stamp = now_iso()
    columns = (*IMAGE_COLUMN_FIELDS, "seed_exact")
    values = {c: record.get(c) for c in IMAGE_COLUMN_FIELDS}
    values["seed"], values["seed_exact"] = seed_columns(values.get("seed"))
    bound = storable_values(columns, (values[c] for c in columns))
    resource_values = [_resource_values(r) for r in resources]
    tag_values = [_tag_values(t) for t in tags]
    conn.execute(
        f"""INSERT INTO images (id, {", ".join(columns)}, image_json, generation_json,
                                tags_json, details_at, first_seen_at, updated_at)
            VALUES (?, {", ".join("?" for _ in columns)}, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET
                {", ".join(f"{c} = excluded.{c}" for c in columns)},
                image_json = coalesce(excluded.image_json, images.image_json),
                generation_json = excluded.generation_json,
                tags_json = excluded.tags_json,
                details_at = excluded.details_at,
                upstream_status = 'present', gone_at = NULL,
                updated_at = excluded.updated_at""",
        (
            image_id,
            *bound,
            to_json(raw.get("image")),
            to_json(raw.get("generation")),
            to_json(raw.get("tags")),
            stamp,
            stamp,
            stamp,
        ),
    )
    if raw.get("listing") is not None:
        conn.execute(
            "UPDATE images SET listing_json = ? WHERE id = ?", (to_json(raw["listing"]), image_id)
        )
    _replace_resources(conn, image_id, resource_values)
    _replace_tags(conn, image_id, tag_values)
    _refresh_search_row(conn, image_id)
    clear_failure(conn, image_id, "details")


# A record's resource entry (`records.RESOURCE_FIELDS`) between its kind and Civitai's type.
RESOURCE_COLUMNS = ("kind", *RESOURCE_FIELDS, "model_type")
TAG_COLUMNS = ("id", "name", "type", "nsfw_level", "score")


def _resource_values(r: ResourceRow) -> list[Any]:
    names = [f"resource {c.replace('_', ' ')}" for c in RESOURCE_COLUMNS]
    return storable_values(names, (getattr(r, c) for c in RESOURCE_COLUMNS))


def _tag_values(t: TagRow) -> list[Any]:
    names = [f"tag {c.replace('_', ' ')}" for c in TAG_COLUMNS]
    return storable_values(names, (getattr(t, c) for c in TAG_COLUMNS))


def _replace_resources(
    conn: sqlite3.Connection, image_id: int, resources: Sequence[Sequence[Any]]
) -> None:
    """`resources`: each one's RESOURCE_COLUMNS, checked (`_resource_values`)."""
    conn.execute("DELETE FROM image_resources WHERE image_id = ?", (image_id,))
    conn.executemany(
        f"""INSERT INTO image_resources (image_id, position, {", ".join(RESOURCE_COLUMNS)})
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [(image_id, position, *values) for position, values in enumerate(resources)],
    )


def _replace_tags(conn: sqlite3.Connection, image_id: int, tags: Sequence[Sequence[Any]]) -> None:
    """`tags`: each one's TAG_COLUMNS, checked (`_tag_values`)."""
    conn.execute("DELETE FROM image_tags WHERE image_id = ?", (image_id,))
    for tag_id, name, type_, nsfw_level, _ in tags:
        _cache_tag_values(conn, tag_id, name, type_, nsfw_level)
    conn.executemany(
        "INSERT OR REPLACE INTO image_tags (image_id, tag_id, score) VALUES (?, ?, ?)",
        [(image_id, tag_id, score) for tag_id, *_, score in tags],
    )


def _refresh_search_row(conn: sqlite3.Connection, image_id: int) -> None:
    """Rebuild the image's full-text row from what is stored now."""
    row = conn.execute(
        "SELECT prompt, negative_prompt, author, model FROM images WHERE id = ?", (image_id,)
    ).fetchone()
    tags = conn.execute(
        """SELECT group_concat(t.name, ' | ') FROM image_tags it JOIN tags t ON t.id = it.tag_id
           WHERE it.image_id = ?""",
        (image_id,),
    ).fetchone()[0]
    models = conn.execute(
        "SELECT group_concat(name, ' | ') FROM image_resources WHERE image_id = ?", (image_id,)
    ).fetchone()[0]
    conn.execute("DELETE FROM images_fts WHERE rowid = ?", (image_id,))
    conn.execute(
        """INSERT INTO images_fts (rowid, prompt, negative_prompt, tags, models, author)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (
            image_id,
            row["prompt"] or "",
            row["negative_prompt"] or "",
            tags or "",
            " | ".join(x for x in (row["model"], models) if x),
            row["author"] or "",
        ),
    )


def mark_gone(conn: sqlite3.Connection, image_id: int) -> None:
    """Civitai answered 404: keep everything, remember that it is gone upstream."""
    conn.execute(
        """UPDATE images SET upstream_status = 'gone', gone_at = coalesce(gone_at, ?)
           WHERE id = ?""",
        (now_iso(), image_id),
    )


def store_file(conn: sqlite3.Connection, image_id: int, file: FileRow) -> None:
    image_id = storable("image id", image_id)
    conn.execute(
        """INSERT INTO files (image_id, path, size, sha256, mime_type, kind, served_size,
               served_sha256, embedded, downloaded_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(image_id) DO UPDATE SET path = excluded.path, size = excluded.size,
               sha256 = excluded.sha256, mime_type = excluded.mime_type, kind = excluded.kind,
               served_size = excluded.served_size, served_sha256 = excluded.served_sha256,
               embedded = excluded.embedded, downloaded_at = excluded.downloaded_at""",
        (
            image_id,
            file.path,
            file.size,
            file.sha256,
            file.mime_type,
            file.kind,
            file.served_size,
            file.served_sha256,
            int(file.embedded),
            now_iso(),
        ),
    )
    clear_failure(conn, image_id, "download")


def update_file_after_embed(
    conn: sqlite3.Connection, image_id: int, *, size: int, sha256: str, embedded: bool
) -> None:
    conn.execute(
        "UPDATE files SET size = ?, sha256 = ?, embedded = ? WHERE image_id = ?",
        (size, sha256, int(embedded), image_id),
    )


# ------------------------------------------------------------------ caches


def cache_tag(conn: sqlite3.Connection, tag: TagRow) -> None:
    tag_id, name, type_, nsfw_level, _ = _tag_values(tag)
    _cache_tag_values(conn, tag_id, name, type_, nsfw_level)


def _cache_tag_values(
    conn: sqlite3.Connection, tag_id: int, name: str, type_: str | None, nsfw_level: int | None
) -> None:
    conn.execute(
        """INSERT INTO tags (id, name, type, nsfw_level) VALUES (?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET name = excluded.name,
               type = coalesce(excluded.type, tags.type),
               nsfw_level = coalesce(excluded.nsfw_level, tags.nsfw_level)""",
        (tag_id, name, type_, nsfw_level),
    )


def cache_user(
    conn: sqlite3.Connection, user_id: int, username: str | None, deleted_at: str | None, raw: Any
) -> None:
    conn.execute(
        """INSERT INTO users (id, username, deleted_at, raw_json, fetched_at)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(id) DO UPDATE SET username = coalesce(excluded.username, users.username),
               deleted_at = excluded.deleted_at, raw_json = excluded.raw_json,
               fetched_at = excluded.fetched_at""",
        (
            *storable_values(
                ("user id", "user name", "user deleted at"), (user_id, username, deleted_at)
            ),
            to_json(raw),
            now_iso(),
        ),
    )


def cache_post(
    conn: sqlite3.Connection,
    post_id: int,
    *,
    user_id: int | None,
    title: str | None,
    published_at: str | None,
    nsfw_level: int | None,
    raw: Any,
) -> None:
    conn.execute(
        """INSERT OR REPLACE INTO posts (id, user_id, title, published_at, nsfw_level, raw_json,
               fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (
            *storable_values(
                ("post id", "post user id", "post title", "post published at", "post nsfw level"),
                (post_id, user_id, title, published_at, nsfw_level),
            ),
            to_json(raw),
            now_iso(),
        ),
    )


@dataclass(frozen=True)
class ModelVersionRow:
    id: int
    availability: str  # available | deleted | unpublished | not_found
    name: str | None = None
    model_id: int | None = None
    model_name: str | None = None
    model_type: str | None = None
    base_model: str | None = None
    version_status: str | None = None
    model_status: str | None = None


MODEL_VERSION_COLUMNS = (
    "id",
    "name",
    "model_id",
    "model_name",
    "model_type",
    "base_model",
    "version_status",
    "model_status",
    "availability",
)


def cache_model_version(conn: sqlite3.Connection, row: ModelVersionRow, raw: Any) -> None:
    conn.execute(
        """INSERT OR REPLACE INTO model_versions (id, name, model_id, model_name, model_type,
               base_model, version_status, model_status, availability, raw_json, checked_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            *storable_values(
                [f"model version {c.replace('_', ' ')}" for c in MODEL_VERSION_COLUMNS],
                (getattr(row, c) for c in MODEL_VERSION_COLUMNS),
            ),
            to_json(raw),
            now_iso(),
        ),
    )


def cache_collection(
    conn: sqlite3.Connection,
    collection_id: int,
    *,
    name: str | None,
    description: str | None,
    owner_id: int | None,
    owner_username: str | None,
    read: str | None,
    type_: str | None,
    raw: Any,
) -> None:
    conn.execute(
        """INSERT OR REPLACE INTO collections (id, name, description, owner_id, owner_username,
               read, type, raw_json, fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (
            *storable_values(
                [f"collection {c}" for c in ("id", "name", "description", "owner id")]
                + ["collection owner name", "collection read", "collection type"],
                (collection_id, name, description, owner_id, owner_username, read, type_),
            ),
            to_json(raw),
            now_iso(),
        ),
    )


# ---------------------------------------------------------------- failures


def record_failure(
    conn: sqlite3.Connection, image_id: int, stage: str, reason: str, target_key: str | None
) -> None:
    conn.execute(
        """INSERT OR REPLACE INTO failures (image_id, stage, target_key, reason, at)
           VALUES (?, ?, ?, ?, ?)""",
        (
            *storable_values(
                ("image id", "stage", "target", "reason"), (image_id, stage, target_key, reason)
            ),
            now_iso(),
        ),
    )


def clear_failure(conn: sqlite3.Connection, image_id: int, stage: str) -> None:
    conn.execute("DELETE FROM failures WHERE image_id = ? AND stage = ?", (image_id, stage))


def start_run(conn: sqlite3.Connection, command: str) -> int:
    cursor = conn.execute(
        "INSERT INTO runs (started_at, command) VALUES (?, ?)", (now_iso(), command)
    )
    return int(cursor.lastrowid or 0)


def finish_run(conn: sqlite3.Connection, run_id: int, summary: Any) -> None:
    conn.execute(
        "UPDATE runs SET finished_at = ?, summary_json = ? WHERE id = ?",
        (now_iso(), to_json(summary), run_id),
    )
