"""The async Civitai client: one method per tRPC procedure, a listing walker, a downloader.

    async with CivitaiClient(ClientSettings(site="red", api_key=key)) as client:
        info = await client.get_image(123)
        async for page in client.iter_image_pages(collection_id=42):
            ...

A single call is a GET (`/api/trpc/<procedure>?input=...`), as Civitai's web
client sends it; inputs too long for a URL go as POST. `call_many` sends
calls together as tRPC batches (`POST /api/trpc/a,b,c?batch=1`, the inputs an
object keyed by index), `batch_size` at a time and at most one heavy
`image.getInfinite` in each. Every request of one client shares one
concurrency gate and two paces (adaptive token buckets): HTTP requests per
second and procedure calls per second, a batch costing one request and as
many calls as it holds. Requests are retried with back-off on 429, 5xx,
timeouts, dropped connections and unreadable bodies; in a batch where only
some calls failed, only those are asked again (see `settings.ClientSettings`);
a batch whose answer as a whole is over a size limit is split, so only a call
whose own answer is over it fails.
Credentials go to the API host only: never to the CDN, never across a
redirect to another host, never into an exception message or a log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from civitai_vault.api.auth import SessionCookies
from civitai_vault.api.cdn import CdnDownloader, Download, cookieless_jar
from civitai_vault.api.errors import (
    CivitaiError,
    KeyRejected,
    LimitExceeded,
    LoginRequired,
    MalformedResponse,
    NetworkError,
    NotFound,
    RateLimited,
    ServerError,
    UnexpectedRedirect,
)
from civitai_vault.api.limits import FLAGS
from civitai_vault.api.models import (
    CivitaiModel,
    Collection,
    CollectionResult,
    Creator,
    GenerationData,
    ImageInfo,
    ModelSummary,
    ModelVersion,
    Post,
    Tag,
    UserCollection,
    VotableTag,
)
from civitai_vault.api.pacing import AdaptivePacer
from civitai_vault.api.pagination import ImagePages
from civitai_vault.api.retry import backoff_delay, is_retryable, make_wait, say_retry_wait
from civitai_vault.api.settings import ClientSettings
from civitai_vault.api.stats import ClientStats
from civitai_vault.api.transport import (
    AiohttpTransport,
    BodyTooLarge,
    DeadlineExceeded,
    read_body,
)
from civitai_vault.api.wire import (
    LONG_INPUT,
    RawResponse,
    decode_batch_response,
    decode_response,
    encode_batch_input,
    encode_input,
)
from civitai_vault.api.wire import parse_retry_after as _retry_after
from civitai_vault.waits import WAIT_NOTICE_SECONDS, announce_wait

__all__ = ["CivitaiClient", "Whoami"]

log = logging.getLogger(__name__)
M = TypeVar("M", bound=CivitaiModel)
MAX_REDIRECTS = 5
# The server caps these per pod and answers 429 "Server busy" past the cap, each
# batched call taking a slot (civitai/civitai @ ebed6616, src/server/trpc.ts withBulkhead,
# src/server/utils/request-bulkhead.ts HEAVY_REQUEST_CONCURRENCY): one per batch.
HEAVY_PROCEDURES = frozenset({"image.getInfinite", "image.getImagesAsPostsInfinite"})
Call = tuple[str, dict[str, Any]]
# Limits on the size of an answer: the whole batch's answer may break one that none of its
# calls' answers would alone, so such a batch is split rather than failed (`_split`).
ANSWER_LIMITS = frozenset({"answer_bytes", "answer_values", "json_depth"})


class _AnswerTooLarge(Exception):
    """A batch's answer went past a size limit (`ANSWER_LIMITS`)."""

    def __init__(self, cause: LimitExceeded) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass(frozen=True)
class Whoami:
    """Who Civitai thinks we are, and whether R/X images can be seen on this site."""

    signed_in: bool
    user_id: int | None
    username: str | None
    site: str
    nsfw_visible: bool


