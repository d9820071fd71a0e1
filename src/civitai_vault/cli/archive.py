"""Commands that build and keep the archive: sync, status, embed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from civitai_vault.cli.core import command, console, err_console, fail, print_json, writer_waiting
from civitai_vault.cli.options import (
    DEFAULT_ARCHIVE,
    ArchiveOption,
    Connection,
    FeedFilters,
    Output,
    QuietOption,
    RateOption,
    WaitOption,
)

if TYPE_CHECKING:
    from civitai_vault.api.targets import Target
    from civitai_vault.config import Settings
    from civitai_vault.sync.run import Pace


@command("sync")
def sync_command(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Civitai URLs, collection:N, post:N, image:N, or me; none: every target the "
            "archive holds.",
            show_default=False,
        ),
    ] = None,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    media: Annotated[
        bool,
        typer.Option("--media/--no-media", help="Download the files (--no-media: metadata only)."),
    ] = True,
    embed: Annotated[
        bool,
        typer.Option(
            "--embed/--no-embed",
            help="Write the generation data into the files (--no-embed: byte-identical to "
            "Civitai's).",
        ),
    ] = True,
    sidecars: Annotated[
        bool,
        typer.Option(
            "--sidecars/--no-sidecars", help="Also write <file>.txt (A1111) and <file>.json."
        ),
    ] = False,
    template: Annotated[
        str, typer.Option("--template", help="File name template under media/.")
    ] = "{username}/{image_id}.{ext}",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most N images per target.")
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, max=64, help="Requests in flight (4).")
    ] = None,
    rate: RateOption = None,
    calls_per_second: Annotated[
        float | None,
        typer.Option(
            "--calls-per-second",
            min=0,
            help="API procedure calls per second, counted inside batches, 0 = unlimited (150).",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", min=1, max=200, help="Calls per batched request, 1 = unbatched (100)."
        ),
    ] = None,
    cdn_rate: Annotated[
        float | None,
        typer.Option("--cdn-rate", min=0, help="Downloads per second, 0 = unlimited (unlimited)."),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="List what a sync would fetch (walks the listings only; writes nothing).",
        ),
    ] = False,
    quiet: QuietOption = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="First verify every archived file, then fetch again those missing, cut "
            "short or altered (without targets: all of them, from the addresses they came "
            "from, with no API call).",
        ),
    ] = False,
    wait: WaitOption = False,
    *,
    output: Output,
    connection: Connection,
    feed: FeedFilters,
) -> None:
    """Archive images and everything Civitai knows about them; re-runs fetch only what is new.

    Without targets, every target the archive already holds is brought up to date.
    A filter (--type video, --nsfw pg,pg13, --since ...) makes each named target a
    filtered target of its own.
    """
    from civitai_vault.errors import UsageError
    from civitai_vault.render import print_run_summary
    from civitai_vault.sync.progress import make_reporter
    from civitai_vault.sync.run import Pace
    from civitai_vault.vault import parse_targets, with_filters

    filters = feed.values()
    if filters and not targets:
        raise UsageError("sync filters apply to the targets you name: add the target(s)")
    # No targets: every archived one, or for --repair only the broken files.
    named = parse_targets(targets) if targets else [] if repair else archived_targets(archive)
    parsed = with_filters(named, filters)
    if dry_run:
        settings = connection.settings(archive, parsed)
        pace = Pace(rate, concurrency, cdn_rate, calls_per_second, batch_size)
        _print_dry_run(settings, parsed, pace, media=media, limit=limit, as_json=output.json)
        return
    summary = connection.vault(archive).sync(
        parsed,
        media=media,
        embed=embed,
        sidecars=sidecars,
        template=template,
        limit=limit,
        repair=repair,
        rate=rate,
        concurrency=concurrency,
        cdn_rate=cdn_rate,
        calls_per_second=calls_per_second,
        batch_size=batch_size,
        progress=make_reporter(quiet=quiet or output.json, console=err_console),
        **writer_waiting(wait),
    )
    if output.json:
        print_json(summary.as_dict())
    elif not quiet:
        print_run_summary(console, summary)
    if not summary.ok:
        # Complete or loud: even with --quiet or --json, stderr says what failed.
        failed = [t for t in summary.targets if not t.ok]
        more = f" (and {len(failed) - 1} more targets)" if len(failed) > 1 else ""
        fail(f"{failed[0].label}: {failed[0].problem}{more}", 1)


def archived_targets(archive: Path) -> list[Target]:
    """Every target the archive holds (`sync` without targets refreshes them all)."""
    from civitai_vault.api.targets import Target, parse_target
    from civitai_vault.archive import open_archive
    from civitai_vault.archive.status import target_keys
    from civitai_vault.errors import UsageError

    try:
        with open_archive(archive, create=False, reading=True) as opened:
            keys = target_keys(opened.conn)
    except FileNotFoundError:
        keys = []
    if not keys:
        raise UsageError(
            f"no targets to refresh: {archive} holds none yet; name one, e.g. "
            "`civitai-vault sync me` or a collection URL"
        )
    targets = []
    for key in keys:
        kind, _, ref = key.partition(":")
        if kind == "user_images":
            targets.append(Target("user_images", username=ref))
        else:
            targets.append(parse_target(key))
    return targets


def _print_dry_run(
    settings: Settings,
    targets: list[Target],
    pace: Pace,
    *,
    media: bool,
    limit: int | None,
    as_json: bool,
) -> None:
    import asyncio

    from rich.table import Table
    from rich.text import Text

    from civitai_vault.render import print_table
    from civitai_vault.sync.dry_run import plan_sync

    planned = asyncio.run(plan_sync(settings, targets, pace, media=media, limit=limit))
    if as_json:
        print_json([p.as_dict() for p in planned])
    else:
        table = Table(title="a sync would fetch (dry run: nothing was written)")
        for column in ("target", "listed", "new", "details", "files"):
            table.add_column(column, justify="left" if column == "target" else "right")
        for p in planned:
            table.add_row(Text(p.label), str(p.listed), str(p.new), str(p.details), str(p.files))
        print_table(console, table)
        for p in planned:
            if p.error:
                console.print(Text(f"{p.label}: {p.error}", style="bold red"), soft_wrap=True)
    errors = [p for p in planned if p.error]
    if errors:
        fail(f"{errors[0].label}: {errors[0].error}", 1)


@command("status")
def status_command(archive: ArchiveOption = DEFAULT_ARCHIVE, *, output: Output) -> None:
    """What the archive holds: per target, the last run, and what is still missing."""
    from civitai_vault.render import print_status
    from civitai_vault.vault import Vault

    status = Vault(archive).status()
    if output.json:
        print_json(status)
    else:
        print_status(console, status)


@command("embed")
def embed_command(
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    sidecars: Annotated[
        bool, typer.Option("--sidecars", help="Also write <name>.txt (A1111) and <name>.json.")
    ] = False,
    wait: WaitOption = False,
    *,
    output: Output,
) -> None:
    """(Re)write the generation data into every archived image file (pixels untouched)."""
    from civitai_vault.archive import open_archive
    from civitai_vault.embedding import embed_archive

    with open_archive(archive, create=False, **writer_waiting(wait)) as opened:
        summary = embed_archive(opened, sidecars=sidecars)
    if output.json:
        print_json(summary.as_dict())
    else:
        console.print(
            f"{summary.files} files checked, {summary.changed} rewritten, "
            f"{len(summary.missing)} missing from disk",
            highlight=False,
        )
    if summary.missing:
        fail(
            f"{len(summary.missing)} archived files are missing (first: "
            f"{summary.missing[0]}); run `civitai-vault sync` again to fetch them"
        )


@command("verify")
def verify_command(archive: ArchiveOption = DEFAULT_ARCHIVE, *, output: Output) -> None:
    """Re-hash every archived file against the archive: missing, cut short or altered files."""
    from civitai_vault.untrusted import terminal_text
    from civitai_vault.vault import Vault

    result = Vault(archive).verify()
    if output.json:
        print_json(result.as_dict())
    else:
        for problem in result.problems:
            console.print(
                terminal_text(
                    f"image {problem.image_id}: {problem.path}: "
                    f"{problem.problem} ({problem.detail})"
                ),
                highlight=False,
                soft_wrap=True,
            )
        console.print(terminal_text(result.summary()), highlight=False, soft_wrap=True)
    if result.problems:
        first = result.problems[0]
        fail(
            f"{len(result.problems)} archived files are not what the archive recorded (first: "
            f"{first.path}, {first.problem}); run `civitai-vault sync --repair` to fetch them again"
        )
