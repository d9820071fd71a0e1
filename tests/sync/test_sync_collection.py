"""Syncing a collection: complete, verified, incremental, and loud when it cannot be."""

from __future__ import annotations

import hashlib
import math
import sqlite3
from dataclasses import replace
from pathlib import Path

from civitai_emulator import EmulatorConfig, Faults, running_emulator
from civitai_vault.media.detect import detect_media


def db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path / "vault.db")
    conn.row_factory = sqlite3.Row
    return conn


def test_collection_ends_complete_with_verified_files(synced_archive):
    dataset, path = synced_archive.dataset, synced_archive.path
    expected = set(dataset.collections[synced_archive.collection_id].image_ids)
    conn = db(path)
    stored = {r[0] for r in conn.execute("SELECT id FROM images WHERE details_at IS NOT NULL")}
    assert stored == expected
    target = synced_archive.summary["targets"][0]
    assert target["complete"] and target["failed"] == 0 and target["new"] == len(expected)

    files = conn.execute("SELECT * FROM files").fetchall()
    assert len(files) == len(expected)
    for row in files:
        on_disk = path / row["path"]
        data = on_disk.read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert len(data) == row["size"]
        assert detect_media(data[:64]).mime == row["mime_type"]
        assert on_disk.resolve().is_relative_to((path / "media").resolve())
    videos = [r for r in files if r["kind"] == "video"]
    assert videos and all(r["mime_type"] == "video/mp4" for r in videos)
    assert not list((path / "media").rglob("*.part"))
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_generation_data_matches_the_server(synced_archive):
    dataset, conn = synced_archive.dataset, db(synced_archive.path)
    image = dataset.images[dataset.named["hostile_image"]]
    row = conn.execute("SELECT * FROM images WHERE id = ?", (image.id,)).fetchone()
    assert row["prompt"] == image.meta["prompt"]
    assert row["seed"] == image.meta.get("seed")
    tag_names = [
        r[0]
        for r in conn.execute(
            """SELECT t.name FROM image_tags it JOIN tags t ON t.id = it.tag_id
               WHERE it.image_id = ? ORDER BY it.score DESC""",
            (image.id,),
        )
    ]
    assert set(tag_names) <= {dataset.tags[t].name for t in image.tag_scores}
    lora_image = dataset.named["deleted_lora_image"]
    deleted = conn.execute(
        """SELECT mv.availability FROM image_resources r JOIN model_versions mv
           ON mv.id = r.model_version_id WHERE r.image_id = ? AND r.kind = 'lora'""",
        (lora_image,),
    ).fetchall()
    assert "deleted" in {r[0] for r in deleted}


def test_no_credential_reaches_the_cdn(synced_archive):
    cdn = [r for r in synced_archive.emu.request_log if r.listener == "cdn"]
    assert cdn
    for request in cdn:
        headers = {k.lower() for k in request.headers}
        assert "authorization" not in headers and "cookie" not in headers


def test_rerun_costs_only_the_listing(tmp_path, sync):
    with running_emulator(EmulatorConfig(seed=3, images=500, site_mode="red")) as emu:
        collection = emu.dataset.named["demo_collection"]
        size = len(emu.dataset.collections[collection].image_ids)
        sync(tmp_path / "a", emu, [f"collection:{collection}"])
        emu.clear_log()
        summary = sync(tmp_path / "a", emu, [f"collection:{collection}"])
        api = emu.count(listener="api")
        assert emu.count(listener="cdn") == 0
    assert api <= 1 + math.ceil(size / 200)
    target = summary["targets"][0]
    assert target["new"] == 0 and target["listed"] == size and target["complete"]


def test_faults_end_identical_to_a_clean_run(tmp_path, sync, archive_snapshot):
    faults = Faults(
        status_429=0.05,
        status_500=0.05,
        status_502=0.03,
        status_503=0.02,
        truncated=0.03,
        malformed=0.03,
        dropped=0.02,
        empty_pages=0.2,
        cdn_truncated=0.05,
        cdn_dropped=0.02,
        cdn_status_500=0.03,
    )
    with running_emulator(EmulatorConfig(seed=5, images=300, site_mode="red")) as emu:
        collection = emu.dataset.named["demo_collection"]
        clean = sync(tmp_path / "clean", emu, [f"collection:{collection}"])
        emu.set_faults(faults)
        faulty = sync(tmp_path / "faulty", emu, [f"collection:{collection}"])
        emu.clear_faults()
        if not faulty["ok"]:  # what a user does: run it again
            faulty = sync(tmp_path / "faulty", emu, [f"collection:{collection}"])
    assert clean["ok"] and faulty["ok"]
    assert archive_snapshot(tmp_path / "faulty") == archive_snapshot(tmp_path / "clean")


