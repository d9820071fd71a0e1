"""The Typer application, its consoles, and `command`: how every command is registered.

`command` does what each command used to repeat: it runs the body under one
guard that turns known errors into one line on stderr and an exit code (2 for
bad usage or input, 1 for a failure, 130 for Ctrl+C), and it expands the option
groups of `options.py` a command asks for into their flags.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from civitai_vault.cli.defaults import ReadableCommand, ReadableGroup, prepare_parameters
from civitai_vault.cli.options import expand_option_groups
from civitai_vault.untrusted import terminal_json, terminal_text

app = typer.Typer(
    name="civitai-vault",
    help="Archive your Civitai images with every piece of generation data, then search, "
    "browse, analyse and export them locally.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=ReadableGroup,
)

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., None])


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command with one line on stderr and exit code `code`.

    The message often quotes Civitai (a name, a server message): it is shown as
    text, never as markup, with any control character escaped.
    """
    line = Text("error: ", style="bold red") + terminal_text(message, one_line=True)
    err_console.print(line, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """What --json prints: the data, indented, non-ASCII text as is (escapes escaped)."""
    typer.echo(terminal_json(data))


def writer_waiting(wait: bool) -> dict[str, Any]:
    """`open_archive` arguments for a writer: stop at once, or wait saying for whom."""
    if not wait:
        return {"wait": 0}

    def told(holder: Any) -> None:
        err_console.print(
            terminal_text(
                f"waiting for another civitai-vault ({holder.describe()}) to finish "
                "writing to the archive..."
            ),
            highlight=False,
            soft_wrap=True,
        )

    return {"wait": None, "on_wait": told}


def _say_wait(message: str, seconds: float | None) -> None:
    """A long wait outside a sync's progress (check-models, whoami, ...): one line on stderr."""
    err_console.print(terminal_text(message, "yellow"), highlight=False, soft_wrap=True)


def run_guarded(action: Callable[[], None]) -> None:
    """Run a command body, turning known errors into one line and an exit code."""
    from civitai_vault.errors import describe_error
    from civitai_vault.waits import waits_said_by

    try:
        with waits_said_by(_say_wait):
            action()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        fail("interrupted; run the same command again to continue where it stopped", 130)
    except Exception as exc:
        message, code = describe_error(exc)
        fail(message, code)


def _print_version(value: bool) -> None:
    if value:
        from civitai_vault import __version__

        typer.echo(f"civitai-vault {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            is_eager=True,
            callback=_print_version,
            metavar="",
        ),
    ] = False,
) -> None:
    """Archive your Civitai images with every piece of generation data, then search,
    browse, analyse and export them locally."""


def command(name: str, **settings: Any) -> Callable[[F], F]:
    """Register `name` on the app: its body guarded, its option groups expanded.

    A parameter annotated with a group of `options.py` (`connection: Connection`,
    `filters: Filters`, `output: Output`) becomes that group's flags on the
    command line and arrives as one object.
    """

    def register(func: F) -> F:
        expanded = expand_option_groups(func)
        prepare_parameters(name, expanded)

        @functools.wraps(expanded)
        def guarded(**values: Any) -> None:
            run_guarded(lambda: expanded(**values))

        settings.setdefault("cls", ReadableCommand)
        app.command(name, **settings)(guarded)
        return func

    return register


def main() -> None:
    """The `civitai-vault` entry point."""
    try:
        code = app(standalone_mode=False)
    except BrokenPipeError:  # `civitai-vault export - | head` is fine
        sys.stderr.close()
        sys.exit(0)
    except Exception as exc:
        # A usage error of the command line itself (an unknown option, a missing value):
        # one line, exit 2, as for any other bad input. Typer bundles its own click, so
        # its errors are known by what they carry, not by class.
        if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
            raise
        context = getattr(exc, "ctx", None)
        where = getattr(context, "command_path", None) or "civitai-vault"
        err_console.print(
            f"[bold red]error:[/] {exc.format_message()}; see `{where} -h`",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
