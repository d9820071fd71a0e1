"""Commands about your Civitai account: collections, login, logout, whoami."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar

import typer

from civitai_vault.cli.core import command, console, fail, print_json
from civitai_vault.cli.options import (
    ApiKeyFileOption,
    Connection,
    Output,
    SiteOptions,
    TokenFileOption,
)
from civitai_vault.untrusted import terminal_text

if TYPE_CHECKING:
    from civitai_vault.account import Credentials


@command("collections")
def collections_command(*, output: Output, connection: Connection) -> None:
    """Your collections on Civitai, private ones included (needs `login`)."""
    import asyncio

    from rich.table import Table

    from civitai_vault.account import list_collections
    from civitai_vault.render import print_table

    rows = asyncio.run(list_collections(connection.settings()))
    if output.json:
        print_json(rows)
        return
    table = Table(title="your collections")
    for column in ("id", "name", "type", "privacy", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row["id"]),
            terminal_text(row["name"], one_line=True),
            terminal_text(row["type"], one_line=True),
            terminal_text(row["read"], one_line=True),
            f"collection:{row['id']}",
        )
    print_table(console, table)


@command("login")
def login_command(
    # No envvar here: `login` saves what it is given, not what the environment holds.
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", help="A Civitai API key (visible in `ps`: prefer --api-key-file)."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="The session cookie value, civ-token (visible in `ps`: prefer --token-file).",
        ),
    ] = None,
    api_key_file: ApiKeyFileOption = None,
    token_file: TokenFileOption = None,
    cookies: Annotated[
        Path | None,
        typer.Option("--cookies", help="A Netscape cookies.txt exported from your browser."),
    ] = None,
    browser: Annotated[
        bool,
        typer.Option("--browser", help="Sign in in a browser window; the session cookie is kept."),
    ] = False,
    browser_path: Annotated[
        str,
        typer.Option("--browser-path", help="The Chromium that --browser opens."),
    ] = "/usr/bin/chromium",
    cookies_from_browser: Annotated[
        str | None,
        typer.Option(
            "--cookies-from-browser",
            help="Take the session cookie from a browser you are signed in with: chrome, "
            "chromium, firefox, edge, brave, opera, vivaldi, librewolf or safari, optionally "
            "followed by :PROFILE (its profile folder).",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a saved login.")] = False,
    *,
    where: SiteOptions,
) -> None:
    """Save an API key or session token (checked against Civitai first; file mode 0600)."""
    import asyncio

    from civitai_vault.account import Credentials, login, read_cookies_file
    from civitai_vault.config import CredentialStore, load_settings

    store = CredentialStore()
    saved = store.load()
    if (saved.get("api_key") or saved.get("token")) and not force:
        fail("a login is already saved; run `civitai-vault login --force` to replace it", 2)
    site_url = load_settings(site=where.site, base_url=where.base_url).effective_base_url
    if browser:
        from civitai_vault.browser_login import sign_in_with_browser

        console.print(
            f"Sign in to {site_url} in the browser window; it closes by itself once you are "
            "signed in.",
            highlight=False,
        )
        credentials = Credentials(token=sign_in_with_browser(site_url, executable=browser_path))
    elif cookies_from_browser is not None:
        from civitai_vault.browser_login import cookie_from_browser

        credentials = Credentials(token=cookie_from_browser(cookies_from_browser, site_url))
    elif cookies is not None:
        credentials = Credentials(token=read_cookies_file(cookies))
    elif api_key or token or api_key_file or token_file:
        given = _LoginCredentials(api_key=api_key, token=token, api_key_file=api_key_file)
        key, session = dataclasses.replace(given, token_file=token_file).credentials()
        credentials = Credentials(api_key=key, token=session)
    else:
        credentials = _ask_credentials()
    who = asyncio.run(login(store, credentials, where.site, where.base_url, where.image_base_url))
    name = who.username or f"user {who.user_id}" if who.user_id else "your account"
    console.print(
        terminal_text(f"Signed in as {name} on {who.site_label}; saved to {store.path}"),
        highlight=False,
    )


@dataclasses.dataclass(frozen=True)
class _LoginCredentials(Connection):
    """`login`'s --api-key and --token read no environment: given there, it is the flag."""

    environment: ClassVar[bool] = False


def _ask_credentials() -> Credentials:
    from civitai_vault.account import Credentials, looks_like_session_token

    if not sys.stdin.isatty():
        fail(
            "no credential given: pass --api-key-file FILE (- reads it from stdin), "
            "--token-file FILE or --cookies FILE (nothing to ask on a pipe)",
            2,
        )
    secret = typer.prompt("Civitai API key or session token", hide_input=True).strip()
    if looks_like_session_token(secret):
        return Credentials(token=secret)
    return Credentials(api_key=secret)


@command("logout")
def logout_command() -> None:
    """Forget the saved API key and session token."""
    from civitai_vault.config import CredentialStore

    store = CredentialStore()
    if store.clear_credentials():
        console.print(terminal_text(f"Removed the saved login from {store.path}"), highlight=False)
    else:
        console.print("No login was saved.")


@command("whoami")
def whoami_command(*, output: Output, connection: Connection) -> None:
    """Who Civitai thinks you are, on which site, and whether R/X images are visible there."""
    import asyncio
    import dataclasses

    from civitai_vault.account import whoami

    settings = connection.settings()
    who = asyncio.run(whoami(settings))
    if output.json:
        print_json(dataclasses.asdict(who))
    else:
        console.print(terminal_text(who.sentence()), highlight=False)
    if settings.signed_in and not who.signed_in:
        # A key is refused outright (KeyRejected); an expired session reads as anonymous.
        fail(
            "Civitai did not accept your session token (expired or signed out): run "
            "`civitai-vault login --force` (--browser signs in through a browser)"
        )
