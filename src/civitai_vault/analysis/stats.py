"""Statistics over the archive: what a collection is made of, as one JSON-able dict.

Everything that can be is an SQL aggregate over the selected images (asked of
`archive.aggregates`, where the SQL lives); only prompt concepts need Python
(each distinct prompt text is read once, in a thread beside the SQL), so
100,000 images take a few seconds at most.

`compute_stats(conn, f)` is used by `civitai-vault stats` (table, `--json`,
`--html`) and by the gallery's statistics page. Model availability comes from
the cache that `check-models` (and sync) fill; this module never calls Civitai.

The dict: `generated_at`, `filter`, `counts` (images, videos, with_prompt,
authors, posts, checkpoints, loras, embeddings, tags, files, file_bytes,
failed_downloads, gone_upstream, first/last_created_at, ...); top lists of
{name, count} `checkpoints` (+ model_id), `base_models`, `samplers`, `tags`,
`authors`, `types`; `loras` and `embeddings` ({name, model_id, base_model,
uses, images, average/min/max_weight}); `collections`; `distributions` (steps, cfg_scale,
clip_skip: {values [{value, count}], missing, average, median}; sizes;
aspect_ratios); `nsfw_levels`; `over_time` ({unit, counts [{period, count}],
undated}); `lora_checkpoint_pairs`; `loras_by_checkpoint`; `models` (see
`availability.availability_summary`); `prompt_concepts` ({positive, negative}:
{prompts, words, phrases (+ average_weight), networks}).
"""

from __future__ import annotations

import heapq
import math
import sqlite3
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from civitai_vault.analysis.availability import availability_summary
from civitai_vault.analysis.prompts import ConceptCounter
from civitai_vault.analysis.results import Stats
from civitai_vault.archive import aggregates
from civitai_vault.archive.aggregates import (
    ImageColumn,
    PromptColumn,
    ResourceKind,
    Selection,
    SettingColumn,
)
from civitai_vault.archive.queries import RecordFilter
from civitai_vault.vocabulary import NSFW_LABELS

DEFAULT_TOP = 25
# Pairings shown per checkpoint in `loras_by_checkpoint`.
LORAS_PER_CHECKPOINT = 5
CHECKPOINTS_WITH_LORAS = 10
# Over a longer span images are counted per month, else per day.
DAILY_SPAN_DAYS = 62

# Named aspect ratios, portrait first; a size within 4% of one gets its name.
NAMED_RATIOS: tuple[tuple[str, float], ...] = tuple(
    (f"{w}:{h}", w / h)
    for w, h in (
        (1, 1),
        (4, 5),
        (3, 4),
        (2, 3),
        (9, 16),
        (1, 2),
        (9, 21),
        (5, 4),
        (4, 3),
        (3, 2),
        (16, 9),
        (2, 1),
        (21, 9),
    )
)
RATIO_TOLERANCE = 0.04


