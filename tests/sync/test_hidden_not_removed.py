"""Hidden is not removed: civitai.com hides R and X images from every listing, even
signed in, so a collection synced on civitai.red and then on civitai.com must not
report those images as taken out of it (issue: "removed 53" after a .com run)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.support.emulator_sync import run_sync

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.api import ClientSettings
from civitai_vault.archive import open_archive
from civitai_vault.archive.status import archive_status
from civitai_vault.sync.engine import SyncOptions

R_OR_X = 4 | 8 | 16


def sync_on(site: str, path: Path, emu: Any, target: str) -> dict[str, Any]:
    """A metadata-only sync as civitai.<site> would answer it (the emulator clamps by site)."""
    emu.config.site_mode = "red" if site == "red" else "green"
    settings = ClientSettings(
        site=site,  # type: ignore[arg-type]
        base_url=emu.base_url,
        image_base_url=emu.image_base_url,
        api_key=emu.api_key,
        rate=0,
        cdn_rate=0,
    )

    return run_sync(path, settings, [target], SyncOptions(media=False))


def removed_ids(path: Path, key: str) -> set[int]:
    conn = sqlite3.connect(path / "vault.db")
    try:
        rows = conn.execute(
            "SELECT image_id FROM target_items WHERE target_key = ? AND removed_at IS NOT NULL",
            (key,),
        )
        return {row[0] for row in rows}
    finally:
        conn.close()


def test_images_the_site_hides_are_hidden_not_removed(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(seed=11, images=160, site_mode="red")) as emu:
        collection_id = emu.dataset.named["demo_collection"]
        key = f"collection:{collection_id}"
        ids = emu.dataset.collections[collection_id].image_ids
        levels = {i: emu.dataset.images[i].nsfw_level for i in ids}
        rated = {i for i, level in levels.items() if level & R_OR_X}
        assert rated and len(rated) < len(ids)  # the dataset has both kinds

        red = sync_on("red", tmp_path, emu, key)
        green = sync_on("com", tmp_path, emu, key)

        target = green["targets"][0]
        assert target["complete"]
        assert target["listed"] == len(ids) - len(rated)
        assert target["removed"] == 0
        assert target["hidden"] == len(rated)
        assert removed_ids(tmp_path, key) == set()
        with open_archive(tmp_path, create=False) as archive:
            row = archive_status(archive.conn)["targets"][0]
        assert (row["images"], row["removed"], row["hidden"], row["site"]) == (
            len(ids),
            0,
            len(rated),
            "com",
        )
        assert red["targets"][0]["listed"] == len(ids)

        # A PG image really taken out of the collection is removed, on either site.
        record = emu.dataset.collections[collection_id]
        dropped = next(i for i in record.image_ids if not levels[i] & R_OR_X)
        emu.dataset.collections[collection_id] = replace(
            record, image_ids=[i for i in record.image_ids if i != dropped]
        )
        again = sync_on("com", tmp_path, emu, key)
        assert again["targets"][0]["removed"] == 1
        assert removed_ids(tmp_path, key) == {dropped}


def test_wrong_flags_of_an_earlier_version_are_repaired_on_the_next_run(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(seed=12, images=160, site_mode="red")) as emu:
        collection_id = emu.dataset.named["demo_collection"]
        key = f"collection:{collection_id}"
        ids = emu.dataset.collections[collection_id].image_ids
        rated = {i for i in ids if emu.dataset.images[i].nsfw_level & R_OR_X}
        sync_on("red", tmp_path, emu, key)
        # What an earlier version left after a civitai.com run: R/X flagged as removed,
        # with no record of which levels that listing could show.
        conn = sqlite3.connect(tmp_path / "vault.db")
        with conn:
            conn.executemany(
                "UPDATE target_items SET removed_at = '2026-01-01T00:00:00+00:00' "
                "WHERE target_key = ? AND image_id = ?",
                [(key, i) for i in rated],
            )
        conn.close()
        assert removed_ids(tmp_path, key) == rated

        summary = sync_on("com", tmp_path, emu, key)

        assert removed_ids(tmp_path, key) == set()
        assert summary["targets"][0]["removed"] == 0
        assert summary["targets"][0]["hidden"] == len(rated)


def test_a_removal_seen_on_red_is_not_undone_by_a_com_run(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(seed=13, images=160, site_mode="red")) as emu:
        collection_id = emu.dataset.named["demo_collection"]
        key = f"collection:{collection_id}"
        record = emu.dataset.collections[collection_id]
        sync_on("red", tmp_path, emu, key)
        dropped = next(i for i in record.image_ids if emu.dataset.images[i].nsfw_level & R_OR_X)
        emu.dataset.collections[collection_id] = replace(
            record, image_ids=[i for i in record.image_ids if i != dropped]
        )
        assert sync_on("red", tmp_path, emu, key)["targets"][0]["removed"] == 1
        sync_on("com", tmp_path, emu, key)
        assert removed_ids(tmp_path, key) == {dropped}