class CivitaiClient:
    """Async client for Civitai's web (tRPC) API and image CDN. Use it as `async with`."""

    def __init__(self, settings: ClientSettings | None = None) -> None:
        self.settings = settings or ClientSettings()
        self.stats = ClientStats()
        self._cookies = SessionCookies(self.settings)
        self._pacer = AdaptivePacer(self.settings.rate)
        self._call_pacer = AdaptivePacer(self.settings.calls_per_second, unit="calls")
        self._gate = asyncio.Semaphore(self.settings.concurrency)
        self._wait = make_wait(
            self.settings.retry_base, self.settings.retry_cap, self.settings.retry_after_cap
        )
        self._cdn = CdnDownloader(self.settings, self.stats, self._wait)
        self._http: httpx.AsyncClient | None = None
        self._answered = False  # has the API answered at all yet?
        self._said_silent = False

    def __repr__(self) -> str:
        signed = "signed in" if self.signed_in else "anonymous"
        return f"<CivitaiClient {self.settings.base_url} ({signed})>"

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> CivitaiClient:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        if self._http is not None:
            return
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.timeout),
            follow_redirects=False,  # redirects are followed by hand, see _send
            cookies=cookieless_jar(),
            headers={"User-Agent": self.settings.user_agent, "Accept": "application/json"},
            transport=AiohttpTransport(
                max_connections=max(4, self.settings.concurrency * 2),
                deadline=self.settings.limits.api_seconds,
            ),
        )
        await self._cdn.open()

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await self._cdn.close()

    # ------------------------------------------------------------ state

    @property
    def signed_in(self) -> bool:
        """True when credentials are configured (whether Civitai accepts them: `whoami`)."""
        return self.settings.has_credentials

    @property
    def site(self) -> str:
        return self.settings.site

    @property
    def site_is_green(self) -> bool:
        """civitai.com semantics: R and X are hidden from listings even when signed in."""
        return self.settings.site == "com"

    @property
    def base_url(self) -> str:
        return self.settings.base_url or ""

    @property
    def image_base_url(self) -> str:
        return self.settings.image_base_url or ""

    @property
    def current_rate(self) -> float:
        """The pace in force now (requests/s, 0 = unlimited); lower than set after 429/503s."""
        return self._pacer.current

    # ------------------------------------------------------------ procedures

    async def get_image(self, image_id: int) -> ImageInfo:
        """`image.get`; NotFound when missing or hidden from us."""
        return _model(ImageInfo, await self.call("image.get", {"id": int(image_id)}), "image.get")

    async def get_generation_data(self, image_id: int) -> GenerationData:
        """`image.getGenerationData`: prompt, parameters, resources."""
        return generation_data(await self.call(*generation_data_call(image_id)))

    async def get_votable_tags(self, image_id: int) -> list[VotableTag]:
        """`tag.getVotableTags` for an image, in the server's order (highest score first)."""
        return votable_tags(await self.call(*votable_tags_call(image_id)))

    async def get_tag(self, tag_id: int) -> Tag | None:
        """`tag.getById`; None when there is no such tag (the server answers null)."""
        data = await self.call("tag.getById", {"id": int(tag_id)})
        return None if data is None else _model(Tag, data)

    async def get_model_version(self, version_id: int) -> ModelVersion:
        """`modelVersion.getById`; NotFound on 404 (a deleted version is still found)."""
        return model_version(await self.call(*model_version_call(version_id)))

    async def get_model(self, model_id: int) -> ModelSummary:
        """`model.getSimple`: id, name, status and owner; NotFound when there is no such model.

        The cheapest look-up of a model (one row; model.getById runs a dozen
        queries). It answers whatever the status, Deleted included
        (civitai/civitai @ ebed6616, model.service.ts getSimpleModelWithVersions).
        """
        data = await self.call("model.getSimple", {"id": int(model_id)})
        return _model(ModelSummary, data, "model.getSimple")

    async def get_post(self, post_id: int) -> Post:
        """`post.get`; NotFound when missing, unpublished or hidden from us."""
        return post(await self.call(*post_call(post_id)))

    async def get_collection(self, collection_id: int) -> CollectionResult:
        """`collection.getById`; `.collection` is None when private to someone else or missing.

        Civitai answers both cases the same way (HTTP 200, collection null), so
        they cannot be told apart.
        """
        data = await self.call("collection.getById", {"id": int(collection_id)})
        return _model(CollectionResult, data if isinstance(data, dict) else {})

    async def get_user_collections(self) -> list[UserCollection]:
        """`collection.getAllUser`: the signed-in user's own collections, private ones too.

        Raises LoginRequired when not signed in (it is a protected procedure).
        """
        data = await self.call("collection.getAllUser", {})
        return [_model(UserCollection, item) for item in _records(data, "collection.getAllUser")]

    async def get_public_collections(self, user_id: int) -> list[Collection]:
        """`collection.getInfinite` for one user: their Public collections, every page.

        Civitai shows only Public collections of other users here (private and
        unlisted ones are never listed, even to someone who may read them).
        """
        found: list[Collection] = []
        cursor: int | None = None
        asked: set[int] = set()  # a cursor asked twice would go round for ever
        for _ in range(self.settings.limits.listing_pages):
            payload: dict[str, Any] = {"userId": int(user_id), "limit": 200}
            if cursor is not None:
                payload["cursor"] = cursor
            data = await self.call("collection.getInfinite", payload)
            page = _page(data, "collection.getInfinite")
            items = _records(page.get("items"), "collection.getInfinite")
            found += [_model(Collection, item) for item in items]
            next_cursor = page.get("nextCursor")
            if not isinstance(next_cursor, int) or next_cursor in asked:
                return found
            asked.add(next_cursor)
            cursor = next_cursor
        return found

    async def get_collection_item_counts(self, collection_ids: list[int]) -> dict[int, int]:
        """`collection.getInfinite {ids}`: the item count of each collection that has one here.

        Only Public collections are answered, to their owner too (getAllCollections
        forces `read: Public` for everyone but moderators, collection.service.ts,
        civitai/civitai @ ebed6616): a Private or Unlisted one is simply absent. The
        count is of ACCEPTED items, before the viewer's browsing level hides any.
        One request per 200 collections (the schema's `limit` maximum).
        """
        ids = sorted({int(i) for i in collection_ids})
        counts: dict[int, int] = {}
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]
            data = await self.call("collection.getInfinite", {"ids": chunk, "limit": 200})
            page = data if isinstance(data, dict) else {}
            for item in _list(page.get("items")):
                found = _model(Collection, item)
                if found.id in chunk and found.item_count is not None:
                    counts[int(found.id)] = found.item_count
        return counts

    async def get_creator(
        self, username: str | None = None, user_id: int | None = None
    ) -> Creator | None:
        """`user.getCreator` by name or id; None for the system user and for deleted/missing users.

        Civitai answers 404 "Could not find user" for deleted accounts, which for
        an archive means the same as "no creator to show".
        """
        if username is None and user_id is None:
            raise ValueError("get_creator needs a username or a user id")
        payload: dict[str, Any] = {}
        if username is not None:
            payload["username"] = username
        if user_id is not None:
            payload["id"] = int(user_id)
        try:
            data = await self.call("user.getCreator", payload)
        except NotFound:
            return None
        return None if data is None else _model(Creator, data)

    def iter_image_pages(
        self,
        collection_id: int | None = None,
        post_id: int | None = None,
        username: str | None = None,
        user_id: int | None = None,
        image_id: int | None = None,
        sort: str = "Newest",
        limit: int = 100,
        browsing_level: int = 31,
        period: str = "AllTime",
        extra: Mapping[str, Any] | None = None,
        expect_items: bool | None = None,
        first_limit: int | None = None,
    ) -> ImagePages:
        """`image.getInfinite`, page by page, each image once (see `pagination.ImagePages`).

        `extra` adds other inputs of the procedure (`modelId`, `reactions`,
        `types`, `baseModels`, ...). After the loop, `.ended_normally` tells
        whether the listing really ended. An empty first page (what Civitai's
        query time limit looks like) is asked again: with `expect_items` True
        (the caller knows the listing holds images) up to `empty_page_retries`
        times, and if it stays empty the listing did not end normally; with None
        once more; with False (an empty answer is likely) not at all.
        `first_limit` asks a smaller first page, so that what waits for it starts sooner.
        """
        filters = {
            "collectionId": collection_id,
            "postId": post_id,
            "username": username,
            "userId": user_id,
            "imageId": image_id,
            **(extra or {}),
        }
        # Post listings (postId without modelId) page by position in the post.
        by_position = filters.get("postId") is not None and filters.get("modelId") is None

        async def fetch(payload: dict[str, Any]) -> Any:
            return await self.call("image.getInfinite", payload)

        pages = ImagePages(
            fetch,
            filters,
            sort=sort,
            limit=limit,
            browsing_level=browsing_level,
            period=period,
            by_position=by_position,
            empty_page_retries=self.settings.empty_page_retries,
            retry_base=self.settings.retry_base,
            retry_cap=self.settings.retry_cap,
            max_pages=self.settings.limits.listing_pages,
            expect_items=expect_items,
            first_limit=first_limit,
        )
        pages.on_empty_retry = self._note_empty_retry
        return pages

    async def get_posts_page(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """One page of `post.getInfinite` (`{items, nextCursor}`); the caller walks the cursor.

        Beware: the real server ignores a `username` it does not know and lists
        everyone's posts (gallery-dl gh#8299), so callers check each post's owner.
        """
        data = await self.call("post.getInfinite", dict(payload))
        return _page(data, "post.getInfinite")

    async def get_generated_page(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """One page of `orchestrator.queryGeneratedImages`: the signed-in user's generations.

        Input `{take (default 20), cursor?: string, tags: [], ascending?, fromDate?,
        toDate?, excludeFailed?}` (workflowQuerySchema, civitai/civitai
        src/server/schema/orchestrator/workflows.schema.ts); output `{items:
        [workflow {id, createdAt, metadata{params, resources}, steps[{images[...]}]}],
        nextCursor?: string}`.
        """
        data = await self.call("orchestrator.queryGeneratedImages", dict(payload))
        return _page(data, "orchestrator.queryGeneratedImages")

    def _note_empty_retry(self) -> None:
        self.stats.empty_page_retries += 1

    async def whoami(self) -> Whoami:
        """Who the configured credentials belong to.

        Civitai documents no "current session" procedure for API clients, so this
        asks `collection.getAllUser`, which is protected: a 401 means not signed
        in, and the owner id of the user's own collections names the account;
        `user.getCreator` then gives the name. An account without any
        collection is signed in but stays nameless here.
        """
        site = self.settings.site
        if not self.signed_in:
            return Whoami(False, None, None, site, False)
        try:
            collections = await self.get_user_collections()
        except LoginRequired:
            return Whoami(False, None, None, site, False)
        owned = [c for c in collections if c.user_id is not None and c.is_owner is not False]
        user_id = owned[0].user_id if owned else None
        username = None
        if user_id is not None:
            creator = await self.get_creator(user_id=user_id)
            username = creator.username if creator else None
        return Whoami(True, user_id, username, site, site == "red")

    async def download(
        self, url: str, dest: Path, subject: str = "a file", *, in_memory: int = 0
    ) -> Download:
        """Stream a CDN file to `dest` (a temporary path the caller chose); no credentials.

        `subject` names the file in what a long wait says ("image 123"). A body of
        at most `in_memory` bytes comes back in `Download.data` instead."""
        return await self._cdn.download(url, Path(dest), subject, in_memory=in_memory)

    # ------------------------------------------------------------ transport

    async def call_many(self, calls: list[Call]) -> list[Any | CivitaiError]:
        """Call several tRPC queries; each result is the decoded output or the error it failed with.

        The calls go `batch_size` at a time as `?batch=1` POSTs (one call alone, or
        `batch_size` 1, goes as a plain `call`), at most one heavy procedure per
        batch. A batch that fails as a whole (429, 5xx, a dropped connection) is
        sent again with back-off; in one where only some calls failed, the
        retryable ones are asked again on their own, the others are returned.
        A batch whose whole answer is over a size limit (bytes, values, depth) is
        split in halves, down to single calls: only a call whose own answer is
        over the limit fails, with the limit's message.
        """
        results: list[Any | CivitaiError] = [None] * len(calls)
        groups = _batches(calls, self.settings.batch_size)
        outcomes = await asyncio.gather(
            *(self._call_group([calls[i] for i in group]) for group in groups)
        )
        for group, outcome in zip(groups, outcomes, strict=True):
            for index, result in zip(group, outcome, strict=True):
                results[index] = result
        return results

    async def _call_group(self, calls: list[Call]) -> list[Any | CivitaiError]:
        if len(calls) == 1:
            try:
                return [await self.call(*calls[0])]
            except CivitaiError as exc:
                return [exc]
        results: list[Any | CivitaiError] = [None] * len(calls)
        pending = list(range(len(calls)))
        tries = [0] * len(calls)
        for attempt in range(1, self.settings.max_retries + 2):
            try:
                outcome = await self._try_batch(
                    [calls[i] for i in pending], attempt, tries, pending
                )
            except _AnswerTooLarge as exc:
                log.info("splitting a batch of %d calls: %s", len(pending), exc.cause)
                for index, result in zip(pending, await self._split(calls, pending), strict=True):
                    results[index] = result
                return results
            again = []
            for index, result in zip(pending, outcome, strict=True):
                retry = isinstance(result, CivitaiError) and is_retryable(result)
                if retry and attempt <= self.settings.max_retries:
                    again.append(index)
                    self.stats.note_retry(calls[index][0])
                    log.info("retrying %s after %s", calls[index][0], type(result).__name__)
                else:
                    results[index] = result
            if not again:
                return results
            delay = self._delay(attempt, outcome)
            failed = next(r for i, r in zip(pending, outcome, strict=True) if i in again)
            subject = ",".join(dict.fromkeys(calls[i][0] for i in again))
            say_retry_wait(
                delay,
                failed,
                server="Civitai",
                subject=f"{len(again)} batched calls ({subject})",
                next_try=attempt + 1,
                tries=self.settings.max_retries + 1,
            )
            await asyncio.sleep(delay)
            pending = again
        return results  # pragma: no cover - the last attempt settles every call

    async def _split(self, calls: list[Call], pending: list[int]) -> list[Any | CivitaiError]:
        """A batch whose answer as a whole went past a limit: its halves go on their own, one
        after the other (so at most one big answer is held at a time), halved again while
        their answers still do, down to single calls, of which only the one whose own
        answer breaks the limit fails. A batch of n calls costs at most 2n - 2 more requests.
        """
        middle = len(pending) // 2
        results: list[Any | CivitaiError] = []
        for half in (pending[:middle], pending[middle:]):
            results += await self._call_group([calls[i] for i in half])
        return results

    async def _try_batch(
        self, calls: list[Call], attempt: int, tries: list[int], pending: list[int]
    ) -> list[Any | CivitaiError]:
        """One batch request; a failure of the whole batch is every call's result."""
        for index in pending:
            tries[index] += 1
        if len(calls) == 1:
            try:
                return [await self._send(calls[0][0], self._encode(calls[0][1]))]
            except CivitaiError as exc:
                exc.attempts = tries[pending[0]]
                return [exc]
        try:
            outcome = await self._send_batch(calls)
        except LimitExceeded as exc:
            if exc.limit in ANSWER_LIMITS:
                raise _AnswerTooLarge(exc) from None
            exc.attempts = attempt
            return [exc] * len(calls)
        except CivitaiError as exc:
            exc.attempts = attempt
            return [exc] * len(calls)
        for index, result in zip(pending, outcome, strict=True):
            if isinstance(result, CivitaiError):
                result.attempts = tries[index]
        return outcome

    def _delay(self, attempt: int, outcome: list[Any | CivitaiError]) -> float:
        errors = [r for r in outcome if isinstance(r, CivitaiError) and is_retryable(r)]
        return backoff_delay(
            attempt,
            errors[0] if errors else None,
            self.settings.retry_base,
            self.settings.retry_cap,
            self.settings.retry_after_cap,
        )

    def _encode(self, payload: dict[str, Any]) -> str:
        return encode_input(self._dress_input(payload))

    def _dress_input(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = dict(payload)
        if self.signed_in:
            body["authed"] = True  # what Civitai's signed-in web client adds to every input
        return body

    async def call(self, procedure: str, payload: dict[str, Any]) -> Any:
        """Call one tRPC query and return its decoded output, retrying what is worth retrying."""
        text = self._encode(payload)
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            # A host that never answered is not retried for half a minute: it fails at once.
            retry=retry_if_exception(lambda e: is_retryable(e) and not _unreachable(e)),
            reraise=True,
            before_sleep=lambda state: self._note_retry(procedure, state),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    return await self._send(procedure, text)
        except CivitaiError as exc:
            exc.attempts = attempts
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _note_retry(self, procedure: str, state: RetryCallState) -> None:
        self.stats.note_retry(procedure)
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        log.info("retrying %s after %s", procedure, type(exc).__name__)
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        say_retry_wait(
            sleep,
            exc,
            server="Civitai",
            subject=procedure,
            next_try=state.attempt_number + 1,
            tries=self.settings.max_retries + 1,
        )

    async def _send(self, procedure: str, text: str) -> Any:
        url = f"{self.base_url}/api/trpc/{procedure}"
        raw, sent_in = await self._exchange(procedure, url, text, post=len(text) > LONG_INPUT)
        try:
            value = decode_response(raw, self.settings.limits)
        except CivitaiError as exc:
            self._feedback(exc, sent_in)
            raise self._explain(exc) from None
        self._speed_up()
        return value

    async def _send_batch(self, calls: list[Call]) -> list[Any | CivitaiError]:
        procedures = [procedure for procedure, _ in calls]
        label = ",".join(procedures)
        text = encode_batch_input([self._dress_input(payload) for _, payload in calls])
        url = f"{self.base_url}/api/trpc/{label}?batch=1"
        raw, sent_in = await self._exchange(label, url, text, post=True, calls=procedures)
        try:
            outcome = decode_batch_response(raw, procedures, self.settings.limits)
        except CivitaiError as exc:
            self._feedback(exc, sent_in)
            raise self._explain(exc) from None
        for result in outcome:
            if isinstance(result, CivitaiError):
                self._redact(result)
        self._speed_up()
        return [self._explain(r) if isinstance(r, CivitaiError) else r for r in outcome]

    async def _exchange(
        self,
        label: str,
        url: str,
        text: str,
        *,
        post: bool,
        calls: list[str] | None = None,
    ) -> tuple[RawResponse, tuple[int, int]]:
        """Send one HTTP request within both paces and the concurrency gate."""
        http = self._http
        if http is None:
            raise RuntimeError("use the client as `async with CivitaiClient(...)`")
        procedures = calls or [label]
        async with self._gate:
            sent_in = (await self._pacer.wait(), await self._call_pacer.wait(len(procedures)))
            self.stats.note_request(procedures)
            started = time.monotonic()
            silence = self._say_if_silent()
            try:
                response, body = await self._request(http, url, text, post=post)
            except DeadlineExceeded:
                raise self._over_limit(
                    label,
                    f"Civitai took more than {self.settings.limits.api_seconds:g} s to answer",
                    "api_seconds",
                ) from None
            except BodyTooLarge as exc:
                raise self._over_limit(
                    label,
                    f"Civitai's answer is larger than the {exc.limit // (1024 * 1024):,} MB limit",
                    "answer_bytes",
                ) from None
            except httpx.TimeoutException as exc:
                error = self._network_error(label, "did not answer in time")
                # A host that never took a connection: the wrong --base-url, or no network.
                error.unreachable = isinstance(exc, httpx.ConnectTimeout) and not self._answered
                raise error from None
            except httpx.TransportError as exc:
                error = self._network_error(label, _transport_problem(exc))
                # Refused or unresolvable before any answer: a wrong --base-url, or no network.
                error.unreachable = isinstance(exc, httpx.ConnectError) and not self._answered
                raise error from None
            finally:
                self.stats.api_seconds += time.monotonic() - started
                if silence is not None:
                    silence.cancel()
        self._answered = True
        self._cookies.absorb(response.headers.get_list("set-cookie"))
        raw = RawResponse(
            procedure=label,
            status=response.status_code,
            content_type=response.headers.get("content-type", ""),
            body=body,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
        return raw, sent_in

    def _say_if_silent(self) -> asyncio.TimerHandle | None:
        """Until the API has answered once, a request still unanswered after two seconds
        says so: a --base-url that swallows connections would otherwise look like a hang
        for the whole timeout."""
        if self._answered:
            return None
        reason = (
            f"Civitai ({self.settings.api_host}) has not answered for {WAIT_NOTICE_SECONDS:g} s; "
            f"giving up after {self.settings.limits.api_seconds:g} s at most "
            "(check --base-url and your network)"
        )
        loop = asyncio.get_running_loop()
        return loop.call_later(WAIT_NOTICE_SECONDS, self._say_silent, reason)

    def _say_silent(self, reason: str) -> None:
        if not self._answered and not self._said_silent:  # once, not once per request
            self._said_silent = True
            announce_wait(None, reason)

    def _feedback(self, exc: CivitaiError, sent_in: tuple[int, int]) -> None:
        """An error answer: redact it, and halve both paces when the server is overloaded."""
        self._redact(exc)
        overloaded = isinstance(exc, RateLimited | ServerError) and exc.status in (429, 503)
        if overloaded:
            slowed = self._pacer.slow_down(sent_in[0])
            slowed = self._call_pacer.slow_down(sent_in[1]) or slowed
            if slowed:
                self.stats.slowdowns += 1

    def _explain(self, exc: CivitaiError) -> CivitaiError:
        """Civitai refuses an unknown API key with its "use the public API" 401 (live probes
        of civitai.com 2026-07-08 and civitai.red 2026-09-29): with a key set, that
        answer means the key was rejected, not that the call came from the wrong site."""
        if exc.status == 401 and self.settings.api_key:
            rejected = _key_rejected(exc)
            rejected.attempts = exc.attempts
            return rejected
        return exc

    def _speed_up(self) -> None:
        self._pacer.speed_up()
        self._call_pacer.speed_up()

    async def _request(
        self, http: httpx.AsyncClient, url: str, text: str, *, post: bool
    ) -> tuple[httpx.Response, bytes]:
        """Send one request, following same-host redirects only while credentials are set.

        Returns the response and its body, read within the answer size limit.
        """
        if post:
            request = http.build_request(
                "POST", url, content=text.encode(), headers={"Content-Type": "application/json"}
            )
        else:
            request = http.build_request("GET", url, params={"input": text})
        with_credentials = True
        for _ in range(MAX_REDIRECTS + 1):
            self._dress(request, with_credentials)
            response = await http.send(request, stream=True)
            if not response.is_redirect:
                return response, await read_body(response, self.settings.limits.answer_bytes)
            await response.aclose()
            target = response.url.join(response.headers.get("location", ""))
            if (target.scheme, target.host, target.port) != (
                request.url.scheme,
                request.url.host,
                request.url.port,
            ):
                if self.signed_in:
                    raise UnexpectedRedirect(
                        f"the API redirected to another host ({target.host})",
                        status=response.status_code,
                    )
                with_credentials = False
            request = http.build_request(
                request.method, target, content=request.content, headers=_plain(request.headers)
            )
        raise UnexpectedRedirect("the API redirected too many times")

    def _dress(self, request: httpx.Request, with_credentials: bool) -> None:
        """Origin/Referer of the site (Civitai rejects calls without them) and credentials."""
        origin = self.settings.api_origin
        request.headers["Origin"] = origin
        request.headers["Referer"] = origin + "/"
        request.headers.pop("Authorization", None)
        request.headers.pop("Cookie", None)
        if not with_credentials:
            return
        if self.settings.api_key:
            request.headers["Authorization"] = f"Bearer {self.settings.api_key}"
        cookie = self._cookies.header()
        if cookie:
            request.headers["Cookie"] = cookie

    def _over_limit(self, procedure: str, what: str, limit: str) -> LimitExceeded:
        return LimitExceeded(what, setting=FLAGS[limit], limit=limit, procedure=procedure)

    def _network_error(self, procedure: str, problem: str) -> NetworkError:
        return NetworkError(f"Civitai ({self.settings.api_host}) {problem}", procedure=procedure)

    def _redact(self, exc: CivitaiError) -> None:
        secrets = [s for s in (self.settings.api_key, *self._cookies.secrets) if s]
        for secret in secrets:
            if exc.server_message and secret in exc.server_message:
                exc.server_message = exc.server_message.replace(secret, "[redacted]")


def _unreachable(exc: BaseException) -> bool:
    return bool(getattr(exc, "unreachable", False))


def _key_rejected(exc: CivitaiError) -> KeyRejected:
    return KeyRejected(
        "Civitai rejected your API key",
        procedure=exc.procedure,
        status=exc.status,
        server_message=exc.server_message,
    )


def _plain(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}


def _transport_problem(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError):
        return "could not be reached (connection failed)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "closed the connection before the answer was complete"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "dropped the connection"
    return f"could not be reached ({type(exc).__name__})"


def _batches(calls: list[Call], size: int) -> list[list[int]]:
    """Indices of `calls` in groups of at most `size`, at most one heavy call in each."""
    groups: list[list[int]] = []
    current: list[int] = []
    heavy = False
    for index, (procedure, _) in enumerate(calls):
        is_heavy = procedure in HEAVY_PROCEDURES
        if current and (len(current) >= size or (is_heavy and heavy)):
            groups.append(current)
            current, heavy = [], False
        current.append(index)
        heavy = heavy or is_heavy
    if current:
        groups.append(current)
    return groups


def generation_data_call(image_id: int) -> Call:
    return "image.getGenerationData", {"id": int(image_id)}


def votable_tags_call(image_id: int) -> Call:
    return "tag.getVotableTags", {"id": int(image_id), "type": "image"}


def post_call(post_id: int) -> Call:
    return "post.get", {"id": int(post_id)}


# post.getInfinite's `limit` maximum (postsQuerySchema); `ids` itself has none.
POSTS_PER_CALL = 200
# Every browsing level (PG | PG-13 | R | X | XXX): the server caps it to what the site shows.
ALL_BROWSING_LEVELS = 31


def posts_call(post_ids: list[int]) -> Call:
    """`post.getInfinite` for up to 200 posts by id, all in one page.

    civitai/civitai @ ebed6616, src/server/services/post.service.ts getPostsInfinite:
    the default sort "Most Reactions" adds `reactionCount > 0` and the period
    default could cut by date, so Newest and AllTime; `limit` is the number of
    ids, so one page holds them all; cosmetics are not wanted. Private and
    unpublished posts, posts of unpublished model versions or unreadable
    collections, posts none of whose images the browsing level shows, and
    posts of users the viewer hides are left out: their callers ask `post.get`.
    """
    if not 1 <= len(post_ids) <= POSTS_PER_CALL:
        raise ValueError(f"post.getInfinite takes 1 to {POSTS_PER_CALL} ids")
    return "post.getInfinite", {
        "ids": [int(i) for i in post_ids],
        "limit": len(post_ids),
        "sort": "Newest",
        "period": "AllTime",
        "browsingLevel": ALL_BROWSING_LEVELS,
        "include": [],
    }


def model_version_call(version_id: int) -> Call:
    return "modelVersion.getById", {"id": int(version_id)}


def generation_data(data: Any) -> GenerationData:
    return _model(GenerationData, data, "image.getGenerationData")


def votable_tags(data: Any) -> list[VotableTag]:
    # The server always answers a list of named rows ([] for no tags): anything else
    # is a broken answer, not an image without tags.
    if not isinstance(data, list) or not all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in data
    ):
        raise MalformedResponse(
            "Civitai's answer could not be read",
            procedure="tag.getVotableTags",
            server_message="expected a list of tags with names",
        )
    return [_model(VotableTag, item) for item in data]


def post(data: Any) -> Post:
    return _model(Post, data, "post.get")


def posts_by_id(data: Any, asked: list[int]) -> dict[int, Post]:
    """The posts of a `posts_call` answer that were asked for, by id (others are ignored)."""
    wanted = set(asked)
    found: dict[int, Post] = {}
    for item in _list(_page(data, "post.getInfinite").get("items")):
        found_post = _model(Post, item, "post.getInfinite")
        if found_post.id in wanted and found_post.id not in found:
            found[found_post.id] = found_post
    return found


def model_version(data: Any) -> ModelVersion:
    return _model(ModelVersion, data, "modelVersion.getById")


def _model(cls: type[M], data: Any, procedure: str | None = None) -> M:
    if not isinstance(data, dict):
        raise MalformedResponse(
            "Civitai's answer could not be read",
            procedure=procedure,
            server_message=f"expected an object, got {type(data).__name__}",
        )
    return cls.model_validate(data)


def _page(data: Any, procedure: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedResponse(
            "Civitai's answer could not be read",
            procedure=procedure,
            server_message=f"a listing page is {type(data).__name__}, not an object",
        )
    return data


def _records(data: Any, procedure: str) -> list[dict[str, Any]]:
    """A list of objects with an id, or MalformedResponse: a broken answer is not an empty one."""
    if not isinstance(data, list):
        raise MalformedResponse(
            "Civitai's answer could not be read",
            procedure=procedure,
            server_message=f"expected a list, got {type(data).__name__}",
        )
    for item in data:
        if not isinstance(item, dict) or not _is_id(item.get("id")):
            raise MalformedResponse(
                "Civitai's answer could not be read",
                procedure=procedure,
                server_message="a listed item is not an object with an id",
            )
    return data


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _list(data: Any) -> list[Any]:
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
