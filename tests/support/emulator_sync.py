"""An archive synced from the emulator's dataset, by the sync engine in this process.

`sync_from_emulator(path, emu, targets)` is what `civitai-vault sync` would do
against `emu` without pacing; `run_sync(path, settings, targets)` takes the
client settings (a proxy in front of the emulator, say). The engine's loop runs
in a thread of its own, so a sync works whatever the calling thread is running
(Playwright's loop, for one).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from civitai_vault.api import CivitaiClient, ClientSettings
from civitai_vault.archive import open_archive
from civitai_vault.sources import Target, parse_target
from civitai_vault.sync.engine import SyncEngine, SyncOptions
from civitai_vault.sync.normalize import post_row

T = TypeVar("T")

# The columns of the archive's posts table that come from Civitai.
POST_COLUMNS = ("user_id", "title", "published_at", "nsfw_level")


def emulator_settings(emu: Any, **overrides: Any) -> ClientSettings:
    """Client settings for `emu`'s red site, unpaced, with quick retries."""
    values: dict[str, Any] = {
        "site": "red",
        "base_url": emu.base_url,
        "image_base_url": emu.image_base_url,
        "api_key": emu.api_key,
        "rate": 0,
        "cdn_rate": 0,
        "concurrency": 8,
        "batch_size": 50,
        "calls_per_second": 0,
        "cdn_concurrency": 4,
        "retry_base": 0.05,
        "retry_cap": 0.5,
    }
    values.update(overrides)
    return ClientSettings(**values)


def sync_from_emulator(
    path: Path, emu: Any, targets: Sequence[str], **options: Any
) -> dict[str, Any]:
    """Sync `targets` from `emu` into the archive at `path`; returns the run summary dict.

    `options` are SyncOptions (`download_workers` defaults to 4), plus
    `concurrency` and `batch_size` for the client.
    """
    client = {name: options.pop(name) for name in ("concurrency", "batch_size") if name in options}
    options.setdefault("download_workers", 4)
    return run_sync(path, emulator_settings(emu, **client), targets, SyncOptions(**options))


def run_sync(
    path: Path,
    settings: ClientSettings,
    targets: Sequence[str | Target],
    options: SyncOptions | None = None,
) -> dict[str, Any]:
    """Sync `targets` (as typed, or parsed) with `settings` into the archive at `path`;
    returns the summary dict."""
    parsed = [parse_target(t) if isinstance(t, str) else t for t in targets]

    async def run() -> dict[str, Any]:
        with open_archive(path) as archive:
            async with CivitaiClient(settings) as client:
                engine = SyncEngine(client, archive, options or SyncOptions())
                summary = await engine.run(parsed)
                return summary.as_dict()

    return run_in_own_loop(run())


def run_in_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coroutine)` in a new thread; its exception, if any, is raised here."""
    outcome: dict[str, Any] = {}

    def main() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=main, name="sync-loop")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def post_get_columns(emu: Any, post_ids: set[int]) -> dict[int, tuple[Any, ...]]:
    """Each post's `POST_COLUMNS` as `post.get` gives them, asked of `emu` directly, by id."""

    async def ask() -> dict[int, tuple[Any, ...]]:
        async with CivitaiClient(emulator_settings(emu)) as client:
            found = {}
            for post_id in sorted(post_ids):
                row = post_row(await client.get_post(post_id))
                found[post_id] = tuple(row[k] for k in POST_COLUMNS)
            return found

    return run_in_own_loop(ask())
