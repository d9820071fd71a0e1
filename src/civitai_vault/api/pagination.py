"""Walking `image.getInfinite` page by page without losing or repeating an image.

Two server habits need care:

- On descending sorts the server fetches `limit + 1` rows, returns `limit`,
  and gives the id of the extra row as `nextCursor`; the next page then asks
  `id < cursor`, so that row is never returned. We ask `cursor + 1` instead
  (`id < cursor + 1`, which is `id <= cursor`) and drop ids already seen,
  which is right whether the server has the bug or not. Ascending sorts
  (`id >= cursor`) and string cursors (Random) are passed through unchanged.
- When the 20 s statement timeout fires the server answers an empty page
  with no cursor, which looks exactly like the end. Right after a page that
  had a cursor an empty page cannot be the end (the cursor's own image is
  still due), so it is asked again a few times, with back-off, before it is
  believed; `ended_normally` then says False. An empty *first* page is
  asked again the same way when the caller expects images there
  (`expect_items`: Civitai counted some, or an earlier run listed some):
  believed, it would mark every archived image of the target as gone from
  it. Any other empty first page is asked once more before it is believed,
  unless the caller says an empty one is to be expected (`expect_items=False`:
  a post's images, all of which may be hidden from the viewer).

A hostile or broken server can also keep a listing going for ever (the same
`nextCursor` every time, or pages of images already seen); the walk stops,
not complete, when a cursor it already asked comes round again, when two
pages in a row bring nothing new, or after `max_pages` pages.
`stop_reason` says which.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from civitai_vault.api.errors import MalformedResponse
from civitai_vault.api.limits import DEFAULT_LIMITS, FLAGS
from civitai_vault.api.models import ImageListItem
from civitai_vault.waits import announce_wait

__all__ = ["DESCENDING_SORTS", "ImagePage", "ImagePages"]

DESCENDING_SORTS = frozenset({"Newest", "Most Reactions", "Most Comments", "Most Collected"})
MAX_LIMIT = 200
# Pages in a row that bring no image we had not seen, before the walk gives up: one
# such page is asked again with the plain cursor (see `_walk`), a second ends it.
MAX_PAGES_WITHOUT_NEWS = 1

Fetch = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass
class ImagePage:
    """One page of a listing: the images not seen on earlier pages, in server order."""

    items: list[ImageListItem]
    next_cursor: int | str | None
    page_number: int
    raw: Any = field(default=None, repr=False)


class ImagePages(AsyncIterator[ImagePage]):
    """An async iterator over the pages of one listing.

    After the loop, `ended_normally` is True when the server said "no more"
    (a page without `nextCursor`) in a way that can be trusted, and False when
    the listing stopped at a suspicious empty page, a cursor that came round
    again, pages with nothing new, or the page limit; `stop_reason` then
    says which. `empty_page_retries` counts the suspicious pages asked again,
    `unreadable` the listed items that were not objects with an id (never handed
    out: a caller that counts on every image must not call such a listing whole).
    """

    def __init__(
        self,
        fetch: Fetch,
        filters: dict[str, Any],
        *,
        sort: str = "Newest",
        limit: int = 100,
        browsing_level: int = 31,
        period: str = "AllTime",
        by_position: bool = False,
        empty_page_retries: int = 3,
        retry_base: float = 1.0,
        retry_cap: float = 30.0,
        max_pages: int = DEFAULT_LIMITS.listing_pages,
        expect_items: bool | None = None,
        first_limit: int | None = None,
    ) -> None:
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        self._fetch = fetch
        self._base = {
            **{k: v for k, v in filters.items() if v is not None},
            "sort": sort,
            "period": period,
            "browsingLevel": browsing_level,
            # Each image's tag rows come with the page, so no per-image tags call is
            # needed (`api.tags`). Never "meta" or withMeta: on the real server they
            # add nothing and drop every image without meta (civitai/civitai @ ebed6616,
            # src/server/services/image.service.ts getAllImages).
            "include": ["cosmetics", "tags"],
            "limit": limit,
        }
        self.sort = sort
        self.limit = limit
        # A smaller first page, for a caller whose work waits for it: the server
        # builds it sooner (its time grows with the page), and a walk that stops
        # at images already archived (newest first) often needs no more.
        self.first_limit = min(limit, first_limit or limit)
        # A post's images are ordered by their position in the post and the cursor
        # is that position (`index >= cursor`; civitai/civitai @ ebed6616,
        # src/server/services/image.service.ts getAllImages and
        # src/server/utils/pagination-helpers.ts getCursor): no
        # image is skipped at a boundary, so the cursor goes back unchanged.
        self.by_position = by_position
        self._max_empty_retries = empty_page_retries
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._max_pages = max_pages
        self._expect_items = expect_items
        self._iterator = self._walk()
        self.ended_normally: bool | None = None
        self.stop_reason: str | None = None
        self.empty_page_retries = 0
        self.pages = 0
        self.seen: set[int] = set()
        self.unreadable = 0
        self.on_empty_retry: Callable[[], None] | None = None

    def __aiter__(self) -> ImagePages:
        return self

    async def __anext__(self) -> ImagePage:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        await self._iterator.aclose()

    async def _walk(self) -> AsyncGenerator[ImagePage, None]:
        cursor: Any = None
        cursors_named: set[str] = set()
        pages_without_news = 0
        while True:
            first = cursor is None
            items, next_cursor, raw = await self._page(cursor, expected=self._expect_items)
            if items is None:  # a suspicious empty page that stayed empty
                self._stop(
                    f"an empty first page {self._max_empty_retries + 1} times where images "
                    "were expected: Civitai's query time limit, or images hidden from you"
                    if first
                    else "the server returned an empty page"
                )
                return
            self.unreadable += _unreadable(raw) + sum(1 for item in items if item.id is None)
            fresh = [item for item in items if item.id is not None and item.id not in self.seen]
            self.seen.update(item.id for item in fresh if item.id is not None)
            self.pages += 1
            yield ImagePage(fresh, next_cursor, self.pages, raw)
            if next_cursor is None:
                self.ended_normally = True
                return
            pages_without_news = 0 if fresh else pages_without_news + 1
            if pages_without_news > MAX_PAGES_WITHOUT_NEWS:
                self._stop(f"{pages_without_news} pages in a row brought no new image")
                return
            if self.pages >= self._max_pages:
                self._stop(
                    f"stopped at the limit of {self._max_pages:,} pages; "
                    f"raise it with {FLAGS['listing_pages']}"
                )
                return
            # On a real listing each page that brings news names a cursor further on;
            # one named before means the walk is going round (a stuck or hostile server).
            if fresh:
                key = f"{type(next_cursor).__name__}:{next_cursor!r}"[:1000]
                if key in cursors_named:
                    self._stop(f"the server sent the cursor {str(next_cursor)[:40]!r} again")
                    return
                cursors_named.add(key)
            # `cursor + 1` brought nothing new: on a server that already includes the
            # cursor image (`id <= cursor`) and with adjacent ids, the +1 can land on
            # the image just seen; the plain cursor moves on.
            cursor = self._next_request_cursor(next_cursor) if fresh else next_cursor

    def _stop(self, reason: str) -> None:
        self.ended_normally = False
        self.stop_reason = reason

    async def _page(
        self, cursor: Any, *, expected: bool | None
    ) -> tuple[list[ImageListItem] | None, Any, Any]:
        """One page; an empty one with no cursor is asked again before it is believed.

        After a cursor, or where images are expected, it is asked up to
        `empty_page_retries` more times and then not believed (None). A first page
        nothing vouches for (a target Civitai does not count, new to the archive) is
        asked once more: two empty answers in a row read as a listing that really is
        empty, which a mistyped name or a new account also gives. One the caller
        says may well be empty (`expected` False) is believed at once.
        """
        payload = dict(self._base)
        if cursor is not None:
            payload["cursor"] = cursor  # never on the first page: absent = undefined
        else:
            payload["limit"] = self.first_limit
        believed = cursor is None and not expected
        if not believed:
            retries = self._max_empty_retries
        else:
            retries = 0 if expected is False else min(1, self._max_empty_retries)
        where = "in the middle of the listing" if cursor is not None else "as the first page"
        for attempt in range(retries + 1):
            raw = await self._fetch(payload)
            items, next_cursor = _read_page(raw)
            if items or next_cursor is not None:
                return items, next_cursor, raw
            if attempt < retries:
                self.empty_page_retries += 1
                if self.on_empty_retry is not None:
                    self.on_empty_retry()
                cap = min(self._retry_cap, self._retry_base * 2**attempt)
                delay = random.uniform(0, cap)
                announce_wait(
                    delay,
                    f"Civitai answered an empty page {where} (what its 20 s query limit "
                    f"looks like), try {attempt + 2} of {retries + 1}",
                )
                await asyncio.sleep(delay)
        return (items, next_cursor, raw) if believed else (None, None, None)

    def _next_request_cursor(self, next_cursor: Any) -> Any:
        if (
            not self.by_position
            and self.sort in DESCENDING_SORTS
            and isinstance(next_cursor, int)
            and not isinstance(next_cursor, bool)
        ):
            return next_cursor + 1
        return next_cursor


def _read_page(raw: Any) -> tuple[list[ImageListItem], Any]:
    if not isinstance(raw, dict):
        raise MalformedResponse(
            "Civitai's answer could not be read",
            procedure="image.getInfinite",
            server_message="a listing page is not an object",
        )
    items = raw.get("items")
    if not isinstance(items, list):
        raise MalformedResponse(
            "Civitai's answer could not be read",
            procedure="image.getInfinite",
            server_message="a listing page has no list of items",
        )
    next_cursor = raw.get("nextCursor")
    if isinstance(next_cursor, float) and next_cursor.is_integer():
        next_cursor = int(next_cursor)
    if next_cursor == "":
        next_cursor = None
    return [ImageListItem.model_validate(item) for item in items if isinstance(item, dict)], (
        next_cursor
    )


def _unreadable(raw: Any) -> int:
    """Listed items that are not objects at all (`_read_page` has checked `raw`)."""
    return sum(1 for item in raw["items"] if not isinstance(item, dict))
