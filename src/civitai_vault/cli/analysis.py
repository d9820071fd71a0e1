"""Commands that analyse the archive: stats, check-models."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from civitai_vault.cli.core import command, console, err_console, fail, print_json, writer_waiting
from civitai_vault.cli.options import (
    DEFAULT_ARCHIVE,
    ArchiveOption,
    Connection,
    Filters,
    Output,
    RateOption,
    WaitOption,
)
from civitai_vault.untrusted import terminal_text

if TYPE_CHECKING:
    from civitai_vault.analysis.results import Stats

STATS_HELP = """Statistics over the archived images: counts; the checkpoints, LoRAs (with \
the weights they were used at), embeddings, base models, samplers, tags and authors \
used most; steps, CFG, clip skip, sizes and aspect ratios; the NSFW mix; images over \
time; which LoRAs go with which checkpoints; the words and phrases prompts use most \
(A1111 weights, [ ], <lora:...> and BREAK understood); and which models Civitai no \
longer offers, as the last check-models found (stats itself never goes online).

--json prints all of it as data; --html FILE also writes one self-contained page of \
charts that opens offline, on a phone too. Filters select images as in export.
"""


@command("stats", help=STATS_HELP)
def stats_command(
    *,
    output: Output,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", dir_okay=False, help="Also write a self-contained HTML report to FILE."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="Title of the HTML report.")] = None,
    top: Annotated[
        int, typer.Option("--top", min=1, max=10_000, help="Entries in each top list.")
    ] = 25,
    filters: Filters,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
) -> None:
    from civitai_vault.vault import Vault

    vault = Vault(archive)
    stats = vault.stats(top=top, **filters.as_kwargs())
    if html is not None:
        _write_report(html, stats, title or f"civitai-vault: {vault.path.resolve().name}")
    if output.json:
        print_json(stats)
    else:
        from civitai_vault.analysis.text import stats_renderables

        for part in stats_renderables(stats, top=top):
            console.print(part, crop=False)  # links stay whole (clickable)
    if html is not None:
        err_console.print(terminal_text(f"Report written to {html}"), highlight=False)


def _write_report(path: Path, stats: Stats, title: str) -> None:
    """Write the HTML report whole or not at all; errors name `path`, not a temporary file."""
    from civitai_vault.analysis.report import render_report
    from civitai_vault.export.output import atomic_file

    page = render_report(stats, title)
    with atomic_file(path, flag="--html") as out:
        out.write(page.encode("utf-8"))


@command("check-models")
def check_models_command(
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Ask Civitai again even where the cache is fresh.")
    ] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="List available versions too, not only gone ones.")
    ] = False,
    max_age: Annotated[
        float,
        typer.Option("--max-age", min=0, help="Days a cached answer stays fresh."),
    ] = 7,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, max=16, help="Look-ups in flight (4).")
    ] = None,
    rate: RateOption = None,
    wait: WaitOption = False,
    *,
    output: Output,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    connection: Connection,
) -> None:
    """Which model versions your archived images used are still on Civitai.

    Each version is looked up with modelVersion.getById and classed as available,
    deleted (model or version), unpublished, or not_found; answers are cached in the
    archive for --max-age days. Gone ones get a civitaiarchive.com link.
    """
    from datetime import timedelta

    from rich.table import Table

    from civitai_vault.analysis.text import check_renderables
    from civitai_vault.render import print_table

    with _lookup_progress(output.json) as shown:
        result = connection.vault(archive).check_models(
            refresh=refresh,
            max_age=timedelta(days=max_age),
            rate=rate,
            concurrency=concurrency,
            progress=shown,
            **writer_waiting(wait),
        )
    if output.json:
        print_json(result.as_dict())
    else:
        for part in check_renderables(result, show_available=show_all):
            if isinstance(part, Table):
                print_table(console, part)  # in a pipe or a log, model names stay whole
            else:
                console.print(part, crop=False)  # links stay whole (clickable)
    if result.failures:
        version_id, reason = min(result.failures.items())
        fail(
            f"{len(result.failures)} model versions could not be checked (version "
            f"{version_id}: {reason}); run the same command again to retry them"
        )


@contextlib.contextmanager
def _lookup_progress(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """How far check-models is: a bar on a terminal, a line every few seconds elsewhere."""
    if quiet:
        yield None
        return
    if err_console.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "model versions",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("look-ups", total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return
    last = [0.0]

    def line(done: int, total: int) -> None:
        now = time.monotonic()
        if total and (done in (0, total) or now - last[0] >= 5):
            last[0] = now
            print(f"looked up {done}/{total} model versions", file=sys.stderr, flush=True)

    yield line
