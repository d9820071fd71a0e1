"""The archive: one folder with `vault.db` (SQLite, WAL) and `media/` (the files)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from civitai_vault.archive.schema import DB_NAME, connect

MEDIA_DIR = "media"


@dataclass
class Archive:
    """An open archive folder. Use as a context manager, or call `close()`."""

    root: Path
    conn: sqlite3.Connection = field(repr=False)

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def media_dir(self) -> Path:
        return self.root / MEDIA_DIR

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_archive(root: Path | str, *, create: bool = True) -> Archive:
    """Open the archive at `root`, creating the folder and database when `create` is set.

    Raises FileNotFoundError when `create` is False and there is no archive there.
    """
    root = Path(root).expanduser().resolve()
    if not create and not (root / DB_NAME).exists():
        raise FileNotFoundError(
            f"no archive at {root} (no {DB_NAME}); run `civitai-vault sync` first"
        )
    (root / MEDIA_DIR).mkdir(parents=True, exist_ok=True)
    return Archive(root=root, conn=connect(root / DB_NAME))
