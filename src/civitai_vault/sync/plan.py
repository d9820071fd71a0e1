"""From what the user typed to the concrete listings a run will walk.

Each target's source plans its own jobs (`civitai_vault.sources`): `me` becomes
every collection the signed-in user owns, `/user/NAME/posts` checks the user
first, and so on. A target that cannot be planned (a user that does not
exist, a login that is missing) becomes a job carrying its error, so the run
reports it and goes on with the others.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from civitai_vault.api import CivitaiClient, CivitaiError
from civitai_vault.errors import TargetError, UsageError
from civitai_vault.sources import SyncJob, Target
from civitai_vault.sources.declared import collection_job
from civitai_vault.sources.filters import Filters

__all__ = ["SyncJob", "collection_job", "plan_jobs"]

log = logging.getLogger(__name__)

# TargetError covers every source's look-up: no such user, post, model or version, no login.
PLANNING_ERRORS = (CivitaiError, TargetError, UsageError)


async def plan_jobs(
    client: CivitaiClient, targets: list[Target], *, item_counts: bool = True
) -> list[SyncJob]:
    """Every target's jobs, each once. When no target could be planned at all (the
    only target names a user that does not exist, say), that error is the run's.
    `item_counts`: ask for Public collections' sizes, for the progress."""
    jobs: list[SyncJob] = []
    keys: set[str] = set()
    failures: list[BaseException] = []
    for target in targets:
        try:
            planned = await target.source.plan(client, target)
        except PLANNING_ERRORS as exc:
            failures.append(exc)
            planned = [_failed(target, exc)]
        for job in planned:
            if job.key not in keys:
                keys.add(job.key)
                jobs.append(job)
    if failures and len(failures) == len(targets):
        raise failures[0]
    return await _with_item_counts(client, jobs) if item_counts else jobs


def _countable(job: SyncJob) -> bool:
    """Whether the server's item count can stand for what this job lists: an Image
    collection listed unfiltered (a Post collection counts posts, and a filter lists
    fewer than the count says)."""
    return (
        job.kind == "collection"
        and job.walk == "images"
        and job.error is None
        and job.skipped is None
        and not job.filters.changes_listing()
    )


async def _with_item_counts(client: CivitaiClient, jobs: list[SyncJob]) -> list[SyncJob]:
    """The jobs, each countable Public collection with its item count for the progress.

    Counts already known (a user's collections come listed with them) cost nothing;
    the others cost one `collection.getInfinite {ids}` for up to 200 collections.
    Private and Unlisted collections are never counted there, so they are not asked
    for. The count only informs progress: when it cannot be had, progress says "so far".
    """
    jobs = [job if _countable(job) else replace(job, expected_items=None) for job in jobs]
    wanted = [
        job.source_id
        for job in jobs
        if _countable(job)
        and job.expected_items is None
        and job.source_id is not None
        and getattr(job.context.get("collection"), "read", None) == "Public"
    ]
    if not wanted:
        return jobs
    try:
        counts = await client.get_collection_item_counts(wanted)
    except CivitaiError as exc:
        log.info("no item counts for the progress: %s", exc)
        return jobs
    return [
        replace(job, expected_items=counts[job.source_id])
        if job.expected_items is None and job.source_id in counts and _countable(job)
        else job
        for job in jobs
    ]


def _failed(target: Target, exc: BaseException) -> SyncJob:
    return SyncJob(
        kind=target.kind,
        ref=target.ref,
        label=str(target),
        source_id=target.id,
        filters=target.filters if isinstance(target.filters, Filters) else Filters(),
        error=str(exc),
    )
