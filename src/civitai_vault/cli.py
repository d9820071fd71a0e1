"""The `civitai-vault` command.

Each command is a thin shell: it reads its options, calls one module that does
the work, and prints the result. Errors a user can cause end as one line on
stderr and exit code 2 (bad usage or input) or 1 (a failure), never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from civitai_vault.account import Credentials
    from civitai_vault.api.targets import Target
    from civitai_vault.config import Settings

app = typer.Typer(
    name="civitai-vault",
    help="Archive your Civitai images with every piece of generation data, then search, "
    "browse, analyse and export them locally.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

T = TypeVar("T")

ArchiveOption = Annotated[
    Path,
    typer.Option(
        "--archive",
        envvar="CIVITAI_VAULT_ARCHIVE",
        help="Archive folder (holds vault.db and media/).",
        show_default=True,
    ),
]
DEFAULT_ARCHIVE = Path("./civitai-archive")
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(
        f"[bold red]error:[/] {message}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


def run_guarded(action: Callable[[], T]) -> T:
    """Run a command body, turning known errors into one line and an exit code."""
    from civitai_vault.errors import describe_error

    try:
        return action()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to continue where it stopped", 130)
    except Exception as exc:
        message, code = describe_error(exc)
        fail(message, code)


# --- archive commands (sync, status, collections, login, demo) ---

SiteOption = Annotated[
    str | None,
    typer.Option(
        "--site",
        envvar="CIVITAI_SITE",
        help="com (civitai.com) or red (civitai.red).",
        show_default="com",
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option("--base-url", envvar="CIVITAI_BASE_URL", help="Civitai's URL (overrides --site)."),
]
ImageBaseUrlOption = Annotated[
    str | None,
    typer.Option("--image-base-url", envvar="CIVITAI_IMAGE_BASE_URL", help="Image CDN URL."),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="CIVITAI_API_KEY", help="Civitai API key.", show_default=False
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="CIVITAI_TOKEN", help="Session cookie value.", show_default=False
    ),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


def resolve_settings(
    archive: Path | None = None,
    site: str | None = None,
    base_url: str | None = None,
    image_base_url: str | None = None,
    api_key: str | None = None,
    token: str | None = None,
) -> Settings:
    """Flags > environment > the config file `login` wrote > defaults."""
    from civitai_vault.config import load_settings

    return load_settings(
        archive=archive,
        site=site,
        base_url=base_url,
        image_base_url=image_base_url,
        api_key=api_key,
        token=token,
    )


def _parse_targets(texts: list[str]) -> list[Target]:
    from civitai_vault.api.targets import parse_target
    from civitai_vault.errors import UsageError

    if not texts:
        raise UsageError(
            "name at least one target: a collection URL, collection:N, post:N, "
            "image:N, /user/NAME/images, or me"
        )
    return [parse_target(text) for text in texts]


def _site_for(site: str | None, targets: list[Target]) -> str | None:
    """A civitai.red URL means civitai.red, unless --site (or CIVITAI_SITE) says otherwise."""
    if not site and any(target.site == "red" for target in targets):
        return "red"
    return site


@app.command("sync")
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
    rate: Annotated[
        float | None,
        typer.Option("--rate", min=0, help="API requests per second, 0 = unlimited (2)."),
    ] = None,
    cdn_rate: Annotated[
        float | None,
        typer.Option("--cdn-rate", min=0, help="Downloads per second, 0 = unlimited (8)."),
    ] = None,
    quiet: QuietOption = False,
    json_output: JsonOption = False,
    site: SiteOption = None,
    base_url: BaseUrlOption = None,
    image_base_url: ImageBaseUrlOption = None,
    api_key: ApiKeyOption = None,
    token: TokenOption = None,
) -> None:
    """Archive images and everything Civitai knows about them; re-runs fetch only what is new."""

    def run() -> None:
        import asyncio
        import json

        from civitai_vault.render import print_run_summary
        from civitai_vault.sync.engine import SyncOptions
        from civitai_vault.sync.files import FileOptions
        from civitai_vault.sync.progress import make_reporter
        from civitai_vault.sync.run import Pace, run_sync

        parsed = _parse_targets(targets or [])
        settings = resolve_settings(
            archive, _site_for(site, parsed), base_url, image_base_url, api_key, token
        )
        options = SyncOptions(
            media=not no_media,
            limit=limit,
            files=FileOptions(
                template=template, embed=not no_embed, sidecar_txt=sidecars, sidecar_json=sidecars
            ),
        )
        reporter = make_reporter(quiet=quiet or json_output, console=err_console)
        summary = asyncio.run(
            run_sync(
                settings,
                parsed,
                options,
                Pace(rate, concurrency, cdn_rate),
                reporter,
            )
        )
        if json_output:
            typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
        elif not quiet:
            print_run_summary(console, summary)
        if not summary.ok:
            # Complete or loud: even with --quiet or --json, stderr says what failed.
            failed = [t for t in summary.targets if not t.ok]
            more = f" (and {len(failed) - 1} more targets)" if len(failed) > 1 else ""
            fail(f"{failed[0].label}: {failed[0].problem}{more}", 1)

    run_guarded(run)


@app.command("status")
def status_command(
    archive: ArchiveOption = DEFAULT_ARCHIVE, json_output: JsonOption = False
) -> None:
    """What the archive holds: per target, the last run, and what is still missing."""

    def run() -> None:
        import json

        from civitai_vault.archive import open_archive
        from civitai_vault.archive.status import archive_status
        from civitai_vault.render import print_status

        with open_archive(archive, create=False, reading=True) as opened:
            status = archive_status(opened.conn)
        if json_output:
            typer.echo(json.dumps(status, ensure_ascii=False, indent=2))
        else:
            print_status(console, status)

    run_guarded(run)


@app.command("embed")
def embed_command(
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    sidecars: Annotated[
        bool, typer.Option("--sidecars", help="Also write <name>.txt (A1111) and <name>.json.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """(Re)write the generation data into every archived image file (pixels untouched)."""

    def run() -> None:
        import json

        from civitai_vault.archive import open_archive
        from civitai_vault.embedding import embed_archive

        with open_archive(archive, create=False) as opened:
            summary = embed_archive(opened, sidecars=sidecars)
        if json_output:
            typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False, indent=2))
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

    run_guarded(run)


@app.command("collections")
def collections_command(
    json_output: JsonOption = False,
    site: SiteOption = None,
    base_url: BaseUrlOption = None,
    image_base_url: ImageBaseUrlOption = None,
    api_key: ApiKeyOption = None,
    token: TokenOption = None,
) -> None:
    """Your collections on Civitai, private ones included (needs `login`)."""

    def run() -> None:
        import asyncio
        import json

        from rich.table import Table
        from rich.text import Text

        from civitai_vault.account import list_collections

        settings = resolve_settings(None, site, base_url, image_base_url, api_key, token)
        rows = asyncio.run(list_collections(settings))
        if json_output:
            typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        table = Table(title="your collections")
        for column in ("id", "name", "type", "privacy", "target"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                str(row["id"]),
                Text(row["name"] or ""),
                row["type"] or "",
                row["read"] or "",
                f"collection:{row['id']}",
            )
        console.print(table)

    run_guarded(run)


@app.command("login")
def login_command(
    api_key: Annotated[str | None, typer.Option("--api-key", help="A Civitai API key.")] = None,
    token: Annotated[
        str | None, typer.Option("--token", help="The session cookie value (civ-token).")
    ] = None,
    cookies: Annotated[
        Path | None,
        typer.Option("--cookies", help="A Netscape cookies.txt exported from your browser."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a saved login.")] = False,
    site: SiteOption = None,
    base_url: BaseUrlOption = None,
    image_base_url: ImageBaseUrlOption = None,
) -> None:
    """Save an API key or session token (checked against Civitai first; file mode 0600)."""

    def run() -> None:
        import asyncio

        from civitai_vault.account import Credentials, login, read_cookies_file
        from civitai_vault.config import CredentialStore

        store = CredentialStore()
        saved = store.load()
        if (saved.get("api_key") or saved.get("token")) and not force:
            fail("a login is already saved; run `civitai-vault login --force` to replace it", 2)
        if cookies is not None:
            credentials = Credentials(token=read_cookies_file(cookies))
        elif api_key or token:
            credentials = Credentials(api_key=api_key, token=token)
        else:
            credentials = _ask_credentials()
        who = asyncio.run(login(store, credentials, site, base_url, image_base_url))
        name = who.username or f"user {who.user_id}" if who.user_id else "your account"
        console.print(
            f"Signed in as {name} on {who.site_label}; saved to {store.path}", highlight=False
        )

    run_guarded(run)


def _ask_credentials() -> Credentials:
    from civitai_vault.account import Credentials, looks_like_session_token

    if not sys.stdin.isatty():
        fail(
            "no credential given: pass --api-key, --token or --cookies (nothing to ask on a pipe)",
            2,
        )
    secret = typer.prompt("Civitai API key or session token", hide_input=True).strip()
    if looks_like_session_token(secret):
        return Credentials(token=secret)
    return Credentials(api_key=secret)


@app.command("logout")
def logout_command() -> None:
    """Forget the saved API key and session token."""

    def run() -> None:
        from civitai_vault.config import CredentialStore

        store = CredentialStore()
        if store.clear_credentials():
            console.print(f"Removed the saved login from {store.path}", highlight=False)
        else:
            console.print("No login was saved.")

    run_guarded(run)


@app.command("whoami")
def whoami_command(
    json_output: JsonOption = False,
    site: SiteOption = None,
    base_url: BaseUrlOption = None,
    image_base_url: ImageBaseUrlOption = None,
    api_key: ApiKeyOption = None,
    token: TokenOption = None,
) -> None:
    """Who Civitai thinks you are, on which site, and whether R/X images are visible there."""

    def run() -> None:
        import asyncio
        import dataclasses
        import json

        from civitai_vault.account import whoami

        settings = resolve_settings(None, site, base_url, image_base_url, api_key, token)
        who = asyncio.run(whoami(settings))
        if json_output:
            typer.echo(json.dumps(dataclasses.asdict(who), ensure_ascii=False, indent=2))
            return
        console.print(who.sentence(), highlight=False)

    run_guarded(run)


@app.command("demo")
def demo_command(
    folder: Annotated[Path, typer.Option("--archive", help="Where the demo archive goes.")] = Path(
        "./civitai-demo"
    ),
    images: Annotated[int, typer.Option(help="Images in the emulator's dataset.")] = 600,
    quiet: QuietOption = False,
) -> None:
    """Start the bundled emulator, sign in, sync a sample private collection, show what you got."""

    def run() -> None:
        from civitai_vault.demo import run_demo

        run_demo(folder, images=images, console=console, err_console=err_console, quiet=quiet)

    run_guarded(run)


# --- image command ---


@app.command("image")
def image_command(
    target: Annotated[str, typer.Argument(help="An image id or its civitai.com URL.")],
    json_output: JsonOption = False,
    site: SiteOption = None,
    base_url: BaseUrlOption = None,
    image_base_url: ImageBaseUrlOption = None,
    api_key: ApiKeyOption = None,
    token: TokenOption = None,
) -> None:
    """One image fully analysed: info, checkpoint, LoRAs, embeddings, tags, prompts, models."""

    def run() -> None:
        import asyncio
        import json

        from civitai_vault.api import CivitaiClient
        from civitai_vault.api.image_analysis import fetch_image_analysis
        from civitai_vault.api.settings import SITE_URLS
        from civitai_vault.api.targets import parse_target
        from civitai_vault.errors import UsageError
        from civitai_vault.render import print_image

        parsed = parse_target(target)
        if parsed.kind != "image":
            raise UsageError(f"{target!r} is not an image: give an image id or /images/N URL")
        site_named = _site_for(site, [parsed])
        settings = resolve_settings(None, site_named, base_url, image_base_url, api_key, token)

        async def analyse() -> Any:
            async with CivitaiClient(settings.client_settings()) as client:
                return await fetch_image_analysis(client, int(parsed.id))

        image = asyncio.run(analyse())
        if json_output:
            typer.echo(json.dumps(image.to_record(), ensure_ascii=False, indent=2))
        else:
            print_image(console, image, site_url=SITE_URLS[settings.site])

    run_guarded(run)


# --- export commands ---

EXPORT_HELP = """Export archived images with their generation data as JSON, JSONL, CSV or Parquet.

