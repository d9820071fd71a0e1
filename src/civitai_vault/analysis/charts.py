"""Chart geometry: numbers in, positions out. The templates draw them as inline SVG.

Nothing here writes markup, so every label reaches the page through Jinja2's
autoescaping. Charts are drawn on a 360-unit-wide canvas that the page scales
to its width (and no wider than about 1.5 times that), so 12-unit text stays
readable on a phone and never grows huge on a desktop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 360
BAR_ROW_HEIGHT = 30
# About how many 12-unit characters fit on the line above a bar.
LABEL_CHARS = 52
# Width of one character of the 10.5-unit value text after a bar, about.
VALUE_CHAR_WIDTH = 6.2
COLUMN_HEIGHT = 190
COLUMN_PLOT_TOP = 12
COLUMN_PLOT_BOTTOM = 160
COLUMN_PLOT_LEFT = 40
MAX_X_LABELS = 6

BAR_COLOR = "#4e79a7"
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
NSFW_COLORS = {
    "PG": "#59a14f",
    "PG-13": "#8cd17d",
    "R": "#f1ce63",
    "X": "#f28e2b",
    "XXX": "#e15759",
    "Blocked": "#79706e",
}
AVAILABILITY_COLORS = {
    "available": "#59a14f",
    "deleted": "#e15759",
    "unpublished": "#f28e2b",
    "not_found": "#b07aa1",
    "unchecked": "#bab0ac",
}


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """One line of at most `limit` characters; the full text goes in the tooltip."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def number(value: float | int | None) -> str:
    """12,345 / 7.5 / 0.667: short, with thousands separators, no trailing zeros."""
    if value is None:
        return "–"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Bar:
    label: str
    full_label: str
    value_text: str
    y: float
    width: float
    link: str | None = None


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, each under a line with its label, its value just after the bar.

    Labels get the whole width instead of a narrow column beside the bars, so
    long model names stay readable on a phone.
    """

    bars: list[Bar]
    height: int
    width: int = WIDTH

    @property
    def empty(self) -> bool:
        return not self.bars


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    value_texts: Sequence[str] | None = None,
    links: Sequence[str | None] | None = None,
) -> BarChart:
    """Bars for (label, value) pairs, in the order given, scaled to the largest value."""
    largest = max((value for _, value in items), default=0) or 1
    texts = list(value_texts) if value_texts else [number(value) for _, value in items]
    # The longest value text must still fit after the longest bar.
    bar_area = WIDTH - min(WIDTH / 2, 8 + VALUE_CHAR_WIDTH * max(map(len, texts), default=0))
    bars = [
        Bar(
            label=shorten(label),
            full_label=str(label),
            value_text=texts[index],
            y=index * BAR_ROW_HEIGHT,
            width=max(1.0, round(bar_area * max(value, 0) / largest, 1)),
            link=links[index] if links else None,
        )
        for index, (label, value) in enumerate(items)
    ]
    return BarChart(bars=bars, height=max(1, len(bars) * BAR_ROW_HEIGHT))


@dataclass(frozen=True)
class Column:
    label: str
    value_text: str
    x: float
    y: float
    width: float
    height: float
    show_label: bool


@dataclass(frozen=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True)
class ColumnChart:
    """Vertical columns over an ordered axis (values, months, days)."""

    columns: list[Column]
    ticks: list[Tick]
    width: int = WIDTH
    height: int = COLUMN_HEIGHT
    plot_left: int = COLUMN_PLOT_LEFT
    plot_bottom: int = COLUMN_PLOT_BOTTOM
    label_y: int = COLUMN_PLOT_BOTTOM + 16

    @property
    def empty(self) -> bool:
        return not self.columns


def column_chart(items: Sequence[tuple[str, float]]) -> ColumnChart:
    """Columns for (label, value) pairs in axis order; at most MAX_X_LABELS labels are shown."""
    largest = max((value for _, value in items), default=0)
    top = _nice_ceiling(largest)
    plot_height = COLUMN_PLOT_BOTTOM - COLUMN_PLOT_TOP
    slot = (WIDTH - COLUMN_PLOT_LEFT - 4) / max(1, len(items))
    every = max(1, math.ceil(len(items) / MAX_X_LABELS))
    columns = []
    for index, (label, value) in enumerate(items):
        height = plot_height * value / top if top else 0
        columns.append(
            Column(
                label=shorten(label, 12),
                value_text=f"{label}: {number(value)}",
                x=round(COLUMN_PLOT_LEFT + index * slot + slot * 0.1, 2),
                y=round(COLUMN_PLOT_BOTTOM - height, 2),
                width=round(max(slot * 0.8, 0.5), 2),
                height=round(max(height, 0.5 if value else 0), 2),
                show_label=index % every == 0,
            )
        )
    ticks = [
        Tick(y=round(COLUMN_PLOT_BOTTOM - plot_height * share, 2), text=number(top * share))
        for share in (0, 0.5, 1)
    ]
    return ColumnChart(columns=columns, ticks=ticks if top else [])


def _nice_ceiling(value: float) -> float:
    """The next 1, 2, 2.5 or 5 times a power of ten: axis ticks a person can read."""
    if value <= 0:
        return 0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


@dataclass(frozen=True)
class Segment:
    label: str
    value_text: str
    share_text: str
    x: float
    width: float
    color: str


@dataclass(frozen=True)
class ShareChart:
    """One bar split into parts (the NSFW mix, model availability), with a legend."""

    segments: list[Segment]
    width: int = WIDTH
    bar_height: int = 28
    legend: list[tuple[Segment, float, int]] = field(default_factory=list)  # (segment, x, y)
    height: int = 28

    @property
    def empty(self) -> bool:
        return not self.segments


def share_chart(
    items: Sequence[tuple[str, float]], colors: dict[str, str] | None = None
) -> ShareChart:
    """A 100% bar for (label, value) pairs; parts of zero are left out."""
    total = sum(value for _, value in items if value > 0)
    if not total:
        return ShareChart(segments=[])
    segments, x = [], 0.0
    for index, (label, value) in enumerate(item for item in items if item[1] > 0):
        width = WIDTH * value / total
        segments.append(
            Segment(
                label=str(label),
                value_text=number(value),
                share_text=_percent(value / total),
                x=round(x, 2),
                width=round(width, 2),
                color=(colors or {}).get(str(label), PALETTE[index % len(PALETTE)]),
            )
        )
        x += width
    # Two legend entries per line: they fit a phone's width.
    legend = [
        (segment, (index % 2) * WIDTH / 2, 28 + 14 + (index // 2) * 20)
        for index, segment in enumerate(segments)
    ]
    height = 28 + 14 + math.ceil(len(segments) / 2) * 20
    return ShareChart(segments=segments, legend=legend, height=height)


def _percent(share: float) -> str:
    if 0 < share < 0.001:
        return "<0.1%"
    return f"{share * 100:.1f}%".replace(".0%", "%")
