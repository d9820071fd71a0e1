"""The statistics page's body: the analysis charts when available, else a facet summary."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from civitai_vault.web.facets import Facet
from civitai_vault.web.params import SearchParams


@dataclass(frozen=True)
class StatsSection:
    charts: Markup | None = None
    facets: dict[str, Facet] | None = None


def stats_section(
    conn: sqlite3.Connection,
    params: SearchParams,
    summary: Callable[[], dict[str, Facet]],
) -> StatsSection:
    charts = analysis_charts(conn, params)
    if charts is not None:
        return StatsSection(charts=charts)
    return StatsSection(facets=summary())


def analysis_charts(conn: sqlite3.Connection, params: SearchParams) -> Markup | None:
    """The analysis module's charts for this search, or None while it is not installed."""
    try:
        from civitai_vault.analysis.report import render_charts
        from civitai_vault.analysis.stats import compute_stats
    except ImportError:
        return None
    stats: Any = compute_stats(conn, params.to_filter())
    # The report module builds this HTML from numbers and escapes every name itself.
    return Markup(render_charts(stats))
