"""Exports of the archive: JSON, JSONL, CSV and Parquet, streamed at constant memory.

    from civitai_vault.export import export_archive
    result = export_archive(conn, RecordFilter(tag="cat"), "parquet", Path("cats.parquet"))

Every format carries the same export record (`civitai_vault.records`), the same
field names in the same order. `write_records` is the layer below: any iterable
of records to a binary stream, for callers that have records of their own.
"""

from civitai_vault.export.csv_format import CSV_LIST_SEPARATOR, join_list, split_list
from civitai_vault.export.exporter import (
    FORMATS,
    ExportResult,
    export_archive,
    format_for_path,
    parse_date_bound,
    write_records,
)

__all__ = [
    "CSV_LIST_SEPARATOR",
    "FORMATS",
    "ExportResult",
    "export_archive",
    "format_for_path",
    "join_list",
    "parse_date_bound",
    "split_list",
    "write_records",
]
