"""Commands that build and keep the archive: sync, status, embed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from civitai_vault.cli.core import (
    command,
    console,
    err_console,
    fail,
    print_json,
    writer_waiting,
)
from civitai_vault.cli.options import (
    DEFAULT_ARCHIVE,
    ArchiveOption,
    Connection,
    Output,
    QuietOption,
    RateOption,
    WaitOption,
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
    cdn_rate: Annotated[
        float | None,
        typer.Option("--cdn-rate", min=0, help="Downloads per second, 0 = unlimited (8)."),
    ] = None,
    quiet: QuietOption = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="First verify every archived file, then fetch again those missing, cut "
            "short or altered (without targets: all of them, each by its image id).",
        ),
    ] = False,
    wait: WaitOption = False,
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

    parsed = parse_targets(targets or []) if targets or not repair else []
    settings = connection.settings(archive, parsed)
    options = SyncOptions(
        media=not no_media,
        limit=limit,
        repair=repair,
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
            Pace(rate, concurrency, cdn_rate),
            reporter,
            **writer_waiting(wait),
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
    from civitai_vault.archive import open_archive
    from civitai_vault.archive.verify import verify_files
    from civitai_vault.untrusted import terminal_text

    with open_archive(archive, create=False, reading=True) as opened:
        result = verify_files(opened)
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