def compute_stats(
    conn: sqlite3.Connection, f: RecordFilter | None = None, *, top: int = DEFAULT_TOP
) -> Stats:
    """Everything `civitai-vault stats` shows, for the images `f` selects (all by default).

    The result holds only str, int, float, bool, None, lists and dicts. Top
    lists hold at most `top` entries, highest count first, ties by name.
    Sort, limit and offset of the filter are ignored: statistics cover every
    selected image.
    """
    scope = Selection(f)
    # Prompt concepts are Python work; they run beside the SQL aggregates below.
    prompt_concepts = _start_prompt_concepts(conn, scope, top)
    counts = aggregates.image_counts(conn, scope)
    loras = _resources(conn, scope, "lora")
    embeddings = _resources(conn, scope, "embedding")
    counts["loras"], counts["embeddings"] = len(loras), len(embeddings)
    pairs = aggregates.lora_checkpoint_counts(conn, scope)
    settings = _GenerationSettings.read(conn, scope)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "filter": _filter_summary(scope.filter),
        "counts": counts,
        "checkpoints": _checkpoints(conn, scope, top),
        "loras": loras[:top],
        "embeddings": embeddings[:top],
        "base_models": _top_column(conn, scope, "base_model", top),
        "samplers": settings.top("sampler", top),
        "tags": _tags(conn, scope, top),
        "authors": _top_column(conn, scope, "author", top),
        "collections": _collections(conn, scope),
        "distributions": {
            "steps": settings.distribution("steps"),
            "cfg_scale": settings.distribution("cfg_scale"),
            "clip_skip": settings.distribution("clip_skip"),
            "sizes": settings.sizes(top),
            "aspect_ratios": settings.aspect_ratios(),
        },
        "types": _top_column(conn, scope, "type", top),
        "nsfw_levels": _nsfw_levels(conn, scope),
        "over_time": _over_time(conn, scope),
        "lora_checkpoint_pairs": [
            {"checkpoint": checkpoint, "lora": lora, "count": count}
            for (checkpoint, lora), count in _highest(pairs.items(), top)
        ],
        "loras_by_checkpoint": _loras_by_checkpoint(conn, scope, pairs),
        "models": availability_summary(conn, scope.filter),
        "prompt_concepts": prompt_concepts(),
    }


def _filter_summary(f: RecordFilter) -> dict[str, Any]:
    """The filter's fields that select something (sorting and paging do not apply here)."""
    ignored = {"sort", "limit", "offset", "extra_where"}
    summary: dict[str, Any] = {}
    for item in fields(f):
        value = getattr(f, item.name)
        if item.name not in ignored and value not in (None, "", (), []):
            summary[item.name] = list(value) if isinstance(value, list | tuple) else value
    return summary


# ------------------------------------------------------------------ counts


# --------------------------------------------------------------- top lists


def _top_column(
    conn: sqlite3.Connection, scope: Selection, column: ImageColumn, top: int
) -> list[dict[str, Any]]:
    return [
        {"name": name, "count": count}
        for name, count in aggregates.top_values(conn, scope, column, top)
    ]


def _checkpoints(conn: sqlite3.Connection, scope: Selection, top: int) -> list[dict[str, Any]]:
    """The most used checkpoints by name, with a model id for links."""
    checkpoints = _top_column(conn, scope, "model", top)
    for checkpoint in checkpoints:
        # One indexed look-up per listed name beats reading model_id from every row.
        checkpoint["model_id"] = aggregates.checkpoint_model_id(conn, checkpoint["name"])
    return checkpoints


def _resources(
    conn: sqlite3.Connection, scope: Selection, kind: ResourceKind
) -> list[dict[str, Any]]:
    """Every LoRA or embedding used: uses, images, and the weights they were used at."""
    return [
        {
            "name": row["name"],
            "model_id": row["model_id"],
            "base_model": row["base_model"],
            "uses": row["uses"],
            "images": row["images"],
            "average_weight": _round(row["average_weight"]),
            "min_weight": row["min_weight"],
            "max_weight": row["max_weight"],
        }
        for row in aggregates.resource_usage(conn, scope, kind)
    ]


def _tags(conn: sqlite3.Connection, scope: Selection, top: int) -> list[dict[str, Any]]:
    return [{"name": name, "count": count} for name, count in aggregates.top_tags(conn, scope, top)]


def _collections(conn: sqlite3.Connection, scope: Selection) -> list[dict[str, Any]]:
    """Every collection holding selected images (few per archive, so no top limit)."""
    return [
        {"id": collection_id, "name": name, "count": count}
        for collection_id, name, count in aggregates.collection_counts(conn, scope)
    ]


# ----------------------------------------------------------- distributions


