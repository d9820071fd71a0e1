"""Exports of an archive synced from the emulator, read by pandas and DuckDB, agree with the
archive's own records and with the emulator's dataset (computed here, independently)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from civitai_vault.archive import open_archive
from civitai_vault.archive.queries import RecordFilter, count_images, iter_records
from civitai_vault.export import split_list
from civitai_vault.records import EXPORT_FIELDS


@pytest.fixture(scope="module")
def exports(synced_archive, tmp_path_factory, cli_command) -> dict[str, Path]:
    """The synced archive exported once in every format, by the real command."""
    import subprocess

    folder = tmp_path_factory.mktemp("synced-exports")
    paths = {}
    for fmt in ("json", "jsonl", "csv", "parquet"):
        paths[fmt] = folder / f"archive.{fmt}"
        done = subprocess.run(
            [*cli_command, "export", "--archive", str(synced_archive.path), "-o", str(paths[fmt])],
            capture_output=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
    return paths


@pytest.fixture(scope="module")
def archive_records(synced_archive) -> list[dict[str, Any]]:
    with open_archive(synced_archive.path, create=False) as archive:
        return list(iter_records(archive.conn))


def dataset_expectation(dataset: Any, image_id: int) -> dict[str, Any]:
    """What the emulator's dataset says an exported image must carry."""
    image = dataset.images[image_id]
    meta = None if image.hide_meta else image.meta
    ranked = sorted(image.tag_scores.items(), key=lambda item: -item[1])
    return {
        "image_id": image_id,
        "uuid": image.uuid,
        "type": image.type,
        "width": image.width,
        "height": image.height,
        "nsfw_level": image.nsfw_level,
        "post_id": image.post_id,
        "author": dataset.users[image.user_id].username,
        "prompt": meta.get("prompt") if meta else None,
        "seed": meta.get("seed") if meta else None,
        "tag_scores": [(dataset.tags[tag_id].name, score) for tag_id, score in ranked],
        "created_at": image.created_at,
    }


def check_against_dataset(row: dict[str, Any], expected: dict[str, Any]) -> None:
    for name in ("image_id", "uuid", "type", "width", "height", "nsfw_level", "post_id"):
        assert row[name] == expected[name], name
    assert row["author"] == expected["author"]
    assert row["prompt"] == expected["prompt"]
    assert row["seed"] == expected["seed"]
    # Highest score first; equal scores may come in any order.
    scores = dict(expected["tag_scores"])
    assert sorted(row["tags"]) == sorted(scores)
    assert [scores[tag] for tag in row["tags"]] == sorted(scores.values(), reverse=True)


def test_every_image_of_the_collection_is_exported(synced_archive, exports, archive_records):
    collection = synced_archive.dataset.collections[synced_archive.collection_id]
    with open_archive(synced_archive.path, create=False) as archive:
        assert count_images(archive.conn, RecordFilter()) == len(collection.image_ids)
    assert sorted(r["image_id"] for r in archive_records) == sorted(collection.image_ids)
    assert json.loads(exports["json"].read_text(encoding="utf-8")) == archive_records
    with exports["jsonl"].open(encoding="utf-8") as lines:
        assert [json.loads(line) for line in lines] == archive_records


def test_csv_in_pandas_matches_the_dataset(synced_archive, exports, archive_records):
    frame = pd.read_csv(exports["csv"], dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(EXPORT_FIELDS)
    assert len(frame) == len(archive_records)
    typed = pd.read_csv(exports["csv"])
    for (_, cells), (_, numbers), record in zip(
        frame.iterrows(), typed.iterrows(), archive_records, strict=True
    ):
        row = {
            **{name: cells[name] or None for name in ("uuid", "type", "author", "prompt")},
            **{name: int(numbers[name]) for name in ("image_id", "width", "height", "post_id")},
            "nsfw_level": int(numbers["nsfw_level"]),
            "seed": None if pd.isna(numbers["seed"]) else int(numbers["seed"]),
            "tags": split_list(cells["tags"]),
        }
        check_against_dataset(row, dataset_expectation(synced_archive.dataset, row["image_id"]))
        assert json.loads(cells["loras"]) == record["loras"]
        assert [int(c) for c in split_list(cells["collections"])] == record["collections"]
        assert cells["raw_meta_json"] == (record["raw_meta_json"] or "")


def test_csv_module_reads_every_cell_back(exports, archive_records):
    with exports["csv"].open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row, record in zip(rows, archive_records, strict=True):
        for name in ("name", "prompt", "negative_prompt", "file_path", "sha256"):
            assert row[name] == (record[name] or ""), name


def test_parquet_in_pandas_matches_the_dataset(synced_archive, exports, archive_records):
    frame = pd.read_parquet(exports["parquet"])
    assert len(frame) == len(archive_records)
    assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
    for row, record in zip(frame.to_dict("records"), archive_records, strict=True):
        # pandas shows a missing string or number as NaN.
        row = {k: None if isinstance(v, float) and pd.isna(v) else v for k, v in row.items()}
        row["tags"] = list(row["tags"])
        row["seed"] = None if row["seed"] is None else int(row["seed"])
        expected = dataset_expectation(synced_archive.dataset, row["image_id"])
        check_against_dataset(row, expected)
        assert row["created_at"].to_pydatetime() == expected["created_at"]
        assert [dict(lora) for lora in row["loras"]] == record["loras"]
        assert list(row["collections"]) == record["collections"]


def test_parquet_in_duckdb(synced_archive, exports, archive_records):
    path = exports["parquet"]
    count, with_loras, videos = duckdb.sql(
        f"""SELECT count(*), count(*) FILTER (WHERE len(loras) > 0),
                   count(*) FILTER (WHERE type = 'video')
            FROM read_parquet('{path}')"""
    ).fetchall()[0]
    assert count == len(archive_records)
    assert with_loras == sum(1 for r in archive_records if r["loras"])
    assert videos == sum(1 for r in archive_records if r["type"] == "video")

    hostile_id = synced_archive.dataset.named["hostile_image"]
    prompt, first_tag = duckdb.sql(
        f"SELECT prompt, tags[1] FROM read_parquet('{path}') WHERE image_id = {hostile_id}"
    ).fetchall()[0]
    expected = dataset_expectation(synced_archive.dataset, hostile_id)
    assert prompt == expected["prompt"]
    # Highest score first; tags that share the top score may come in either order.
    top = expected["tag_scores"][0][1]
    assert first_tag in {name for name, score in expected["tag_scores"] if score == top}


def test_filters_on_the_synced_archive(synced_archive, archive_records, cli):
    hostile_id = synced_archive.dataset.named["hostile_image"]
    hostile = next(r for r in archive_records if r["image_id"] == hostile_id)
    lora_name = next(r["loras"][0]["name"] for r in archive_records if r["loras"])
    cases = {
        ("--author", hostile["author"]): {
            r["image_id"] for r in archive_records if r["author"] == hostile["author"]
        },
        ("--tag", hostile["tags"][0]): {
            r["image_id"] for r in archive_records if hostile["tags"][0] in r["tags"]
        },
        ("--lora", lora_name): {
            r["image_id"] for r in archive_records if lora_name in [x["name"] for x in r["loras"]]
        },
        ("--collection", str(synced_archive.collection_id)): {
            r["image_id"] for r in archive_records
        },
    }
    for options, expected_ids in cases.items():
        done = cli("export", "--archive", str(synced_archive.path), "-f", "jsonl", *options)
        assert done.returncode == 0, done.stderr.decode()
        got = {json.loads(line)["image_id"] for line in done.stdout.splitlines()}
        assert got == expected_ids, options
        assert expected_ids
