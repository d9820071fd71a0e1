"""The archive database: opening it and bringing its schema up to date.

Schema changes are numbered migrations applied in order and recorded in
`PRAGMA user_version`, so an archive made by any earlier version opens in a
later one. Never edit a migration that has shipped; add a new one.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from civitai_vault.errors import ArchiveError

DB_NAME = "vault.db"

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE users (
        id          INTEGER PRIMARY KEY,
        username    TEXT,
        deleted_at  TEXT,
        raw_json    TEXT,
        fetched_at  TEXT NOT NULL
    );
    CREATE TABLE posts (
        id           INTEGER PRIMARY KEY,
        user_id      INTEGER,
        title        TEXT,
        published_at TEXT,
        nsfw_level   INTEGER,
        raw_json     TEXT,
        fetched_at   TEXT NOT NULL
    );
    CREATE TABLE images (
        id               INTEGER PRIMARY KEY,
        uuid             TEXT,
        name             TEXT,
        type             TEXT,
        mime_type        TEXT,
        width            INTEGER,
        height           INTEGER,
        nsfw_level       INTEGER,
        created_at       TEXT,
        published_at     TEXT,
        post_id          INTEGER,
        author           TEXT,
        author_id        INTEGER,
        image_url        TEXT,
        prompt           TEXT,
        negative_prompt  TEXT,
        sampler          TEXT,
        steps            INTEGER,
        cfg_scale        REAL,
        seed             INTEGER,
        clip_skip        INTEGER,
        base_model       TEXT,
        process          TEXT,
        engine           TEXT,
        workflow         TEXT,
        model            TEXT,
        model_version    TEXT,
        model_id         INTEGER,
        model_version_id INTEGER,
        raw_meta_json    TEXT,
        -- What Civitai answered, kept whole so nothing is lost to our normalizing.
        listing_json     TEXT,
        image_json       TEXT,
        generation_json  TEXT,
        tags_json        TEXT,
        -- NULL until generation data and tags are stored: the next run fetches them.
        details_at       TEXT,
        -- 'present', or 'gone' once Civitai answers 404 for it; the files stay.
        upstream_status  TEXT NOT NULL DEFAULT 'present',
        gone_at          TEXT,
        first_seen_at    TEXT NOT NULL,
        updated_at       TEXT NOT NULL
    );
    CREATE INDEX images_created ON images(created_at);
    CREATE INDEX images_author ON images(author);
    CREATE INDEX images_base_model ON images(base_model);
    CREATE INDEX images_model ON images(model);

    CREATE TABLE image_resources (
        image_id         INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        position         INTEGER NOT NULL,
        kind             TEXT NOT NULL,      -- checkpoint | lora | embedding | other
        name             TEXT,
        weight           REAL,
        model_id         INTEGER,
        model_version_id INTEGER,
        version_name     TEXT,
        base_model       TEXT,
        model_type       TEXT,               -- as Civitai names it (lora, LoCon, ...)
        PRIMARY KEY (image_id, position)
    );
    CREATE INDEX image_resources_version ON image_resources(model_version_id);
    CREATE INDEX image_resources_kind_name ON image_resources(kind, name);

    CREATE TABLE tags (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        type        TEXT,
        nsfw_level  INTEGER
    );
    CREATE TABLE image_tags (
        image_id  INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        tag_id    INTEGER NOT NULL,
        score     REAL,
        PRIMARY KEY (image_id, tag_id)
    );
    CREATE INDEX image_tags_tag ON image_tags(tag_id);

    CREATE TABLE model_versions (
        id              INTEGER PRIMARY KEY,
        name            TEXT,
        model_id        INTEGER,
        model_name      TEXT,
        model_type      TEXT,
        base_model      TEXT,
        version_status  TEXT,
        model_status    TEXT,
        availability    TEXT NOT NULL,       -- available | deleted | unpublished | not_found
        raw_json        TEXT,
        checked_at      TEXT NOT NULL
    );

    CREATE TABLE collections (
        id              INTEGER PRIMARY KEY,
        name            TEXT,
        description     TEXT,
        owner_id        INTEGER,
        owner_username  TEXT,
        read            TEXT,                -- Private | Public | Unlisted
        type            TEXT,
        raw_json        TEXT,
        fetched_at      TEXT NOT NULL
    );

    -- A target is what the user asked to sync: 'collection:123', 'post:5',
    -- 'user_images:name', 'image:9'. Its counters describe the last run.
    CREATE TABLE targets (
        key          TEXT PRIMARY KEY,
        kind         TEXT NOT NULL,
        ref          TEXT NOT NULL,
        label        TEXT,
        last_run_at  TEXT,
        listed       INTEGER,
        new          INTEGER,
        updated      INTEGER,
        failed       INTEGER,
        gone         INTEGER,
        complete     INTEGER,
        note         TEXT
    );
    CREATE TABLE target_items (
        target_key     TEXT NOT NULL REFERENCES targets(key),
        image_id       INTEGER NOT NULL,
        first_seen_at  TEXT NOT NULL,
        last_seen_at   TEXT NOT NULL,
        removed_at     TEXT,                 -- set when a complete listing no longer shows it
        PRIMARY KEY (target_key, image_id)
    );
    CREATE INDEX target_items_image ON target_items(image_id);
    CREATE VIEW collection_images AS
        SELECT CAST(substr(target_key, 12) AS INTEGER) AS collection_id,
               image_id, first_seen_at, last_seen_at, removed_at
        FROM target_items WHERE target_key LIKE 'collection:%';

    CREATE TABLE files (
        image_id       INTEGER PRIMARY KEY REFERENCES images(id),
        path           TEXT NOT NULL UNIQUE, -- relative to the archive folder, '/' separated
        size           INTEGER NOT NULL,     -- as on disk now (after embedding)
        sha256         TEXT NOT NULL,
        mime_type      TEXT NOT NULL,        -- from magic bytes, not from Civitai's name
        kind           TEXT NOT NULL,        -- image | video
        served_size    INTEGER NOT NULL,     -- as the CDN served it
        served_sha256  TEXT NOT NULL,
        embedded       INTEGER NOT NULL DEFAULT 0,
        downloaded_at  TEXT NOT NULL
    );

    -- The latest failure per image and stage; cleared when that stage succeeds.
    CREATE TABLE failures (
        image_id    INTEGER NOT NULL,
        stage       TEXT NOT NULL,           -- details | download | listing
        target_key  TEXT,
        reason      TEXT NOT NULL,
        at          TEXT NOT NULL,
        PRIMARY KEY (image_id, stage)
    );

    CREATE TABLE runs (
        id            INTEGER PRIMARY KEY,
        started_at    TEXT NOT NULL,
        finished_at   TEXT,
        command       TEXT NOT NULL,
        summary_json  TEXT
    );

    -- Full-text search; rowid is the image id.
    CREATE VIRTUAL TABLE images_fts USING fts5(
        prompt, negative_prompt, tags, models, author,
        tokenize = 'unicode61 remove_diacritics 2'
    );
    """,
    # 2: covering indexes for filtered counts, pages and facets (the gallery).
    # Image rows are wide (raw JSON), so any filter that has to visit them costs
    # a page read per image; these let every RecordFilter condition, the date
    # order and the facet GROUP BYs run on narrow index entries instead.
    """
    CREATE INDEX images_gallery ON images(
        created_at, nsfw_level, type, base_model, model, author, model_id, model_version_id
    );
    CREATE INDEX image_tags_tag_image ON image_tags(tag_id, image_id);
    CREATE INDEX image_resources_kind_name_image
        ON image_resources(kind, name COLLATE NOCASE, image_id);
    CREATE INDEX target_items_live ON target_items(target_key, removed_at, image_id);
    """,
    # 3: hidden is not removed. Civitai clamps what a listing shows to the levels
    # the site allows (civitai.com hides R and X even from a session), so each
    # target remembers the site and levels of its last listing, and each removal
    # the levels of the listing that flagged it: an image that listing could
    # not have shown was hidden, not taken out.
    """
    ALTER TABLE targets ADD COLUMN site TEXT;
    ALTER TABLE targets ADD COLUMN listing_levels INTEGER;
    ALTER TABLE targets ADD COLUMN hidden INTEGER;
    ALTER TABLE target_items ADD COLUMN removed_levels INTEGER;
    """,
    # 4: seeds beyond SQLite's 64-bit INTEGER (ComfyUI's run to 2^64-1), kept as
    # their decimal digits; `seed` is NULL for those (archive/values.py).
    """
    ALTER TABLE images ADD COLUMN seed_exact TEXT;
    """,
    # 5: `sampler:` searches read a narrow index, not the wide image rows.
    """
    CREATE INDEX images_sampler ON images(sampler);
    """,
    # 6: a target's source in columns of its own (kind was there; now its id, its
    # user name and its filter), so nothing splits 'collection:12' keys again.
    # A collection synced with and without a filter is one collection.
    """
    ALTER TABLE targets ADD COLUMN source_id INTEGER;
    ALTER TABLE targets ADD COLUMN source_name TEXT;
    ALTER TABLE targets ADD COLUMN filters_json TEXT;
    UPDATE targets SET source_id = CAST(ref AS INTEGER)
        WHERE kind IN ('collection', 'post', 'image') AND ref GLOB '[0-9]*';
    UPDATE targets SET source_name = ref WHERE kind IN ('user_images', 'user_collections');
    CREATE INDEX targets_source ON targets(kind, source_id);
    DROP VIEW collection_images;
    CREATE VIEW collection_images AS
        SELECT t.source_id AS collection_id, ti.image_id,
               min(ti.first_seen_at) AS first_seen_at, max(ti.last_seen_at) AS last_seen_at,
               CASE WHEN count(ti.removed_at) = count(*) THEN max(ti.removed_at) END
                   AS removed_at
        FROM target_items ti JOIN targets t ON t.key = ti.target_key
        WHERE t.kind = 'collection' AND t.source_id IS NOT NULL
        GROUP BY t.source_id, ti.image_id;
    """,
    # 7: the gallery's columns keyed by image id. A full-text search finds its
    # images in the FTS index first; checking each of them against the other
    # filters (and counting them) then reads one narrow entry per image, not a
    # wide image row, and not every image of the archive.
    """
    CREATE INDEX images_gallery_by_id ON images(
        id, created_at, nsfw_level, type, base_model, model, author, model_id, model_version_id
    );
    """,
)


