"""Walking a job's listing, whatever its source, as pages of images that belong to it.

Every walker is an async iterator of pages (lists of `ImageListItem`) and,
once walked, says whether the listing was `complete`, how many items the
server sent that did not belong to the target (`foreign`: another user's
image in a user's feed, a stranger's post for a deleted user) and how many
fell outside the target's filter (`outside`), and how many could not be read
at all (`unreadable`: not an object, no id). Items that do not belong or cannot
be read are never handed out, so they are never archived under the target; a
listing that held any foreign or unreadable item is not complete.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from civitai_vault.api.models import GenerationData, ImageListItem
from civitai_vault.sources.base import SyncJob

if TYPE_CHECKING:
    from civitai_vault.api import CivitaiClient

__all__ = ["Listing", "generated_image_id", "open_listing"]

POST_PAGE_SIZE = 200  # post.getInfinite's maximum
GENERATED_PAGE_SIZE = 50
# The first image page of a target's first sync: Civitai takes longer the more
# images a page holds, and every download waits for it (`ImagePages.first_limit`).
FIRST_PAGE_SIZE = 50
# Pages of one cursor-walked feed before the walk gives up (a server that never
# stops answering with a cursor would otherwise keep a run busy forever).
MAX_PAGES = 100_000
GENERATED_ID_BASE = 2**52  # above every Civitai image id, below 2**53 (JS-safe)


class Listing:
    """One job's listing; iterate it once (`async for items in listing`)."""

    def __init__(self, client: CivitaiClient, job: SyncJob, page_size: int) -> None:
        self.client = client
        self.job = job
        self.page_size = page_size
        self.complete = False
        self.foreign = 0
        self.outside = 0
        self.unreadable = 0
        self.notes: list[str] = []
        self.stop_reason: str | None = None  # why a walk ended early, when the pager knows
        # True when the caller knows the target holds images (Civitai counted some, or
        # an earlier run listed some): an empty first page is then not believed. None:
        # nothing is known (`ImagePages` asks such a page once more).
        self.expect_items: bool | None = None
        # A smaller first image page (`ImagePages.first_limit`), for a first sync, whose
        # downloads wait for it; None: pages of `page_size` from the start.
        self.first_page_size: int | None = None
        # Generation data that came with the listing (on-site generations): no
        # image.getGenerationData for these.
        self.generation: dict[int, GenerationData] = {}

    def __aiter__(self) -> AsyncIterator[list[Any]]:
        return self._walk()

    def _walk(self) -> AsyncIterator[list[Any]]:
        raise NotImplementedError

    # ------------------------------------------------------------ what belongs

    def keep(self, items: list[Any], owner_id: int | None = None) -> list[Any]:
        """The items that belong to the target: its owner's, inside its filter."""
        owner = owner_id if owner_id is not None else self.job.owner_id
        filters = self.job.filters
        kept = []
        for item in items:
            if owner is not None and item_owner(item) != owner:
                self.foreign += 1
            elif (
                filters.types and (item.type or "image") not in filters.types
            ) or not filters.keeps_date(item.created_at or item.published_at):
                self.outside += 1
            else:
                kept.append(item)
        return kept

    def verdict(self, ended_normally: bool) -> None:
        """Complete when the walk ended as the server said and nothing foreign or unreadable
        came (a broken answer must never read as an empty one)."""
        self.complete = ended_normally and self.foreign == 0 and self.unreadable == 0
        if self.unreadable:
            self.notes.append(
                f"the server sent {self.unreadable} listed items that could not be read (not "
                "an object, or no id); the listing is not trusted complete"
            )
        if self.foreign:
            who = self.job.owner_name or "the target's owner"
            self.notes.append(
                f"the server sent {self.foreign} items that are not {who}'s; they were not "
                "archived here and the listing is not trusted complete"
            )
        if self.outside:
            self.notes.append(f"{self.outside} listed items fell outside the filter")

    def image_pages(self, extra: dict[str, Any], *, expect_items: bool | None = None) -> Any:
        filters = self.job.filters
        return self.client.iter_image_pages(
            extra=extra,
            sort=filters.sort or "Newest",
            period=filters.period or "AllTime",
            browsing_level=filters.nsfw or 31,
            limit=self.page_size,
            expect_items=expect_items,
            first_limit=self.first_page_size,
        )


def item_owner(item: Any) -> int | None:
    """The uploader's id: `user.id` (database path) or `userId` (search-index path)."""
    user = getattr(item, "user", None)
    if user is not None and getattr(user, "id", None) is not None:
        return int(user.id)
    extra = getattr(item, "model_extra", None) or {}
    value = extra.get("userId", extra.get("user_id"))
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


class ImageFeed(Listing):
    """`image.getInfinite` with the job's input (collection, post, user, model, reactions)."""

    async def _walk(self) -> AsyncIterator[list[Any]]:
        pages = self.image_pages(dict(self.job.listing), expect_items=self.expect_items)
        async for page in pages:
            yield self.keep(page.items)
        self.unreadable += pages.unreadable
        self.stop_reason = getattr(pages, "stop_reason", None)
        self.verdict(bool(pages.ended_normally))


