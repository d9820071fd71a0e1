"""The archive's aggregates over a selection of images: counts, top lists, distributions.

`analysis.stats` shapes the answers into its report; the SQL is here. Every
function takes a `Selection` (the images a filter selects) and returns plain
values: names with counts, or the numbers themselves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from civitai_vault.archive.queries import RecordFilter, where_clause
from civitai_vault.archive.schema import connect_read_only
from civitai_vault.archive.sql import query

# Columns of `images` that the statistics count by name.
ImageColumn = Literal["model", "base_model", "author", "type"]
PromptColumn = Literal["prompt", "negative_prompt"]
SettingColumn = Literal["sampler", "steps", "cfg_scale", "clip_skip", "width", "height"]
ResourceKind = Literal["lora", "embedding"]

# Their indexes hold neither weights nor image ids, so walking one means a
# random row read per entry: one pass over the whole table is faster.
_RESOURCES = "image_resources r NOT INDEXED"
_PROMPT_BATCH = 2_000


class Selection:
    """The images a filter selects, as SQL.

    Queries on `images` use `where` directly. Queries on the tables that hang
    off images (resources, tags, files, collections) use `selects(column)`: an
    `IN (SELECT id ...)` that SQLite evaluates once into a set, far cheaper
    than joining each of their rows to a wide image row.
    """

    def __init__(self, f: RecordFilter | None) -> None:
        self.filter = f or RecordFilter()
        self.where, self.params = where_clause(self.filter)

    @property
    def everything(self) -> bool:
        return self.where == "1"

    def selects(self, image_id_column: str) -> str:
        if self.everything:
            return "1"
        return f"{image_id_column} IN (SELECT i.id FROM images i WHERE {self.where})"

    @property
    def selection_params(self) -> list[Any]:
        return [] if self.everything else self.params


def image_counts(conn: sqlite3.Connection, scope: Selection) -> dict[str, Any]:
    """images, videos, with_prompt, with_details, gone_upstream, authors, posts,
    checkpoints, first/last_created_at, files, file_bytes, failed_downloads, tags."""
    row = query(
        conn,
        f"""SELECT count(*) AS images,
                   coalesce(sum(i.type = 'video'), 0) AS videos,
                   coalesce(sum(i.prompt IS NOT NULL AND i.prompt != ''), 0) AS with_prompt,
                   coalesce(sum(i.details_at IS NOT NULL), 0) AS with_details,
                   coalesce(sum(i.upstream_status = 'gone'), 0) AS gone_upstream,
                   count(DISTINCT i.author) AS authors,
                   count(DISTINCT i.post_id) AS posts,
                   count(DISTINCT nullif(i.model, '')) AS checkpoints,
                   min(i.created_at) AS first_created_at,
                   max(i.created_at) AS last_created_at
            FROM images i WHERE {scope.where}""",
        scope.params,
    ).fetchone()
    counts = dict(row)
    files = query(
        conn,
        f"""SELECT count(*), coalesce(sum(fl.size), 0) FROM files fl
            WHERE {scope.selects("fl.image_id")}""",
        scope.selection_params,
    ).fetchone()
    counts["files"], counts["file_bytes"] = files[0], files[1]
    counts["failed_downloads"] = query(
        conn,
        f"""SELECT count(DISTINCT fa.image_id) FROM failures fa
            WHERE fa.stage = 'download' AND {scope.selects("fa.image_id")}""",
        scope.selection_params,
    ).fetchone()[0]
    counts["tags"] = query(
        conn,
        f"""SELECT count(DISTINCT it.tag_id) FROM image_tags it
            WHERE {scope.selects("it.image_id")}""",
        scope.selection_params,
    ).fetchone()[0]
    return counts


def top_values(
    conn: sqlite3.Connection, scope: Selection, column: ImageColumn, top: int
) -> list[tuple[str, int]]:
    """The `top` most frequent non-empty values of an image column, highest count first."""
    rows = query(
        conn,
        # Grouped in a subquery so the plain GROUP BY can read a narrow index.
        f"""SELECT name, n FROM (
                SELECT i.{column} AS name, count(*) AS n FROM images i WHERE {scope.where}
                GROUP BY i.{column})
            WHERE name IS NOT NULL AND name != '' ORDER BY n DESC, name LIMIT ?""",
        [*scope.params, top],
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def checkpoint_model_id(conn: sqlite3.Connection, name: str) -> int | None:
    """A model id the archive knows for the checkpoint called `name` (one indexed look-up)."""
    row = query(
        conn,
        "SELECT model_id FROM images WHERE model = ? AND model_id IS NOT NULL LIMIT 1",
        (name,),
    ).fetchone()
    return row[0] if row else None


def resource_usage(
    conn: sqlite3.Connection, scope: Selection, kind: ResourceKind
) -> list[dict[str, Any]]:
    """Every resource of `kind` used: name, model_id, base_model, uses, images and
    average/min/max_weight, most used first."""
    rows = query(
        conn,
        f"""SELECT r.name, r.model_id, count(*) AS uses,
                   count(DISTINCT r.image_id) AS images, avg(r.weight) AS average_weight,
                   min(r.weight) AS min_weight, max(r.weight) AS max_weight,
                   min(r.base_model) AS base_model
            FROM {_RESOURCES}
            WHERE r.kind = ? AND r.name IS NOT NULL AND {scope.selects("r.image_id")}
            GROUP BY r.name, r.model_id ORDER BY uses DESC, r.name, r.model_id""",
        [kind, *scope.selection_params],
    ).fetchall()
    return [dict(row) for row in rows]


def top_tags(conn: sqlite3.Connection, scope: Selection, top: int) -> list[tuple[str, int]]:
    """The `top` tags on the most selected images, highest count first."""
    rows = query(
        conn,
        f"""SELECT t.name, n FROM (
                SELECT it.tag_id, count(*) AS n FROM image_tags it
                WHERE {scope.selects("it.image_id")} GROUP BY it.tag_id) counted
            JOIN tags t ON t.id = counted.tag_id
            ORDER BY n DESC, t.name LIMIT ?""",
        [*scope.selection_params, top],
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def collection_counts(
    conn: sqlite3.Connection, scope: Selection
) -> list[tuple[int, str | None, int]]:
    """(collection id, name, selected images in it) for every collection, largest first."""
    rows = query(
        conn,
        f"""SELECT ci.collection_id, c.name, count(*) AS n FROM collection_images ci
            LEFT JOIN collections c ON c.id = ci.collection_id
            WHERE ci.removed_at IS NULL AND {scope.selects("ci.image_id")}
            GROUP BY ci.collection_id ORDER BY n DESC, ci.collection_id""",
        scope.selection_params,
    ).fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


def setting_combinations(
    conn: sqlite3.Connection, scope: Selection, columns: tuple[SettingColumn, ...]
) -> list[tuple[Any, ...]]:
    """Each distinct combination of the `columns`' values, with its count last."""
    names = ", ".join(f"i.{column}" for column in columns)
    rows = query(
        conn,
        f"SELECT {names}, count(*) FROM images i WHERE {scope.where} GROUP BY {names}",
        scope.params,
    ).fetchall()
    return [tuple(row) for row in rows]


