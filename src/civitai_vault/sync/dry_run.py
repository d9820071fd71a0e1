"""`sync --dry-run`: what a sync would fetch, found by walking the listings only.

Costs the listing pages (one request per 200 images) and nothing else; writes
nothing, not even a new archive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from civitai_vault.api import CivitaiClient, CivitaiError, NotFound
from civitai_vault.archive import open_archive
from civitai_vault.archive.schema import DB_NAME
from civitai_vault.archive.status import image_states
from civitai_vault.config import Settings
from civitai_vault.sources import SyncJob, Target
from civitai_vault.sources.listings import open_listing
from civitai_vault.sync.engine import PAGE_SIZE
from civitai_vault.sync.plan import plan_jobs
from civitai_vault.sync.run import Pace


@dataclass
class PlannedTarget:
    key: str
    label: str
    listed: int = 0
    new: int = 0  # not archived: details and file would be fetched
    details: int = 0  # archived without generation data: details would be fetched
    files: int = 0  # archived without a file on disk: the file would be downloaded
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def plan_sync(
    settings: Settings, targets: list[Target], pace: Pace, *, media: bool, limit: int | None
) -> list[PlannedTarget]:
    async with CivitaiClient(settings.client_settings(**pace.overrides())) as client:
        jobs = await plan_jobs(client, targets, item_counts=False)  # it lists them whole
        planned = []
        for job in jobs:
            target = PlannedTarget(job.key, job.label)
            try:
                ids = await _listed_ids(client, job, limit)
            except CivitaiError as exc:
                target.error = str(exc)
                ids = []
            _count(target, ids, settings.archive, media)
            planned.append(target)
        return planned


async def _listed_ids(client: CivitaiClient, job: SyncJob, limit: int | None) -> list[int]:
    """The ids the job's listing shows (whatever its source), up to `limit`."""
    if job.error:
        raise _Unplannable(job.error)
    if job.skipped:
        return []
    ids: list[int] = []
    try:
        async for items in open_listing(client, job, PAGE_SIZE):
            ids.extend(int(item.id) for item in items if item.id is not None)
            if limit is not None and len(ids) >= limit:
                return ids[:limit]
    except NotFound:
        if job.walk != "image":
            raise
        return []
    return ids


class _Unplannable(CivitaiError):
    """Planning found the target cannot be archived; its message says why."""


def _count(target: PlannedTarget, ids: list[int], archive: Path, media: bool) -> None:
    target.listed = len(ids)
    states: dict[int, tuple[bool, str | None]] = {}
    if (archive / DB_NAME).is_file():
        with open_archive(archive, create=False, reading=True) as opened:
            states = image_states(opened.conn, ids)
    for image_id in ids:
        has_details, path = states.get(image_id, (False, None))
        if image_id not in states:
            target.new += 1
            continue
        target.details += not has_details
        target.files += media and (path is None or not (archive / path).is_file())
