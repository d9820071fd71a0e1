"""Running read queries with named columns, whatever row factory the caller's connection uses."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any


def query(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
    """A cursor over `sql` whose rows are `sqlite3.Row` (the gallery and CLI open connections
    their own way; analysis code reads columns by name)."""
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    return cursor.execute(sql, params)