def nsfw_level_counts(conn: sqlite3.Connection, scope: Selection) -> list[tuple[int | None, int]]:
    """(NSFW level, images) in ascending level, images without one last."""
    rows = query(
        conn,
        f"""SELECT i.nsfw_level AS level, count(*) AS n FROM images i WHERE {scope.where}
            GROUP BY i.nsfw_level ORDER BY level IS NULL, level""",
        scope.params,
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def created_span(conn: sqlite3.Connection, scope: Selection) -> tuple[str | None, str | None]:
    """The first and last creation time of the selected images (None, None if none is dated)."""
    row = query(
        conn,
        f"""SELECT min(i.created_at), max(i.created_at) FROM images i
            WHERE i.created_at IS NOT NULL AND {scope.where}""",
        scope.params,
    ).fetchone()
    return row[0], row[1]


def created_counts(conn: sqlite3.Connection, scope: Selection, width: int) -> dict[str, int]:
    """Images per period, a period being the first `width` characters of the ISO
    creation time (7: a month, 10: a day)."""
    rows = query(
        conn,
        f"""SELECT substr(i.created_at, 1, {int(width)}) AS period, count(*) FROM images i
            WHERE i.created_at IS NOT NULL AND {scope.where}
            GROUP BY substr(i.created_at, 1, {int(width)})""",
        scope.params,
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def undated_count(conn: sqlite3.Connection, scope: Selection) -> int:
    """How many selected images carry no creation time."""
    row = query(
        conn,
        f"SELECT count(*) FROM images i WHERE i.created_at IS NULL AND {scope.where}",
        scope.params,
    ).fetchone()
    return int(row[0])


def lora_checkpoint_counts(
    conn: sqlite3.Connection, scope: Selection
) -> dict[tuple[str, str], int]:
    """(checkpoint, LoRA) -> images using both; a few thousand pairs even for big archives."""
    rows = query(
        conn,
        f"""SELECT i.model, r.name, count(DISTINCT r.image_id) AS n
            FROM {_RESOURCES} JOIN images i ON i.id = r.image_id
            WHERE r.kind = 'lora' AND r.name IS NOT NULL AND i.model IS NOT NULL
                  AND {scope.where}
            GROUP BY i.model, r.name""",
        scope.params,
    ).fetchall()
    return {(row[0], row[1]): row[2] for row in rows}


def prompt_text_counts(
    conn: sqlite3.Connection, scope: Selection, column: PromptColumn
) -> Iterator[list[tuple[str, int]]]:
    """Each distinct non-empty prompt text with how many images carry it, in batches."""
    cursor = conn.execute(
        f"""SELECT i.{column}, count(*) FROM images i
            WHERE i.{column} IS NOT NULL AND i.{column} != '' AND {scope.where}
            GROUP BY i.{column}""",
        scope.params,
    )
    while rows := cursor.fetchmany(_PROMPT_BATCH):
        yield [(row[0], row[1]) for row in rows]


def database_file(conn: sqlite3.Connection) -> Path | None:
    """The file behind the connection's main database (None: in memory)."""
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return Path(row[2]) if row[2] else None
    return None


def open_second_reader(path: Path) -> sqlite3.Connection:
    """Another read-only connection to the archive at `path`, for work in another thread;
    it waits for a writer's checkpoint rather than failing."""
    reader = connect_read_only(path)
    reader.execute("PRAGMA busy_timeout = 10000")
    return reader