Every format has the same fields in the same order (image_id, image_url, ..., \
loras, embeddings, tags, collections, file_path, sha256, raw_meta_json); missing \
values are null, an empty cell in CSV. Output streams at constant memory; a file \
appears only when complete. -o - (or no -o) writes to stdout.

CSV: UTF-8 with standard quoting (line breaks, quotes and commas stay inside quoted \
cells). tags and collections are joined with "|", a "|" or backslash inside a name \
escaped with a backslash: df["tags"].str.split("|") reads them back. loras and \
embeddings are JSON arrays of objects (name, weight, model_id, model_version_id, \
version_name, base_model), as in the JSON export: json.loads(cell). --excel adds a \
byte-order mark and prefixes ' to text that Excel would run as a formula.

Parquet: typed columns (int64 ids and counts, double cfg_scale and weights, \
timestamp (us, UTC) dates, list of string tags, list of int64 collections, list of \
struct loras and embeddings), zstd, row groups of 10,000 records; reads in pandas, \
pyarrow and DuckDB.
"""


@app.command("export", help=EXPORT_HELP)
def export_command(
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="json, jsonl, csv or parquet (default: from the -o extension, else jsonl).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="File to write; '-' or none for stdout."),
    ] = None,
    excel: Annotated[
        bool, typer.Option("--excel", help="CSV for Excel: byte-order mark, formulas defused.")
    ] = False,
    collection: Annotated[
        int | None, typer.Option("--collection", help="Only images in this collection id.")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag", help="Only images with this tag.")] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Checkpoint name, model id or version id.")
    ] = None,
    lora: Annotated[
        str | None, typer.Option("--lora", help="LoRA name, model id or version id.")
    ] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Base model, e.g. 'SDXL 1.0', 'Pony'.")
    ] = None,
    author: Annotated[str | None, typer.Option("--author", help="Author's username.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Created on or after (YYYY[-MM[-DD[THH:MM]]]).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Created up to and including (2024-05: all May).")
    ] = None,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
) -> None:
    def run() -> None:
        import os

        from civitai_vault.archive import open_archive
        from civitai_vault.archive.queries import RecordFilter
        from civitai_vault.errors import UsageError
        from civitai_vault.export import FORMATS, export_archive, format_for_path, parse_date_bound

        destination = None if output in (None, "-") else Path(output)
        fmt = (format or format_for_path(destination) or "jsonl").lower()
        if fmt not in FORMATS:
            raise UsageError(f"unknown --format {format!r}; choose one of {', '.join(FORMATS)}")
        if excel and fmt != "csv":
            raise UsageError("--excel applies to CSV only; add --format csv")
        filters = RecordFilter(
            collection=collection,
            tag=tag,
            model=model,
            lora=lora,
            base_model=base_model,
            author=author,
            since=parse_date_bound(since, "--since") if since else None,
            until=parse_date_bound(until, "--until") if until else None,
        )
        with open_archive(archive, create=False, reading=True) as opened:
            try:
                result = export_archive(opened.conn, filters, fmt, destination, excel=excel)
            except BrokenPipeError:
                # The reader stopped early (`| head`): fine, and nothing more to say.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise typer.Exit(0) from None
        err_console.print(result.summary(), markup=False, highlight=False, soft_wrap=True)

    run_guarded(run)


# --- analysis commands (stats, check-models) ---


STATS_HELP = """Statistics over the archived images: counts; the checkpoints, LoRAs (with \
the weights they were used at), embeddings, base models, samplers, tags and authors \
used most; steps, CFG, clip skip, sizes and aspect ratios; the NSFW mix; images over \
time; which LoRAs go with which checkpoints; the words and phrases prompts use most \
(A1111 weights, [ ], <lora:...> and BREAK understood); and which models Civitai no \
longer offers, as the last check-models found (stats itself never goes online).

