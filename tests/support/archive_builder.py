"""Archives for tests and benchmarks, written through the archive's own writer functions.

    path = (
        ArchiveBuilder(tmp_path / "archive")
        .collection(7001, "Favourites")
        .model_version(ModelVersionRow(290640, "deleted", "V6", 257749, "Pony Diffusion V6 XL"))
        .image(
            101,
            prompt="a cat",
            author="alice",
            resources=[ResourceRow("lora", "detail", 0.8, 11, 111)],
            tags=[TagRow(1, "cat", 0.9), "anime"],
            file=Media("media/alice/101.png", png_data, "image/png"),
            collections=[7001],
        )
        .image(102, details=False, author="bob")  # known only from a listing
        .build()
    )

Every call only queues its rows; they are written in order, one transaction per
`batch_size` images (so a benchmark can stream a hundred thousand images), and
`build()` writes the rest and closes the archive. The builder writes no row
itself, only the writer functions do: the schema has one home,
`civitai_vault.archive`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from civitai_vault.archive import Archive, open_archive
from civitai_vault.archive.writer import (
    FileRow,
    ModelVersionRow,
    ResourceRow,
    TagRow,
    cache_collection,
    cache_model_version,
    cache_post,
    cache_user,
    finish_target,
    mark_gone,
    mark_listed,
    record_failure,
    store_details,
    store_file,
    store_listing,
    transaction,
    upsert_target,
)
from civitai_vault.records import EXPORT_FIELDS, empty_record

__all__ = [
    "ArchiveBuilder",
    "FileRow",
    "Media",
    "ModelVersionRow",
    "ResourceRow",
    "TagRow",
    "record",
]

# Ids for tags given by name only; far above the ids tests choose themselves.
FIRST_NAMED_TAG_ID = 900_000_000

Step = Callable[[Any], None]


@dataclass(frozen=True)
class Media:
    """A file to put on disk under the archive and record as the image's file."""

    path: str  # relative to the archive folder, e.g. "media/alice/101.png"
    data: bytes
    mime_type: str
    kind: str = "image"  # image | video
    embedded: bool = False
    sha256: str | None = None  # what the database says the file hashes to; default its own

    def row(self) -> FileRow:
        digest = hashlib.sha256(self.data).hexdigest()
        size = len(self.data)
        kind, embedded = self.kind, self.embedded
        stored = self.sha256 or digest
        return FileRow(self.path, size, stored, self.mime_type, kind, size, digest, embedded)


def record(image_id: int, **fields: Any) -> dict[str, Any]:
    """An export record with every field unknown but `fields`; a misspelt field raises."""
    unknown = set(fields) - set(EXPORT_FIELDS)
    if unknown:
        raise TypeError(f"not export record fields: {sorted(unknown)}")
    result = empty_record()
    result.update(image_id=image_id, **fields)
    return result


