"""`civitai-vault embed`: (re)write the generation data into every archived file.

For archives synced with `--no-embed`, or made before a better writer: each
file gets the A1111 text and XMP tags from its record, atomically and without
touching its pixels, and the database learns its new size and SHA-256 (the
hash of the file as Civitai served it stays recorded beside it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from civitai_vault.archive import Archive
from civitai_vault.archive.queries import iter_records
from civitai_vault.archive.writer import transaction, update_file_after_embed
from civitai_vault.media.embed import embed_metadata
from civitai_vault.media.naming import safe_join
from civitai_vault.media.sidecars import write_sidecars


@dataclass
class EmbedSummary:
    files: int = 0
    changed: int = 0
    missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"files": self.files, "changed": self.changed, "missing": self.missing}


def embed_archive(
    archive: Archive,
    *,
    sidecars: bool = False,
) -> EmbedSummary:
    summary = EmbedSummary()
    # Records are read first: writing while a read cursor is open on the same
    # connection would see half-updated rows.
    records = [r for r in iter_records(archive.conn, None) if r["file_path"]]
    for record in records:
        path = safe_join(archive.root, record["file_path"])
        if not path.is_file():
            summary.missing.append(record["file_path"])
            continue
        summary.files += 1
        result = embed_metadata(path, record)
        if result.changed:
            summary.changed += 1
            with transaction(archive.conn):
                update_file_after_embed(
                    archive.conn,
                    record["image_id"],
                    size=result.size,
                    sha256=result.sha256,
                    embedded=True,
                )
        if sidecars:
            write_sidecars(path, {**record, "sha256": result.sha256})
    return summary
