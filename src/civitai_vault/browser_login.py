"""Signing in through a browser: the session cookie without copying anything by hand.

Two ways, as downloaders offer them:

- `sign_in_with_browser`: opens a real Chromium window (Playwright, driving the
  system's Chromium) on the site's sign-in page and waits until the site has
  set its session cookie, then closes the window and returns the cookie.
- `cookie_from_browser`: reads the cookie from the profile of a browser the
  user already signed in with (browser-cookie3 decrypts Chromium's and
  Firefox's cookie stores).

Either way the value goes to `account.login`, which checks it with Civitai
before anything is saved. Cookie names: `__Secure-civ-token` (https) or
`civ-token` (http), and the legacy `__Secure-civitai-token`, which Civitai
upgrades on first use (civitai/civitai @ ebed6616, src/server/auth/session-client.ts).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from civitai_vault.errors import Failure, UsageError

__all__ = [
    "BROWSERS",
    "DEFAULT_CHROMIUM",
    "BrowserLoginError",
    "cookie_from_browser",
    "pick_session_cookie",
    "sign_in_with_browser",
]

DEFAULT_CHROMIUM = "/usr/bin/chromium"
SESSION_COOKIES = ("__Secure-civ-token", "civ-token", "__Secure-civitai-token", "civitai-token")
SIGN_IN_PATH = "/login"
# Names browser-cookie3 knows, as `--cookies-from-browser` accepts them.
BROWSERS = (
    "chrome",
    "chromium",
    "brave",
    "edge",
    "opera",
    "opera_gx",
    "vivaldi",
    "firefox",
    "librewolf",
    "safari",
)


class BrowserLoginError(Failure):
    """The browser could not give a session cookie; the message says what to do (exit 1)."""


def pick_session_cookie(cookies: Iterable[tuple[str, str]]) -> str | None:
    """The session cookie's value from (name, value) pairs, newest cookie name first."""
    found = {name: value for name, value in cookies if value}
    for name in SESSION_COOKIES:
        if name in found:
            return found[name]
    return None


def sign_in_with_browser(
    base_url: str,
    *,
    executable: str = DEFAULT_CHROMIUM,
    headless: bool = False,
    timeout: float = 600.0,
    drive: Callable[[Any], None] | None = None,
    poll: float = 0.25,
) -> str:
    """Open `base_url`/login in Chromium and return the session cookie once it is set.

    `drive(page)` is called once the page is open (a test fills the form with
    it; a person does it by hand). Waits at most `timeout` seconds, and stops
    as soon as the window is closed.
    """
    if not Path(executable).exists():
        raise BrowserLoginError(
            f"no browser at {executable}: install Chromium (apt install chromium) or name "
            "one with --browser-path"
        )
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - a dependency, but a broken install says so
        raise BrowserLoginError(
            "Playwright is not installed: pip install playwright, or use --cookies FILE"
        ) from None
    url = base_url.rstrip("/") + SIGN_IN_PATH
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, headless=headless)
        except PlaywrightError as exc:
            raise BrowserLoginError(f"could not start {executable}: {_first_line(exc)}") from None
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(url)
            if drive is not None:
                drive(page)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                cookies = context.cookies(base_url)
                value = pick_session_cookie((c["name"], c["value"]) for c in cookies)
                if value:
                    return value
                if page.is_closed() or not browser.is_connected():
                    break
                try:
                    page.wait_for_timeout(poll * 1000)
                except PlaywrightError:
                    break  # the window was closed
            raise BrowserLoginError(
                f"no sign-in happened at {url} (the window was closed, or "
                f"{timeout:.0f} s passed): run `civitai-vault login --browser` again"
            )
        finally:
            with contextlib.suppress(PlaywrightError):
                browser.close()


def cookie_from_browser(spec: str, base_url: str) -> str:
    """The session cookie from an installed browser's profile.

    `spec` is a browser name (chrome, chromium, firefox, ...), optionally
    followed by `:PROFILE`, a profile folder or its cookie database file, for
    a profile other than the browser's default one.
    """
    name, _, profile = spec.partition(":")
    name = name.strip().lower().replace("-", "_")
    if name not in BROWSERS:
        raise UsageError(
            f"unknown browser {spec.partition(':')[0]!r} for --cookies-from-browser; "
            f"choose one of {', '.join(BROWSERS)}"
        )
    import browser_cookie3

    host = urlsplit(base_url).hostname or ""
    domain = _cookie_domain(host)
    kwargs: dict[str, Any] = {"domain_name": domain}
    if profile:
        kwargs["cookie_file"] = str(_cookie_file(Path(profile).expanduser(), name))
    try:
        with _keyring_or_default_password(browser_cookie3):
            jar = getattr(browser_cookie3, name)(**kwargs)
    except browser_cookie3.BrowserCookieError as exc:
        raise BrowserLoginError(f"could not read {name}'s cookies: {exc}") from None
    except OSError as exc:
        raise BrowserLoginError(
            f"could not read {name}'s cookies ({exc.strerror or exc}); close the browser "
            "and try again"
        ) from None
    value = pick_session_cookie((c.name, c.value or "") for c in jar if _matches(c.domain, host))
    if not value:
        raise BrowserLoginError(
            f"{name} holds no Civitai session cookie for {host}: sign in to {base_url} in "
            f"{name} first (or use `civitai-vault login --browser`)"
        )
    return value


@contextlib.contextmanager
def _keyring_or_default_password(module: Any) -> Iterator[None]:
    """Without a D-Bus session (a server, a container, ssh) there is no keyring.

    Chromium then encrypts cookies with its built-in password, the one
    browser-cookie3 falls back to; but browser-cookie3 asks the keyring first
    and fails with KeyError when no session bus exists at all, so it is told
    to skip the question.
    """
    manager = getattr(module, "_LinuxPasswordManager", None)
    if (
        not sys.platform.startswith("linux")
        or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
        or (manager is None)
    ):
        yield
        return
    asked = manager.get_password
    manager.get_password = lambda self, name: module.CHROMIUM_DEFAULT_PASSWORD
    try:
        yield
    finally:
        manager.get_password = asked


def _cookie_domain(host: str) -> str:
    """civitai.com for civitai.com and its subdomains (cookies are set on .civitai.com)."""
    parts = host.split(".")
    if len(parts) > 2 and not host.replace(".", "").isdigit():
        return ".".join(parts[-2:])
    return host


def _matches(cookie_domain: str, host: str) -> bool:
    domain = cookie_domain.lstrip(".").lower()
    return host == domain or host.endswith("." + domain)


def _cookie_file(profile: Path, browser: str) -> Path:
    """A profile folder's cookie database (Chromium moved it to Network/ in 2021)."""
    if profile.is_file():
        return profile
    names = ("cookies.sqlite",) if browser in ("firefox", "librewolf") else ("Cookies",)
    for folder in (profile, profile / "Default", profile / "Network", profile / "Default/Network"):
        for file_name in names:
            if (folder / file_name).is_file():
                return folder / file_name
    raise UsageError(f"no cookie database in {profile}: name the browser profile folder")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
