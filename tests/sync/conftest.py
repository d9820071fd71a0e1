"""Helpers for the sync tests: archive snapshots that ignore timestamps."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TIME_COLUMNS = {
    "first_seen_at",
    "last_seen_at",
    "updated_at",
    "details_at",
    "fetched_at",
    "checked_at",
    "downloaded_at",
    "at",
    "last_run_at",
}


def snapshot(archive: Path) -> dict[str, Any]:
    """Everything an archive holds that must not depend on how the run went: rows and files."""
    conn = sqlite3.connect(archive / "vault.db")
    conn.row_factory = sqlite3.Row
    tables = {
        "images": "SELECT * FROM images ORDER BY id",
        "image_resources": "SELECT * FROM image_resources ORDER BY image_id, position",
        "image_tags": "SELECT * FROM image_tags ORDER BY image_id, tag_id",
        "tags": "SELECT * FROM tags ORDER BY id",
        "model_versions": "SELECT * FROM model_versions ORDER BY id",
        "posts": "SELECT * FROM posts ORDER BY id",
        "files": "SELECT * FROM files ORDER BY image_id",
        "target_items": "SELECT * FROM target_items ORDER BY target_key, image_id",
        "failures": "SELECT * FROM failures ORDER BY image_id, stage",
    }
    result: dict[str, Any] = {}
    for name, sql in tables.items():
        rows = []
        for row in conn.execute(sql):
            rows.append({k: row[k] for k in row.keys() if k not in TIME_COLUMNS})  # noqa: SIM118
        result[name] = rows
    conn.close()
    media = archive / "media"
    result["disk"] = sorted(str(p.relative_to(archive)) for p in media.rglob("*") if p.is_file())
    return result


@pytest.fixture
def archive_snapshot() -> Callable[[Path], dict[str, Any]]:
    return snapshot
