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
