"""One page of search results: how many images match, and the records of a page."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from civitai_vault.archive.gallery import count_matches, page_ids, records_for_ids
from civitai_vault.web.params import SearchParams

__all__ = ["ResultPage", "count_matches", "records_for_ids", "search"]


@dataclass(frozen=True)
class ResultPage:
    total: int
    records: list[dict[str, Any]]
    limit: int
    offset: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.records) < self.total


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
