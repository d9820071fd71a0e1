"""Opening an archive that cannot be written: read it as it is, or say why not."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from civitai_vault.archive.schema import MIGRATIONS, ArchiveTooOld, connect, connect_read_only
from civitai_vault.errors import describe_error


def test_a_read_only_connection_reads_and_refuses_writes(tmp_path: Path) -> None:
    connect(tmp_path / "vault.db").close()
    conn = connect_read_only(tmp_path / "vault.db")
    try:
        assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == 0
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("INSERT INTO tags (id, name) VALUES (1, 'x')")
    finally:
        conn.close()


def test_an_archive_that_needs_upgrading_says_it_needs_write_access(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "vault.db")
    old.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    old.close()
    with pytest.raises(ArchiveTooOld) as raised:
        connect_read_only(tmp_path / "vault.db")
    message, code = describe_error(raised.value)
    assert code == 1 and "older civitai-vault" in message and "writable" in message
