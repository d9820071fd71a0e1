"""The library: its public names, the seed's single-image flow, and the documented examples.

The examples in README.md ("Python API") and docs/python-api.md run here as
written, in a fresh Python process pointed at the emulator by the environment
(as a user's script would be); only the ids in them are swapped for ones the
emulator has.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import civitai_vault
from civitai_vault import ImageRecord, Vault
from civitai_vault.records import EXPORT_FIELDS

ROOT = Path(__file__).resolve().parents[2]
SEED_IMAGE_ID = "117165031"
DOC_COLLECTION_ID = "12345"


def test_every_public_name_resolves_and_the_seed_names_are_there() -> None:
    for name in (
        "CivitaiAPI",
        "CivitaiImage",
        "Vault",
        "CivitaiClient",
        "CivitaiError",
        "NotFound",
        "UsageError",
        "ImageRecord",
        "Stats",
        "SyncSummary",
    ):
        assert name in civitai_vault.__all__, name
    namespace: dict[str, Any] = {}
    exec("from civitai_vault import *", namespace)
    missing = [name for name in civitai_vault.__all__ if name not in namespace]
    assert not missing
    assert namespace["Vault"] is Vault


def test_image_record_has_an_attribute_per_export_field_in_order() -> None:
    record = ImageRecord(image_id=5, tags=["cat"])
    assert tuple(record.to_dict()) == EXPORT_FIELDS
    assert record.to_dict()["tags"] == ["cat"] and record.to_dict()["loras"] == []
    assert ImageRecord.from_dict(record.to_dict()) == record


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.S)


def readme_python_api_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Python API")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def run_script(code: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def script_env(emulator: Any, tmp_path: Path) -> dict[str, str]:
    """A script's environment: the emulator as Civitai, signed in, an empty config folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVITAI")}
    env.update(
        CIVITAI_SITE="red",
        CIVITAI_BASE_URL=emulator.base_url,
        CIVITAI_IMAGE_BASE_URL=emulator.image_base_url,
        CIVITAI_TOKEN=emulator.session_token,
        CIVITAI_VAULT_CONFIG_DIR=str(tmp_path / "config"),
        # The emulator needs no politeness: the documented calls run unpaced.
        CIVITAI_VAULT_RATE="0",
        CIVITAI_VAULT_CDN_RATE="0",
    )
    return env


def with_emulator_ids(code: str, emulator: Any) -> str:
    dataset = emulator.dataset
    post_id = dataset.named["post_id"]
    small_collection = dataset.named["public_collection"]
    author = dataset.users[dataset.images[dataset.named["deleted_lora_image"]].user_id].username
    return (
        code.replace(SEED_IMAGE_ID, str(dataset.named["deleted_lora_image"]))
        .replace(f"collection:{DOC_COLLECTION_ID}", f"post:{post_id}")
        .replace(DOC_COLLECTION_ID, str(small_collection))
        .replace('"someone"', json.dumps(author))
    )


@pytest.mark.parametrize("where", ["docs/python-api.md", "README.md"])
def test_documented_examples_run_against_the_emulator(
    where: str, emulator: Any, script_env: dict[str, str], tmp_path: Path
) -> None:
    if where == "README.md":
        blocks = python_blocks(readme_python_api_section())
    else:
        blocks = python_blocks((ROOT / where).read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "a single-image flow and a Vault example"
    code = with_emulator_ids("\n".join(blocks), emulator)
    out = run_script(code, tmp_path, script_env)

    dataset = emulator.dataset
    image = dataset.images[dataset.named["deleted_lora_image"]]
    assert f"Author: {dataset.users[image.user_id].username}" in out
    assert "URL: http" in out and "LoRAs: ['" in out
    archive = tmp_path / "my-archive"
    assert (archive / "vault.db").is_file(), "the Vault example synced into my-archive"
    post_images = dataset.posts[dataset.named["post_id"]].image_ids
    on_disk = list((archive / "media").rglob("*.*"))
    assert len(on_disk) >= len(post_images)


def test_seed_constructor_takes_the_session_token_positionally(
    emulator: Any, script_env: dict[str, str], tmp_path: Path
) -> None:
    """`CivitaiAPI(session_token)` as in the seed's helper code; `api_key=` too."""
    image_id = emulator.dataset.named["r_rated_image"]
    code = f"""
from civitai_vault import CivitaiAPI
for api in (CivitaiAPI({emulator.session_token!r}), CivitaiAPI(api_key={emulator.api_key!r})):
    with api:
        print(api.fetch_basic_info({image_id})["id"], api.client.signed_in)
"""
    env = {k: v for k, v in script_env.items() if k != "CIVITAI_TOKEN"}
    assert run_script(code, tmp_path, env).split() == [str(image_id), "True"] * 2


def test_collection_walk_gives_every_image_once(
    emulator: Any, script_env: dict[str, str], tmp_path: Path
) -> None:
    collection_id = emulator.dataset.named["demo_collection"]
    code = f"""
from civitai_vault import CivitaiAPI
ids = [item["id"] for item in CivitaiAPI.get_instance().iter_collection_images({collection_id})]
print(len(ids), len(set(ids)))
"""
    expected = len(emulator.dataset.collections[collection_id].image_ids)
    assert run_script(code, tmp_path, script_env).split() == [str(expected)] * 2


def test_vault_reads_what_export_writes(synced_archive: Any, tmp_path: Path) -> None:
    vault = Vault(synced_archive.path)
    images = list(vault.images())
    assert images and all(isinstance(image, ImageRecord) for image in images)
    result = vault.export(tmp_path / "all.jsonl")
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert result.count == len(images) == len(lines)
    assert [json.loads(line) for line in lines] == [image.to_dict() for image in images]
    tag = images[0].tags[0]
    tagged = [image.image_id for image in vault.images(tag=tag)]
    assert tagged and tagged == [
        i.image_id for i in images if tag.casefold() in [t.casefold() for t in i.tags]
    ]
    assert vault.stats(tag=tag)["counts"]["images"] == len(tagged)
    assert vault.status()["totals"]["images"] == len(images)


def test_vault_filters_are_checked(synced_archive: Any) -> None:
    vault = Vault(synced_archive.path)
    with pytest.raises(civitai_vault.UsageError, match="since"):
        list(vault.images(since="yesterday"))
    with pytest.raises(civitai_vault.UsageError, match="unknown filter"):
        list(vault.images(colour="red"))  # type: ignore[call-arg]


def test_vault_takes_the_cli_site_flags_and_refuses_others(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "a", site="red", base_url="http://127.0.0.1:9", token="t")
    settings = vault.settings
    assert (settings.site, settings.base_url, settings.token) == ("red", "http://127.0.0.1:9", "t")
    assert settings.sources["site"] == "flag"
    with pytest.raises(TypeError, match="'sight'"):
        Vault(tmp_path / "a", sight="red")  # type: ignore[call-arg]
