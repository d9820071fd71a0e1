"""The archive's questions about model versions: which the images used, and what is cached.

`analysis.availability` turns the answers into its report; the SQL is here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from civitai_vault.archive.queries import RecordFilter, where_clause
from civitai_vault.archive.sql import query

_CACHE_COLUMNS = (
    "model_name, name, model_id, base_model, model_type, availability, version_status, "
    "model_status, checked_at"
)


def _uses_sql(where: str) -> str:
    """Every (version, image) use: resources of any kind plus the image's own checkpoint.

    Resources are read in one pass (their indexes lack image ids, so walking
    one costs a row read per entry); a filter becomes a set of image ids.
    """
    selected = "1" if where == "1" else f"r.image_id IN (SELECT i.id FROM images i WHERE {where})"
    return f"""
        SELECT r.model_version_id AS version_id, r.image_id AS image_id
        FROM image_resources r NOT INDEXED WHERE r.model_version_id IS NOT NULL AND {selected}
        UNION ALL
        SELECT i.model_version_id, i.id FROM images i
        WHERE i.model_version_id IS NOT NULL AND {where}"""


def version_image_counts(
    conn: sqlite3.Connection, f: RecordFilter | None = None
) -> list[tuple[int, int]]:
    """(version id, images that used it) for the selected images, most used first."""
    where, params = where_clause(f or RecordFilter())
    rows = query(
        conn,
        f"""SELECT version_id, count(DISTINCT image_id) AS n FROM ({_uses_sql(where)})
            GROUP BY version_id ORDER BY n DESC, version_id""",
        [*(params if where != "1" else []), *params],
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def cached_versions(conn: sqlite3.Connection) -> dict[int, sqlite3.Row]:
    """The cached answer for each model version checked so far, by id."""
    rows = query(conn, f"SELECT id, {_CACHE_COLUMNS} FROM model_versions").fetchall()
    return {row["id"]: row for row in rows}


def seen_as(conn: sqlite3.Connection, version_id: int) -> dict[str, Any]:
    """How the images named a version: one resource row (indexed), else an image's checkpoint."""
    row = query(
        conn,
        """SELECT kind, name, version_name, model_id, base_model, model_type
           FROM image_resources WHERE model_version_id = ? LIMIT 1""",
        (version_id,),
    ).fetchone()
    if row is None:
        row = query(
            conn,
            """SELECT 'checkpoint' AS kind, model AS name, model_version AS version_name,
                      model_id, base_model, NULL AS model_type
               FROM images WHERE model_version_id = ? LIMIT 1""",
            (version_id,),
        ).fetchone()
    return dict(zip(row.keys(), row, strict=True)) if row else {}


def images_using_versions(
    conn: sqlite3.Connection, availabilities: Sequence[str], f: RecordFilter | None = None
) -> int:
    """How many selected images used a version whose cached availability is one of these."""
    where, params = where_clause(f or RecordFilter())
    selected = "1" if where == "1" else f"r.image_id IN (SELECT i.id FROM images i WHERE {where})"
    gone = list(availabilities)
    marks = ", ".join("?" for _ in gone)
    return query(
        conn,
        f"""SELECT count(DISTINCT image_id) FROM (
                SELECT r.image_id FROM image_resources r
                WHERE r.model_version_id IN (SELECT id FROM model_versions
                                             WHERE availability IN ({marks})) AND {selected}
                UNION ALL
                SELECT i.id FROM images i
                WHERE i.model_version_id IN (SELECT id FROM model_versions
                                             WHERE availability IN ({marks})) AND {where})""",
        [*gone, *(params if where != "1" else []), *gone, *params],
    ).fetchone()[0]
