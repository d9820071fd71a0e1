"""The `civitai-vault` command.

Each command is a thin shell: it reads its options, calls one module that does
the work, and prints the result. Errors a user can cause end as one line on
stderr and exit code 2 (bad usage or input) or 1 (a failure), never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

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
