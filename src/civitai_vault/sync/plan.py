"""From what the user typed to the concrete listings a run will walk.

Each target's source plans its own jobs (`civitai_vault.sources`): `me` becomes
every collection the signed-in user owns, `/user/NAME/posts` checks the user
first, and so on. A target that cannot be planned (a user that does not
exist, a login that is missing) becomes a job carrying its error, so the run
reports it and goes on with the others.
"""

from __future__ import annotations

from civitai_vault.api import CivitaiClient, CivitaiError
from civitai_vault.errors import TargetError, UsageError
from civitai_vault.sources import SyncJob, Target
from civitai_vault.sources.declared import collection_job
from civitai_vault.sources.filters import Filters

__all__ = ["SyncJob", "collection_job", "plan_jobs"]

# TargetError covers every source's look-up: no such user, post, model or version, no login.
PLANNING_ERRORS = (CivitaiError, TargetError, UsageError)


async def plan_jobs(client: CivitaiClient, targets: list[Target]) -> list[SyncJob]:
    """Every target's jobs, each once. When no target could be planned at all (the
    only target names a user that does not exist, say), that error is the run's."""
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
    return jobs


def _failed(target: Target, exc: BaseException) -> SyncJob:
    return SyncJob(
        kind=target.kind,
        ref=target.ref,
        label=str(target),
        source_id=target.id,
        filters=target.filters if isinstance(target.filters, Filters) else Filters(),
        error=str(exc),
    )
