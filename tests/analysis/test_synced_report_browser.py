"""The report of an archive synced from the emulator, in Chromium (fails, never skips)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.browser import chromium
from typer.testing import CliRunner

from civitai_vault.cli import app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def report(synced_archive, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synced-report") / "report.html"
    result = CliRunner().invoke(
        app, ["stats", "--archive", str(synced_archive.path), "--html", str(path)]
    )
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def page(report) -> Iterator[tuple[Any, dict[str, list[str]]]]:
    seen: dict[str, list[str]] = {"dialogs": [], "errors": [], "requests": []}
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
        page.on(
            "console",
            lambda m: seen["errors"].append(m.text) if m.type in ("error", "warning") else None,
        )
        page.on("pageerror", lambda error: seen["errors"].append(str(error)))
        page.on("request", lambda request: seen["requests"].append(request.url))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        yield page, seen


def test_hostile_collection_name_shows_as_text(page):
    from civitai_emulator.vocabulary import HOSTILE_COLLECTION_NAME

    view, _ = page
    assert HOSTILE_COLLECTION_NAME in view.evaluate("document.body.textContent")
    assert view.evaluate("document.querySelectorAll('b, script, img').length") == 0
    assert view.evaluate("typeof window.__pwned") == "undefined"


def test_charts_fit_a_phone_with_nothing_fetched(page, report):
    view, seen = page
    assert view.locator("svg.cv-svg").count() >= 15
    assert view.evaluate("document.documentElement.scrollWidth") <= 390
    assert seen["dialogs"] == [] and seen["errors"] == []
    assert seen["requests"] == [report.as_uri()]
