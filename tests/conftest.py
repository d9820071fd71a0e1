"""Fixtures shared by every area's tests.

`emulator`: one session-wide emulator (red site mode, so nothing is clamped).
Tests that change its faults or settings must start their own with
`running_emulator`, never mutate this one.

`synced_archive`: a real archive made by `civitai-vault sync` of the
emulator's demo collection (a few hundred images, videos, hostile text), with
files on disk and generation data embedded. It yields a `SyncedArchive` with
`.path` (the archive folder), `.emu` (the emulator that served it),
`.dataset` (the emulator's dataset, to compute expectations independently),
`.collection_id` and `.summary` (the run summary as a dict). Treat it as
read-only; copy it (`copy_archive`) before changing anything.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DEMO_SEED = 7
DEMO_IMAGES = 600


@dataclass(frozen=True)
class SyncedArchive:
    path: Path
    emu: Any
    dataset: Any
    collection_id: int
    summary: dict[str, Any]


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from civitai_emulator import EmulatorConfig, running_emulator

    with running_emulator(
        EmulatorConfig(seed=DEMO_SEED, images=DEMO_IMAGES, site_mode="red")
    ) as emu:
        yield emu


def sync_into(path: Path, emu: Any, targets: list[str], **options: Any) -> dict[str, Any]:
    """Sync `targets` from `emu` into the archive at `path`; returns the run summary dict."""
    from civitai_vault.api import ClientSettings, CivitaiClient
    from civitai_vault.api.targets import parse_target
    from civitai_vault.archive import open_archive
    from civitai_vault.sync.engine import SyncEngine, SyncOptions

    settings = ClientSettings(
        site="red",
        base_url=emu.base_url,
        image_base_url=emu.image_base_url,
        api_key=emu.api_key,
        rate=0,
        cdn_rate=0,
        concurrency=options.pop("concurrency", 8),
        cdn_concurrency=4,
        retry_base=0.05,
        retry_cap=0.5,
    )

    async def run() -> dict[str, Any]:
        with open_archive(path) as archive:
            async with CivitaiClient(settings) as client:
                options.setdefault("download_workers", 4)
                engine = SyncEngine(client, archive, SyncOptions(**options))
                summary = await engine.run([parse_target(t) for t in targets])
                return summary.as_dict()

    return asyncio.run(run())


@pytest.fixture(scope="session")
def sync() -> Any:
    """`sync(path, emu, targets, **SyncOptions)` -> the run summary dict."""
    return sync_into


@pytest.fixture(scope="session")
def synced_archive(tmp_path_factory: pytest.TempPathFactory, emulator: Any) -> SyncedArchive:
    path = tmp_path_factory.mktemp("synced") / "archive"
    collection_id = emulator.dataset.named["demo_collection"]
    summary = sync_into(path, emulator, [f"collection:{collection_id}"])
    return SyncedArchive(path, emulator, emulator.dataset, collection_id, summary)


def copy_archive(source: SyncedArchive, dest: Path) -> Path:
    """A private copy of the synced archive that a test may change."""
    shutil.copytree(source.path, dest)
    return dest
