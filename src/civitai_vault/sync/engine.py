"""The sync pipeline: listing -> details -> download -> write, joined by bounded queues.

Per new image the API budget is one call (generation data), sent in tRPC
batches; tags and users come with the listing; posts and model versions are
fetched once each, batched too, and cached in the archive (`details.py`). A
re-run walks the listing and fetches nothing else unless something is new,
changed, or still missing from an earlier run.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from civitai_vault.api import CivitaiClient, CivitaiError, NotFound
from civitai_vault.api.levels import listing_levels
from civitai_vault.archive import Archive
from civitai_vault.archive import writer as w
from civitai_vault.archive.queries import get_record, has_members, missing_lookups
from civitai_vault.archive.status import (
    cached_post_ids,
    cached_version_ids,
    image_states,
    listed_fields,
)
from civitai_vault.archive.values import IMAGE_ERRORS, fits_int64, storable
from civitai_vault.media.verify import InvalidMedia
from civitai_vault.sources import SyncJob, Target
from civitai_vault.sources.listings import FIRST_PAGE_SIZE, Listing, open_listing
from civitai_vault.sync import normalize
from civitai_vault.sync.details import FIRST_BATCH, DetailsStage, Known
from civitai_vault.sync.files import FileOptions, clear_partials, fetch_file
from civitai_vault.sync.plan import plan_jobs
from civitai_vault.sync.progress import Reporter
from civitai_vault.sync.summary import RunSummary, TargetSummary
from civitai_vault.sync.writer import BatchWriter, OnFailure

# Listing pages as large as Civitai allows: a re-run costs one request per 200 images.
PAGE_SIZE = 200
FATAL_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


@dataclass(frozen=True)
class SyncOptions:
    media: bool = True
    limit: int | None = None
    files: FileOptions = field(default_factory=FileOptions)
    detail_workers: int = 4
    download_workers: int = 4
    page_size: int = PAGE_SIZE
    # Verify every archived file first and fetch again those missing, truncated or
    # altered (`civitai-vault sync --repair`; see run.py).
    repair: bool = False


@dataclass
class _Work:
    """One image on its way through the pipeline."""

    image_id: int
    listing: Any  # ImageListItem or ImageInfo
    record: dict[str, Any]
    needs_details: bool
    needs_file: bool
    is_new: bool = False
    changed: bool = False
    # Template fields the record does not hold: the target's collection id and name.
    names: dict[str, Any] = field(default_factory=dict)
    listing_tags: list[Any] | None = None  # set by the details stage


class SyncEngine:
    def __init__(
        self,
        client: CivitaiClient,
        archive: Archive,
        options: SyncOptions | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.client = client
        self.archive = archive
        self.options = options or SyncOptions()
        self.reporter = reporter or Reporter()  # says nothing, takes no wait notices
        self.conn = archive.conn
        self.known = Known(posts=set(), versions=set())
        self.unanswered: tuple[list[int], list[int]] = ([], [])
        # Cached objects (posts, model versions, collections) the archive could not
        # store: said once at the end; the images that use them are archived.
        self.cache_notes: dict[str, None] = {}
        # Images whose file on disk is not what the archive recorded (sync --repair).
        self.broken_files: set[int] = set()

    # ------------------------------------------------------------ the run

    async def run(self, targets: list[Target]) -> RunSummary:
        started = time.monotonic()
        summary = RunSummary()
        run_id = self._write_now(lambda c: w.start_run(c, "sync"))
        clear_partials(self.archive.media_dir)
        self._load_caches()
        jobs = await plan_jobs(self.client, targets)
        try:
            for job in jobs:
                summary.targets.append(await self._sync_job_or_fail(job))
        finally:
            summary.seconds = time.monotonic() - started
            summary.api_requests = _stat(self.client, "api_requests")
            summary.api_calls = _stat(self.client, "api_calls")
            summary.cdn_requests = _stat(self.client, "cdn_requests")
            summary.api_seconds = float(getattr(self.client.stats, "api_seconds", 0.0))
            summary.cdn_seconds = float(getattr(self.client.stats, "cdn_seconds", 0.0))
            summary.bytes_downloaded = _stat(self.client, "bytes_downloaded")
            summary.notes.extend(self.cache_notes)
            if self.client.site_is_green:
                summary.notes.append(
                    "civitai.com hides R and X images even when you are signed in; "
                    "run with --site red to include them"
                )
            self._write_now(lambda c: w.finish_run(c, run_id, summary.as_dict()))
        return summary

    async def repair(self, image_ids: list[int]) -> RunSummary:
        """Fetch these images' files again, from the addresses the archive recorded.

        For `sync --repair` without targets: the archive knows each file's record,
        so this costs one download per file and no API call.
        """
        summary = RunSummary()
        result = TargetSummary(key="repair", label="files to repair")
        self.reporter.start_target(result.label)
        clear_partials(self.archive.media_dir)
        records = [r for r in (get_record(self.conn, i) for i in image_ids) if r is not None]
        writer = BatchWriter(self.conn)
        writer.start()
        files_q: asyncio.Queue[_Work | None] = asyncio.Queue()
        for record in records:
            files_q.put_nowait(_Work(record["image_id"], None, record, False, True))
        self.reporter.add_total("downloads", len(records))
        workers = max(1, self.options.download_workers)
        tasks = [
            asyncio.create_task(self._files_worker(None, result, files_q, writer))
            for _ in range(workers)
        ]
        try:
            await _stop_workers(files_q, tasks)
            await writer.close()
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await _close_quietly(writer)
            raise
        result.listed = len(records)
        result.complete = True
        summary.targets.append(result)
        summary.cdn_requests = _stat(self.client, "cdn_requests")
        summary.bytes_downloaded = _stat(self.client, "bytes_downloaded")
        return summary

    def _write_now(self, op: Callable[[Any], Any]) -> Any:
        with w.transaction(self.conn):
            return op(self.conn)

    def _load_caches(self) -> None:
        self.known.posts = cached_post_ids(self.conn)
        self.known.versions = cached_version_ids(self.conn)
        self.unanswered = missing_lookups(self.conn)

    # ------------------------------------------------------------ one target

    async def _sync_job_or_fail(self, job: SyncJob) -> TargetSummary:
        """One target; a failure that ends it (after retries) is its own, not the run's."""
        try:
            return await self._sync_job(job)
        except CivitaiError as exc:
            result = TargetSummary(key=job.key, label=job.label, error=f"stopped: {exc}")
            self._finish_target(job, result, None)
            return result

    def _record_target(self, job: SyncJob) -> None:
        user_kinds = ("user_images", "user_posts", "user_collections")
        self._write_now(
            lambda c: w.upsert_target(
                c,
                job.key,
                job.kind,
                job.ref,
                job.label,
                source_id=job.source_id,
                source_name=job.ref if job.kind in user_kinds else None,
                filters=job.filters.as_dict(),
            )
        )

    async def _sync_job(self, job: SyncJob) -> TargetSummary:
        result = TargetSummary(key=job.key, label=job.label)
        expected = job.expected_items
        if expected is not None and self.options.limit is not None:
            expected = min(expected, self.options.limit)
        self.reporter.start_target(job.label, expected)
        if not job.skipped:
            # A Model or Article collection of `me` holds nothing to archive: as a target
            # of its own it would fail every later bare `sync`. (One that cannot be read
            # is kept, incomplete, so status and every later run say so.)
            self._record_target(job)
        self._cache_planned_collection(job)
        if job.error or job.skipped:
            # Planning found it cannot (or need not) be walked: say so, walk nothing.
            result.error = job.error
            if job.skipped:
                result.skipped = True
                result.notes.append(job.skipped)
            self._finish_target(job, result, None)
            return result
        writer = BatchWriter(self.conn)
        writer.start()
        files_q: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=2 * PAGE_SIZE)
        details = DetailsStage(
            self.client,
            writer,
            job_key=job.key,
            result=result,
            reporter=self.reporter,
            known=self.known,
            to_files=files_q.put,
            max_in_flight=self.options.detail_workers,
            image_failure=lambda image_id, stage: self._image_failure(
                job.key, result, image_id, stage
            ),
            cache_failure=self._cache_failure,
        )
        details.ask_later(*self.unanswered)
        self.unanswered = ([], [])
        file_tasks = [
            asyncio.create_task(self._files_worker(job.key, result, files_q, writer))
            for _ in range(max(1, self.options.download_workers) if self.options.media else 0)
        ]
        try:
            seen = await self._list(job, result, details, files_q, writer)
            self.reporter.listing_done()
            await details.finish()
            await _stop_workers(files_q, file_tasks)
            await writer.close()
        except BaseException:
            pending = [*details.cancel(), *file_tasks]
            for task in file_tasks:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await _close_quietly(writer)
            raise
        self._finish_target(job, result, seen)
        self.reporter.finish_target(result)
        return result

    def _finish_target(self, job: SyncJob, result: TargetSummary, seen: list[int] | None) -> None:
        levels = listing_levels(
            signed_in=self.client.signed_in, site=self.client.site, requested=job.filters.nsfw or 31
        )

        def finish(conn: Any) -> None:
            if seen is not None and result.complete and job.walk != "image":
                removals = w.mark_removed_except(conn, job.key, seen, levels)
                result.removed, result.hidden = len(removals.removed), removals.hidden
                w.record_listing_site(conn, job.key, self.client.site, levels)
            w.finish_target(
                conn,
                job.key,
                listed=result.listed,
                new=result.new,
                updated=result.updated,
                failed=result.failed,
                gone=result.gone,
                complete=result.complete,
                note=result.error or "; ".join(result.notes) or None,
                label=result.label,
                hidden=result.hidden,
            )

        self._write_now(finish)

    # ------------------------------------------------------------ listing

    async def _list(
        self,
        job: SyncJob,
        result: TargetSummary,
        details: DetailsStage,
        files_q: asyncio.Queue[_Work | None],
        writer: BatchWriter,
    ) -> list[int] | None:
        """Walk the job's listing (any source); returns the ids seen when walked to its end."""
        listing = open_listing(self.client, job, self.options.page_size)
        # Believed at once, an empty first page would flag every archived image of a
        # target that holds images as gone from it. Civitai's own count, when it gave
        # one, says whether images are due (a collection emptied by its owner counts 0);
        # otherwise an earlier listing that showed some does.
        archived = await writer.call(lambda c: has_members(c, job.key))
        due = job.expected_items > 0 if job.expected_items is not None else archived
        listing.expect_items = True if due else None
        # A first sync's downloads wait for its first page; a re-run's pages stay whole.
        listing.first_page_size = None if archived else FIRST_PAGE_SIZE
        pages = aiter(listing)
        seen: list[int] = []
        listed_ids: set[int] = set()
        try:
            async for page_items in pages:
                writer.raise_if_failed()
                items = _first_sightings(page_items, listed_ids)
                if self.options.limit is not None:
                    items = items[: max(0, self.options.limit - len(seen))]
                works: list[_Work] = []
                for part in _page_parts(items, first_page=not seen):
                    stored = await self._store_page(job, part, writer, result, listing)
                    for work in stored:
                        await self._route(work, result, details, files_q)
                    works += stored
                await _let_batches_leave()
                seen.extend(work.image_id for work in works)
                result.listed += len(works)
                self.reporter.add_total("listing", len(works))
                self.reporter.advance("listing", len(works))
                stop_early = job.may_stop_early and all(
                    not (x.needs_details or x.needs_file) for x in works
                )
                if self.options.limit is not None and len(seen) >= self.options.limit:
                    result.limited = True
                    result.notes.append(f"stopped after --limit {self.options.limit} images")
                    return None
                if stop_early and works and not listing.foreign:
                    result.complete = True
                    result.notes.append("stopped at images already archived (newest first)")
                    return None
        except NotFound:
            if job.walk != "image":
                raise
            image_id = int(job.source_id or 0)
            await writer.submit(lambda c: w.mark_gone(c, image_id))
            result.gone += 1
            result.error = (
                f"image {image_id} was not found on Civitai (deleted, or not visible to you)"
            )
            return None
        except CivitaiError as exc:
            result.error = f"listing stopped: {exc}"
            if job.walk == "image":
                image_id, reason = int(job.source_id or 0), str(exc)
                await writer.submit(
                    lambda c: w.record_failure(c, image_id, "listing", reason, job.key)
                )
            return None
        finally:
            await pages.aclose()  # type: ignore[attr-defined]
        result.complete = listing.complete
        result.foreign = listing.foreign
        result.notes.extend(listing.notes)
        if job.walk == "image":
            return seen
        if not listing.complete and not listing.foreign:
            why = listing.stop_reason or "the server returned an empty page"
            result.notes.append(f"the listing ended early ({why})")
        elif not seen and not listing.foreign:
            # Civitai answers a mistyped post id or user name with an empty listing.
            result.notes.append(
                "Civitai listed no images here: check the id or name "
                "(images hidden from you are not listed either)"
            )
        return seen

    def _cache_planned_collection(self, job: SyncJob) -> None:
        """Keep what collection.getById said while planning (name, type, owner)."""
        collection = job.context.get("collection")
        if collection is None or collection.id is None:
            return
        owner = getattr(collection, "user", None)
        self._write_now(
            lambda c: w.cache_collection(
                c,
                int(collection.id),
                name=collection.name,
                description=getattr(collection, "description", None),
                owner_id=getattr(owner, "id", None),
                owner_username=getattr(owner, "username", None),
                read=getattr(collection, "read", None),
                type_=getattr(collection, "type", None),
                raw=collection.raw,
            )
        )

    async def _store_page(
        self,
        job: SyncJob,
        items: list[Any],
        writer: BatchWriter,
        result: TargetSummary,
        listing: Listing | None = None,
    ) -> list[_Work]:
        """Record a listing page and decide what each image still needs.

        An item the archive cannot store fails alone, with its reason; the page goes on.
        """
        works: list[_Work] = []
        known = listing.generation if listing is not None else {}
        collection = job.context.get("collection")
        names = {
            "collection_id": job.collection_id,
            "collection_name": getattr(collection, "name", None),
        }
        names = {k: v for k, v in names.items() if v is not None}

        def store(conn: Any) -> list[str]:
            ids = [int(item.id) for item in items]
            stored = [i for i in ids if fits_int64(i)]
            state = _stored_state(conn, stored, self.archive.root, self.broken_files)
            failures: list[str] = []
            for item in items:
                try:
                    with w.savepoint(conn):
                        work = self._store_item(conn, item, state, known.get(int(item.id)))
                        work.names = names
                        works.append(work)
                        w.clear_failure(conn, int(item.id), "listing")
                except IMAGE_ERRORS as exc:
                    reason = f"listing: {exc}"
                    failures.append(reason)
                    with contextlib.suppress(*IMAGE_ERRORS):  # an id that is itself unstorable
                        w.record_failure(conn, int(item.id), "listing", reason, job.key)
            w.mark_listed(conn, job.key, [work.image_id for work in works])
            return failures

        for reason in await writer.call(store):
            result.fail(reason)
        return works

    def _store_item(
        self,
        conn: Any,
        item: Any,
        state: dict[int, tuple[bool, bool]],
        generation: Any = None,
    ) -> _Work:
        """Store one listing item; the work it still needs (details, file).

        An item that came with its generation data (an on-site generation) has its
        details stored right here: there is no image.getGenerationData for it.
        """
        storable("image id", int(item.id))  # checked first: every query below binds it
        base_url = self.client.image_base_url
        record = normalize.listing_record(item, base_url)
        changed = _listing_changed(conn, item)  # before the listing overwrites it
        is_new = w.store_listing(conn, record, item.raw)
        details_stored, has_file = state.get(int(item.id), (False, False))
        if generation is not None and (is_new or changed or not details_stored):
            image = normalize.build_image(item, generation, [], base_url)
            w.store_details(
                conn,
                image.record,
                resources=image.resources,
                tags=image.tags,
                raw={"listing": item.raw, "generation": generation.raw, "tags": []},
            )
            record = image.record
        user = getattr(item, "user", None)
        if user is not None and getattr(user, "id", None) is not None:
            w.cache_user(
                conn,
                int(user.id),
                user.username,
                _iso(getattr(user, "deleted_at", None)),
                user.raw,
            )
        work = _Work(
            image_id=int(item.id),
            listing=item,
            record=record,
            needs_details=generation is None and (is_new or not details_stored or changed),
            needs_file=self.options.media and not has_file,
            is_new=is_new,
            changed=changed,
        )
        if work.needs_file and not work.needs_details:
            # Only the file is missing: name it from the full stored record.
            work.record = get_record(conn, work.image_id) or record
        return work

    async def _route(
        self,
        work: _Work,
        result: TargetSummary,
        details: DetailsStage,
        files_q: asyncio.Queue[_Work | None],
    ) -> None:
        result.new += work.is_new
        result.updated += work.changed
        if work.needs_details:
            await details.add(work)
        elif work.needs_file:
            self.reporter.add_total("downloads", 1)
            await files_q.put(work)

    # ------------------------------------------------------------ files

    async def _files_worker(
        self,
        target_key: str | None,
        result: TargetSummary,
        files_q: asyncio.Queue[_Work | None],
        writer: BatchWriter,
    ) -> None:
        while (work := await files_q.get()) is not None:
            try:
                row = await fetch_file(
                    self.client,
                    self.archive.media_dir,
                    {**work.record, **work.names},
                    self.options.files,
                )
            except (CivitaiError, InvalidMedia) as exc:
                result.fail(f"download: {exc}")
                await writer.submit(
                    partial(
                        w.record_failure,
                        image_id=work.image_id,
                        stage="download",
                        reason=str(exc),
                        target_key=target_key,
                    )
                )
            except OSError as exc:
                if exc.errno in FATAL_ERRNOS:
                    raise
                result.fail(f"download: {exc.strerror or exc}")
            else:
                result.downloaded += 1
                result.downloaded_bytes += row.served_size
                await writer.submit(
                    partial(w.store_file, image_id=work.image_id, file=row),
                    self._image_failure(target_key, result, work.image_id, "download"),
                )
            self.reporter.advance("downloads")

    # ------------------------------------------------------------ unstorable values

    def _image_failure(
        self, target_key: str | None, result: TargetSummary, image_id: int, stage: str
    ) -> OnFailure:
        """A write of this image failed alone: a failure row with the reason, counted."""
        prefix = "download: " if stage == "download" else ""

        def record(conn: Any, exc: BaseException) -> None:
            w.record_failure(conn, image_id, stage, f"{prefix}{exc}", target_key)

        def report(exc: BaseException) -> None:
            if stage == "download":
                result.downloaded -= 1
            result.fail(f"{prefix}{exc}")

        return OnFailure(record, report)

    def _cache_failure(self, what: str) -> OnFailure:
        def report(exc: BaseException) -> None:
            self.cache_notes[f"{what} could not be archived: {exc}"] = None

        return OnFailure(lambda conn, exc: None, report)


# ---------------------------------------------------------------- helpers


# Turns of the event loop a details batch takes from its task's start to its
# request's bytes on the socket (the API gate, the paces, aiohttp's connection
# pool); 8 was enough in every run measured, and fewer cost nothing.
SEND_TURNS = 8


async def _let_batches_leave() -> None:
    """Let the details batches a page started send their requests before the next
    page is asked. A server answers in the order it is asked, and the downloads
    wait for those answers, not for the next page (which takes the server longest
    to build). Only the order of requests depends on this, never what is archived."""
    for _ in range(SEND_TURNS):
        await asyncio.sleep(0)


def _page_parts(items: list[Any], *, first_page: bool) -> list[list[Any]]:
    """A target's first page is stored and routed in two parts: its first few images
    (a details batch's worth) go out while the rest of the page is still being
    stored, so downloads start a third of a second sooner."""
    if not first_page or len(items) <= FIRST_BATCH:
        return [items]
    return [items[:FIRST_BATCH], items[FIRST_BATCH:]]


async def _stop_workers(queue: asyncio.Queue[Any], tasks: list[asyncio.Task[None]]) -> None:
    for _ in tasks:
        await queue.put(None)
    # The first worker error (a full disk, say) ends the run.
    for task in asyncio.as_completed(tasks):
        await task


