"""Values no archive can hold, and text no encoder can write, never stop an archive.

A proxy in front of the emulator serves what JavaScript really sends: a ComfyUI
seed of 2^64-1, a lone UTF-16 surrogate (a string cut inside an emoji) in a
prompt and in a file name, and integers of 2^63 and more where no real value
can be that large (a width, an image id, an NSFW level, a model version id).
The real command syncs through it twice: the seed and the broken text are
archived, each impossible value fails its own image with its reason, and
everything else is archived, on the first run and on every later one.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import duckdb
import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.media.png import read_text_chunks

from .conftest import Cli, cli_env, sync_args
from .servers import HostileServer, rewriting_proxy

COMFY_SEED = 2**64 - 1
HUGE = 2**64
BROKEN = "a cat under cherry blossoms \ud83d"
SOUND = "a cat under cherry blossoms \ufffd"


def _ask(emu: Any, procedure: str, query: dict[str, Any]) -> Any:
    answer = httpx.get(
        f"{emu.base_url}/api/trpc/{procedure}",
        params={"input": json.dumps({"json": query})},
        headers={"Authorization": f"Bearer {emu.api_key}"},
    )
    return answer.json()["result"]["data"]["json"]


def _pick_images(emu: Any, collection: int) -> tuple[int, dict[str, int]]:
    """The collection's size, and the images to spoil: each with what its spoiling needs."""
    listing = {"collectionId": collection, "limit": 200, "sort": "Newest", "browsingLevel": 31}
    items = _ask(emu, "image.getInfinite", {**listing, "period": "AllTime"})["items"]
    with_meta = [
        item
        for item in items
        if _ask(emu, "image.getGenerationData", {"id": item["id"]}).get("resources")
    ]
    pngs = [item["id"] for item in with_meta if (item.get("name") or "").endswith(".png")]
    meta = [item["id"] for item in with_meta if item["id"] not in pngs[:2]]
    rest = [item["id"] for item in items if item["id"] not in (*pngs[:2], meta[0])]
    picks = {"seed": pngs[0], "prompt": pngs[1], "version": meta[0]}
    picks.update(zip(("width", "nsfw", "name", "id"), rest, strict=False))
    return len(items), picks


