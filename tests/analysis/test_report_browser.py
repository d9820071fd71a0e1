"""The HTML report in a real browser: Debian's Chromium driven by Playwright.

The report made by `stats --html` must show its charts, run no script (none of
the hostile names and prompts may execute: no dialog, no `window.__pwned`),
violate nothing in its own Content-Security-Policy, ask nothing of any host,
and fit a phone's width. These tests fail, never skip, when Playwright or
Chromium is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from tests.support.browser import chromium
from typer.testing import CliRunner

from civitai_vault.analysis.report import render_charts
from civitai_vault.analysis.stats import compute_stats
from civitai_vault.archive import open_archive
from civitai_vault.cli import app

from .conftest import HOSTILE_AUTHOR, HOSTILE_LORA, HOSTILE_PROMPT, HOSTILE_TAG

pytestmark = pytest.mark.browser

HOSTILE_TITLE = "<script>window.__pwned=4</script> report"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def report(small_archive, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "stats",
            "--archive",
            str(small_archive.path),
            "--html",
            str(path),
            "--title",
            HOSTILE_TITLE,
        ],
    )
    assert result.exit_code == 0, result.output
    return path


class Watch:
    """Everything a page did that a report must never do."""

    def __init__(self, page: Any, report: Path) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.own_url = report.as_uri()

        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        def on_console(message: Any) -> None:
            if message.type in ("error", "warning"):
                self.errors.append(message.text)

        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))

    def assert_clean(self) -> None:
        assert self.dialogs == []
        assert self.errors == []  # CSP refusals are console errors too
        assert self.requests == [self.own_url]


def open_report(browser: Any, report: Path, **context: Any) -> tuple[Any, Watch]:
    page = browser.new_page(**context)
    watch = Watch(page, report)
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    return page, watch


def test_charts_render_without_errors_or_requests(browser, report):
    page, watch = open_report(browser, report, viewport={"width": 1280, "height": 900})
    try:
        charts = page.locator("svg.cv-svg")
        assert charts.count() >= 15
        for index in range(charts.count()):
            box = charts.nth(index).bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 10
        assert page.locator("svg.cv-svg rect").count() > 100
        title = page.locator("h2", has_text=re.compile("^Checkpoints$"))
        checkpoints = page.locator("section.cv-card", has=title).locator("svg")
        assert "Pony Diffusion V6 XL" in (checkpoints.text_content() or "")
        # The stylesheet applied: its hash in the CSP matches.
        radius = page.evaluate(
            "getComputedStyle(document.querySelector('.cv-card')).borderTopLeftRadius"
        )
        assert radius == "10px"
        watch.assert_clean()
    finally:
        page.close()


def test_hostile_text_is_shown_never_run(browser, report):
    page, watch = open_report(browser, report, viewport={"width": 1280, "height": 900})
    try:
        text = page.evaluate("document.body.textContent")
        for hostile in (HOSTILE_PROMPT, HOSTILE_LORA, HOSTILE_TAG, HOSTILE_AUTHOR):
            assert hostile in text or hostile.lower() in text
        assert page.title() == HOSTILE_TITLE
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.evaluate("document.querySelectorAll('script, img, iframe, object').length") == 0
        csp = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
        assert "default-src 'none'" in csp and "script-src" not in csp
        watch.assert_clean()
    finally:
        page.close()


def test_report_fits_a_phone(browser, report):
    page, watch = open_report(
        browser,
        report,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # Charts are drawn 360 units wide: at this width their 12-unit labels stay >= 10 px.
        widths = page.evaluate(
            "[...document.querySelectorAll('svg.cv-svg')].map(s => s.getBoundingClientRect().width)"
        )
        assert widths and min(widths) * 12 / 360 >= 10
        watch.assert_clean()
    finally:
        page.close()


def test_gone_models_link_to_the_archive_copy(browser, report):
    page, watch = open_report(browser, report, viewport={"width": 1280, "height": 900})
    try:
        links = page.locator("table.cv-table a", has_text="archive copy")
        hrefs = {links.nth(i).get_attribute("href") for i in range(links.count())}
        assert "https://civitaiarchive.com/models/777" in hrefs  # the version Civitai 404s
        assert "https://civitaiarchive.com/models/133005" in hrefs  # the deleted checkpoint
        watch.assert_clean()
    finally:
        page.close()


def test_fragment_is_safe_to_embed(small_archive):
    """The gallery embeds the charts under its own CSP: no scripts, styles or handlers."""
    with open_archive(small_archive.path, create=False) as archive:
        fragment = render_charts(compute_stats(archive.conn))
    tags: set[str] = set()
    attributes: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.add(tag)
            attributes.update(name for name, _ in attrs)

    Collect().feed(fragment)
    assert "svg" in tags and "rect" in tags
    assert not tags & {"script", "style", "img", "iframe", "object", "link"}
    assert "style" not in attributes
    assert not [name for name in attributes if name.startswith("on")]
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in fragment
