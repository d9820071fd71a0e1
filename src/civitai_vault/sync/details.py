"""The details stage of a sync: generation data for new images, posts and model versions, batched.

Per new image the API is asked one thing, `image.getGenerationData`; its tags
come with the listing (`include: ["tags"]`, filtered as `tag.getVotableTags`
filters them, see `api.tags`). Only an image that did not come from a listing
(`image:N`) also asks `tag.getVotableTags`. Posts (known from the listing) are
looked up 200 at a time with one `post.getInfinite {ids}` call; a post that
answer leaves out (private, hidden, filtered) is asked alone with `post.get`.
Model versions (known from the generation data) are looked up one call each
with `modelVersion.getById`: its bulk sibling `getVersionsByIds` takes at most
50 ids and lacks the status, type and availability `check-models` reads.

Calls travel in tRPC batches of `batch_size` (the client's setting), in two
queues: images, and look-ups. While the listing runs, only full batches are
sent, except the first batch of images, which holds `FIRST_BATCH` so the
downloads start early; when the listing has ended, what is left goes out,
images first, then the look-ups they brought. So N new images with P new
posts and V new versions cost N + ceil(P / 200) + V procedure calls (plus one
`post.get` per post the bulk answer leaves out) in 1 + ceil((N - 8) / batch)
+ ceil((P / 200 + V) / batch) requests (one more per look-up batch that left
posts out). An image's
details are stored as soon as its generation data is in, without waiting for
its look-ups; look-ups a stopped run left unanswered are found in the archive
and asked by the next run (`archive.queries.missing_lookups`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pydantic import TypeAdapter

from civitai_vault.api import CivitaiClient, CivitaiError, NotFound
from civitai_vault.api.client import (
    POSTS_PER_CALL,
    generation_data,
    generation_data_call,
    model_version,
    model_version_call,
    post,
    post_call,
    posts_by_id,
    posts_call,
    votable_tags,
    votable_tags_call,
)
from civitai_vault.api.models import GenerationData, VotableTag
from civitai_vault.api.tags import votable_tags_from_listing
from civitai_vault.archive import writer as w
from civitai_vault.sync import normalize
from civitai_vault.sync.progress import Reporter
from civitai_vault.sync.summary import TargetSummary
from civitai_vault.sync.writer import BatchWriter, OnFailure

# Images queued beyond this many batches make the listing wait (memory stays flat).
QUEUED_BATCHES = 4
# A target's first batch of images is small: its answers start the downloads,
# which would otherwise wait for a whole batch to be answered, read and stored.
FIRST_BATCH = 8


@dataclass
class Known:
    """Posts and model versions the archive holds (or this run has asked for)."""

    posts: set[int]
    versions: set[int]


class DetailsStage:
    """Takes works from the listing, sends their calls in batches, stores what comes back."""

    def __init__(
        self,
        client: CivitaiClient,
        writer: BatchWriter,
        *,
        job_key: str,
        result: TargetSummary,
        reporter: Reporter,
        known: Known,
        to_files: Callable[[Any], Any],
        max_in_flight: int,
        image_failure: Callable[[int, str], OnFailure],
        cache_failure: Callable[[str], OnFailure],
    ) -> None:
        self.client = client
        self.writer = writer
        self.job_key = job_key
        self.result = result
        self.reporter = reporter
        self.known = known
        self.to_files = to_files  # async: hand a work to the downloads
        # What to do when the archive cannot store one image, or one cached object.
        self.image_failure = image_failure
        self.cache_failure = cache_failure
        self.batch_size = client.settings.batch_size
        self.max_in_flight = max(1, max_in_flight)
        self._images: deque[Any] = deque()
        self._image_calls = 0
        self._posts: deque[int] = deque()
        self._versions: deque[int] = deque()
        self._tasks: dict[asyncio.Task[None], str] = {}
        self._listing_done = False
        self._sent_images = False

    # ------------------------------------------------------------ feeding

    def ask_later(self, posts: list[int], versions: list[int]) -> None:
        """Look-ups an earlier run left unanswered."""
        self._want("post", posts)
        self._want("version", versions)

    async def add(self, work: Any) -> None:
        """An image that needs its details (the listing's `_Work`)."""
        self.reporter.add_total("details", 1)
        work.listing_tags = _listing_tags(work.listing)
        self._images.append(work)
        self._image_calls += _calls_for(work)
        post_id = work.record.get("post_id")
        self._want("post", [] if post_id is None else [int(post_id)])
        await self._pump()

    async def finish(self) -> None:
        """The listing has ended: send what is left and wait for every answer."""
        self._listing_done = True
        while True:
            self._start_ready()
            if not self._tasks:
                return
            await self._wait_one()

    def cancel(self) -> list[asyncio.Task[None]]:
        for task in self._tasks:
            task.cancel()
        return list(self._tasks)

    def _want(self, kind: str, ids: list[int]) -> None:
        known = self.known.posts if kind == "post" else self.known.versions
        queue = self._posts if kind == "post" else self._versions
        for item_id in ids:
            if item_id not in known:
                known.add(item_id)
                queue.append(item_id)

    # ------------------------------------------------------------ scheduling

    async def _pump(self) -> None:
        while True:
            self._start_ready()
            if len(self._images) <= QUEUED_BATCHES * self.batch_size or not self._tasks:
                return
            await self._wait_one()

    def _start_ready(self) -> None:
        while len(self._tasks) < self.max_in_flight:
            if self._image_calls >= self._image_batch() or (self._listing_done and self._images):
                self._start(self._run_images(self._take_images()), "images")
            elif self._full_lookup_calls() >= self.batch_size or (
                self._listing_done and (self._posts or self._versions) and not self._images_busy()
            ):
                self._start(self._run_lookups(self._take_lookups()), "lookups")
            else:
                return

    def _images_busy(self) -> bool:
        return bool(self._images) or "images" in self._tasks.values()

    def _start(self, coro: Any, kind: str) -> None:
        self._tasks[asyncio.create_task(coro)] = kind

    async def _wait_one(self) -> None:
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            del self._tasks[task]
        for task in done:
            task.result()  # a writer failure or a full disk ends the run

    def _image_batch(self) -> int:
        return self.batch_size if self._sent_images else min(FIRST_BATCH, self.batch_size)

    def _take_images(self) -> list[Any]:
        works: list[Any] = []
        calls = 0
        limit = self._image_batch()
        while self._images:
            if works and calls + _calls_for(self._images[0]) > limit:
                break
            work = self._images.popleft()
            calls += _calls_for(work)
            works.append(work)
        self._image_calls -= calls
        self._sent_images = True
        return works

    def _full_lookup_calls(self) -> int:
        """Look-up calls ready to go while the listing runs: only full `post.getInfinite`s."""
        return len(self._posts) // POSTS_PER_CALL + len(self._versions)

    def _take_lookups(self) -> tuple[list[list[int]], list[int]]:
        """At most `batch_size` calls: groups of posts (full ones while the listing runs), then
        model versions."""
        groups: list[list[int]] = []
        while len(groups) < self.batch_size and self._posts:
            if len(self._posts) < POSTS_PER_CALL and not self._listing_done:
                break
            count = min(POSTS_PER_CALL, len(self._posts))
            groups.append([self._posts.popleft() for _ in range(count)])
        count = min(self.batch_size - len(groups), len(self._versions))
        return groups, [self._versions.popleft() for _ in range(count)]

    # ------------------------------------------------------------ images

    async def _run_images(self, works: list[Any]) -> None:
        calls = []
        for work in works:
            calls.append(generation_data_call(work.image_id))
            if work.listing_tags is None:
                calls.append(votable_tags_call(work.image_id))
        answers = iter(await self.client.call_many(calls))
        for work in works:
            generation = next(answers)
            tags = work.listing_tags if work.listing_tags is not None else next(answers)
            await self._store(work, generation, tags)
            self.reporter.advance("details")
            if work.needs_file:
                self.reporter.add_total("downloads", 1)
                await self.to_files(work)

    async def _store(self, work: Any, generation: Any, tags: Any) -> None:
        failure = next((a for a in (generation, tags) if isinstance(a, CivitaiError)), None)
        try:
            if failure is not None:
                raise failure
            details = generation_data(generation)
            tag_list = tags if isinstance(tags, list) and _all_tags(tags) else votable_tags(tags)
        except NotFound:
            self.result.gone += 1
            await self.writer.submit(partial(w.mark_gone, image_id=work.image_id))
            work.needs_file = False
            return
        except CivitaiError as exc:
            self.result.fail(str(exc))
            await self.writer.submit(
                partial(
                    w.record_failure,
                    image_id=work.image_id,
                    stage="details",
                    reason=str(exc),
                    target_key=self.job_key,
                )
            )
            work.needs_file = False
            return
        await self._store_details(work, details, tag_list)

    async def _store_details(
        self, work: Any, generation: GenerationData, tags: list[VotableTag]
    ) -> None:
        image = normalize.build_image(work.listing, generation, tags, self.client.image_base_url)
        work.record = image.record
        self._want("version", normalize.version_ids(generation))
        await self.writer.submit(
            lambda c: w.store_details(
                c,
                image.record,
                resources=image.resources,
                tags=image.tags,
                # The listing item is not passed again: `_store_page` stored it moments ago.
                raw={"generation": generation.raw, "tags": [t.raw for t in tags]},
            ),
            self.image_failure(work.image_id, "details"),
        )

    # ------------------------------------------------------------ look-ups

    async def _run_lookups(self, lookups: tuple[list[list[int]], list[int]]) -> None:
        groups, versions = lookups
        calls = [posts_call(group) for group in groups]
        calls += [model_version_call(i) for i in versions]
        answers = await self.client.call_many(calls)
        left_out: list[int] = []
        for group, answer in zip(groups, answers, strict=False):
            found = _listed_posts(answer, group)
            if found is None:
                continue
            for post_id, row in found.items():
                await self._cache_post(post_id, row)
            left_out += [post_id for post_id in group if post_id not in found]
        for version_id, answer in zip(versions, answers[len(groups) :], strict=True):
            op = _version_row(version_id, answer)
            if op is not None:
                await self.writer.submit(op, self.cache_failure(f"model version {version_id}"))
        if left_out:
            answers = await self.client.call_many([post_call(i) for i in left_out])
            for post_id, answer in zip(left_out, answers, strict=True):
                await self._cache_post(post_id, _post_row(answer))

    async def _cache_post(self, post_id: int, row: dict[str, Any] | None) -> None:
        if row is not None:
            op = partial(w.cache_post, post_id=post_id, **row)
            await self.writer.submit(op, self.cache_failure(f"post {post_id}"))


def _listed_posts(answer: Any, asked: list[int]) -> dict[int, dict[str, Any]] | None:
    """The cache rows of the posts a `post.getInfinite` answer holds; the posts left out
    then ask `post.get`. The columns are what `post.get` gives (the same Post columns);
    `raw` is the listing item, which has no `detail` or tags.

    A call that failed for good (a 400, an answer over a limit, an unreadable one) holds
    none, so every post asks `post.get`; one that still failed after its retries (429,
    5xx, a dropped connection) gives None: a server in trouble is not sent 200 calls
    more, and the next run asks again.
    """
    try:
        if isinstance(answer, CivitaiError):
            raise answer
        found = posts_by_id(answer, asked)
    except CivitaiError as exc:
        return None if exc.retryable else {}
    return {post_id: normalize.post_row(item) for post_id, item in found.items()}


def _post_row(answer: Any) -> dict[str, Any] | None:
    """A `post.get` answer's cache row; an empty one when Civitai says it is gone or hidden,
    so it is not asked again; None after any other failure, so the next run asks again."""
    try:
        if isinstance(answer, CivitaiError):
            raise answer
        return normalize.post_row(post(answer))
    except NotFound:
        return dict.fromkeys(("user_id", "title", "published_at", "nsfw_level", "raw"))
    except CivitaiError:
        return None


def _version_row(version_id: int, answer: Any) -> Callable[[Any], None] | None:
    try:
        if isinstance(answer, CivitaiError):
            raise answer
        version = model_version(answer)
        row, raw = normalize.version_row(version), version.raw
    except NotFound:
        row, raw = w.ModelVersionRow(id=version_id, availability="not_found"), None
    except CivitaiError:
        return None
    return lambda c: w.cache_model_version(c, row, raw)


_TAG_LIST = TypeAdapter(list[VotableTag])  # one validation per image, not one per tag


def _listing_tags(listing: Any) -> list[VotableTag] | None:
    """The image's tags from its listing item, or None when the item carries none.

    Every listing this tool walks asks for `include: ["tags"]`. The database path
    leaves `tags` undefined for an image without tag rows (the search-index path
    says []), so such an image, like an `image.get` answer, asks
    `tag.getVotableTags` instead.
    """
    raw = getattr(listing, "raw", None)
    rows = raw.get("tags") if isinstance(raw, dict) else None
    if not isinstance(rows, list):
        return None
    return _TAG_LIST.validate_python(votable_tags_from_listing(rows))


def _calls_for(work: Any) -> int:
    return 1 if work.listing_tags is not None else 2


def _all_tags(tags: list[Any]) -> bool:
    return all(isinstance(tag, VotableTag) for tag in tags)
