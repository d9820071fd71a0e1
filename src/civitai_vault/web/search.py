"""One page of search results: how many images match, and the records of a page."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from civitai_vault.archive.gallery import count_matches, records_for_ids, result_page
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
    total, ids = result_page(
        conn,
        params.to_filter(),
        sort=params.sort,
        seed=params.seed or 0,
        limit=limit,
        offset=offset,
    )
    return ResultPage(total=total, records=records_for_ids(conn, ids), limit=limit, offset=offset)
