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
    except Exception as exc:  # noqa: BLE001 - every error becomes one clear line
        message, code = describe_error(exc)
        fail(message, code)


# --- archive commands (sync, status, collections, login, demo) ---

# --- image command ---

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
        with open_archive(archive, create=False) as opened:
            try:
                result = export_archive(opened.conn, filters, fmt, destination, excel=excel)
            except BrokenPipeError:
                # The reader stopped early (`| head`): fine, and nothing more to say.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise typer.Exit(0) from None
        err_console.print(result.summary(), markup=False, highlight=False, soft_wrap=True)

    run_guarded(run)


# --- analysis commands (stats, check-models) ---

if TYPE_CHECKING:
    from civitai_vault.api.settings import ClientSettings

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
        with open_archive(archive, create=False) as opened:
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


_AnalysisSite = Annotated[
    str, typer.Option("--site", envvar="CIVITAI_SITE", help="com or red.", show_default=True)
]
_AnalysisBaseURL = Annotated[
    str | None,
    typer.Option("--base-url", envvar="CIVITAI_BASE_URL", help="Civitai's URL (overrides --site)."),
]
_AnalysisImageBaseURL = Annotated[
    str | None,
    typer.Option("--image-base-url", envvar="CIVITAI_IMAGE_BASE_URL", help="Image CDN URL."),
]
_AnalysisApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="CIVITAI_API_KEY", help="Civitai API key.", show_default=False
    ),
]
_AnalysisToken = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="CIVITAI_TOKEN", help="Session cookie value.", show_default=False
    ),
]


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
    json_output: JsonOption = False,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
    site: _AnalysisSite = "com",
    base_url: _AnalysisBaseURL = None,
    image_base_url: _AnalysisImageBaseURL = None,
    api_key: _AnalysisApiKey = None,
    token: _AnalysisToken = None,
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

        settings = _analysis_client_settings(site, base_url, image_base_url, api_key, token)
        with open_archive(archive, create=False) as opened:
            result = asyncio.run(
                check_archive_models(
                    opened.conn, settings, refresh=refresh, max_age=timedelta(days=max_age)
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


def _analysis_client_settings(
    site: str,
    base_url: str | None,
    image_base_url: str | None,
    api_key: str | None,
    token: str | None,
) -> ClientSettings:
    """Client settings from flags and environment (typer reads CIVITAI_* for each flag)."""
    from civitai_vault.api.settings import ClientSettings
    from civitai_vault.errors import UsageError

    if site not in ("com", "red"):
        raise UsageError(f"--site must be com or red, not {site!r}")
    return ClientSettings(
        site="red" if site == "red" else "com",
        base_url=base_url,
        image_base_url=image_base_url,
        api_key=api_key,
        token=token,
    )


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
            console.print(f"Gallery of {archive} at {url}  (Ctrl+C to stop)", highlight=False)

        # Ctrl+C is how a gallery ends: not an error.
        with contextlib.suppress(KeyboardInterrupt):
            serve(archive, host=host, port=port, on_ready=ready)
        console.print("Gallery stopped.")

    run_guarded(run)


# --- emulator command ---


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # `civitai-vault export - | head` is fine
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
