"""The archive stores an image once and gives back exactly the export record it was given."""

from __future__ import annotations

import json

from civitai_vault.archive import open_archive
from civitai_vault.archive.queries import RecordFilter, count_images, get_record, iter_records
from civitai_vault.archive.writer import (
    FileRow,
    ResourceRow,
    TagRow,
    mark_listed,
    mark_removed_except,
    store_details,
    store_file,
    store_listing,
    transaction,
    upsert_target,
)
from civitai_vault.records import EXPORT_FIELDS, empty_record


def sample_record(image_id: int, **overrides):
    record = empty_record()
    record.update(
        image_id=image_id,
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
    record.update(overrides)
    return record


def store(conn, record, tags=(), loras=()):
    resources = [ResourceRow(kind="checkpoint", name=record["model"], model_version_id=290640)]
    resources += [
        ResourceRow(kind="lora", name=n, weight=w, model_version_id=v) for n, w, v in loras
    ]
    store_listing(conn, record, {"id": record["image_id"]})
    store_details(conn, record, resources=resources, tags=list(tags), raw={"generation": {}})


def test_record_round_trips_through_the_database(tmp_path):
    with open_archive(tmp_path) as archive, transaction(archive.conn) as conn:
        upsert_target(conn, "collection:5", "collection", "5", "Favourites")
        record = sample_record(101)
        store(
            conn,
            record,
            tags=[TagRow(1, "cat", 3.0), TagRow(2, "anime", 9.0)],
            loras=[("detail tweaker", 0.8, 11), ("cjk 風", -0.5, 12)],
        )
        mark_listed(conn, "collection:5", [101])
        store_file(
            conn,
            101,
            FileRow("alice/101.png", 10, "ab" * 32, "image/png", "image", 9, "cd" * 32, True),
        )
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
    with open_archive(tmp_path) as archive:
        conn = archive.conn
        with transaction(conn):
            upsert_target(conn, "collection:5", "collection", "5", None)
            store(
                conn, sample_record(1, author="bob", base_model="SDXL 1.0"), tags=[TagRow(1, "cat")]
            )
            store(conn, sample_record(2, prompt="a dog in the rain"), loras=[("rainy", 1.0, 3)])
            mark_listed(conn, "collection:5", [1, 2])
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
