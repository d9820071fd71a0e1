"""One `civitai-vault sync`: settings in, a run summary out."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from civitai_vault.api import CivitaiClient, ClientSettings
from civitai_vault.archive import Archive, open_archive, remove_new_archive
from civitai_vault.archive.lock import Holder
from civitai_vault.archive.schema import DB_NAME
from civitai_vault.archive.verify import verify_files
from civitai_vault.config import CredentialStore, Settings
from civitai_vault.sources import Target
from civitai_vault.sync.engine import SyncEngine, SyncOptions
from civitai_vault.sync.progress import Reporter
from civitai_vault.sync.summary import RunSummary

FILES_PER_CDN_SLOT = 6


@dataclass(frozen=True)
class Pace:
    """How hard a run may press the server; the defaults are the client's polite ones."""

    rate: float | None = None  # API (HTTP) requests per second, 0 = unlimited
    concurrency: int | None = None
    cdn_rate: float | None = None
    calls_per_second: float | None = None  # procedure calls, inside batches too
    batch_size: int | None = None  # calls per batched request, 1 = unbatched

    def overrides(self) -> dict[str, float | int]:
        values = {
            "rate": self.rate,
            "concurrency": self.concurrency,
            "cdn_rate": self.cdn_rate,
            "cdn_concurrency": self.concurrency,
            "calls_per_second": self.calls_per_second,
            "batch_size": self.batch_size,
        }
        return {k: v for k, v in values.items() if v is not None}


async def run_sync(
    settings: Settings,
    targets: list[Target],
    options: SyncOptions,
    pace: Pace,
    reporter: Reporter,
    store: CredentialStore | None = None,
    *,
    wait: float | None = 0,
    on_wait: Callable[[Holder], None] | None = None,
) -> RunSummary:
    """Sync `targets` into the settings' archive.

    Another writer holding the archive is waited for up to `wait` seconds (None:
    as long as it takes, `on_wait` told for whom), then ArchiveBusy names it.
    With `options.repair`, every file is verified first; without targets, the
    images whose files are broken are the targets.

    A session cookie Civitai upgrades or rolls is saved to `store` when given,
    else to the config file the token came from (never over a token given by
    flag or environment).
    """
    saving = {"on_session_cookie": store.session_saver(settings.origin)} if store else {}
    client_settings = settings.client_settings(**pace.overrides(), **saving)
    # Batches of details in flight: a few more than the client's slots, so a slot
    # never waits for the engine to form the next batch. Files in flight: six per
    # CDN slot, so while some are checked and placed (on threads that wait their
    # turn for the interpreter lock) a slot always has the next file to fetch.
    options = dataclasses.replace(
        options,
        detail_workers=2 * client_settings.concurrency,
        download_workers=FILES_PER_CDN_SLOT * client_settings.cdn_concurrency,
    )
    created = not (Path(settings.archive).expanduser() / DB_NAME).exists()
    summary: RunSummary | None = None
    try:
        with (
            open_archive(settings.archive, wait=wait, on_wait=on_wait) as archive,
            _prompt_event_loop(),
            _shorter_collector_pauses(),
        ):
            summary = await _run(archive, client_settings, targets, options, reporter)
            return summary
    finally:
        reporter.close()  # whatever happened: its bars end, its hold on wait notices too
        failed = summary is None or not summary.ok
        if created and failed and (summary is None or not any(t.listed for t in summary.targets)):
            # Nothing was archived (a mistyped id, a wrong login, a network down): leave
            # no empty archive behind for the next command to take for a real one.
            remove_new_archive(Path(settings.archive).expanduser())


async def _run(
    archive: Archive,
    client_settings: ClientSettings,
    targets: list[Target],
    options: SyncOptions,
    reporter: Reporter,
) -> RunSummary:
    verified = await asyncio.to_thread(verify_files, archive) if options.repair else None
    async with CivitaiClient(client_settings) as client:
        engine = SyncEngine(client, archive, options, reporter)
        try:
            if verified is not None and not targets:
                # Nothing named: every broken file, from the address it came from.
                summary = await engine.repair(sorted(verified.broken_ids))
            else:
                engine.broken_files = verified.broken_ids if verified else set()
                summary = await engine.run(targets)
        finally:
            reporter.close()  # before the client's own closing, which may take a moment
    if verified is not None:
        summary.notes.insert(0, f"before the repair, verify found: {verified.summary()}")
    return summary


@contextmanager
def _shorter_collector_pauses() -> Iterator[None]:
    """Fewer and shorter pauses of Python's cyclic garbage collector during a run.

    A collection holds the interpreter lock from start to end, so the download
    loop, and with it every CDN slot, waits it out: a run of 2,000 images made
    about 700 of them, and its full ones (every object in the process, 70-120 ms
    each) showed as all four downloads in flight taking twice their time. What
    is alive when the run starts (modules, settings) will not become garbage
    during it: it is frozen out of the collector's view for the run. Young
    objects are collected after 20,000 allocations instead of 700, and older
    ones less often, which together cut the time spent collecting by about
    four fifths (measured with `gc.callbacks`); the run's cycles are still
    collected, a little later.
    """
    previous = gc.get_threshold()
    gc.set_threshold(20_000, 50, 20)
    gc.collect()  # what is garbage now must not be frozen with the rest
    gc.freeze()
    try:
        yield
    finally:
        gc.set_threshold(*previous)
        gc.unfreeze()


@contextmanager
def _prompt_event_loop(interval: float = 0.001) -> Iterator[None]:
    """Let the event loop take the GIL back within 1 ms instead of Python's 5.

    Checking and embedding files runs on worker threads; when an API answer
    arrives while one of them runs Python code, the loop waits for the switch
    interval before it can read the answer, and every such wait holds an API
    slot. At 8 requests in flight the default 5 ms cost about 3% of throughput.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
