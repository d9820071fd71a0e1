"""Debian's Chromium driven by Playwright, for a module's tests at most.

Playwright's sync API runs its asyncio loop in the calling thread and leaves it
marked as running until Playwright stops, so while a browser is open no
`asyncio.run` works in that thread. A browser therefore lives no longer than one
test module (`chromium()` in a module-scoped fixture), and stops when it ends:
what runs after it, in any order, finds the thread free.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Chromium (a Playwright `Browser`); fails, never skips, when either is missing."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
