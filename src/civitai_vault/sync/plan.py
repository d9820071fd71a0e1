"""From what the user typed to the concrete listings a run will walk.

`me` becomes every collection the signed-in user owns; `/user/NAME/collections`
becomes that user's collections; everything else maps to one listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from civitai_vault.api import CivitaiClient, Target
from civitai_vault.errors import UsageError


@dataclass(frozen=True)
class SyncJob:
    key: str  # stored in the archive: 'collection:12', 'post:3', 'user_images:name', 'image:9'
    kind: str
    label: str
    listing: dict[str, Any] = field(default_factory=dict)  # iter_image_pages keyword arguments
    # Only a user's own-uploads feed is ordered by upload time, so only there do
    # known images mean "nothing older is new". Collections are ordered by image
    # id, not by date added: stopping at the first known image would miss items.
    may_stop_early: bool = False

    @property
    def collection_id(self) -> int | None:
        return self.listing.get("collection_id")

    @property
    def image_id(self) -> int | None:
        return int(self.key.split(":", 1)[1]) if self.kind == "image" else None


async def plan_jobs(client: CivitaiClient, targets: list[Target]) -> list[SyncJob]:
    jobs: list[SyncJob] = []
    for target in targets:
        for job in await _jobs_for(client, target):
            if job.key not in {j.key for j in jobs}:
                jobs.append(job)
    return jobs


def collection_job(collection_id: int, label: str | None = None) -> SyncJob:
    return SyncJob(
        key=f"collection:{collection_id}",
        kind="collection",
        label=label or f"collection {collection_id}",
        listing={"collection_id": collection_id},
    )


async def _jobs_for(client: CivitaiClient, target: Target) -> list[SyncJob]:
    # parse_target gives every collection and post target its id.
    if target.kind == "collection" and target.id is not None:
        return [collection_job(target.id)]
    if target.kind == "post" and target.id is not None:
        return [
            SyncJob(
                key=f"post:{target.id}",
                kind="post",
                label=f"post {target.id}",
                listing={"post_id": target.id},
            )
        ]
    if target.kind == "image":
        return [SyncJob(key=f"image:{target.id}", kind="image", label=f"image {target.id}")]
    if target.kind == "user_images":
        return [
            SyncJob(
                key=f"user_images:{target.username}",
                kind="user_images",
                label=f"{target.username}'s images",
                listing={"username": target.username},
                may_stop_early=True,
            )
        ]
    if target.kind in ("me", "user_collections"):
        return await _own_collections(client, target)
    raise UsageError(f"cannot sync a target of kind {target.kind!r}")


async def _own_collections(client: CivitaiClient, target: Target) -> list[SyncJob]:
    """`me`, or a user's collections.

    Your own come from collection.getAllUser, private ones included. Another
    user's come from collection.getInfinite, which Civitai limits to Public
    collections; the run says so rather than passing that off as everything.
    """
    if target.kind == "user_collections":
        me = await client.whoami()
        if not me.username or me.username.lower() != (target.username or "").lower():
            return await _someone_elses_collections(client, target.username or "")
    collections = await client.get_user_collections()
    return [
        collection_job(c.id, c.name)
        for c in collections
        if c.id is not None and getattr(c, "is_owner", True) is not False
    ]


async def _someone_elses_collections(client: CivitaiClient, username: str) -> list[SyncJob]:
    creator = await client.get_creator(username=username)
    if creator is None or creator.id is None:
        raise UsageError(f"Civitai has no user named {username!r}: check the name in the URL")
    collections = await client.get_public_collections(int(creator.id))
    return [collection_job(int(c.id), c.name) for c in collections if c.id is not None]
