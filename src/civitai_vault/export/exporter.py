"""Run an export: select records from the archive and stream them to a file or stdout."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from civitai_vault.archive.queries import RecordFilter, iter_records
from civitai_vault.archive.sql import read_snapshot
from civitai_vault.errors import UsageError
from civitai_vault.export.csv_format import write_csv
from civitai_vault.export.json_format import write_json, write_jsonl
from civitai_vault.export.output import atomic_file, stdout_stream

FORMATS: tuple[str, ...] = ("json", "jsonl", "csv", "parquet")
_SUFFIXES = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass(frozen=True)
class ExportResult:
    count: int
    format: str
    destination: Path | None  # None: stdout

    def summary(self) -> str:
        """One line for people: how many records went where."""
        where = "stdout" if self.destination is None else str(self.destination)
        noun = "record" if self.count == 1 else "records"
        return f"exported {self.count:,} {noun} as {self.format} to {where}"


def format_for_path(path: Path | None) -> str | None:
    """The format a file name asks for by its extension (`.csv`, `.parquet`, ...), if any."""
    if path is None:
        return None
    return _SUFFIXES.get(path.suffix.lower())


def write_records(
    records: Iterable[dict[str, Any]],
    fmt: str,
    stream: BinaryIO,
    *,
    excel: bool = False,
    allow_formulas: bool = False,
) -> int:
    """Write export records to a binary stream in `fmt`; returns how many were written."""
    writers: dict[str, Callable[[Iterable[dict[str, Any]], BinaryIO], int]] = {
        "json": write_json,
        "jsonl": write_jsonl,
        "csv": lambda rows, out: write_csv(rows, out, excel=excel, allow_formulas=allow_formulas),
        "parquet": _write_parquet,
    }
    if fmt not in writers:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    count = writers[fmt](records, stream)
    stream.flush()
    return count


def _write_parquet(records: Iterable[dict[str, Any]], stream: BinaryIO) -> int:
    # pyarrow takes a while to import; only Parquet exports pay for it.
    from civitai_vault.export.parquet_format import write_parquet

    return write_parquet(records, stream)


def export_archive(
    conn: sqlite3.Connection,
    filters: RecordFilter | None,
    fmt: str,
    output: Path | None,
    *,
    excel: bool = False,
    allow_formulas: bool = False,
    stdout: BinaryIO | None = None,
) -> ExportResult:
    """Export the records `filters` selects to `output` (None: stdout) in `fmt`.

    The records are read in one read transaction, so an export taken while a
    sync is writing is a consistent snapshot. A file appears only when complete.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    with read_snapshot(conn):
        records = iter_records(conn, filters or RecordFilter())
        if output is None:
            stream = stdout_stream(binary_format=fmt == "parquet", stream=stdout)
            count = write_records(records, fmt, stream, excel=excel, allow_formulas=allow_formulas)
        else:
            with atomic_file(output) as stream:
                count = write_records(
                    records, fmt, stream, excel=excel, allow_formulas=allow_formulas
                )
    return ExportResult(count=count, format=fmt, destination=output)


_DATE_BOUND = re.compile(
    r"(?P<date>\d{4}(?:-\d{2}(?:-\d{2})?)?)"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(?P<zone>Z|[+-]\d{2}:?\d{2})?)?"
)


def parse_date_bound(value: str, option: str = "--since") -> str:
    """Check a date bound and put it in the archive's form (ISO-8601, UTC).

    "2024", "2024-05", "2024-05-31", "2024-05-31T12:00" and "2024-05-31 12:00:00+02:00"
    are accepted; a time with an offset is converted to UTC. The result keeps the
    precision given, so `--until 2024-05` still means "to the end of May".
    """
    text = value.strip()
    match = _DATE_BOUND.fullmatch(text)
    problem = f"{option} {value!r} is not a date; use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM"
    if not match:
        raise UsageError(problem)
    date_part, time_part, zone = match["date"], match["time"], match["zone"]
    if time_part is not None and date_part.count("-") != 2:
        raise UsageError(problem)
    padded = date_part + "-01" * (2 - date_part.count("-"))
    try:
        if time_part is None:
            datetime.fromisoformat(padded)
            return date_part
        moment = datetime.fromisoformat(f"{padded}T{time_part}{_iso_zone(zone)}")
    except ValueError:
        raise UsageError(problem) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    precision = {5: "minutes", 8: "seconds"}.get(len(time_part), "microseconds")
    return moment.isoformat(timespec=precision)


def _iso_zone(zone: str | None) -> str:
    if not zone or zone == "Z":
        return "+00:00" if zone else ""
    return zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
