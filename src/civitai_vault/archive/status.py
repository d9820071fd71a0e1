"""What the archive holds, per target and in total: the data behind `civitai-vault status`."""

from __future__ import annotations

import sqlite3
from typing import Any


def archive_status(conn: sqlite3.Connection) -> dict[str, Any]:
    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0] or 0)

    totals = {
        "images": one("SELECT count(*) FROM images"),
        "with_details": one("SELECT count(*) FROM images WHERE details_at IS NOT NULL"),
        "files": one("SELECT count(*) FROM files"),
        "bytes": one("SELECT sum(size) FROM files"),
        "videos": one("SELECT count(*) FROM images WHERE type = 'video'"),
        "gone_upstream": one("SELECT count(*) FROM images WHERE upstream_status = 'gone'"),
        "failures": one("SELECT count(*) FROM failures"),
        "model_versions": one("SELECT count(*) FROM model_versions"),
        "deleted_model_versions": one(
            "SELECT count(*) FROM model_versions WHERE availability != 'available'"
        ),
    }
    return {"totals": totals, "targets": _targets(conn), "failures": _failures(conn)}


def _targets(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        """SELECT t.*,
                  (SELECT count(*) FROM target_items ti
                   WHERE ti.target_key = t.key AND ti.removed_at IS NULL) AS images,
                  (SELECT count(*) FROM target_items ti
                   WHERE ti.target_key = t.key AND ti.removed_at IS NOT NULL) AS removed
           FROM targets t ORDER BY t.key"""
    ).fetchall()
    return [
        {
            "target": row["key"],
            "label": row["label"],
            "last_run_at": row["last_run_at"],
            "images": row["images"],
            "removed": row["removed"],
            "hidden": row["hidden"],
            "site": row["site"],
            "listed": row["listed"],
            "new": row["new"],
            "updated": row["updated"],
            "failed": row["failed"],
            "gone": row["gone"],
            "complete": bool(row["complete"]) if row["complete"] is not None else None,
            "note": row["note"],
        }
        for row in rows
    ]


def _failures(conn: sqlite3.Connection, limit: int = 20) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT image_id, stage, target_key, reason, at FROM failures ORDER BY at DESC LIMIT ?",
        (limit,),
    ).fetchall()
    return [dict(row) for row in rows]


def target_keys(conn: sqlite3.Connection) -> list[str]:
    """Every target the archive holds, as stored ('collection:12', 'user_images:name')."""
    return [row[0] for row in conn.execute("SELECT key FROM targets ORDER BY key")]


def image_states(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[bool, str | None]]:
    """Per archived image id: whether its details are stored, and its file's path, if any."""
    states: dict[int, tuple[bool, str | None]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for row in conn.execute(
            f"""SELECT i.id, i.details_at IS NOT NULL, f.path FROM images i
                LEFT JOIN files f ON f.image_id = i.id WHERE i.id IN ({marks})""",
            chunk,
        ):
            states[row[0]] = (bool(row[1]), row[2])
    return states


def most_used_checkpoints(conn: sqlite3.Connection, limit: int) -> list[tuple[str, int]]:
    """(checkpoint name, images) of the `limit` checkpoints most images used."""
    rows = conn.execute(
        """SELECT model, count(*) AS n FROM images WHERE model IS NOT NULL
           GROUP BY model ORDER BY n DESC LIMIT ?""",
        (limit,),
    )
    return [(row[0], row[1]) for row in rows]


def cached_post_ids(conn: sqlite3.Connection) -> set[int]:
    """The posts whose details the archive holds (a sync asks only for the others)."""
    return {row[0] for row in conn.execute("SELECT id FROM posts")}


def cached_version_ids(conn: sqlite3.Connection) -> set[int]:
    """The model versions the archive has an answer for."""
    return {row[0] for row in conn.execute("SELECT id FROM model_versions")}


def listed_fields(conn: sqlite3.Connection, image_id: int) -> tuple[Any, ...] | None:
    """What the last listing said of an image: (nsfw_level, width, height, post_id)."""
    row = conn.execute(
        "SELECT nsfw_level, width, height, post_id FROM images WHERE id = ?", (image_id,)
    ).fetchone()
    return None if row is None else tuple(row)