class _GenerationSettings:
    """Sampler, steps, CFG, clip skip and size of the selected images, read in one pass.

    SQL counts each combination once (a few thousand combinations for 100,000
    images); every single-setting distribution is a sum over those rows.
    """

    COLUMNS: tuple[SettingColumn, ...] = (
        "sampler",
        "steps",
        "cfg_scale",
        "clip_skip",
        "width",
        "height",
    )

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows  # (*COLUMNS, count)

    @classmethod
    def read(cls, conn: sqlite3.Connection, scope: Selection) -> _GenerationSettings:
        return cls(aggregates.setting_combinations(conn, scope, cls.COLUMNS))

    def counts(self, column: SettingColumn) -> dict[Any, int]:
        index = self.COLUMNS.index(column)
        counts: dict[Any, int] = {}
        for row in self.rows:
            counts[row[index]] = counts.get(row[index], 0) + row[-1]
        return counts

    def top(self, column: SettingColumn, top: int) -> list[dict[str, Any]]:
        counts = self.counts(column)
        named = ((name, count) for name, count in counts.items() if name not in (None, ""))
        return [{"name": name, "count": count} for name, count in _highest(named, top)]

    def distribution(self, column: SettingColumn) -> dict[str, Any]:
        """Every value with its count (ascending), how many images lack it, mean and median."""
        counts = self.counts(column)
        missing = counts.pop(None, 0)
        values = [{"value": value, "count": counts[value]} for value in sorted(counts)]
        known = sum(counts.values())
        total = sum(value * count for value, count in counts.items())
        return {
            "values": values,
            "missing": missing,
            "average": _round(total / known) if known else None,
            "median": _median(values, known),
        }

    def size_counts(self) -> dict[tuple[int, int], int]:
        counts: dict[tuple[int, int], int] = {}
        for *_, width, height, count in self.rows:
            if width and height and width > 0 and height > 0:
                counts[width, height] = counts.get((width, height), 0) + count
        return counts

    def sizes(self, top: int) -> dict[str, Any]:
        counts = self.size_counts()
        orientation = {"portrait": 0, "landscape": 0, "square": 0}
        for (width, height), count in counts.items():
            key = "square" if width == height else ("portrait" if height > width else "landscape")
            orientation[key] += count
        return {
            "values": [
                {"value": f"{width}x{height}", "count": count}
                for (width, height), count in _highest(counts.items(), top)
            ],
            "distinct": len(counts),
            "orientation": orientation,
        }

    def aspect_ratios(self) -> list[dict[str, Any]]:
        counts: dict[str, int] = {}
        for (width, height), count in self.size_counts().items():
            label = aspect_ratio_label(width, height)
            counts[label] = counts.get(label, 0) + count
        return [
            {"value": label, "count": count}
            for label, count in _highest(counts.items(), len(counts))
        ]


def _median(values: list[dict[str, Any]], known: int) -> float | int | None:
    """The middle value of a sorted value/count list (mean of the two middle ones if even)."""
    if not known:
        return None
    low_rank, high_rank = (known - 1) // 2, known // 2
    low: Any = None
    high: Any = None
    seen = 0
    for item in values:
        seen += item["count"]
        if low is None and seen > low_rank:
            low = item["value"]
        if seen > high_rank:
            high = item["value"]
            break
    return low if low == high else _round((low + high) / 2)


def aspect_ratio_label(width: int, height: int) -> str:
    """`2:3` for 832x1216 (near enough); sizes far from any named ratio get `w/h:1`."""
    ratio = width / height
    name, named = min(NAMED_RATIOS, key=lambda item: abs(math.log(ratio / item[1])))
    if abs(math.log(ratio / named)) <= RATIO_TOLERANCE:
        return name
    return f"{ratio:.2f}:1"


def _nsfw_levels(conn: sqlite3.Connection, scope: Selection) -> list[dict[str, Any]]:
    return [
        {
            "level": level,
            "label": NSFW_LABELS.get(level, f"level {level}") if level is not None else "Unknown",
            "count": count,
        }
        for level, count in aggregates.nsfw_level_counts(conn, scope)
    ]


# --------------------------------------------------------------------- time


