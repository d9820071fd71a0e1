"""Signing in through a browser, against the emulator's sign-in page, in Debian's Chromium.

`--browser`: Playwright opens Chromium on the sign-in page; here the test fills
the form (a person would) and the session cookie the page sets is captured.
`--cookies-from-browser`: a real Chromium profile is made by signing in with
/usr/bin/chromium, then its cookie store is read back with browser-cookie3.
These tests fail, never skip, when Playwright or Chromium is missing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.account import Credentials, login
from civitai_vault.browser_login import (
    DEFAULT_CHROMIUM,
    BrowserLoginError,
    cookie_from_browser,
    sign_in_with_browser,
)
from civitai_vault.config import CredentialStore
from civitai_vault.errors import UsageError

pytestmark = pytest.mark.browser


def fill_sign_in(emu: Any) -> Any:
    def drive(page: Any) -> None:
        page.fill("#username", emu.dataset.owner.username)
        page.fill("#password", emu.password)
        page.click("#sign-in")

    return drive


def test_login_browser_captures_the_session_cookie(tmp_path: Path) -> None:
    with running_emulator(EmulatorConfig(seed=21, images=40)) as emu:
        token = sign_in_with_browser(
            emu.base_url, headless=True, drive=fill_sign_in(emu), timeout=60
        )
        assert token == emu.session_token
        store = CredentialStore(tmp_path)
        who = asyncio.run(login(store, Credentials(token=token), "red", emu.base_url, None))
    assert who.username == emu.dataset.owner.username
    assert store.load()["token"] == emu.session_token
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600


def test_login_browser_gives_up_when_nobody_signs_in() -> None:
    with (
        running_emulator(EmulatorConfig(seed=21, images=40)) as emu,
        pytest.raises(BrowserLoginError, match="no sign-in happened"),
    ):
        sign_in_with_browser(emu.base_url, headless=True, timeout=1)


def test_a_missing_browser_is_named() -> None:
    with pytest.raises(BrowserLoginError, match="no browser at /nowhere/chromium"):
        sign_in_with_browser("http://127.0.0.1:1", executable="/nowhere/chromium")


def test_cookies_from_a_real_chromium_profile(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "chromium-profile"
    with running_emulator(EmulatorConfig(seed=22, images=40)) as emu:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=DEFAULT_CHROMIUM,
                headless=True,
                args=["--password-store=basic"],
            )
            page = context.new_page()
            page.goto(emu.base_url + "/login")
            fill_sign_in(emu)(page)
            page.wait_for_url(emu.base_url + "/")
            context.close()  # Chromium writes its cookie store on the way out

        token = cookie_from_browser(f"chromium:{profile}", emu.base_url)
        assert token == emu.session_token

        # Signed in on another site only: nothing to take, and it says so.
        with pytest.raises(BrowserLoginError, match="no Civitai session cookie for localhost"):
            cookie_from_browser(f"chromium:{profile}", "http://localhost:9")
    with pytest.raises(UsageError, match="unknown browser 'netscape'"):
        cookie_from_browser("netscape", "https://civitai.com")