class PostFeed(Listing):
    """`post.getInfinite` (a user's posts, a Post collection), then each post's images."""

    async def _walk(self) -> AsyncIterator[list[Any]]:
        filters = self.job.filters
        cursor: Any = None
        ended = True
        foreign_posts = 0
        seen: set[int] = set()
        for _ in range(MAX_PAGES):
            payload: dict[str, Any] = {
                **self.job.listing,
                "limit": POST_PAGE_SIZE,
                "sort": filters.sort or "Newest",
                "period": filters.period or "AllTime",
                "browsingLevel": filters.nsfw or 31,
            }
            if cursor is not None:
                payload["cursor"] = cursor
            page = await self.client.get_posts_page(payload)
            posts = _items(page, "post.getInfinite")
            for post in posts:
                post_id = post.get("id") if isinstance(post, dict) else None
                if not isinstance(post_id, int) or isinstance(post_id, bool):
                    self.unreadable += 1
                    continue
                if post_id in seen:
                    continue
                seen.add(post_id)
                owner = _post_owner(post)
                if self.job.owner_id is not None and owner != self.job.owner_id:
                    foreign_posts += 1
                    continue
                # A listed post may hold only images hidden from the viewer: its empty
                # listing is believed, not asked again.
                images = self.image_pages(
                    {"postId": post_id, **_types(filters)}, expect_items=False
                )
                async for image_page in images:
                    yield self.keep(image_page.items, owner_id=self.job.owner_id or owner)
                self.unreadable += images.unreadable
                ended = ended and bool(images.ended_normally)
            next_cursor = page.get("nextCursor")
            if next_cursor is None or next_cursor == "":
                break
            if next_cursor == cursor:
                ended = False  # a cursor that does not move: stop rather than loop
                break
            cursor = next_cursor
        else:
            ended = False
        self.foreign += foreign_posts
        if foreign_posts:
            self.notes.append(
                f"post.getInfinite sent {foreign_posts} posts by other users (it ignores a "
                "user name it does not know)"
            )
        self.verdict(ended)


class GeneratedFeed(Listing):
    """`orchestrator.queryGeneratedImages`: the signed-in user's on-site generations.

    Each workflow's steps carry the generated images (a blob id and a URL on the
    generator's own host) and the parameters and resources they were made with,
    so no per-image call is needed. The images are not Civitai images and have
    no Civitai image id: each is recorded under a stable id derived from its
    blob id (`generated_image_id`), above every real image id.
    """

    async def _walk(self) -> AsyncIterator[list[Any]]:
        filters = self.job.filters
        cursor: Any = None
        ended = False
        for _ in range(MAX_PAGES):
            payload: dict[str, Any] = {
                "take": GENERATED_PAGE_SIZE,
                "tags": [],
                "ascending": False,
                "excludeFailed": True,
            }
            if filters.since is not None:
                payload["fromDate"] = _midnight(filters.since)
            if filters.until is not None:
                payload["toDate"] = _midnight(filters.until, next_day=True)
            if cursor is not None:
                payload["cursor"] = cursor
            page = await self.client.get_generated_page(payload)
            items: list[Any] = []
            for workflow in _items(page, "orchestrator.queryGeneratedImages"):
                if not isinstance(workflow, dict) or not isinstance(workflow.get("steps"), list):
                    self.unreadable += 1
                    continue
                items.extend(self._images_of(workflow))
            yield self.keep(items)
            next_cursor = page.get("nextCursor")
            if next_cursor is None or next_cursor == "":
                ended = True
                break
            if next_cursor == cursor:
                break
            cursor = next_cursor
        self.verdict(ended)

    def _images_of(self, workflow: dict[str, Any]) -> list[ImageListItem]:
        found = []
        workflow_meta: dict[str, Any] = _dict(workflow.get("metadata"))
        for step in _dicts(workflow.get("steps")):
            step_meta = _dict(step.get("metadata"))
            params = step_meta.get("params") or workflow_meta.get("params") or {}
            resources = step_meta.get("resources") or workflow_meta.get("resources") or []
            for blob in _dicts(step.get("images")):
                item = self._item(workflow, step, blob, params if isinstance(params, dict) else {})
                if item is None:
                    continue
                self.generation[int(item.id or 0)] = _generation(params, resources, blob, item)
                found.append(item)
        return found

    def _item(
        self, workflow: dict[str, Any], step: dict[str, Any], blob: dict[str, Any], params: Any
    ) -> ImageListItem | None:
        blob_id, url = blob.get("id"), blob.get("url")
        if blob.get("available") is False or blob.get("status") not in (None, "succeeded"):
            return None  # still running, failed or blocked: nothing to keep yet
        if not isinstance(blob_id, str) or not blob_id or not isinstance(url, str):
            self.unreadable += 1  # finished, yet no blob id or address to fetch it from
            return None
        created = step.get("completedAt") or blob.get("completed") or workflow.get("createdAt")
        image_type = "video" if blob.get("type") == "video" else "image"
        item = ImageListItem.model_validate(
            {
                "id": generated_image_id(blob_id),
                "url": url,
                "name": f"{blob_id}.{'mp4' if image_type == 'video' else 'png'}",
                "type": image_type,
                "width": blob.get("width") or params.get("width"),
                "height": blob.get("height") or params.get("height"),
                "nsfwLevel": blob.get("nsfwLevel"),
                "createdAt": created,
                "publishedAt": None,
                "onSite": True,
                "user": {"id": self.job.owner_id, "username": self.job.owner_name},
                "workflowId": workflow.get("id"),
                "blobId": blob_id,
            }
        )
        item._raw = {"workflow_id": workflow.get("id"), "step": step.get("name"), "image": blob}
        return item


