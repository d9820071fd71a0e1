"""`export`: the archive as JSON, JSONL, CSV or Parquet."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from civitai_vault.cli.core import command, err_console
from civitai_vault.cli.options import DEFAULT_ARCHIVE, ArchiveOption, Filters
from civitai_vault.untrusted import terminal_text

EXPORT_HELP = """Export archived images with their generation data as JSON, JSONL, CSV or Parquet.

Every format has the same fields in the same order (image_id, image_url, ..., \
loras, embeddings, tags, collections, file_path, sha256, raw_meta_json); missing \
values are null, an empty cell in CSV. Output streams at constant memory; a file \
appears only when complete. -o - (or no -o) writes to stdout.

CSV: UTF-8 with standard quoting (line breaks, quotes and commas stay inside quoted \
cells). tags and collections are joined with "|", a "|" or backslash inside a name \
escaped with a backslash: df["tags"].str.split("|") reads them back. loras and \
embeddings are JSON arrays of objects (name, weight, model_id, model_version_id, \
version_name, base_model), as in the JSON export: json.loads(cell). Text a \
spreadsheet would run as a formula (a cell starting with =, +, -, @, tab or CR) gets \
a ' in front; --allow-formulas writes it as it is. --excel adds a byte-order mark.

Parquet: typed columns (int64 ids and counts, double cfg_scale and weights, \
timestamp (us, UTC) dates, list of string tags, list of int64 collections, list of \
struct loras and embeddings), zstd, row groups of 10,000 records; reads in pandas, \
pyarrow and DuckDB. One column more than the other formats: seed_exact, the seed as \
text right after the int64 seed, because ComfyUI seeds run to 2^64-1 and int64 \
stops at 2^63-1: seed is null for those, seed_exact always has the digits \
(int(df["seed_exact"][i]) in pandas, seed_exact::UBIGINT in DuckDB).
"""


@command("export", help=EXPORT_HELP)
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
        bool, typer.Option("--excel", help="CSV for Excel: a byte-order mark.")
    ] = False,
    allow_formulas: Annotated[
        bool,
        typer.Option(
            "--allow-formulas",
            help="CSV: keep cells that start with = + - @ as they are (a spreadsheet may "
            "run them); by default they get a ' in front.",
        ),
    ] = False,
    *,
    filters: Filters,
    archive: ArchiveOption = DEFAULT_ARCHIVE,
) -> None:
    import os

    from civitai_vault.vault import Vault

    try:
        result = Vault(archive).export(
            output, format, excel=excel, allow_formulas=allow_formulas, **filters.as_kwargs()
        )
    except BrokenPipeError:
        # The reader stopped early (`| head`): fine, and nothing more to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(0) from None
    err_console.print(terminal_text(result.summary()), highlight=False, soft_wrap=True)
