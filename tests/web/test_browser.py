"""The gallery in a real browser: Debian's Chromium driven by Playwright.

A person searches, narrows by a facet, opens an image, copies its prompt,
plays a video and scrolls; throughout, no script from Civitai text may run
(no dialog, no `window.__pwned`), the Content-Security-Policy is never
violated, and the page never asks anything of another host.

These tests fail, never skip, when Playwright or Chromium is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from civitai_vault.archive import open_archive
from civitai_vault.archive.queries import get_record
from civitai_vault.media.infotext import build_infotext

from .conftest import HOSTILE_PROMPT

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Watch:
    """What a page did that it must not: dialogs, script errors, CSP refusals, foreign requests."""

    origin: str
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_console(message: Any) -> None:
            if "Content Security Policy" in message.text:
                self.csp_violations.append(message.text)

        def on_request(request: Any) -> None:
            if not request.url.startswith((self.origin + "/", "data:", "blob:")):
                self.foreign_requests.append(request.url)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", on_request)

    def assert_clean(self, page: Any) -> None:
        assert self.dialogs == []
        assert self.errors == []
        assert self.csp_violations == []
        assert self.foreign_requests == []
        assert page.evaluate("typeof window.__pwned") == "undefined"


@pytest.fixture
def gallery_page(browser: Any, mini_gallery: str) -> Iterator[Any]:
    context = browser.new_context(base_url=mini_gallery)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=mini_gallery)
    page = context.new_page()
    watch = Watch(origin=mini_gallery)
    watch.attach(page)
    yield page
    try:
        watch.assert_clean(page)
    finally:
        context.close()


def query_of(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def tile_ids(page: Any) -> list[int]:
    return [
        int(i)
        for i in page.locator("#grid > .tile").evaluate_all("ts => ts.map(t => t.dataset.id)")
    ]


def test_search_narrow_by_facet_and_open_an_image(gallery_page):
    page = gallery_page
    page.goto("/")
    page.fill("#q", "castle")
    page.press("#q", "Enter")
    page.wait_for_url("**/?*q=castle*")
    assert page.text_content("#total") == "2"
    assert tile_ids(page) == [102, 101]

    # The facet panel arrives after the results and narrows them further.
    pony = page.locator('details[data-facet="base_model"] a[data-value="Pony"]')
    pony.wait_for()
    assert pony.locator(".count").text_content() == "1"
    pony.click()
    page.wait_for_url("**base_model=Pony*")
    assert query_of(page) == {"q": ["castle"], "base_model": ["Pony"]}
    assert page.text_content("#total") == "1"
    assert tile_ids(page) == [101]

    # The search can be bookmarked: the same URL gives the same results.
    page.goto(page.url)
    assert tile_ids(page) == [101]

    page.locator('#grid .tile[data-id="101"] a').click()
    page.wait_for_url("**/images/101?*")
    # Civitai's hostile prompt is shown as the text it is, and did not run.
    assert page.text_content("#prompt") == HOSTILE_PROMPT
    assert page.locator("#grid").count() == 0
    page.get_by_text("← Back to results").click()
    page.wait_for_url("**/?q=castle&base_model=Pony")


def test_filter_form_applies_on_change(gallery_page):
    page = gallery_page
    page.goto("/")
    page.select_option('select[name="type"]', "video")
    page.wait_for_url("**type=video*")
    assert tile_ids(page) == [103]
    page.check('input[name="nsfw"][value="4"]')
    page.wait_for_url("**nsfw=4*")
    assert page.text_content("#total") == "0"
    assert page.get_by_text("No image matches this search.").is_visible()


def test_copy_the_prompt_and_the_a1111_text(gallery_page, mini_archive):
    page = gallery_page
    page.goto("/images/101")
    page.click("#copy-prompt")
    page.wait_for_function("() => document.getElementById('copy-status').textContent !== ''")
    assert page.evaluate("navigator.clipboard.readText()") == HOSTILE_PROMPT

    with open_archive(mini_archive.path, create=False) as archive:
        expected = build_infotext(get_record(archive.conn, 101))
    page.click("#copy-infotext")
    page.wait_for_function(
        "() => document.getElementById('copy-status').textContent.includes('A1111')"
    )
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == expected
    assert "Steps: 30" in copied


def test_a_video_plays_on_its_page_and_on_hover_in_the_grid(gallery_page):
    page = gallery_page
    page.goto("/images/103")
    player = page.locator("#player")
    player.wait_for()
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    assert player.evaluate("v => v.paused") is True
    player.focus()
    page.keyboard.press("Space")
    page.wait_for_function(
        "() => { const v = document.getElementById('player');"
        " return !v.paused && v.currentTime > 0.2; }"
    )

    page.goto("/?type=video")
    page.hover('#grid .tile[data-id="103"]')
    page.wait_for_function(
        "() => { const v = document.querySelector('.tile[data-id=\"103\"] video');"
        " return v && !v.paused && v.currentTime > 0.2; }"
    )
    page.mouse.move(0, 0)
    page.wait_for_function("() => document.querySelector('.tile video') === null")


def test_scrolling_down_loads_the_next_pages(gallery_page, mini_archive):
    page = gallery_page
    page.goto("/")
    assert len(tile_ids(page)) == 60
    page.locator("#next-page").scroll_into_view_if_needed()
    total = len(mini_archive.all_ids)
    page.wait_for_function(f"() => document.querySelectorAll('#grid > .tile').length === {total}")
    assert sorted(tile_ids(page)) == sorted(mini_archive.all_ids)
    assert page.locator("#next-page").count() == 0
