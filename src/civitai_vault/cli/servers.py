"""Commands that serve until Ctrl+C: serve (the gallery) and emulator."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from civitai_vault.cli.core import command, console, err_console, fail
from civitai_vault.cli.options import DEFAULT_ARCHIVE, ArchiveOption
from civitai_vault.untrusted import terminal_text


@command("serve")
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
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host",
            metavar="NAME",
            help="A host name (or address) others use to reach the gallery, e.g. "
            "nas.local; repeat for more. Requests naming any other host are refused, "
            "so a web page cannot read the archive through a name of its own.",
        ),
    ] = None,
) -> None:
    """Browse, search and read the archive in a web browser, offline."""
    import contextlib

    from civitai_vault.web.security import WILDCARD_ADDRESSES
    from civitai_vault.web.server import is_loopback, serve

    allowed = allow_host or []
    if not is_loopback(host):
        err_console.print(
            Text("warning: ", style="bold yellow")
            + terminal_text(
                f"listening on {host}: anyone who can reach this address can see the whole "
                "archive, without a password"
            ),
            highlight=False,
        )
    if host in WILDCARD_ADDRESSES and not allowed:
        err_console.print(
            "note: other machines must name this one with --allow-host NAME "
            "(the name or address they use); until then only this machine is answered",
            highlight=False,
        )

    def ready(url: str) -> None:
        console.print(
            terminal_text(f"Gallery of {archive} at {url}  (Ctrl+C to stop)"),
            highlight=False,
            soft_wrap=True,
        )

    # Ctrl+C is how a gallery ends: not an error.
    with contextlib.suppress(KeyboardInterrupt):
        serve(archive, host=host, port=port, on_ready=ready, allow_hosts=allowed)
    console.print("Gallery stopped.")


@command("emulator")
def emulator_command(
    port: Annotated[
        int,
        typer.Option(
            envvar="CIVITAI_EMULATOR_PORT",
            help="API port (the CDN listens on the next one; 0: any free ports).",
        ),
    ] = 8765,
    seed: Annotated[int, typer.Option(help="Dataset seed: the same seed, the same data.")] = 1,
    images: Annotated[int, typer.Option(help="Images in the dataset.")] = 600,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    site_mode: Annotated[
        str, typer.Option(help="green (civitai.com) or red (civitai.red).")
    ] = "green",
    encoding: Annotated[
        str,
        typer.Option(
            help="How answers are written: devalue (the live site since 2026-07), "
            "superjson, or mixed."
        ),
    ] = "devalue",
    fault: Annotated[
        list[str] | None,
        typer.Option(
            "--fault",
            metavar="NAME=VALUE",
            help="A failure to inject, repeat for more: shares of requests (status_429, "
            "status_500, status_502, status_503, dropped, truncated, malformed, empty_pages, "
            "call_500, and cdn_... for the CDN), latency / cdn_latency in seconds, limit "
            "(faults in all). E.g. --fault latency=0.05 --fault status_503=0.05.",
        ),
    ] = None,
) -> None:
    """Run the bundled Civitai emulator (API and image CDN) for trying the tool offline."""
    from civitai_emulator import Faults, serve

    if encoding not in ("devalue", "superjson", "mixed"):
        fail("--encoding must be devalue, superjson or mixed", 2)
    try:
        faults = Faults.from_assignments(fault or [])
    except ValueError as exc:
        fail(str(exc), 2)
    serve(
        port=port,
        seed=seed,
        images=images,
        host=host,
        site_mode=site_mode,
        encoding=encoding,
        faults=faults,
    )
