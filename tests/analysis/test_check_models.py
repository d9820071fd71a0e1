"""`civitai-vault check-models` against the emulator: classes, links, the cache and its TTL.

The truth is the emulator's dataset: a version whose model or version status is
"Deleted" is deleted, "Unpublished" unpublished, a version id the server does
not know is not_found. Request counts come from the emulator's own log.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import copy_archive
from typer.testing import CliRunner

from civitai_emulator import EmulatorConfig, Faults, running_emulator
from civitai_vault.analysis.availability import check_models
from civitai_vault.api import CivitaiClient
from civitai_vault.api.settings import ClientSettings
from civitai_vault.archive import open_archive
from civitai_vault.archive.schema import DB_NAME
from civitai_vault.cli import app

PROCEDURE = "modelVersion.getById"


def truth(dataset: Any, version_id: int) -> str:
    version = dataset.model_versions.get(version_id)
    if version is None or version_id in dataset.missing_version_ids:
        return "not_found"
    statuses = {version.status, version.model_status}
    if "Deleted" in statuses:
        return "deleted"
    return "unpublished" if "Unpublished" in statuses else "available"


def used_versions(synced_archive: Any) -> dict[int, set[int]]:
    dataset = synced_archive.dataset
    used: dict[int, set[int]] = {}
    for image_id in dataset.collections[synced_archive.collection_id].image_ids:
        for ref in dataset.images[image_id].resources:
            used.setdefault(ref.model_version_id, set()).add(image_id)
    return used


@pytest.fixture
def archive(synced_archive, tmp_path) -> Path:
    return copy_archive(synced_archive, tmp_path / "archive")


@pytest.fixture
def check(synced_archive, archive, tmp_path):
    """Run check-models on the copy against the session emulator; returns (json, requests)."""
    emu = synced_archive.emu

    def run(*args: str, expect_exit: int = 0) -> tuple[Any, int, str]:
        before = emu.count(procedure=PROCEDURE)
        result = CliRunner().invoke(
            app,
            [
                "check-models",
                "--archive",
                str(archive),
                "--site",
                "red",
                "--base-url",
                emu.base_url,
                "--api-key",
                emu.api_key,
                "--rate",
                "0",
                *args,
            ],
            env={"CIVITAI_VAULT_CONFIG_DIR": str(tmp_path / "config"), "COLUMNS": "200"},
        )
        assert result.exit_code == expect_exit, result.output
        asked = emu.count(procedure=PROCEDURE) - before
        payload = json.loads(result.stdout) if "--json" in args else None
        return payload, asked, result.stdout

    return run


def test_versions_are_classed_as_the_emulator_says(check, synced_archive):
    payload, _, _ = check("--json", "--refresh")
    dataset = synced_archive.dataset
    used = used_versions(synced_archive)
    got = {v["model_version_id"]: v for v in payload["versions"]}
    assert set(got) == set(used)
    for version_id, entry in got.items():
        assert entry["availability"] == truth(dataset, version_id), version_id
        assert entry["images"] == len(used[version_id])
        version = dataset.model_versions.get(version_id)
        if version is not None:
            model = version.model_id
            assert entry["civitai_url"] == (
                f"https://civitai.com/models/{model}?modelVersionId={version_id}"
            )
            gone = entry["availability"] != "available"
            assert entry["archive_url"] == (
                f"https://civitaiarchive.com/models/{model}" if gone else None
            )
    assert payload["counts"] == {
        **dict.fromkeys(("available", "deleted", "unpublished", "not_found", "unchecked"), 0),
        **Counter(truth(dataset, v) for v in used),
    }
    assert payload["failures"] == []


def test_named_cases(check, synced_archive):
    """The emulator's deleted, unpublished and missing resources, as the images used them."""
    payload, _, _ = check("--json")
    dataset = synced_archive.dataset
    by_id = {v["model_version_id"]: v for v in payload["versions"]}
    for role, expected in (
        ("deleted_lora_image", "deleted"),
        ("deleted_checkpoint_image", "deleted"),
        ("unpublished_resource_image", "unpublished"),
        ("missing_resource_image", "not_found"),
    ):
        image = dataset.images[dataset.named[role]]
        classes = {by_id[ref.model_version_id]["availability"] for ref in image.resources}
        assert expected in classes, role


def test_the_cache_answers_within_its_time_to_live(check, synced_archive):
    used = used_versions(synced_archive)
    # Sync cached every version it met, moments ago: nothing to ask.
    payload, asked, _ = check("--json")
    assert (asked, payload["looked_up"]) == (0, 0)
    # --refresh asks for every version, once.
    payload, asked, _ = check("--json", "--refresh")
    assert asked == payload["looked_up"] == len(used)
    # ...and then the cache is fresh again.
    _, asked, _ = check("--json")
    assert asked == 0


