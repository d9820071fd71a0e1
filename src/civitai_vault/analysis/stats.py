"""Statistics over the archive: what a collection is made of, as one JSON-able dict.

Everything that can be is an SQL aggregate over the selected images; only
prompt concepts need Python (each distinct prompt text is read once, in a
thread beside the SQL), so 100,000 images take a few seconds at most.

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
from civitai_vault.archive.queries import RecordFilter, where_clause
from civitai_vault.archive.schema import connect_read_only
from civitai_vault.archive.sql import query
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


class _Scope:
    """The selected images as SQL.

    Queries on `images` use `where` directly. Queries on the tables that hang
    off images (resources, tags, files, collections) use `selects(column)`: an
    `IN (SELECT id ...)` that SQLite evaluates once into a set, far cheaper
    than joining each of their rows to a wide image row.
    """

    def __init__(self, f: RecordFilter | None) -> None:
        self.filter = f or RecordFilter()
        self.where, self.params = where_clause(self.filter)

    @property
    def everything(self) -> bool:
        return self.where == "1"

    def selects(self, image_id_column: str) -> str:
        if self.everything:
            return "1"
        return f"{image_id_column} IN (SELECT i.id FROM images i WHERE {self.where})"

    @property
    def selection_params(self) -> list[Any]:
        return [] if self.everything else self.params


# Their indexes hold neither weights nor image ids, so walking one means a
# random row read per entry: one pass over the whole table is faster.
RESOURCES = "image_resources r NOT INDEXED"


def compute_stats(
    conn: sqlite3.Connection, f: RecordFilter | None = None, *, top: int = DEFAULT_TOP
) -> Stats:
    """Everything `civitai-vault stats` shows, for the images `f` selects (all by default).

    The result holds only str, int, float, bool, None, lists and dicts. Top
    lists hold at most `top` entries, highest count first, ties by name.
    Sort, limit and offset of the filter are ignored: statistics cover every
    selected image.
    """
    scope = _Scope(f)
    # Prompt concepts are Python work; they run beside the SQL aggregates below.
    prompt_concepts = _start_prompt_concepts(conn, scope, top)
    counts = _counts(conn, scope)
    loras = _resources(conn, scope, "lora")
    embeddings = _resources(conn, scope, "embedding")
    counts["loras"], counts["embeddings"] = len(loras), len(embeddings)
    pairs = _lora_checkpoint_counts(conn, scope)
    settings = _GenerationSettings.read(conn, scope)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "filter": _filter_summary(scope.filter),
        "counts": counts,
        "checkpoints": _checkpoints(conn, scope, top),
        "loras": loras[:top],
        "embeddings": embeddings[:top],
        "base_models": _top_column(conn, scope, "i.base_model", top),
        "samplers": settings.top("sampler", top),
        "tags": _tags(conn, scope, top),
        "authors": _top_column(conn, scope, "i.author", top),
        "collections": _collections(conn, scope),
        "distributions": {
            "steps": settings.distribution("steps"),
            "cfg_scale": settings.distribution("cfg_scale"),
            "clip_skip": settings.distribution("clip_skip"),
            "sizes": settings.sizes(top),
            "aspect_ratios": settings.aspect_ratios(),
        },
        "types": _top_column(conn, scope, "i.type", top),
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


def _rows(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[sqlite3.Row]:
    return query(conn, sql, params).fetchall()


# ------------------------------------------------------------------ counts


def _counts(conn: sqlite3.Connection, scope: _Scope) -> dict[str, Any]:
    row = query(
        conn,
        f"""SELECT count(*) AS images,
                   coalesce(sum(i.type = 'video'), 0) AS videos,
                   coalesce(sum(i.prompt IS NOT NULL AND i.prompt != ''), 0) AS with_prompt,
                   coalesce(sum(i.details_at IS NOT NULL), 0) AS with_details,
                   coalesce(sum(i.upstream_status = 'gone'), 0) AS gone_upstream,
                   count(DISTINCT i.author) AS authors,
                   count(DISTINCT i.post_id) AS posts,
                   count(DISTINCT nullif(i.model, '')) AS checkpoints,
                   min(i.created_at) AS first_created_at,
                   max(i.created_at) AS last_created_at
            FROM images i WHERE {scope.where}""",
        scope.params,
    ).fetchone()
    counts = dict(row)
    files = query(
        conn,
        f"""SELECT count(*), coalesce(sum(fl.size), 0) FROM files fl
            WHERE {scope.selects("fl.image_id")}""",
        scope.selection_params,
    ).fetchone()
    counts["files"], counts["file_bytes"] = files[0], files[1]
    counts["failed_downloads"] = query(
        conn,
        f"""SELECT count(DISTINCT fa.image_id) FROM failures fa
            WHERE fa.stage = 'download' AND {scope.selects("fa.image_id")}""",
        scope.selection_params,
    ).fetchone()[0]
    counts["tags"] = query(
        conn,
        f"""SELECT count(DISTINCT it.tag_id) FROM image_tags it
            WHERE {scope.selects("it.image_id")}""",
        scope.selection_params,
    ).fetchone()[0]
    return counts


# --------------------------------------------------------------- top lists


def _top_column(
    conn: sqlite3.Connection, scope: _Scope, column: str, top: int
) -> list[dict[str, Any]]:
    return [
        {"name": row[0], "count": row[1]}
        for row in _rows(
            conn,
            # Grouped in a subquery so the plain GROUP BY can read a narrow index.
            f"""SELECT name, n FROM (
                    SELECT {column} AS name, count(*) AS n FROM images i WHERE {scope.where}
                    GROUP BY {column})
                WHERE name IS NOT NULL AND name != '' ORDER BY n DESC, name LIMIT ?""",
            [*scope.params, top],
        )
    ]


def _checkpoints(conn: sqlite3.Connection, scope: _Scope, top: int) -> list[dict[str, Any]]:
    """The most used checkpoints by name, with a model id for links."""
    checkpoints = _top_column(conn, scope, "i.model", top)
    for checkpoint in checkpoints:
        # One indexed look-up per listed name beats reading model_id from every row.
        row = query(
            conn,
            "SELECT model_id FROM images WHERE model = ? AND model_id IS NOT NULL LIMIT 1",
            (checkpoint["name"],),
        ).fetchone()
        checkpoint["model_id"] = row[0] if row else None
    return checkpoints


def _resources(conn: sqlite3.Connection, scope: _Scope, kind: str) -> list[dict[str, Any]]:
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
        for row in _rows(
            conn,
            f"""SELECT r.name, r.model_id, count(*) AS uses,
                       count(DISTINCT r.image_id) AS images, avg(r.weight) AS average_weight,
                       min(r.weight) AS min_weight, max(r.weight) AS max_weight,
                       min(r.base_model) AS base_model
                FROM {RESOURCES}
                WHERE r.kind = ? AND r.name IS NOT NULL AND {scope.selects("r.image_id")}
                GROUP BY r.name, r.model_id ORDER BY uses DESC, r.name, r.model_id""",
            [kind, *scope.selection_params],
        )
    ]


def _tags(conn: sqlite3.Connection, scope: _Scope, top: int) -> list[dict[str, Any]]:
    return [
        {"name": row[0], "count": row[1]}
        for row in _rows(
            conn,
            f"""SELECT t.name, n FROM (
                    SELECT it.tag_id, count(*) AS n FROM image_tags it
                    WHERE {scope.selects("it.image_id")} GROUP BY it.tag_id) counted
                JOIN tags t ON t.id = counted.tag_id
                ORDER BY n DESC, t.name LIMIT ?""",
            [*scope.selection_params, top],
        )
    ]


def _collections(conn: sqlite3.Connection, scope: _Scope) -> list[dict[str, Any]]:
    """Every collection holding selected images (few per archive, so no top limit)."""
    return [
        {"id": row["collection_id"], "name": row["name"], "count": row["n"]}
        for row in _rows(
            conn,
            f"""SELECT ci.collection_id, c.name, count(*) AS n FROM collection_images ci
                LEFT JOIN collections c ON c.id = ci.collection_id
                WHERE ci.removed_at IS NULL AND {scope.selects("ci.image_id")}
                GROUP BY ci.collection_id ORDER BY n DESC, ci.collection_id""",
            scope.selection_params,
        )
    ]


# ----------------------------------------------------------- distributions


class _GenerationSettings:
    """Sampler, steps, CFG, clip skip and size of the selected images, read in one pass.

    SQL counts each combination once (a few thousand combinations for 100,000
    images); every single-setting distribution is a sum over those rows.
    """

    COLUMNS = ("sampler", "steps", "cfg_scale", "clip_skip", "width", "height")

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows  # (*COLUMNS, count)

    @classmethod
    def read(cls, conn: sqlite3.Connection, scope: _Scope) -> _GenerationSettings:
        columns = ", ".join(f"i.{column}" for column in cls.COLUMNS)
        rows = query(
            conn,
            f"SELECT {columns}, count(*) FROM images i WHERE {scope.where} GROUP BY {columns}",
            scope.params,
        ).fetchall()
        return cls([tuple(row) for row in rows])

    def counts(self, column: str) -> dict[Any, int]:
        index = self.COLUMNS.index(column)
        counts: dict[Any, int] = {}
        for row in self.rows:
            counts[row[index]] = counts.get(row[index], 0) + row[-1]
        return counts

    def top(self, column: str, top: int) -> list[dict[str, Any]]:
        counts = self.counts(column)
        named = ((name, count) for name, count in counts.items() if name not in (None, ""))
        return [{"name": name, "count": count} for name, count in _highest(named, top)]

    def distribution(self, column: str) -> dict[str, Any]:
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


def _nsfw_levels(conn: sqlite3.Connection, scope: _Scope) -> list[dict[str, Any]]:
    return [
        {
            "level": row["level"],
            "label": NSFW_LABELS.get(row["level"], f"level {row['level']}")
            if row["level"] is not None
            else "Unknown",
            "count": row["n"],
        }
        for row in _rows(
            conn,
            f"""SELECT i.nsfw_level AS level, count(*) AS n FROM images i WHERE {scope.where}
                GROUP BY i.nsfw_level ORDER BY level IS NULL, level""",
            scope.params,
        )
    ]


# --------------------------------------------------------------------- time


def _over_time(conn: sqlite3.Connection, scope: _Scope) -> dict[str, Any]:
    """Images per month (per day when they span two months or less), gaps filled with 0."""
    span = query(
        conn,
        f"""SELECT min(i.created_at), max(i.created_at) FROM images i
            WHERE i.created_at IS NOT NULL AND {scope.where}""",
        scope.params,
    ).fetchone()
    if span[0] is None:
        return {"unit": "month", "counts": [], "undated": _undated(conn, scope)}
    first, last = date.fromisoformat(span[0][:10]), date.fromisoformat(span[1][:10])
    unit, width = ("day", 10) if (last - first).days <= DAILY_SPAN_DAYS else ("month", 7)
    counted = {
        row[0]: row[1]
        for row in _rows(
            conn,
            f"""SELECT substr(i.created_at, 1, {width}) AS period, count(*) FROM images i
                WHERE i.created_at IS NOT NULL AND {scope.where}
                GROUP BY substr(i.created_at, 1, {width})""",
            scope.params,
        )
    }
    periods = _days(first, last) if unit == "day" else _months(first, last)
    return {
        "unit": unit,
        "counts": [{"period": period, "count": counted.get(period, 0)} for period in periods],
        "undated": _undated(conn, scope),
    }


def _undated(conn: sqlite3.Connection, scope: _Scope) -> int:
    return query(
        conn,
        f"SELECT count(*) FROM images i WHERE i.created_at IS NULL AND {scope.where}",
        scope.params,
    ).fetchone()[0]


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


def _lora_checkpoint_counts(conn: sqlite3.Connection, scope: _Scope) -> dict[tuple[str, str], int]:
    """(checkpoint, LoRA) -> images using both; a few thousand pairs even for big archives."""
    return {
        (row[0], row[1]): row[2]
        for row in _rows(
            conn,
            f"""SELECT i.model, r.name, count(DISTINCT r.image_id) AS n
                FROM {RESOURCES} JOIN images i ON i.id = r.image_id
                WHERE r.kind = 'lora' AND r.name IS NOT NULL AND i.model IS NOT NULL
                      AND {scope.where}
                GROUP BY i.model, r.name""",
            scope.params,
        )
    }


def _highest(items: Iterable[tuple[Any, int]], limit: int) -> list[tuple[Any, int]]:
    """Highest count first, ties in key order, so equal counts always come out the same."""
    return heapq.nsmallest(limit, items, key=lambda item: (-item[1], item[0]))


def _loras_by_checkpoint(
    conn: sqlite3.Connection, scope: _Scope, pairs: dict[tuple[str, str], int]
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
    conn: sqlite3.Connection, scope: _Scope, top: int
) -> Callable[[], dict[str, Any]]:
    """Start counting prompt concepts; returns a function that waits for the result.

    The counting runs in a thread with its own read-only connection, while the
    caller's connection does the SQL aggregates: SQLite releases the GIL as it
    works, so the two overlap. An in-memory database, or a connection inside a
    transaction (whose rows another connection cannot see), counts in place.
    """
    path = _database_file(conn)
    if path is None or conn.in_transaction:
        return lambda: _prompt_concepts(conn, scope, top)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="civitai-vault-prompts")
    future = executor.submit(_prompt_concepts_from_file, path, scope, top)
    executor.shutdown(wait=False)
    return future.result


def _database_file(conn: sqlite3.Connection) -> str | None:
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return row[2] or None
    return None


def _prompt_concepts_from_file(path: str, scope: _Scope, top: int) -> dict[str, Any]:
    reader = connect_read_only(Path(path))
    try:
        reader.execute("PRAGMA busy_timeout = 10000")
        return _prompt_concepts(reader, scope, top)
    finally:
        reader.close()


def _prompt_concepts(conn: sqlite3.Connection, scope: _Scope, top: int) -> dict[str, Any]:
    return {
        "positive": _concepts(conn, scope, "i.prompt", top),
        "negative": _concepts(conn, scope, "i.negative_prompt", top),
    }


def _concepts(conn: sqlite3.Connection, scope: _Scope, column: str, top: int) -> dict[str, Any]:
    """Words, phrases and extra-network tags, counted in how many images' prompts they appear."""
    counter = ConceptCounter()
    cursor = conn.execute(
        f"""SELECT {column}, count(*) FROM images i
            WHERE {column} IS NOT NULL AND {column} != '' AND {scope.where}
            GROUP BY {column}""",
        scope.params,
    )
    while rows := cursor.fetchmany(2_000):
        for text, times in rows:
            counter.add(text, times)
    return {"prompts": counter.prompts, **counter.top(top)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
