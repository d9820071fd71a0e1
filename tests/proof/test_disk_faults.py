"""A full disk and a read-only archive: one clear line, nothing damaged, the next run completes.

The archive lives on a real small filesystem (a tmpfs of a few megabytes), so
the errors are the ones the kernel gives, at whatever moment the space runs
out: while SQLite creates its files, in the middle of a commit, while a
download is written or renamed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.web.reader import ArchiveReader

from .conftest import assert_one_line_error, sync_args

IMAGES = 120  # the demo collection is then 120 images, about 5 MB with its database


@pytest.fixture(scope="module")
def small_emulator() -> Any:
    with running_emulator(EmulatorConfig(seed=21, images=IMAGES, site_mode="red")) as emu:
        yield emu


@pytest.fixture(scope="module")
def clean_archive(tmp_path_factory: pytest.TempPathFactory, small_emulator: Any, sync: Any) -> Path:
    path = tmp_path_factory.mktemp("clean") / "archive"
    collection = small_emulator.dataset.named["demo_collection"]
    summary = sync(path, small_emulator, [f"collection:{collection}"])
    assert summary["ok"]
    return path


# 200 KB: SQLite cannot even finish creating the database. 2.5 MB: it runs out in
# the middle of the run, while files are written and the writer commits.
@pytest.mark.parametrize("size", ["200k", "2500k"])
def test_disk_full_is_one_line_and_the_next_run_completes(
    size, small_emulator, clean_archive, small_disk, cli_for, archive_health, archive_snapshot
):
    disk = small_disk(size)
    archive = disk.path / "archive"
    target = f"collection:{small_emulator.dataset.named['demo_collection']}"
    cli = cli_for(small_emulator)

    full = cli(*sync_args(archive, target, "--quiet"))
    line = assert_one_line_error(full, 1)
    assert "disk is full" in line and "run the same command again" in line
    assert archive_health(archive) == []

    disk.resize("64m")  # space comes back
    again = cli(*sync_args(archive, target, "--quiet"))
    assert again.returncode == 0, again.stderr
    assert archive_health(archive) == []
    assert archive_snapshot(archive) == archive_snapshot(clean_archive)


def test_read_only_archive_is_one_line_and_untouched(
    small_emulator, clean_archive, small_disk, cli_for, archive_health, archive_snapshot
):
    disk = small_disk("64m")
    archive = disk.path / "archive"
    target = f"collection:{small_emulator.dataset.named['demo_collection']}"
    cli = cli_for(small_emulator)
    cli(*sync_args(archive, target, "--quiet", "--limit", "40"))  # an archive half made
    before = archive_snapshot(archive)
    assert len(before["files"]) == 40

    disk.read_only()
    refused = cli(*sync_args(archive, target, "--quiet"))
    line = assert_one_line_error(refused, 1)
    assert "read-only" in line and str(archive) in line
    assert_readable_while_read_only(cli, archive, images=40)
    assert archive_snapshot(archive) == before
    assert archive_health(archive) == []

    disk.writable()
    again = cli(*sync_args(archive, target, "--quiet"))
    assert again.returncode == 0, again.stderr
    assert archive_snapshot(archive) == archive_snapshot(clean_archive)


def assert_readable_while_read_only(cli: Any, archive: Path, images: int) -> None:
    """Reading commands work on an archive nobody can write (a backup, a read-only disk)."""
    status = cli("status", "--archive", str(archive), "--json")
    assert status.returncode == 0, status.stderr
    assert sum(t["listed"] for t in json.loads(status.stdout)["targets"]) == images

    exported = cli("export", "--archive", str(archive), "--format", "jsonl", "-o", "-")
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.splitlines()) == images

    stats = cli("stats", "--archive", str(archive), "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["counts"]["images"] == images

    gallery = ArchiveReader(archive)
    try:
        with gallery.connection() as conn:
            assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == images
    finally:
        gallery.close()
