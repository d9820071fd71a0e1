"""The gallery's queries read what their answer needs: a word search starts from its matches.

Query plans are what SQLite will do, whatever the machine's load: a count or a
facet of a full-text search must begin at the full-text index and check each
match on the narrow by-id index, never walk every image of the archive.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from civitai_vault.archive.gallery import selection, tag_filter
from civitai_vault.archive.queries import RecordFilter
from civitai_vault.archive.schema import MIGRATIONS, connect


def plan(conn: sqlite3.Connection, sql: str, params: list) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def test_an_older_archive_gains_the_by_id_index_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "vault.db"
    conn = connect(db)
    conn.execute(
        "INSERT INTO images (id, prompt, first_seen_at, updated_at) VALUES (7, 'a cat', 'x', 'x')"
    )
    # The archive as the previous version left it.
    conn.execute("DROP INDEX images_gallery_by_id")
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    conn.close()
    conn = connect(db)
    try:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "images_gallery_by_id" in names
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert [tuple(r) for r in conn.execute("SELECT id, prompt FROM images")] == [(7, "a cat")]
    finally:
        conn.close()


def test_counting_a_word_search_starts_from_its_matches(tmp_path: Path) -> None:
    conn = connect(tmp_path / "vault.db")
    try:
        for q in ("cat", "cat OR fox", "red hair -dog", "cat sampler:euler"):
            chosen = selection(RecordFilter(q=q, nsfw_levels=(1, 2), base_model="Pony"))
            steps = plan(conn, f"SELECT count(*) FROM {chosen.source} WHERE {chosen.where}",
                         chosen.params)  # fmt: skip
            assert steps[0].startswith("SCAN images_fts VIRTUAL TABLE"), (q, steps)
            assert "SEARCH i USING COVERING INDEX images_gallery_by_id (id=?)" in steps, steps
            assert not any("images_gallery " in s or s.endswith("images_gallery") for s in steps)
    finally:
        conn.close()


def test_counting_a_tag_or_collection_reads_only_its_images(tmp_path: Path) -> None:
    conn = connect(tmp_path / "vault.db")
    try:
        for f in (
            RecordFilter(q="-cat tag:fox", nsfw_levels=(1,)),
            RecordFilter(collection=12, base_model="Pony"),
            RecordFilter(extra_where=[tag_filter("snow")]),
        ):
            chosen = selection(f)
            steps = plan(conn, f"SELECT count(*) FROM {chosen.source} WHERE {chosen.where}",
                         chosen.params)  # fmt: skip
            assert steps[0] == "SEARCH i USING COVERING INDEX images_gallery_by_id (id=?)", steps
    finally:
        conn.close()
