"""Fixtures shared by every area's tests.

`emulator`: one session-wide emulator (red site mode, so nothing is clamped).
Tests that change its faults or settings must start their own with
`running_emulator`, never mutate this one.

`synced_archive`: a real archive made by `civitai-vault sync` of the
emulator's demo collection (a few hundred images, videos, hostile text), with
files on disk and generation data embedded. It yields a `SyncedArchive` with
`.path` (the archive folder), `.emu` (the emulator that served it),
`.dataset` (the emulator's dataset, to compute expectations independently),
`.collection_id` and `.summary` (the run summary as a dict). Treat it as
read-only; copy it (`copy_archive`) before changing anything.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from tests.support.emulator_sync import sync_from_emulator

# Property tests judge results, never speed: on a loaded 2-core machine a first
# call can take longer than Hypothesis's 200 ms default deadline.
settings.register_profile(
    "no-deadline", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("no-deadline")

DEMO_SEED = 7
DEMO_IMAGES = 600


@dataclass(frozen=True)
class SyncedArchive:
    path: Path
    emu: Any
    dataset: Any
    collection_id: int
    summary: dict[str, Any]


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from civitai_emulator import EmulatorConfig, running_emulator

    with running_emulator(
        EmulatorConfig(seed=DEMO_SEED, images=DEMO_IMAGES, site_mode="red")
    ) as emu:
        yield emu


@pytest.fixture(scope="session")
def sync() -> Any:
    """`sync(path, emu, targets, **SyncOptions)` -> the run summary dict."""
    return sync_from_emulator


@pytest.fixture(scope="session")
def synced_archive(tmp_path_factory: pytest.TempPathFactory, emulator: Any) -> SyncedArchive:
    path = tmp_path_factory.mktemp("synced") / "archive"
    collection_id = emulator.dataset.named["demo_collection"]
    summary = sync_from_emulator(path, emulator, [f"collection:{collection_id}"])
    return SyncedArchive(path, emulator, emulator.dataset, collection_id, summary)


def copy_archive(source: SyncedArchive, dest: Path) -> Path:
    """A private copy of the synced archive that a test may change."""
    shutil.copytree(source.path, dest)
    return dest


# ---------------------------------------------------------------- archive snapshots

# Columns that say when something happened, which two equal archives may differ in.
TIME_COLUMNS = frozenset(
    {
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
)
SNAPSHOT_TABLES = {
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


def snapshot_archive(archive: Path) -> dict[str, Any]:
    """Everything an archive holds that must not depend on how the run went: rows and files.

    The database is read from a copy, so a snapshot never writes to the archive
    (opening a WAL database can) and works on a read-only filesystem.
    """
    import sqlite3
    import tempfile

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in ("vault.db", "vault.db-wal"):
            if (archive / name).exists():
                shutil.copy2(archive / name, Path(scratch) / name)
        conn = sqlite3.connect(Path(scratch) / "vault.db")
        conn.row_factory = sqlite3.Row
        try:
            for table, sql in SNAPSHOT_TABLES.items():
                result[table] = [
                    {k: row[k] for k in row.keys() if k not in TIME_COLUMNS}  # noqa: SIM118
                    for row in conn.execute(sql)
                ]
        finally:
            conn.close()
    media = archive / "media"
    result["disk"] = sorted(
        str(p.relative_to(archive))
        for p in media.rglob("*")
        if p.is_file() and ".partial" not in p.parts
    )
    return result


@pytest.fixture
def archive_snapshot() -> Any:
    """`archive_snapshot(path)`: the archive's rows (timestamps left out) and file list."""
    return snapshot_archive