class ArchiveBuilder:
    """Queues what an archive holds; `build()` writes it. See the module docstring."""

    def __init__(self, path: Path | str, *, batch_size: int = 500, durable: bool = True) -> None:
        """`durable=False` skips the fsyncs: for archives a benchmark can rebuild."""
        self.path = Path(path)
        self.batch_size = batch_size
        self.durable = durable
        self._steps: list[Step] = []
        self._queued_images = 0
        self._archive: Archive | None = None
        self._tag_ids: dict[str, int] = {}
        self._listed: dict[str, set[int]] = {}

    # ------------------------------------------------------------ what is there

    def collection(
        self,
        collection_id: int,
        name: str | None = None,
        *,
        cached: bool = True,
        description: str | None = None,
        owner_id: int | None = 1,
        owner_username: str | None = "alice",
        read: str | None = "Private",
        raw: Any = None,
    ) -> Self:
        """A collection target; `cached` also stores Civitai's answer about the collection."""

        def step(conn: Any) -> None:
            if cached:
                cache_collection(
                    conn,
                    collection_id,
                    name=name,
                    description=description,
                    owner_id=owner_id,
                    owner_username=owner_username,
                    read=read,
                    type_="Image",
                    raw={"id": collection_id} if raw is None else raw,
                )
            key = f"collection:{collection_id}"
            upsert_target(conn, key, "collection", str(collection_id), name)

        return self._queue(step)

    def finished(self, collection_id: int, *, complete: bool = True) -> Self:
        """Record a finished run of the collection over the images listed in it so far."""
        key = f"collection:{collection_id}"
        listed = len(self._listed.get(key, ()))

        def step(conn: Any) -> None:
            finish_target(
                conn,
                key,
                listed=listed,
                new=listed,
                updated=0,
                failed=0,
                gone=0,
                complete=complete,
                note=None,
            )

        return self._queue(step)

    def model_version(self, row: ModelVersionRow, raw: Any = None) -> Self:
        """What Civitai answered about a model version (`raw` defaults to `{"id": ...}`)."""
        answer = {"id": row.id} if raw is None else raw
        return self._queue(lambda conn: cache_model_version(conn, row, answer))

    def user(self, user_id: int, username: str | None, deleted_at: str | None = None) -> Self:
        return self._queue(
            lambda conn: cache_user(conn, user_id, username, deleted_at, {"id": user_id})
        )

    def post(
        self,
        post_id: int,
        *,
        user_id: int | None = None,
        title: str | None = None,
        published_at: str | None = None,
        nsfw_level: int | None = None,
    ) -> Self:
        def step(conn: Any) -> None:
            cache_post(
                conn,
                post_id,
                user_id=user_id,
                title=title,
                published_at=published_at,
                nsfw_level=nsfw_level,
                raw={"id": post_id},
            )

        return self._queue(step)

    def image(
        self,
        image: int | Mapping[str, Any],
        *,
        details: bool = True,
        resources: Sequence[ResourceRow] = (),
        tags: Sequence[TagRow | str] = (),
        file: Media | FileRow | None = None,
        collections: Iterable[int] = (),
        failures: Mapping[str, str] | None = None,
        gone: bool = False,
        listing: Any = None,
        raw: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Self:
        """One image: its id or its export record, and export record fields (`prompt=`, ...).

        `details=False`: known only from a listing, as before its details are
        fetched (resources and tags then make no sense). `file`: a `Media` is
        written to disk, a `FileRow` is only recorded. `failures`: stage ->
        reason. `listing` and `raw` are the raw answers kept (defaults:
        `{"id": image_id}` and `{"generation": {}}`).
        """
        if not details and (resources or tags):
            raise ValueError("an image known only from a listing has no resources or tags")
        if isinstance(image, Mapping):
            given = {**image, **fields}
            image_id = given.pop("image_id")
        else:
            image_id, given = image, fields
        values = record(image_id, **given)
        listing_raw = {"id": image_id} if listing is None else listing
        details_raw = dict(raw) if raw is not None else {"generation": {}}
        rows = [self._tag(tag) for tag in tags]
        keys = [f"collection:{collection_id}" for collection_id in collections]
        for key in keys:
            self._listed.setdefault(key, set()).add(image_id)

        def step(conn: Any) -> None:
            store_listing(conn, values, listing_raw)
            if details:
                store_details(conn, values, resources=resources, tags=rows, raw=details_raw)
            if file is not None:
                store_file(conn, image_id, self._write(file))
            for key in keys:
                mark_listed(conn, key, [image_id])
            for stage, reason in (failures or {}).items():
                record_failure(conn, image_id, stage, reason, None)
            if gone:
                mark_gone(conn, image_id)

        self._queued_images += 1
        self._queue(step)
        if self._queued_images >= self.batch_size:
            self._flush()
        return self

    def tag_id(self, name: str) -> int:
        """The id a tag given by name only is stored under."""
        return self._tag_ids.setdefault(name, FIRST_NAMED_TAG_ID + len(self._tag_ids))

    # ------------------------------------------------------------------ writing

    def build(self) -> Path:
        """Write everything queued and close the archive; returns the archive folder."""
        try:
            self._flush()
            if self._archive is None:  # nothing queued: an empty archive
                self._open().close()
            else:
                self._archive.conn.execute("PRAGMA optimize")
        finally:
            if self._archive is not None:
                self._archive.close()
                self._archive = None
        return self.path

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    def _queue(self, step: Step) -> Self:
        self._steps.append(step)
        return self

    def _flush(self) -> None:
        if not self._steps:
            return
        if self._archive is None:
            self._archive = self._open()
        steps, self._steps, self._queued_images = self._steps, [], 0
        with transaction(self._archive.conn) as conn:
            for step in steps:
                step(conn)

    def _open(self) -> Archive:
        archive = open_archive(self.path)
        if not self.durable:
            archive.conn.execute("PRAGMA synchronous = OFF")
        return archive

    def _tag(self, tag: TagRow | str) -> TagRow:
        return tag if isinstance(tag, TagRow) else TagRow(self.tag_id(tag), tag)

    def _write(self, file: Media | FileRow) -> FileRow:
        if isinstance(file, FileRow):
            return file
        target = self.path / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.data)
        return file.row()
