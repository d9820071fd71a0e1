"""CSV: one row per record, the record's field names as the header.

Choices, also stated in `civitai-vault export --help`:

- UTF-8, RFC 4180 quoting (fields with a comma, quote or line break are
  quoted, quotes doubled), CRLF row ends. `excel=True` adds a byte-order mark
  so Excel detects UTF-8.
- Text from Civitai that a spreadsheet would run as a formula (a cell that
  starts with `=`, `+`, `-`, `@`, tab or CR: `=HYPERLINK(...)`, `=cmd|...`)
  gets a `'` in front, the OWASP defence against CSV injection; numbers are
  left alone. `allow_formulas=True` writes such cells as they are.
- `tags` and `collections` are joined with `|`; a `|` or `\\` inside a name is
  escaped with a backslash, so `split_list` gives back exactly the list.
  `df["tags"].str.split("|")` is enough unless a tag contains `|`.
- `loras` and `embeddings` are JSON arrays of objects, the same as in the JSON
  export (`json.loads(cell)`), because names can contain any separator and the
  model and version ids matter.
- A missing value is an empty cell (pandas reads it as NaN / None).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from civitai_vault.records import EXPORT_FIELDS

CSV_LIST_SEPARATOR = "|"
JOINED_FIELDS = frozenset({"tags", "collections"})
JSON_FIELDS = frozenset({"loras", "embeddings"})
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_ITEM = re.compile(r"\\(.)|\|", re.DOTALL)


def join_list(items: Sequence[Any]) -> str:
    """Join list items with `|`, escaping `\\` and `|` so `split_list` restores them."""
    return CSV_LIST_SEPARATOR.join(
        str(item).replace("\\", "\\\\").replace("|", "\\|") for item in items
    )


def split_list(cell: str | None) -> list[str]:
    """The items of a joined CSV cell (`tags`, `collections`); an empty cell is no items."""
    if not cell:
        return []
    items, current, position = [], [], 0
    for match in _ESCAPED_ITEM.finditer(cell):
        current.append(cell[position : match.start()])
        if match.group(1) is not None:
            current.append(match.group(1))
        else:
            items.append("".join(current))
            current = []
        position = match.end()
    current.append(cell[position:])
    items.append("".join(current))
    return items


def csv_row(record: dict[str, Any], *, allow_formulas: bool = False) -> list[Any]:
    """A record as CSV cells in EXPORT_FIELDS order, formulas neutralised unless allowed."""
    row: list[Any] = []
    for name in EXPORT_FIELDS:
        value = record.get(name)
        if name in JOINED_FIELDS:
            value = join_list(value or [])
        elif name in JSON_FIELDS:
            value = json.dumps(value or [], ensure_ascii=False)
        elif value is None:
            value = ""
        if not allow_formulas and isinstance(value, str) and value.startswith(_FORMULA_STARTS):
            value = "'" + value
        row.append(value)
    return row


def write_csv(
    records: Iterable[dict[str, Any]],
    stream: BinaryIO,
    *,
    excel: bool = False,
    allow_formulas: bool = False,
) -> int:
    """Write a header and one row per record; returns the number of records."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig" if excel else "utf-8", newline="")
    try:
        writer = csv.writer(text, dialect="excel", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(EXPORT_FIELDS)
        count = 0
        for record in records:
            writer.writerow(csv_row(record, allow_formulas=allow_formulas))
            count += 1
        text.flush()
        return count
    finally:
        # Hand the stream back to its owner open.
        text.detach()
