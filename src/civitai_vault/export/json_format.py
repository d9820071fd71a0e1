"""JSON and JSON Lines: the export record as it is, one record per line.

JSON is an array written one record per line (`[`, then `{...},` lines, then
`]`), so it streams at constant memory and stays greppable; JSONL is the same
records without the brackets and commas. Text is UTF-8, not \\u-escaped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any, BinaryIO

# NaN and Infinity are not JSON (readers reject them): refuse, then write null instead.
_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def _encode(record: dict[str, Any]) -> bytes:
    try:
        text = _encoder.encode(record)
    except ValueError:
        text = _encoder.encode(_finite(record))
    return text.encode("utf-8")


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def write_jsonl(records: Iterable[dict[str, Any]], stream: BinaryIO) -> int:
    """Write one JSON object per line; returns the number of records."""
    count = 0
    for record in records:
        stream.write(_encode(record) + b"\n")
        count += 1
    return count


def write_json(records: Iterable[dict[str, Any]], stream: BinaryIO) -> int:
    """Write a JSON array of records, one per line; returns the number of records."""
    count = 0
    stream.write(b"[")
    for record in records:
        stream.write(b"\n" if count == 0 else b",\n")
        stream.write(_encode(record))
        count += 1
    stream.write(b"\n]\n" if count else b"]\n")
    return count
