"""JSON and JSON Lines: the export record as it is, one record per line.

JSON is an array written one record per line (`[`, then `{...},` lines, then
`]`), so it streams at constant memory and stays greppable; JSONL is the same
records without the brackets and commas. Text is UTF-8, not \\u-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, BinaryIO

# allow_nan=False: NaN and Infinity are not JSON; fail loudly rather than write them.
_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def _encode(record: dict[str, Any]) -> bytes:
    return _encoder.encode(record).encode("utf-8")


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