@pytest.fixture(scope="module")
def hostile_values(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("values")
    config = EmulatorConfig(seed=52, images=60, site_mode="red", devalue_share=0.0)
    with running_emulator(config) as emu:
        collection = emu.dataset.named["demo_collection"]
        listed, picks = _pick_images(emu, collection)

        def spoil(procedure: str, data: Any) -> None:
            if procedure == "image.getInfinite":
                for item in data["items"]:
                    if item["id"] == picks["width"]:
                        item["width"] = HUGE
                    elif item["id"] == picks["nsfw"]:
                        item["nsfwLevel"] = 2**63
                    elif item["id"] == picks["name"]:
                        item["name"] = "\udc00broken.png"
                        item["user"]["username"] = "cut\ud83d"
                    elif item["id"] == picks["id"]:
                        item["id"] = 2**63 + 7
            elif procedure == "image.getGenerationData" and data.get("meta"):
                image_id = data["resources"][0]["imageId"] if data.get("resources") else None
                if image_id == picks["seed"]:
                    data["meta"]["seed"] = COMFY_SEED
                elif image_id == picks["prompt"]:
                    data["meta"]["prompt"] = BROKEN
                elif image_id == picks["version"]:
                    data["resources"][0]["modelVersionId"] = HUGE

        with HostileServer(rewriting_proxy(emu, spoil)) as proxy:
            cli = Cli(cli_env(emu, root / "config", CIVITAI_BASE_URL=proxy.url))
            target = f"collection:{collection}"
            first = cli(*sync_args(root / "archive", target, "--json"))
            second = cli(*sync_args(root / "archive", target, "--json"))
            export = cli("export", "--archive", str(root / "archive"), "--format", "jsonl")
            csv_export = cli("export", "--archive", str(root / "archive"), "--format", "csv")
            parquet_export = cli(
                "export", "--archive", str(root / "archive"), "-o", str(root / "all.parquet")
            )
    return {
        "root": root,
        "archive": root / "archive",
        "first": first,
        "second": second,
        "export": export,
        "csv": csv_export,
        "parquet": parquet_export,
        "parquet_path": root / "all.parquet",
        "picks": picks,
        "listed": listed,
    }


def _rows(archive: Any, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(archive / "vault.db")
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_impossible_value_fails_its_image_alone_on_every_run(hostile_values, run):
    done = hostile_values[run]
    assert done.returncode == 1, done.stderr  # loud: four images could not be archived
    assert "Traceback" not in done.stderr
    (target,) = json.loads(done.stdout)["targets"]
    assert target["complete"]
    assert target["failed"] == 4, target["failure_reasons"]
    reasons = list(target["failure_reasons"])
    assert any(f"width {HUGE} is out of range" in r for r in reasons), reasons
    assert any(f"nsfw level {2**63} is out of range" in r for r in reasons), reasons
    assert any(f"image id {2**63 + 7} is out of range" in r for r in reasons), reasons
    assert any(f"version id {HUGE} is out of range" in r for r in reasons), reasons
    # Everything else is listed and archived, the good images after the bad ones included.
    assert target["listed"] == hostile_values["listed"] - 3


def test_everything_else_is_archived_whole(hostile_values):
    archive, picks = hostile_values["archive"], hostile_values["picks"]
    failed_listing = {picks["width"], picks["nsfw"]}
    images = _rows(archive, "SELECT id, details_at FROM images")
    ids = {row[0] for row in images}
    assert failed_listing.isdisjoint(ids) and picks["id"] not in ids
    with_details = {row[0] for row in images if row[1] is not None}
    assert with_details == ids - {picks["version"]}
    files = {row[0] for row in _rows(archive, "SELECT image_id FROM files")}
    assert files == ids  # the image whose details failed still has its file
    failures = _rows(archive, "SELECT image_id, stage, reason FROM failures ORDER BY image_id")
    assert {(i, s) for i, s, _ in failures} == {
        (picks["width"], "listing"),
        (picks["nsfw"], "listing"),
        (picks["version"], "details"),
    }


def test_a_64_bit_seed_is_kept_exactly_everywhere(hostile_values):
    archive, seed_image = hostile_values["archive"], hostile_values["picks"]["seed"]
    records = {
        r["image_id"]: r for r in map(json.loads, hostile_values["export"].stdout.split("\n")[:-1])
    }
    assert records[seed_image]["seed"] == COMFY_SEED
    assert f",{COMFY_SEED}," in hostile_values["csv"].stdout
    ((path,),) = _rows(archive, "SELECT path FROM files WHERE image_id = ?", seed_image)
    parameters = read_text_chunks((archive / path).read_bytes())["parameters"]
    assert f"Seed: {COMFY_SEED}," in parameters
    ((raw,),) = _rows(archive, "SELECT generation_json FROM images WHERE id = ?", seed_image)
    assert json.loads(raw)["meta"]["seed"] == COMFY_SEED


def test_a_64_bit_seed_is_kept_exactly_in_parquet(hostile_values):
    seed_image = hostile_values["picks"]["seed"]
    assert hostile_values["parquet"].returncode == 0, hostile_values["parquet"].stderr
    path = hostile_values["parquet_path"]
    rows = {row["image_id"]: row for row in pq.read_table(path).to_pylist()}
    # int64 cannot hold it: `seed` is null there, and only there, `seed_exact` has it.
    assert (rows[seed_image]["seed"], rows[seed_image]["seed_exact"]) == (None, str(COMFY_SEED))
    for image_id, row in rows.items():
        if image_id != seed_image:
            assert row["seed_exact"] == (None if row["seed"] is None else str(row["seed"]))
    assert any(row["seed"] is not None for row in rows.values())
    # What a pandas or DuckDB user writes to get the exact number back.
    frame = pd.read_parquet(path)
    exact = frame.set_index("image_id")["seed_exact"]
    assert int(exact[seed_image]) == COMFY_SEED
    ((seed,),) = duckdb.sql(
        f"SELECT seed_exact::UBIGINT FROM read_parquet('{path}') WHERE image_id = {seed_image}"
    ).fetchall()
    assert seed == COMFY_SEED


def test_broken_text_is_archived_with_the_raw_json_kept(hostile_values):
    archive, picks = hostile_values["archive"], hostile_values["picks"]
    ((prompt, raw),) = _rows(
        archive, "SELECT prompt, generation_json FROM images WHERE id = ?", picks["prompt"]
    )
    assert prompt == SOUND
    assert json.loads(raw)["meta"]["prompt"] == BROKEN  # exactly what Civitai sent
    found = _rows(archive, "SELECT rowid FROM images_fts WHERE images_fts MATCH 'blossoms'")
    assert (picks["prompt"],) in found
    ((name, author, listing),) = _rows(
        archive, "SELECT name, author, listing_json FROM images WHERE id = ?", picks["name"]
    )
    assert name == "\ufffdbroken.png" and author == "cut\ufffd"
    assert json.loads(listing)["user"]["username"] == "cut\ud83d"
    records = [json.loads(line) for line in hostile_values["export"].stdout.splitlines()]
    assert any(r["prompt"] == SOUND for r in records)
