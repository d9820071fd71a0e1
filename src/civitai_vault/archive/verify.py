"""`civitai-vault verify`: every archived file re-hashed against what the archive recorded.

A file cut short by a full disk elsewhere, overwritten by another program, or
deleted is otherwise never noticed: a sync only looks for files that are not
there. Each file is classed as ok, missing, truncated (shorter than recorded)
or altered (another size or another SHA-256); `sync --repair` fetches the bad
ones again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from civitai_vault.archive import Archive
from civitai_vault.media.naming import safe_join

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileProblem:
    image_id: int
    path: str
    problem: str  # missing | truncated | altered | unsafe path
    detail: str


@dataclass
class VerifyResult:
    files: int = 0
    ok: int = 0
    bytes_checked: int = 0
    problems: list[FileProblem] = field(default_factory=list)

    @property
    def broken_ids(self) -> set[int]:
        return {problem.image_id for problem in self.problems}

    def summary(self) -> str:
        if not self.problems:
            return f"{self.files:,} files checked ({self.bytes_checked / 1e6:,.1f} MB): all match"
        kinds: dict[str, int] = {}
        for problem in self.problems:
            kinds[problem.problem] = kinds.get(problem.problem, 0) + 1
        counts = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
        return f"{self.files:,} files checked: {self.ok:,} match, {counts}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "ok": self.ok,
            "bytes_checked": self.bytes_checked,
            "problems": [asdict(problem) for problem in self.problems],
        }


def verify_files(
    archive: Archive, *, progress: Callable[[int, int], None] | None = None
) -> VerifyResult:
    """Check every file the archive records; `progress(done, total)` after each one."""
    rows = archive.conn.execute(
        "SELECT image_id, path, size, sha256 FROM files ORDER BY image_id"
    ).fetchall()
    result = VerifyResult(files=len(rows))
    for done, (image_id, path, size, sha256) in enumerate(rows, start=1):
        problem = _check(archive, image_id, path, size, sha256, result)
        if problem is None:
            result.ok += 1
        else:
            result.problems.append(problem)
        if progress is not None:
            progress(done, len(rows))
    return result


def _check(
    archive: Archive, image_id: int, path: str, size: int, sha256: str, result: VerifyResult
) -> FileProblem | None:
    try:
        file = safe_join(archive.root, path)
    except ValueError as exc:
        return FileProblem(image_id, path, "unsafe path", str(exc))
    try:
        actual = file.stat().st_size
    except OSError:
        return FileProblem(image_id, path, "missing", "not on disk")
    if actual < size:
        return FileProblem(image_id, path, "truncated", f"{actual:,} of {size:,} bytes")
    if actual != size:
        return FileProblem(image_id, path, "altered", f"{actual:,} bytes, recorded {size:,}")
    digest = hashlib.sha256()
    try:
        with file.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    except OSError as exc:
        return FileProblem(image_id, path, "missing", f"cannot be read ({exc.strerror})")
    result.bytes_checked += actual
    if digest.hexdigest() != sha256:
        return FileProblem(image_id, path, "altered", "its SHA-256 is not the one recorded")
    return None
