"""`civitai-vault demo`: the whole tool on the bundled emulator, with nothing else running.

The emulator starts in this process on free loopback ports, in civitai.red
mode so nothing is hidden; the demo signs in with its API key (kept in memory,
never saved), syncs the sample private collection, and shows what was archived.
"""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

from rich.console import Console
from rich.text import Text

from civitai_vault.api.targets import parse_target
from civitai_vault.archive import open_archive
from civitai_vault.archive.status import archive_status, most_used_checkpoints
from civitai_vault.config import Settings
from civitai_vault.render import print_run_summary
from civitai_vault.sync.engine import SyncOptions
from civitai_vault.sync.files import FileOptions
from civitai_vault.sync.progress import make_reporter
from civitai_vault.sync.run import Pace, run_sync
from civitai_vault.untrusted import terminal_text


def run_demo(
    folder: Path, *, images: int, console: Console, err_console: Console, quiet: bool
) -> None:
    from civitai_emulator import EmulatorConfig, running_emulator

    with running_emulator(EmulatorConfig(seed=1, images=images, site_mode="red")) as emu:
        collection_id = emu.dataset.named["demo_collection"]
        console.print(
            Text(f"Emulator running at {emu.base_url} (images at {emu.image_base_url})", "dim")
        )
        settings = Settings(
            archive=folder,
            site="red",
            base_url=emu.base_url,
            image_base_url=emu.image_base_url,
            api_key=emu.api_key,
        )
        options = SyncOptions(files=FileOptions(sidecar_txt=True, sidecar_json=False))
        reporter = make_reporter(quiet=quiet, console=err_console)
        # The emulator is local: no need for the polite pace a real server gets.
        summary = asyncio.run(
            run_sync(
                settings,
                [parse_target(f"collection:{collection_id}")],
                options,
                Pace(rate=0, concurrency=8, cdn_rate=0),
                reporter,
            )
        )
    print_run_summary(console, summary)
    _print_overview(console, folder)
    _print_next_steps(console, folder)


def _print_overview(console: Console, folder: Path) -> None:
    with open_archive(folder, create=False) as archive:
        totals = archive_status(archive.conn)["totals"]
        top = most_used_checkpoints(archive.conn, 3)
    console.print(
        Text(
            f"\nArchived {totals['images']} images ({totals['videos']} videos) into "
            f"{folder.resolve()}: {totals['files']} files, {totals['bytes'] / 1e6:.1f} MB, "
            f"{totals['deleted_model_versions']} model versions no longer available on Civitai.",
            style="bold",
        )
    )
    if top:
        names = ", ".join(f"{r[0]} ({r[1]})" for r in top)
        console.print(terminal_text(f"Most used checkpoints: {names}"))


def _print_next_steps(console: Console, folder: Path) -> None:
    # Each line runs as printed when pasted into the shell the README's block leaves.
    archive = shlex.quote(str(folder))
    console.print(Text("\nTry next:", style="bold"))
    for command, what in (
        (f"civitai-vault status --archive {archive}", "what the archive holds"),
        (f"civitai-vault stats --archive {archive} --html report.html", "statistics and charts"),
        (f"civitai-vault serve --archive {archive}", "browse and search it in your browser"),
        (
            f"civitai-vault export --archive {archive} --format csv -o images.csv",
            "a spreadsheet of every prompt",
        ),
        ("civitai-vault emulator", "run the emulator yourself and point the tool at it"),
    ):
        console.print(Text(f"  {command}", style="cyan") + Text(f"   # {what}", style="dim"))