def test_stale_answers_are_asked_again(check, archive):
    stale = datetime.now(UTC) - timedelta(days=8)
    with sqlite3.connect(archive / DB_NAME) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM model_versions ORDER BY id LIMIT 3")]
        conn.executemany(
            "UPDATE model_versions SET checked_at = ? WHERE id = ?",
            [(stale.isoformat(), version_id) for version_id in ids],
        )
    payload, asked, _ = check("--json")
    assert asked == payload["looked_up"] == 3
    _, asked, _ = check("--json", "--max-age", "10")  # 8 days old is fresh for 10 days
    assert asked == 0


def test_stats_shows_what_check_models_found(check, archive):
    payload, _, _ = check("--json", "--refresh")
    result = CliRunner().invoke(app, ["stats", "--json", "--archive", str(archive)])
    assert result.exit_code == 0, result.output
    models = json.loads(result.stdout)["models"]
    assert models["by_availability"] == payload["counts"]
    gone = {v["model_version_id"] for v in payload["versions"] if v["availability"] != "available"}
    assert {g["model_version_id"] for g in models["gone"]} == gone


def test_the_table_names_gone_models_with_their_archive_links(check, synced_archive):
    _, _, output = check()
    dataset = synced_archive.dataset
    deleted = [
        version
        for version_id, version in dataset.model_versions.items()
        if version_id in used_versions(synced_archive) and truth(dataset, version_id) == "deleted"
    ]
    assert deleted
    for version in deleted:
        assert version.model_name in output
        assert f"https://civitaiarchive.com/models/{version.model_id}" in output
    assert "model versions used" in output


def test_lookups_that_fail_are_reported_and_leave_the_cache_alone(synced_archive, tmp_path):
    """A server that keeps failing: every version is reported, none is cached as an answer."""
    archive = copy_archive(synced_archive, tmp_path / "archive")
    config = EmulatorConfig(seed=7, images=600, site_mode="red")
    with running_emulator(config) as emu, open_archive(archive, create=False) as opened:
        emu.set_faults(Faults(status_503=1.0, procedures=frozenset({PROCEDURE})))
        before = dict(opened.conn.execute("SELECT id, checked_at FROM model_versions").fetchall())
        settings = ClientSettings(
            site="red", base_url=emu.base_url, api_key=emu.api_key, rate=0, max_retries=0
        )

        async def run() -> Any:
            async with CivitaiClient(settings) as client:
                return await check_models(opened.conn, client, refresh=True)

        result = asyncio.run(run())
        after = dict(opened.conn.execute("SELECT id, checked_at FROM model_versions").fetchall())
    assert set(result.failures) == set(before)
    assert all(reason for reason in result.failures.values())
    assert after == before


def test_server_errors_that_pass_are_retried(synced_archive, tmp_path):
    archive = copy_archive(synced_archive, tmp_path / "archive")
    config = EmulatorConfig(seed=7, images=600, site_mode="red")
    with running_emulator(config) as emu:
        emu.set_faults(Faults(status_500=1.0, procedures=frozenset({PROCEDURE}), limit=2))
        result = CliRunner().invoke(
            app,
            [
                *("check-models", "--json", "--refresh", "--archive", str(archive)),
                *("--site", "red", "--base-url", emu.base_url, "--api-key", emu.api_key),
                *("--rate", "0"),
            ],
            env={"CIVITAI_VAULT_CONFIG_DIR": str(tmp_path / "config")},
        )
        asked = emu.count(procedure=PROCEDURE)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["failures"] == []
    assert asked == payload["looked_up"] + 2  # two failed tries, asked again


def test_no_archive_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(
        app,
        ["check-models", "--archive", str(tmp_path / "none"), "--base-url", "http://127.0.0.1:9"],
        env={"CIVITAI_VAULT_CONFIG_DIR": str(tmp_path / "config")},
    )
    assert result.exit_code == 1
    assert "no archive at" in result.output
    assert "Traceback" not in result.output


def test_a_bad_site_is_a_usage_error(archive, tmp_path):
    result = CliRunner().invoke(
        app,
        ["check-models", "--archive", str(archive), "--site", "org"],
        env={"CIVITAI_VAULT_CONFIG_DIR": str(tmp_path / "config")},
    )
    assert result.exit_code == 2
    assert "site" in result.output
    assert "Traceback" not in result.output