class SingleImage(Listing):
    """`image.get` for one image; NotFound propagates (the engine marks the image gone)."""

    async def _walk(self) -> AsyncIterator[list[Any]]:
        image_id = int(self.job.source_id or 0)
        info = await self.client.get_image(image_id)
        if info.id != image_id:  # an answer about no image, or another one
            raise answer_is_not_for("image.get", f"image {image_id}", info.id)
        yield [info]
        self.complete = True


WALKERS: dict[str, type[Listing]] = {
    "images": ImageFeed,
    "posts": PostFeed,
    "generated": GeneratedFeed,
    "image": SingleImage,
}


def open_listing(client: CivitaiClient, job: SyncJob, page_size: int) -> Listing:
    return WALKERS[job.walk](client, job, page_size)


def generated_image_id(blob_id: str) -> int:
    """A stable archive id for a generated image, from its blob id; never a real image id."""
    # surrogatepass: a blob id cut inside an emoji still gives its own stable id.
    digest = hashlib.sha256(blob_id.encode("utf-8", "surrogatepass")).digest()
    return GENERATED_ID_BASE + int.from_bytes(digest[:8], "big") % GENERATED_ID_BASE


def _generation(
    params: Any, resources: Any, blob: dict[str, Any], item: ImageListItem
) -> GenerationData:
    """The generation data of one generated image, in `image.getGenerationData`'s shape."""
    p = params if isinstance(params, dict) else {}
    meta = {
        "prompt": p.get("prompt"),
        "negativePrompt": p.get("negativePrompt"),
        "cfgScale": p.get("cfgScale"),
        "steps": p.get("steps"),
        "sampler": p.get("sampler"),
        "seed": blob.get("seed", p.get("seed")),
        "clipSkip": p.get("clipSkip"),
        "baseModel": p.get("baseModel"),
        "workflow": p.get("workflow"),
    }
    if item.width and item.height:
        meta["Size"] = f"{item.width}x{item.height}"
    uses = []
    for resource in _dicts(resources):
        model = resource.get("model") if isinstance(resource.get("model"), dict) else {}
        uses.append(
            {
                "modelVersionId": resource.get("id"),
                "versionId": resource.get("id"),
                "versionName": resource.get("name"),
                "strength": resource.get("strength"),
                "modelId": (model or {}).get("id"),
                "modelName": (model or {}).get("name"),
                "modelType": (model or {}).get("type"),
                "baseModel": resource.get("baseModel"),
            }
        )
    generation = GenerationData.model_validate(
        {
            "type": item.type,
            "onSite": True,
            "process": p.get("workflow") or p.get("process"),
            "meta": {k: v for k, v in meta.items() if v is not None},
            "resources": uses,
        }
    )
    generation._raw = {"params": p, "resources": resources}
    return generation


def _post_owner(post: dict[str, Any]) -> int | None:
    user = post.get("user")
    if isinstance(user, dict) and isinstance(user.get("id"), int):
        return int(user["id"])
    value = post.get("userId")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _types(filters: Any) -> dict[str, Any]:
    return {"types": list(filters.types)} if filters.types else {}


def _midnight(day: Any, next_day: bool = False) -> Any:
    from datetime import UTC, datetime, timedelta

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start + timedelta(days=1) if next_day else start


def answer_is_not_for(procedure: str, asked: str, got: Any) -> Exception:
    """The error for an answer whose id is not the one asked for (missing, or another)."""
    from civitai_vault.api.errors import MalformedResponse

    named = "no id" if got is None else f"the id {str(got)[:24]}"
    return MalformedResponse(
        "Civitai's answer could not be read",
        procedure=procedure,
        server_message=f"the answer for {asked} has {named}",
    )


def _items(page: dict[str, Any], procedure: str) -> list[Any]:
    """A page's `items`; a page without a list of them is a malformed answer."""
    items = page.get("items")
    if not isinstance(items, list):
        from civitai_vault.api.errors import MalformedResponse

        raise MalformedResponse(
            "Civitai's answer could not be read",
            procedure=procedure,
            server_message="a listing page has no list of items",
        )
    return items


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []
