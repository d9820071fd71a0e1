"""One page of search results: how many images match, and the records of a page.

Conditions come from `archive.queries.where_clause`, so a search means what it
means for export and statistics. The queries read the `images_gallery`
covering index instead of the wide image rows (which carry raw JSON): counting
and ordering 100,000 images then touches a few megabytes, not hundreds.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from civitai_vault.archive.queries import RecordFilter, iter_records, where_clause
from civitai_vault.web.params import SearchParams

# Every condition of `where_clause` reads columns of this index (or the rowid).
IMAGES = "images i INDEXED BY images_gallery"

ORDERS: dict[str, str] = {
    "newest": "i.created_at DESC, i.id DESC",
    "oldest": "i.created_at ASC, i.id ASC",
    "id": "i.id DESC",
    "id_asc": "i.id ASC",
    # A seeded shuffle (multiplicative hash of the id): unlike random(), the
    # same seed gives the same order, so page 2 follows page 1.
    "random": "((i.id + :seed) * 2654435761) % 4294967291, i.id",
}


@dataclass(frozen=True)
class ResultPage:
    total: int
    records: list[dict[str, Any]]
    limit: int
    offset: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.records) < self.total


def count_matches(conn: sqlite3.Connection, f: RecordFilter) -> int:
    where, params = where_clause(f)
    return conn.execute(f"SELECT count(*) FROM {IMAGES} WHERE {where}", params).fetchone()[0]


def page_ids(
    conn: sqlite3.Connection, f: RecordFilter, *, sort: str, seed: int, limit: int, offset: int
) -> list[int]:
    where, params = where_clause(f)
    order = ORDERS.get(sort, ORDERS["newest"])
    if sort == "random":
        # Named and positional parameters cannot mix: inline the (validated) integer.
        order = order.replace(":seed", str(int(seed)))
    sql = f"SELECT i.id FROM {IMAGES} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    return [row[0] for row in conn.execute(sql, [*params, limit, offset])]


def records_for_ids(conn: sqlite3.Connection, ids: list[int]) -> list[dict[str, Any]]:
    """Export records for `ids`, in the order given."""
    if not ids:
        return []
    by_id = {r["image_id"]: r for r in iter_records(conn, RecordFilter(image_ids=ids, sort="id"))}
    return [by_id[i] for i in ids if i in by_id]


def search(
    conn: sqlite3.Connection, params: SearchParams, *, limit: int, offset: int
) -> ResultPage:
    f = params.to_filter()
    ids = page_ids(conn, f, sort=params.sort, seed=params.seed or 0, limit=limit, offset=offset)
    if ids and len(ids) < limit:
        # The last page: the total is known without counting (a second pass over
        # the index, the costlier one when few images match).
        total = offset + len(ids)
    elif not ids and offset == 0:
        total = 0
    else:
        total = count_matches(conn, f)
    return ResultPage(total=total, records=records_for_ids(conn, ids), limit=limit, offset=offset)
