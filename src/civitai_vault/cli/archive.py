"""Commands that build and keep the archive: sync, status, embed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from civitai_vault.cli.core import command, console, err_console, fail, print_json
from civitai_vault.cli.options import (
    DEFAULT_ARCHIVE,
    ArchiveOption,
    Connection,
    Output,
    QuietOption,
    RateOption,
)

if TYPE_CHECKING:
    from civitai_vault.api.targets import Target


@command("sync")
def sync_command(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="Civitai URLs, collection:N, post:N, image:N, or me.", show_default=False
        ),
    ] = None,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    no_media: Annotated[bool, typer.Option("--no-media", help="Metadata only; no files.")] = False,
    no_embed: Annotated[
        bool, typer.Option("--no-embed", help="Keep files byte-identical to Civitai's.")
    ] = False,
    sidecars: Annotated[
        bool, typer.Option("--sidecars", help="Also write <file>.txt (A1111) and <file>.json.")
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
    quiet: QuietOption = False,
    *,
    output: Output,
    connection: Connection,
) -> None:
    """Archive images and everything Civitai knows about them; re-runs fetch only what is new."""
    import asyncio

    from civitai_vault.render import print_run_summary
    from civitai_vault.sync.engine import SyncOptions
    from civitai_vault.sync.files import FileOptions
    from civitai_vault.sync.progress import make_reporter
    from civitai_vault.sync.run import Pace, run_sync

    parsed = parse_targets(targets or [])
    settings = connection.settings(archive, parsed)
    options = SyncOptions(
        media=not no_media,
        limit=limit,
        files=FileOptions(
            template=template, embed=not no_embed, sidecar_txt=sidecars, sidecar_json=sidecars
        ),
    )
    reporter = make_reporter(quiet=quiet or output.json, console=err_console)
    summary = asyncio.run(
        run_sync(
            settings,
            parsed,
            options,
            Pace(rate, concurrency, cdn_rate, calls_per_second, batch_size),
            reporter,
        )
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


def parse_targets(texts: list[str]) -> list[Target]:
    """The targets named on the command line; at least one."""
    from civitai_vault.api.targets import parse_target
    from civitai_vault.errors import UsageError

    if not texts:
        raise UsageError(
            "name at least one target: a collection URL, collection:N, post:N, "
            "image:N, /user/NAME/images, or me"
        )
    return [parse_target(text) for text in texts]


@command("status")
def status_command(archive: ArchiveOption = DEFAULT_ARCHIVE, *, output: Output) -> None:
    """What the archive holds: per target, the last run, and what is still missing."""
    from civitai_vault.archive import open_archive
    from civitai_vault.archive.status import archive_status
    from civitai_vault.render import print_status

    with open_archive(archive, create=False, reading=True) as opened:
        status = archive_status(opened.conn)
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
    *,
    output: Output,
) -> None:
    """(Re)write the generation data into every archived image file (pixels untouched)."""
    from civitai_vault.archive import open_archive
    from civitai_vault.embedding import embed_archive

    with open_archive(archive, create=False) as opened:
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
