"""`demo`: the whole tool tried offline against the bundled emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from civitai_vault.cli.core import command, console, err_console
from civitai_vault.cli.options import QuietOption


@command("demo")
def demo_command(
    folder: Annotated[Path, typer.Option("--archive", help="Where the demo archive goes.")] = Path(
        "./civitai-demo"
    ),
    images: Annotated[int, typer.Option(help="Images in the emulator's dataset.")] = 600,
    quiet: QuietOption = False,
) -> None:
    """Start the bundled emulator, sign in, sync a sample private collection, show what you got."""
    from civitai_vault.demo import run_demo

    run_demo(folder, images=images, console=console, err_console=err_console, quiet=quiet)
