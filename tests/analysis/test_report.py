"""The report's HTML as a reader gets it, without a browser: labels, empty archives, the CSP."""

from __future__ import annotations

import base64
import hashlib
import html
import re

from civitai_vault.analysis.report import render_charts, render_report
from civitai_vault.analysis.stats import compute_stats
from civitai_vault.archive import open_archive


def test_models_sharing_a_name_are_told_apart_by_base_model(small_archive):
    with open_archive(small_archive.path, create=False) as archive:
        stats = compute_stats(archive.conn)
    stats["embeddings"] = [
        {**stats["embeddings"][0], "model_id": 1, "base_model": "SD 1.5"},
        {**stats["embeddings"][0], "model_id": 2, "base_model": "Pony"},
    ]
    fragment = render_charts(stats)
    name = stats["embeddings"][0]["name"]
    assert f"{name} (SD 1.5)" in fragment and f"{name} (Pony)" in fragment


def test_an_empty_archive_gives_a_page_that_says_so(tmp_path):
    with open_archive(tmp_path / "empty") as archive:
        page = render_report(compute_stats(archive.conn), "Nothing yet")
    assert "No data." in page
    assert "<svg" not in page


def test_the_policy_allows_exactly_the_page_stylesheet(small_archive):
    with open_archive(small_archive.path, create=False) as archive:
        page = render_report(compute_stats(archive.conn), "Report")
    css = re.search(r"<style>(.*?)</style>", page, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    attribute = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    policy = html.unescape(attribute.group(1))
    assert f"style-src 'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy and "script" not in policy
    assert page.count("<style") == 1 and "<script" not in page
