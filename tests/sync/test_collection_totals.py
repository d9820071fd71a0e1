"""Planning learns a Public collection's size (collection.getInfinite's `_count.items`)
for the progress, at the cost of at most one request for all collections of a run."""

from __future__ import annotations

import asyncio
from typing import Any

from civitai_vault.api import CivitaiClient, ClientSettings
from civitai_vault.sources import SyncJob, parse_target
from civitai_vault.sync.plan import plan_jobs


def _plan(emu: Any, *targets: str, signed_in: bool = True) -> tuple[list[SyncJob], int]:
    """The jobs `targets` plan into, and the collection.getInfinite requests it took."""
    settings = ClientSettings(
        site="red", base_url=emu.base_url, api_key=emu.api_key if signed_in else None, rate=0
    )
    before = emu.count(procedure="collection.getInfinite")

    async def run() -> list[SyncJob]:
        async with CivitaiClient(settings) as client:
            return await plan_jobs(client, [parse_target(t) for t in targets])

    jobs = asyncio.run(run())
    return jobs, emu.count(procedure="collection.getInfinite") - before


def _expected(jobs: list[SyncJob]) -> dict[int | None, int | None]:
    return {job.source_id: job.expected_items for job in jobs}


def test_public_collections_get_their_size_in_one_request_private_ones_none(emulator):
    named, collections = emulator.dataset.named, emulator.dataset.collections
    public, other_public = named["public_collection"], named["others_public_collection"]
    private, unlisted = named["demo_collection"], named["unlisted_collection"]
    jobs, asked = _plan(
        emulator, *(f"collection:{i}" for i in (public, other_public, private, unlisted))
    )
    assert asked == 1  # one collection.getInfinite {ids} for every Public one of the run
    assert _expected(jobs) == {
        public: len(collections[public].image_ids),
        other_public: len(collections[other_public].image_ids),
        private: None,
        unlisted: None,
    }


def test_a_run_of_private_collections_asks_nothing_more(emulator):
    jobs, asked = _plan(emulator, f"collection:{emulator.dataset.named['demo_collection']}")
    assert asked == 0 and _expected(jobs) == {emulator.dataset.named["demo_collection"]: None}


def test_another_users_collections_come_counted_with_their_listing(emulator):
    name = emulator.dataset.named["other_username"]
    jobs, asked = _plan(emulator, f"https://civitai.red/user/{name}/collections")
    assert asked == 1  # the listing of their collections itself, nothing after it
    counted = {j.source_id: j.expected_items for j in jobs if j.walk == "images"}
    assert counted and all(
        n == len(emulator.dataset.collections[i].image_ids) for i, n in counted.items()
    )


def test_a_filtered_or_post_collection_is_not_counted(emulator):
    named = emulator.dataset.named
    public = named["public_collection"]
    jobs, asked = _plan(emulator, f"https://civitai.red/collections/{public}?types=video")
    # A filter lists fewer than the collection holds: the count would only mislead.
    assert asked == 0 and _expected(jobs) == {public: None}
    jobs, asked = _plan(emulator, f"collection:{named['post_collection']}")
    assert asked == 0 and _expected(jobs) == {named["post_collection"]: None}


def test_the_count_is_only_for_progress_a_failure_to_get_it_changes_nothing():
    from civitai_emulator import EmulatorConfig, Faults, running_emulator

    faults = Faults(status_500=1.0, procedures={"collection.getInfinite"})
    config = EmulatorConfig(seed=6, images=60, site_mode="red", faults=faults)
    with running_emulator(config) as emu:
        public = emu.dataset.named["public_collection"]
        settings = ClientSettings(
            site="red", base_url=emu.base_url, api_key=emu.api_key, rate=0, max_retries=0
        )

        async def run() -> list[SyncJob]:
            async with CivitaiClient(settings) as client:
                return await plan_jobs(client, [parse_target(f"collection:{public}")])

        jobs = asyncio.run(run())
        assert emu.count(procedure="collection.getInfinite") == 1  # it was asked, and failed
    assert [(j.source_id, j.error, j.expected_items) for j in jobs] == [(public, None, None)]
