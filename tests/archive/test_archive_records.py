"""The archive stores an image once and gives back exactly the export record it was given."""

from __future__ import annotations

import json

from tests.support.archive_builder import ArchiveBuilder, FileRow, ResourceRow, TagRow, record

from civitai_vault.archive import open_archive
from civitai_vault.archive.queries import RecordFilter, count_images, get_record, iter_records
from civitai_vault.archive.writer import mark_removed_except, transaction
from civitai_vault.records import EXPORT_FIELDS


def sample_record(image_id: int, **overrides):
    return (
        record(
            image_id,
            uuid=f"uuid-{image_id}",
            name="00014-3150861441.png",
            type="image",
            mime_type="image/png",
            width=832,
            height=1216,
            nsfw_level=1,
            created_at="2024-08-31T01:11:47.021000+00:00",
            author="alice",
            author_id=7,
            prompt='a cat, "quoted", 猫 <script>alert(1)</script>\nsecond line',
            negative_prompt="blurry",
            sampler="Euler a",
            steps=30,
            cfg_scale=7.0,
            seed=1234567890123,
            clip_skip=2,
            base_model="Pony",
            model="Pony Diffusion V6 XL",
            model_version="V6 (start with this one)",
            model_id=257749,
            model_version_id=290640,
            raw_meta_json=json.dumps({"prompt": "a cat"}),
        )
        | overrides
    )


def resources(record, loras=()):
    """The record's checkpoint, then LoRAs given as (name, weight, version id)."""
    rows = [ResourceRow(kind="checkpoint", name=record["model"], model_version_id=290640)]
    rows += [ResourceRow(kind="lora", name=n, weight=w, model_version_id=v) for n, w, v in loras]
    return rows


def test_record_round_trips_through_the_database(tmp_path):
    record = sample_record(101)
    ArchiveBuilder(tmp_path).collection(5, "Favourites", cached=False).image(
        record,
        resources=resources(record, [("detail tweaker", 0.8, 11), ("cjk 風", -0.5, 12)]),
        tags=[TagRow(1, "cat", 3.0), TagRow(2, "anime", 9.0)],
        collections=[5],
        file=FileRow("alice/101.png", 10, "ab" * 32, "image/png", "image", 9, "cd" * 32, True),
    ).build()
    with open_archive(tmp_path, create=False) as archive:
        got = get_record(archive.conn, 101)
    assert list(got) == list(EXPORT_FIELDS)
    assert got["prompt"] == record["prompt"]
    assert got["seed"] == 1234567890123
    assert got["tags"] == ["anime", "cat"]  # highest score first
    assert [lora["name"] for lora in got["loras"]] == ["detail tweaker", "cjk 風"]
    assert got["loras"][1]["weight"] == -0.5
    assert got["collections"] == [5]
    assert got["file_path"] == "alice/101.png"
    assert got["sha256"] == "ab" * 32


def test_filters_and_removal(tmp_path):
    bob = sample_record(1, author="bob", base_model="SDXL 1.0")
    dog = sample_record(2, prompt="a dog in the rain")
    builder = ArchiveBuilder(tmp_path).collection(5, cached=False)
    builder.image(bob, resources=resources(bob), tags=[TagRow(1, "cat")], collections=[5])
    builder.image(dog, resources=resources(dog, [("rainy", 1.0, 3)]), collections=[5])
    builder.build()
    with open_archive(tmp_path, create=False) as archive:
        conn = archive.conn
        assert count_images(conn, RecordFilter(author="BOB")) == 1
        assert count_images(conn, RecordFilter(tag="cat")) == 1
        assert count_images(conn, RecordFilter(lora="rainy")) == 1
        assert count_images(conn, RecordFilter(lora="3")) == 1
        assert count_images(conn, RecordFilter(q='") OR *')) == 0  # no syntax error
        assert count_images(conn, RecordFilter(q='") OR *')) == 0  # no syntax error
        assert count_images(conn, RecordFilter(base_model="sdxl 1.0")) == 1
        with transaction(conn):
            assert mark_removed_except(conn, "collection:5", [2]).removed == [1]
        assert count_images(conn, RecordFilter(collection=5)) == 1
        # Removed from the collection is not removed from the archive.
        assert [r["image_id"] for r in iter_records(conn, RecordFilter(sort="id_asc"))] == [1, 2]


def test_integrity_after_reopen(tmp_path):
    with open_archive(tmp_path) as archive:
        assert archive.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert archive.conn.execute("PRAGMA user_version").fetchone()[0] >= 1
