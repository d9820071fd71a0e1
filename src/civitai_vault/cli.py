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

# --- analysis commands (stats, check-models) ---

# --- gallery command (serve) ---

# --- emulator command ---


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # `civitai-vault export - | head` is fine
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