def test_removed_and_gone_images_stay_flagged(tmp_path, sync):
    with running_emulator(EmulatorConfig(seed=4, images=300, site_mode="red")) as emu:
        collection_id = emu.dataset.named["public_collection"]
        sync(tmp_path, emu, [f"collection:{collection_id}"])
        record = emu.dataset.collections[collection_id]
        dropped = record.image_ids[0]
        emu.dataset.collections[collection_id] = replace(record, image_ids=record.image_ids[1:])
        summary = sync(tmp_path, emu, [f"collection:{collection_id}"])
    assert summary["targets"][0]["removed"] == 1
    conn = db(tmp_path)
    row = conn.execute(
        "SELECT removed_at FROM target_items WHERE image_id = ? AND target_key = ?",
        (dropped, f"collection:{collection_id}"),
    ).fetchone()
    assert row["removed_at"] is not None
    # Still archived, file and all.
    assert conn.execute("SELECT count(*) FROM files WHERE image_id = ?", (dropped,)).fetchone()[0]


FIRST_PAGE_EMPTY = {"empty_pages": 1.0, "procedures": frozenset({"image.getInfinite"})}


def test_an_empty_first_page_on_a_later_run_removes_nothing(tmp_path, sync):
    # Civitai's statement timeout answers an empty page with no cursor, which looks
    # like a collection emptied by its owner; believed, it would flag every image.
    with running_emulator(EmulatorConfig(seed=4, images=300, site_mode="red")) as emu:
        collection_id = emu.dataset.named["public_collection"]
        first = sync(tmp_path, emu, [f"collection:{collection_id}"])
        emu.set_faults(Faults(**FIRST_PAGE_EMPTY, limit=1))
        again = sync(tmp_path, emu, [f"collection:{collection_id}"])
        emu.set_faults(Faults(**FIRST_PAGE_EMPTY))
        stuck = sync(tmp_path, emu, [f"collection:{collection_id}"])
    listed = first["targets"][0]["listed"]
    assert listed > 0
    assert again["ok"] and again["targets"][0]["complete"]
    assert again["targets"][0]["listed"] == listed and again["targets"][0]["removed"] == 0
    # Empty every time: not complete, said so, and still nothing flagged.
    target = stuck["targets"][0]
    assert not stuck["ok"] and not target["complete"] and target["removed"] == 0
    assert "empty first page" in " ".join(target["notes"])
    removed = (
        db(tmp_path)
        .execute("SELECT count(*) FROM target_items WHERE removed_at IS NOT NULL")
        .fetchone()[0]
    )
    assert removed == 0


def test_a_collection_its_owner_emptied_is_believed_empty(tmp_path, sync):
    # Civitai counts 0 items: an empty listing is the truth, and every image leaves it.
    with running_emulator(EmulatorConfig(seed=4, images=300, site_mode="red")) as emu:
        collection_id = emu.dataset.named["public_collection"]
        first = sync(tmp_path, emu, [f"collection:{collection_id}"])
        record = emu.dataset.collections[collection_id]
        emu.dataset.collections[collection_id] = replace(record, image_ids=())
        emptied = sync(tmp_path, emu, [f"collection:{collection_id}"])
    target = emptied["targets"][0]
    assert emptied["ok"] and target["complete"]
    assert target["removed"] == first["targets"][0]["listed"] > 0


def test_an_empty_first_page_of_a_counted_collection_is_asked_again(tmp_path, sync):
    with running_emulator(EmulatorConfig(seed=4, images=300, site_mode="red")) as emu:
        collection_id = emu.dataset.named["public_collection"]
        emu.set_faults(Faults(**FIRST_PAGE_EMPTY, limit=1))
        summary = sync(tmp_path, emu, [f"collection:{collection_id}"])
        expected = set(emu.dataset.collections[collection_id].image_ids)
    target = summary["targets"][0]
    assert summary["ok"] and target["complete"] and target["listed"] > 0
    members = {
        row[0]
        for row in db(tmp_path).execute(
            "SELECT image_id FROM target_items WHERE target_key = ?", (target["key"],)
        )
    }
    assert len(members) == target["listed"] and members <= expected


def test_an_empty_first_page_of_a_new_uncounted_target_is_asked_once_more(tmp_path, sync):
    # Nothing vouches for images here (the collection is not counted, the archive is
    # new): one more ask tells Civitai's query time limit from a really empty listing.
    with running_emulator(EmulatorConfig(seed=4, images=300, site_mode="red")) as emu:
        collection_id = emu.dataset.named["demo_collection"]
        emu.set_faults(Faults(**FIRST_PAGE_EMPTY, limit=1))
        summary = sync(tmp_path / "a", emu, [f"collection:{collection_id}"])
        emu.set_faults(Faults(**FIRST_PAGE_EMPTY))
        before = len(emu.request_log)
        empty = sync(tmp_path / "b", emu, [f"collection:{collection_id}"])
        asked = [e for e in emu.request_log[before:] if "image.getInfinite" in e.path]
    assert summary["ok"] and summary["targets"][0]["listed"] > 0
    # Empty twice: believed, and said as an empty listing is.
    assert len(asked) == 2
    assert empty["targets"][0]["listed"] == 0
    assert "listed no images" in " ".join(empty["targets"][0]["notes"])


def test_someone_elses_private_collection_is_an_error_not_empty(tmp_path, sync):
    with running_emulator(EmulatorConfig(seed=2, images=200, site_mode="red")) as emu:
        collection = emu.dataset.named["others_private_collection"]
        summary = sync(tmp_path, emu, [f"collection:{collection}"])
    target = summary["targets"][0]
    assert not summary["ok"]
    assert "private" in target["error"] and "cannot read it" in target["error"]