async def _close_quietly(writer: BatchWriter) -> None:
    with contextlib.suppress(BaseException):  # the original error is the one to report
        await writer.close()


def _first_sightings(items: list[Any], listed_ids: set[int]) -> list[Any]:
    """The items this listing shows for the first time, in order.

    An image that appears twice (on one page, or again on a later one) is
    fetched, downloaded and written once: twice would race two downloads onto
    one temporary file and count it twice.
    """
    fresh = []
    for item in items:
        if item.id is None or int(item.id) in listed_ids:
            continue
        listed_ids.add(int(item.id))
        fresh.append(item)
    return fresh


def _listing_complete(pages: Any) -> bool:
    ended = getattr(pages, "ended_normally", None)
    return True if ended is None else bool(ended)


def _stored_state(
    conn: Any, ids: list[int], root: Path, broken: set[int]
) -> dict[int, tuple[bool, bool]]:
    """Per image: whether its details are stored, and whether its sound file is on disk."""
    return {
        image_id: (
            stored,
            path is not None and image_id not in broken and (root / path).is_file(),
        )
        for image_id, (stored, path) in image_states(conn, ids).items()
    }


def _listing_changed(conn: Any, item: Any) -> bool:
    """Did Civitai change what it says about a known image (rating, size, post)?"""
    row = listed_fields(conn, int(item.id))
    if row is None:
        return False
    now = (
        getattr(item, "nsfw_level", None),
        getattr(item, "width", None),
        getattr(item, "height", None),
        getattr(item, "post_id", None),
    )
    return any(new is not None and new != old for new, old in zip(now, tuple(row), strict=True))


def _iso(value: Any) -> str | None:
    from civitai_vault.records import iso_utc

    return iso_utc(value)


def _stat(client: Any, name: str) -> int:
    stats = getattr(client, "stats", None)
    if stats is None:
        return 0
    value = stats.get(name, 0) if isinstance(stats, dict) else getattr(stats, name, 0)
    return int(value or 0)


SyncRunner = Callable[[list[Target]], Awaitable[RunSummary]]
