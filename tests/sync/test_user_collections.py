"""/user/NAME/collections: your own include private ones; another user's are the public ones."""

from __future__ import annotations

import asyncio
import sqlite3

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.api import CivitaiClient, ClientSettings


def test_another_users_collections_are_their_public_ones(tmp_path, sync):
    with running_emulator(EmulatorConfig(seed=6, images=200, site_mode="red")) as emu:
        dataset = emu.dataset
        name = dataset.named["other_username"]
        other = dataset.user_by_username(name)
        public = {
            c.id
            for c in dataset.collections.values()
            if c.owner_id == other.id and c.read == "Public"
        }
        summary = sync(tmp_path, emu, [f"https://civitai.red/user/{name}/collections"], media=False)
        pages = emu.count(procedure="collection.getInfinite")
    assert public and pages >= 1
    assert {t["key"] for t in summary["targets"]} == {f"collection:{i}" for i in public}
    assert summary["ok"]
    conn = sqlite3.connect(tmp_path / "vault.db")
    stored = {r[0] for r in conn.execute("SELECT DISTINCT target_key FROM target_items")}
    assert stored == {f"collection:{i}" for i in public}


def test_own_collections_include_private_ones(tmp_path, sync):
    with running_emulator(EmulatorConfig(seed=6, images=200, site_mode="red")) as emu:
        owner = emu.dataset.owner
        own = {c.id for c in emu.dataset.collections.values() if c.owner_id == owner.id}
        summary = sync(
            tmp_path, emu, [f"https://civitai.com/user/{owner.username}/collections"], media=False
        )
    assert {t["key"] for t in summary["targets"]} == {f"collection:{i}" for i in own}


def test_public_collections_of_an_unknown_user_is_empty(emulator):
    settings = ClientSettings(site="red", base_url=emulator.base_url, rate=0)

    async def run():
        async with CivitaiClient(settings) as client:
            return await client.get_public_collections(123456789)

    assert asyncio.run(run()) == []
