"""Running read queries with named columns, whatever row factory the caller's connection uses,
and reading several of them as one snapshot."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


def query(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
    """A cursor over `sql` whose rows are `sqlite3.Row` (the gallery and CLI open connections
    their own way; analysis code reads columns by name)."""
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(sql, params)


@contextmanager
def read_snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Every read inside the block sees the archive as it was at the first one, even while
    a sync writes (one read transaction); inside a transaction already, that one serves."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        conn.execute("COMMIT")