--json prints all of it as data; --html FILE also writes one self-contained page of \
charts that opens offline, on a phone too. Filters select images as in export.
"""

_AnalysisCollection = Annotated[
    int | None, typer.Option("--collection", help="Only images in this collection id.")
]
_AnalysisTag = Annotated[str | None, typer.Option("--tag", help="Only images with this tag.")]
_AnalysisModel = Annotated[
    str | None, typer.Option("--model", help="Checkpoint name, model id or version id.")
]
_AnalysisLora = Annotated[
    str | None, typer.Option("--lora", help="LoRA name, model id or version id.")
]
_AnalysisBaseModel = Annotated[
    str | None, typer.Option("--base-model", help="Base model, e.g. 'SDXL 1.0', 'Pony'.")
]
_AnalysisAuthor = Annotated[str | None, typer.Option("--author", help="Author's username.")]
_AnalysisSince = Annotated[
    str | None, typer.Option("--since", help="Created on or after (YYYY[-MM[-DD[THH:MM]]]).")
]
_AnalysisUntil = Annotated[
    str | None, typer.Option("--until", help="Created up to and including (2024-05: all May).")
]


@app.command("stats", help=STATS_HELP)
def stats_command(
    json_output: JsonOption = False,
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
    collection: _AnalysisCollection = None,
    tag: _AnalysisTag = None,
    model: _AnalysisModel = None,
    lora: _AnalysisLora = None,
    base_model: _AnalysisBaseModel = None,
    author: _AnalysisAuthor = None,
    since: _AnalysisSince = None,
    until: _AnalysisUntil = None,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
) -> None:
    def run() -> None:
        import json

        from civitai_vault.analysis.stats import compute_stats
        from civitai_vault.archive import open_archive
        from civitai_vault.archive.queries import RecordFilter
        from civitai_vault.export import parse_date_bound

        filters = RecordFilter(
            collection=collection,
            tag=tag,
            model=model,
            lora=lora,
            base_model=base_model,
            author=author,
            since=parse_date_bound(since, "--since") if since else None,
            until=parse_date_bound(until, "--until") if until else None,
        )
        with open_archive(archive, create=False, reading=True) as opened:
            stats = compute_stats(opened.conn, filters, top=top)
        if html is not None:
            _write_report(html, stats, title or f"civitai-vault: {opened.root.name}")
        if json_output:
            typer.echo(json.dumps(stats, ensure_ascii=False, indent=2))
        else:
            from civitai_vault.analysis.text import stats_renderables

            for part in stats_renderables(stats):
                console.print(part)
        if html is not None:
            err_console.print(f"Report written to {html}", markup=False, highlight=False)

    run_guarded(run)


def _write_report(path: Path, stats: dict[str, Any], title: str) -> None:
    """Write the HTML report whole or not at all (temporary name, then rename)."""
    import os
    import tempfile

    from civitai_vault.analysis.report import render_report

    page = render_report(stats, title)
    path = path.expanduser()
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent if str(path.parent) else "."
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(page)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@app.command("check-models")
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
    rate: Annotated[
        float | None,
        typer.Option("--rate", min=0, help="API requests per second, 0 = unlimited (2)."),
    ] = None,
    json_output: JsonOption = False,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    site: SiteOption = None,
    base_url: BaseUrlOption = None,
    image_base_url: ImageBaseUrlOption = None,
    api_key: ApiKeyOption = None,
    token: TokenOption = None,
) -> None:
    """Which model versions your archived images used are still on Civitai.

    Each version is looked up with modelVersion.getById and classed as available,
    deleted (model or version), unpublished, or not_found; answers are cached in the
    archive for --max-age days. Gone ones get a civitaiarchive.com link.
    """

    def run() -> None:
        import asyncio
        import json
        from datetime import timedelta

        from civitai_vault.analysis.availability import check_archive_models
        from civitai_vault.analysis.text import check_renderables
        from civitai_vault.archive import open_archive

        settings = resolve_settings(archive, site, base_url, image_base_url, api_key, token)
        pace = {k: v for k, v in (("rate", rate), ("concurrency", concurrency)) if v is not None}
        with open_archive(archive, create=False) as opened:
            result = asyncio.run(
                check_archive_models(
                    opened.conn,
                    settings.client_settings(**pace),
                    refresh=refresh,
                    max_age=timedelta(days=max_age),
                )
            )
        if json_output:
            typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        else:
            for part in check_renderables(result, show_available=show_all):
                console.print(part)
        if result.failures:
            version_id, reason = min(result.failures.items())
            fail(
                f"{len(result.failures)} model versions could not be checked (version "
                f"{version_id}: {reason}); run the same command again to retry them"
            )

    run_guarded(run)


# --- gallery command (serve) ---


@app.command("serve")
def serve_command(
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Any other than 127.0.0.1 lets others on the network "
            "see the archive: there is no password."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")] = 8000,
) -> None:
    """Browse, search and read the archive in a web browser, offline."""

    def run() -> None:
        import contextlib

        from civitai_vault.web.server import is_loopback, serve

        if not is_loopback(host):
            err_console.print(
                f"[bold yellow]warning:[/] listening on {host}: anyone who can reach this "
                "address can see the whole archive, without a password",
                highlight=False,
            )

        def ready(url: str) -> None:
            console.print(
                f"Gallery of {archive} at {url}  (Ctrl+C to stop)", highlight=False, soft_wrap=True
            )

        # Ctrl+C is how a gallery ends: not an error.
        with contextlib.suppress(KeyboardInterrupt):
            serve(archive, host=host, port=port, on_ready=ready)
        console.print("Gallery stopped.")

    run_guarded(run)


# --- emulator command ---


@app.command("emulator")
def emulator_command(
    port: Annotated[int, typer.Option(help="API port (the CDN listens on the next one).")] = 8765,
    seed: Annotated[int, typer.Option(help="Dataset seed: the same seed, the same data.")] = 1,
    images: Annotated[int, typer.Option(help="Images in the dataset.")] = 600,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    site_mode: Annotated[
        str, typer.Option(help="green (civitai.com) or red (civitai.red).")
    ] = "green",
) -> None:
    """Run the bundled Civitai emulator (API and image CDN) for trying the tool offline."""

    def run() -> None:
        from civitai_emulator import serve

        serve(port=port, seed=seed, images=images, host=host, site_mode=site_mode)

    run_guarded(run)


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # `civitai-vault export - | head` is fine
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