def connect(db_path: Path) -> sqlite3.Connection:
    """Open (creating if needed) an archive database and migrate it to the current schema."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL is durable across application crashes in WAL mode; only a power
        # cut can lose the last commits, never corrupt the file.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 10000")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def connect_read_only(db_path: Path) -> sqlite3.Connection:
    """Open an archive that cannot be written (a read-only disk, a backup, another user's).

    `mode=ro` reads a WAL database when its `-shm` index exists or can be made;
    on a read-only filesystem after a clean close neither holds, and SQLite
    can only read the file as `immutable` (nothing else can change it there).
    Raises ArchiveTooOld when the archive needs a schema upgrade, which writes.
    """
    conn = None
    for flags in ("mode=ro", "mode=ro&immutable=1"):
        conn = sqlite3.connect(
            f"{db_path.as_uri()}?{flags}", uri=True, isolation_level=None, check_same_thread=False
        )
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            break
        except sqlite3.OperationalError:
            conn.close()
            conn = None
    if conn is None:
        raise sqlite3.OperationalError(f"cannot read {db_path}")
    if version < len(MIGRATIONS):
        conn.close()
        raise ArchiveTooOld(db_path)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only = ON")
    return conn


class ArchiveTooOld(ArchiveError):
    def __init__(self, db_path: Path) -> None:
        super().__init__(
            f"{db_path} was made by an older civitai-vault and needs upgrading, which needs "
            "write access: make the folder writable (or copy it somewhere that is) and run again"
        )


def migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (a full disk does that).
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        statements.append(current.strip())
    return statements
