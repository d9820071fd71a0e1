"""Parquet: the export record with typed columns, written in row groups.

Column types (readable by pyarrow, pandas and DuckDB):

- ids, sizes, steps, seed, clip skip, NSFW level: int64
- seed_exact (right after seed): the seed as its decimal digits, string, filled
  whenever the seed is an integer. ComfyUI seeds run to 2^64-1 and int64 stops at
  2^63-1, so `seed` is null for those and `seed_exact` still has them. One string
  column reads exactly in every reader (a uint64 `seed` would refuse negative
  seeds, and pandas turns an integer column with nulls into float64, which loses
  digits past 2^53): `int(df["seed_exact"])` in pandas, `seed_exact::UBIGINT` or
  `::HUGEINT` in DuckDB.
- cfg_scale and LoRA / embedding weights: double
- created_at, published_at: timestamp[us, tz=UTC]
- loras, embeddings: list<struct<name, weight, model_id, model_version_id,
  version_name, base_model>>
- tags: list<string> (highest score first); collections: list<int64>
- everything else, raw_meta_json included: string

Records are converted a thousand at a time and written in row groups of
`ROW_GROUP_SIZE`, so memory stays flat whatever the number of records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from civitai_vault.records import EXPORT_FIELDS

ROW_GROUP_SIZE = 10_000
# Records turned into Arrow data at a time: bounds the Python objects alive at once.
CONVERT_SLICE = 1_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

RESOURCE_TYPE = pa.struct(
    [
        ("name", pa.string()),
        ("weight", pa.float64()),
        ("model_id", pa.int64()),
        ("model_version_id", pa.int64()),
        ("version_name", pa.string()),
        ("base_model", pa.string()),
    ]
)
TIMESTAMP = pa.timestamp("us", tz="UTC")
_TYPES: dict[str, pa.DataType] = {
    **dict.fromkeys(
        (
            "image_id",
            "width",
            "height",
            "nsfw_level",
            "post_id",
            "author_id",
            "steps",
            "seed",
            "clip_skip",
            "model_id",
            "model_version_id",
        ),
        pa.int64(),
    ),
    "cfg_scale": pa.float64(),
    "created_at": TIMESTAMP,
    "published_at": TIMESTAMP,
    "loras": pa.list_(RESOURCE_TYPE),
    "embeddings": pa.list_(RESOURCE_TYPE),
    "tags": pa.list_(pa.string()),
    "collections": pa.list_(pa.int64()),
}
# The export record's fields, with the seed's exact text beside the int64 seed.
COLUMNS: tuple[str, ...] = tuple(
    column
    for name in EXPORT_FIELDS
    for column in ((name, "seed_exact") if name == "seed" else (name,))
)
SCHEMA = pa.schema(
    [pa.field(name, _TYPES.get(name, pa.string())) for name in COLUMNS],
    metadata={"civitai_vault.record": "civitai-vault export record (civitai_vault.records)"},
)


def write_parquet(
    records: Iterable[dict[str, Any]], stream: BinaryIO, *, row_group_size: int = ROW_GROUP_SIZE
) -> int:
    """Write records as Parquet (zstd, one row group per `row_group_size`); returns the count.

    Records become Arrow data a slice at a time, so only a slice of Python
    objects is alive at once; a row group collects slices until it is full.
    """
    count = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    slice_size = max(1, min(CONVERT_SLICE, row_group_size))
    with pq.ParquetWriter(pa.PythonFile(stream, mode="w"), SCHEMA, compression="zstd") as writer:
        for chunk in _chunks(records, slice_size):
            pending.append(_record_batch(chunk))
            pending_rows += len(chunk)
            count += len(chunk)
            if pending_rows >= row_group_size:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=row_group_size)
                pending, pending_rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=row_group_size)
    return count


def _chunks(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _record_batch(records: list[dict[str, Any]]) -> pa.RecordBatch:
    columns = [
        _column(name, field.type, [_value(record, name) for record in records])
        for name, field in zip(SCHEMA.names, SCHEMA, strict=True)
    ]
    return pa.RecordBatch.from_arrays(columns, schema=SCHEMA)


def _value(record: dict[str, Any], name: str) -> Any:
    if name == "seed_exact":
        seed = _as_whole(record.get("seed"))
        return None if seed is None else str(seed)
    return record.get(name)


def _column(name: str, kind: pa.DataType, values: list[Any]) -> pa.Array:
    """Values as an Arrow array: Arrow's own conversion when they fit, ours when not."""
    try:
        if kind == TIMESTAMP:
            # Arrow parses ISO-8601 with an offset; naive or odd stamps take the slow path.
            return pa.array(values, type=pa.string()).cast(TIMESTAMP)
        return pa.array(values, type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return pa.array([_cell(name, value) for value in values], type=kind)


def _cell(name: str, value: Any) -> Any:
    kind = _TYPES.get(name)
    if kind is None:
        return _as_text(value)
    if kind == pa.int64():
        return _as_int(value)
    if kind == pa.float64():
        return _as_float(value)
    if kind == TIMESTAMP:
        return _as_timestamp(value)
    if name in ("loras", "embeddings"):
        return [_resource(item) for item in value or []]
    if name == "collections":
        return [_as_int(item) for item in value or []]
    return [_as_text(item) for item in value or []]


def _resource(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": _as_text(item.get("name")),
        "weight": _as_float(item.get("weight")),
        "model_id": _as_int(item.get("model_id")),
        "model_version_id": _as_int(item.get("model_version_id")),
        "version_name": _as_text(item.get("version_name")),
        "base_model": _as_text(item.get("base_model")),
    }


# SQLite columns take whatever they are given; a typed column takes only its type.
# Values that do not fit become null here (the JSON export keeps them as stored).


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _as_int(value: Any) -> int | None:
    whole = _as_whole(value)
    return whole if whole is not None and INT64_MIN <= whole <= INT64_MAX else None


def _as_whole(value: Any) -> int | None:
    """The integer a loosely stored value stands for, whatever its size."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return value if isinstance(value, int) else None


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _as_timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
