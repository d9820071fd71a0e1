"""The statistics page's body: the analysis module's charts for the current search."""

from __future__ import annotations

import sqlite3

from markupsafe import Markup

from civitai_vault.analysis.report import render_charts
from civitai_vault.analysis.stats import compute_stats
from civitai_vault.web.params import SearchParams


def stats_charts(conn: sqlite3.Connection, params: SearchParams) -> Markup:
    """The charts of `compute_stats` for the images this search selects."""
    # The report module builds this HTML from numbers and escapes every name itself.
    return Markup(render_charts(compute_stats(conn, params.to_filter())))