def _over_time(conn: sqlite3.Connection, scope: Selection) -> dict[str, Any]:
    """Images per month (per day when they span two months or less), gaps filled with 0."""
    earliest, latest = aggregates.created_span(conn, scope)
    if earliest is None or latest is None:
        return {"unit": "month", "counts": [], "undated": aggregates.undated_count(conn, scope)}
    first, last = date.fromisoformat(earliest[:10]), date.fromisoformat(latest[:10])
    unit, width = ("day", 10) if (last - first).days <= DAILY_SPAN_DAYS else ("month", 7)
    counted = aggregates.created_counts(conn, scope, width)
    periods = _days(first, last) if unit == "day" else _months(first, last)
    return {
        "unit": unit,
        "counts": [{"period": period, "count": counted.get(period, 0)} for period in periods],
        "undated": aggregates.undated_count(conn, scope),
    }


def _days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _months(first: date, last: date) -> list[str]:
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# ------------------------------------------------------------------ pairings


def _highest(items: Iterable[tuple[Any, int]], limit: int) -> list[tuple[Any, int]]:
    """Highest count first, ties in key order, so equal counts always come out the same."""
    return heapq.nsmallest(limit, items, key=lambda item: (-item[1], item[0]))


def _loras_by_checkpoint(
    conn: sqlite3.Connection, scope: Selection, pairs: dict[tuple[str, str], int]
) -> list[dict[str, Any]]:
    """For the most used checkpoints, the LoRAs most used with each."""
    checkpoints = _checkpoints(conn, scope, CHECKPOINTS_WITH_LORAS)
    by_checkpoint: dict[str, list[tuple[str, int]]] = {c["name"]: [] for c in checkpoints}
    for (checkpoint, lora), count in pairs.items():
        if checkpoint in by_checkpoint:
            by_checkpoint[checkpoint].append((lora, count))
    return [
        {
            "checkpoint": checkpoint["name"],
            "images": checkpoint["count"],
            "loras": [
                {"name": lora, "count": count}
                for lora, count in _highest(by_checkpoint[checkpoint["name"]], LORAS_PER_CHECKPOINT)
            ],
        }
        for checkpoint in checkpoints
    ]


# ------------------------------------------------------------------ prompts


def _start_prompt_concepts(
    conn: sqlite3.Connection, scope: Selection, top: int
) -> Callable[[], dict[str, Any]]:
    """Start counting prompt concepts; returns a function that waits for the result.

    The counting runs in a thread with its own read-only connection, while the
    caller's connection does the SQL aggregates: SQLite releases the GIL as it
    works, so the two overlap. An in-memory database, or a connection inside a
    transaction (whose rows another connection cannot see), counts in place.
    """
    path = aggregates.database_file(conn)
    if path is None or conn.in_transaction:
        return lambda: _prompt_concepts(conn, scope, top)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="civitai-vault-prompts")
    future = executor.submit(_prompt_concepts_from_file, path, scope, top)
    executor.shutdown(wait=False)
    return future.result


def _prompt_concepts_from_file(path: Path, scope: Selection, top: int) -> dict[str, Any]:
    reader = aggregates.open_second_reader(path)
    try:
        return _prompt_concepts(reader, scope, top)
    finally:
        reader.close()


def _prompt_concepts(conn: sqlite3.Connection, scope: Selection, top: int) -> dict[str, Any]:
    return {
        "positive": _concepts(conn, scope, "prompt", top),
        "negative": _concepts(conn, scope, "negative_prompt", top),
    }


def _concepts(
    conn: sqlite3.Connection, scope: Selection, column: PromptColumn, top: int
) -> dict[str, Any]:
    """Words, phrases and extra-network tags, counted in how many images' prompts they appear."""
    counter = ConceptCounter()
    for rows in aggregates.prompt_text_counts(conn, scope, column):
        for text, times in rows:
            counter.add(text, times)
    return {"prompts": counter.prompts, **counter.top(top)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
