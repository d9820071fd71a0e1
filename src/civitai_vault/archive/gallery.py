"""What the gallery asks of the archive: pages of ids, counts, facet values, files, choices.

Conditions come from `queries.where_clause`, so a search means what it means
for export and statistics. The queries read the `images_gallery` covering
index instead of the wide image rows (which carry raw JSON): counting and
ordering 100,000 images then touches a few megabytes, not hundreds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from civitai_vault.archive.queries import RecordFilter, iter_records, where_clause
from civitai_vault.archive.search import split_query

# Every condition of `where_clause` reads columns of this index (or the rowid).
IMAGES = "images i INDEXED BY images_gallery"
# The same columns keyed by id: a condition `i.id IN (a tag's images, a
# collection's)` then reads just those images' entries, not every image's.
IMAGES_BY_ID = "images i INDEXED BY images_gallery_by_id"
# The images a full-text match finds, each read from the by-id index: the cost
# follows the matches, not the archive (CROSS JOIN keeps the FTS index the
# outer loop).
FTS_IMAGES = """(SELECT rowid AS id FROM images_fts WHERE images_fts MATCH ?) s
    CROSS JOIN images i INDEXED BY images_gallery_by_id ON i.id = s.id"""

ORDERS: dict[str, str] = {
    "newest": "i.created_at DESC, i.id DESC",
    "oldest": "i.created_at ASC, i.id ASC",
    "id": "i.id DESC",
    "id_asc": "i.id ASC",
    # A seeded shuffle (multiplicative hash of the id): unlike random(), the
    # same seed gives the same order, so page 2 follows page 1.
    "random": "((i.id + :seed) * 2654435761) % 4294967291, i.id",
}

# The same condition as RecordFilter.tag, written so that SQLite always looks
# the tag up first and then reads only its images: with some table statistics
# it would otherwise walk every (tag, image) pair.
TAG_CONDITION = """i.id IN (SELECT it.image_id FROM image_tags it
    WHERE it.tag_id IN (SELECT t.id FROM tags t WHERE t.name = ? COLLATE NOCASE))"""

# Facets that are one column of `images`: counted with one GROUP BY each.
COLUMN_FACETS: dict[str, str] = {
    "base_model": "i.base_model",
    "model": "i.model",
    "author": "i.author",
    "nsfw": "i.nsfw_level",
    "type": "i.type",
}
FACETS = (*COLUMN_FACETS, "tag", "lora", "collection")

COLLECTION_PREFIX = "collection:"


def tune_for_reading(conn: sqlite3.Connection) -> None:
    """Settings for a gallery connection: wait for a writer, keep a larger page cache."""
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA cache_size = -32000")


def tag_filter(tag: str) -> tuple[str, list[Any]]:
    """A `RecordFilter.extra_where` entry: images with this tag (any case)."""
    return TAG_CONDITION, [tag]


@dataclass(frozen=True)
class Selection:
    """The images a filter selects, as SQL: `FROM {source} WHERE {where}` (alias `i`)."""

    source: str
    where: str
    params: list[Any]

    @property
    def everything(self) -> bool:
        return self.source != FTS_IMAGES and self.where == "1"

    def ids_sql(self) -> str:
        return f"SELECT i.id FROM {self.source} WHERE {self.where}"


def selection(f: RecordFilter) -> Selection:
    """Where to find what `f` selects: from the full-text index when the search has words.

    Checking every image against a full-text match (or a tag's images) probes
    that id list once per image of the archive; starting from the list reads
    only its own images. Counts and facets take this way; ordered pages do not,
    since they stop after one page of images in the order of the sort. Without
    such a list SQLite walks the by-id index, which costs what walking
    `images_gallery` does.
    """
    match, rest = split_query(f.q) if f.q else (None, None)
    if match is None:
        where, params = where_clause(f)
        return Selection(IMAGES_BY_ID, where, params)
    others = replace(f, q=None, extra_where=[*([rest] if rest else []), *f.extra_where])
    where, params = where_clause(others)
    return Selection(FTS_IMAGES, where, [match, *params])


def count_matches(conn: sqlite3.Connection, f: RecordFilter) -> int:
    return _count(conn, selection(f))


def _count(conn: sqlite3.Connection, chosen: Selection) -> int:
    sql = f"SELECT count(*) FROM {chosen.source} WHERE {chosen.where}"
    return conn.execute(sql, chosen.params).fetchone()[0]


def _order(sort: str, seed: int) -> str:
    order = ORDERS.get(sort, ORDERS["newest"])
    # Named and positional parameters cannot mix: inline the (validated) integer.
    return order.replace(":seed", str(int(seed))) if sort == "random" else order


def _ordered_ids_sql(f: RecordFilter, sort: str, seed: int) -> tuple[str, list[Any]]:
    """The ids in the sort's order, read in that order from an index (so LIMIT stops early)."""
    where, params = where_clause(f)
    # The by-id index is in id order; images_gallery in date order.
    images = IMAGES_BY_ID if sort in ("id", "id_asc") else IMAGES
    return f"SELECT i.id FROM {images} WHERE {where} ORDER BY {_order(sort, seed)}", params


def result_page(
    conn: sqlite3.Connection, f: RecordFilter, *, sort: str, seed: int, limit: int, offset: int
) -> tuple[int, list[int]]:
    """How many images `f` selects, and the ids of one page of them in the order of `sort`.

    Walking an index in the sort's order finds a page after about
    (offset + limit) * archive / matches entries: quick when matches are
    common, most of the archive when they are rare. Reading the matches
    (as counting does) and sorting them costs about `matches`. The cheaper
    of the two is taken; both give the same ids.
    """
    chosen = selection(f)
    total = _count(conn, chosen)
    if total == 0 or offset >= total:
        return total, []
    archive = conn.execute("SELECT count(*) FROM images").fetchone()[0]
    if sort == "random" or total * total < (offset + limit) * archive:
        sql = f"{chosen.ids_sql()} ORDER BY {_order(sort, seed)}"
        params = chosen.params
    else:
        sql, params = _ordered_ids_sql(f, sort, seed)
    rows = conn.execute(sql + " LIMIT ? OFFSET ?", [*params, limit, offset])
    return total, [row[0] for row in rows]


def page_ids(
    conn: sqlite3.Connection, f: RecordFilter, *, sort: str, seed: int, limit: int, offset: int
) -> list[int]:
    sql, params = _ordered_ids_sql(f, sort, seed)
    return [row[0] for row in conn.execute(sql + " LIMIT ? OFFSET ?", [*params, limit, offset])]


def position_of(
    conn: sqlite3.Connection, f: RecordFilter, image_id: int, *, sort: str, seed: int
) -> int | None:
    """Where `image_id` stands in the results (0-based), or None when it does not match."""
    sql, params = _ordered_ids_sql(f, sort, seed)
    for position, (found,) in enumerate(conn.execute(sql, params)):
        if found == image_id:
            return position
    return None


def records_for_ids(conn: sqlite3.Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Export records for `ids`, in the order given."""
    if not ids:
        return []
    found = iter_records(conn, RecordFilter(image_ids=list(ids), sort="id"))
    by_id = {r["image_id"]: r for r in found}
    return [by_id[i] for i in ids if i in by_id]


# ---------------------------------------------------------------- facets


def count_facet_values(
    conn: sqlite3.Connection, name: str, f: RecordFilter, limit: int
) -> list[tuple[Any, int]]:
    """The `limit` most frequent values of facet `name` among the images `f` selects."""
    chosen = selection(f)
    if name in COLUMN_FACETS:
        column = COLUMN_FACETS[name]
        sql = f"""SELECT {column}, count(*) AS n FROM {chosen.source}
                  WHERE {chosen.where} AND {column} IS NOT NULL
                  GROUP BY {column} ORDER BY n DESC, {column} LIMIT ?"""
    elif name == "tag":
        sql = _tag_sql(conn, chosen)
    elif name == "lora":
        # Walking the (kind, name, image) index groups without sorting: the
        # cheapest way when many images match.
        sql = f"""SELECT min(r.name), count(DISTINCT r.image_id) AS n
                  FROM image_resources r INDEXED BY image_resources_kind_name_image
                  WHERE r.kind = 'lora' AND r.name IS NOT NULL {_and_in("r.image_id", chosen)}
                  GROUP BY r.name COLLATE NOCASE ORDER BY n DESC, 1 LIMIT ?"""
    elif name == "collection":
        sql = f"""SELECT CAST(substr(ti.target_key, {len(COLLECTION_PREFIX) + 1}) AS INTEGER),
                         count(*) AS n
                  FROM target_items ti INDEXED BY target_items_live
                  WHERE ti.target_key LIKE '{COLLECTION_PREFIX}%' AND ti.removed_at IS NULL
                        {_and_in("ti.image_id", chosen)}
                  GROUP BY ti.target_key ORDER BY n DESC, 1 LIMIT ?"""
    else:
        raise ValueError(f"unknown facet {name!r}")
    return [(row[0], row[1]) for row in conn.execute(sql, [*chosen.params, limit])]


def _and_in(column: str, chosen: Selection) -> str:
    """`AND column IN (the matching images)`, or nothing when every image matches.

    The `+` keeps SQLite from using `column` to pick an index: with some table
    statistics it would otherwise probe the index once per image and value.
    """
    if chosen.everything:
        return ""
    return f"AND +{column} IN ({chosen.ids_sql()})"


def _tag_sql(conn: sqlite3.Connection, chosen: Selection) -> str:
    """Tag counts: image by image for a small result set, tag by tag for a large one.

    Image by image reads each matching image's tags (then sorts them to group):
    the cost grows with the results. Tag by tag walks the whole (tag, image)
    index in order and needs no sort: a fixed cost that wins once the results
    are a good part of the archive. Both are spelled so that SQLite cannot
    choose another plan.
    """
    by_tag = "image_tags it INDEXED BY image_tags_tag_image"
    if chosen.everything:
        counted = by_tag
    else:
        matches = _count(conn, chosen)
        everything = conn.execute("SELECT count(*) FROM images").fetchone()[0]
        if matches * 4 > everything:
            counted = f"{by_tag} WHERE 1 {_and_in('it.image_id', chosen)}"
        else:
            counted = f"({chosen.ids_sql()}) m CROSS JOIN image_tags it ON it.image_id = m.id"
    return f"""SELECT t.name, c.n FROM (
                   SELECT it.tag_id, count(*) AS n FROM {counted}
                   GROUP BY it.tag_id ORDER BY n DESC LIMIT ?
               ) c JOIN tags t ON t.id = c.tag_id ORDER BY c.n DESC, t.name"""


# ---------------------------------------------------------------- names and choices


def collection_name(conn: sqlite3.Connection, collection_id: int) -> str:
    row = conn.execute(
        """SELECT coalesce(c.name, t.label) FROM (SELECT ? AS id) x
           LEFT JOIN collections c ON c.id = x.id
           LEFT JOIN targets t ON t.key = ? || x.id""",
        (collection_id, COLLECTION_PREFIX),
    ).fetchone()
    return row[0] if row and row[0] else f"Collection {collection_id}"


def synced_collection_ids(conn: sqlite3.Connection) -> list[int]:
    """The collections the archive was asked to sync, by id."""
    rows = conn.execute("SELECT key FROM targets WHERE key LIKE ?", (COLLECTION_PREFIX + "%",))
    refs = [key[len(COLLECTION_PREFIX) :] for (key,) in rows]
    return sorted(int(ref) for ref in refs if ref.isascii() and ref.isdigit())


def base_models(conn: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            """SELECT base_model FROM images INDEXED BY images_base_model
               WHERE base_model IS NOT NULL GROUP BY base_model"""
        )
    ]


def image_types(conn: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT type FROM images INDEXED BY images_gallery WHERE type IS NOT NULL"
        )
    ]


# ---------------------------------------------------------------- one image


def upstream_status(conn: sqlite3.Connection, image_id: int) -> str:
    """'present', or 'gone' once Civitai answered 404 for the image."""
    row = conn.execute("SELECT upstream_status FROM images WHERE id = ?", (image_id,)).fetchone()
    return row[0] if row else "present"


def resources_with_availability(conn: sqlite3.Connection, image_id: int) -> list[dict[str, Any]]:
    """The image's checkpoint, LoRAs and embeddings, each with what Civitai last said of it."""
    rows = conn.execute(
        """SELECT r.kind, r.name, r.weight, coalesce(r.model_id, mv.model_id) AS model_id,
                  r.model_version_id, coalesce(r.version_name, mv.name) AS version_name,
                  mv.availability
           FROM image_resources r LEFT JOIN model_versions mv ON mv.id = r.model_version_id
           WHERE r.image_id = ? ORDER BY r.position""",
        (image_id,),
    ).fetchall()
    return [dict(row) for row in rows]


def version_availability(conn: sqlite3.Connection, version_id: int) -> str | None:
    row = conn.execute(
        "SELECT availability FROM model_versions WHERE id = ?", (version_id,)
    ).fetchone()
    return row[0] if row else None


def file_at(conn: sqlite3.Connection, path: str) -> sqlite3.Row | None:
    """The `files` row (path, mime_type, kind, sha256) recorded for an archive-relative path."""
    return conn.execute(
        "SELECT path, mime_type, kind, sha256 FROM files WHERE path = ?", (path,)
    ).fetchone()


def file_path_of(conn: sqlite3.Connection, image_id: int) -> str | None:
    """The archive-relative path recorded for an image's file (untrusted: check it)."""
    row = conn.execute("SELECT path FROM files WHERE image_id = ?", (image_id,)).fetchone()
    return None if row is None else row[0]
