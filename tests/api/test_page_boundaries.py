"""The descending-cursor off-by-one: seen on the emulator, and worked around by the client."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from civitai_vault.api import CivitaiClient
from civitai_vault.api.pagination import ImagePages


def visible_ids(emu: Any, collection_id: int) -> list[int]:
    dataset = emu.dataset
    ids = dataset.collections[collection_id].image_ids
    return [i for i in ids if dataset.nsfw_level_of(i) & 31]


def test_following_next_cursor_naively_loses_an_image_per_page(emu: Any, helpers: Any) -> None:
    collection_id = emu.dataset.named["demo_collection"]
    limit = 25

    async def naive(client: CivitaiClient) -> tuple[list[int], list[int]]:
        ids: list[int] = []
        cursors: list[int] = []
        payload: dict[str, Any] = {"collectionId": collection_id, "sort": "Newest", "limit": limit}
        while True:
            page = await client.call("image.getInfinite", payload)
            ids.extend(item["id"] for item in page["items"])
            if page.get("nextCursor") is None:
                return ids, cursors
            cursors.append(page["nextCursor"])
            payload["cursor"] = page["nextCursor"]

    naive_ids, cursors = helpers.call(naive)
    lost = set(visible_ids(emu, collection_id)) - set(naive_ids)
    assert cursors, "the collection spans several pages"
    assert lost == set(cursors)  # exactly the image named by each nextCursor


@pytest.mark.parametrize("boundary_skip", [True, False], ids=["server-skips", "server-fixed"])
@pytest.mark.parametrize("limit", [1, 7, 50, 100, 200])
def test_full_listing_equals_the_collection(
    emu: Any, helpers: Any, boundary_skip: bool, limit: int
) -> None:
    emu.config.boundary_skip = boundary_skip
    collection_id = emu.dataset.named["demo_collection"]

    async def walk(client: CivitaiClient) -> tuple[list[int], Any]:
        pages = client.iter_image_pages(collection_id=collection_id, limit=limit)
        return [item.id async for page in pages for item in page.items], pages

    ids, pages = helpers.call(walk)
    expected = visible_ids(emu, collection_id)
    assert ids == sorted(expected, reverse=True)  # every image once, newest first
    assert pages.ended_normally is True


@pytest.mark.parametrize("sort", ["Oldest", "Most Reactions", "Random"])
def test_other_sorts_are_complete_too(emu: Any, helpers: Any, sort: str) -> None:
    collection_id = emu.dataset.named["demo_collection"]

    async def walk(client: CivitaiClient) -> list[int]:
        pages = client.iter_image_pages(collection_id=collection_id, limit=30, sort=sort)
        return [item.id async for page in pages for item in page.items]

    ids = helpers.call(walk)
    assert len(ids) == len(set(ids))
    assert set(ids) == set(visible_ids(emu, collection_id))
    if sort == "Oldest":
        assert ids == sorted(ids)


def test_others_private_collection_lists_nothing(emu: Any, helpers: Any) -> None:
    collection_id = emu.dataset.named["others_private_collection"]

    async def walk(client: CivitaiClient) -> tuple[list[Any], Any]:
        pages = client.iter_image_pages(collection_id=collection_id)
        return [page async for page in pages], pages

    pages_seen, pages = helpers.call(walk)
    assert [page.items for page in pages_seen] == [[]]
    assert pages.ended_normally is True


class CursorServer:
    """A stand-alone image.getInfinite paging rule over consecutive ids (no emulator needed):
    fetch limit+1 rows, pop the last as nextCursor; DESC asks `id < cursor` (Civitai's
    bug) or `id <= cursor` (fixed), ASC asks `id >= cursor`."""

    def __init__(self, ids: list[int], *, skips: bool) -> None:
        self.ids = sorted(ids)
        self.skips = skips
        self.calls = 0

    async def fetch(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        limit, cursor = payload["limit"], payload.get("cursor")
        if payload["sort"] == "Oldest":
            rows = [i for i in self.ids if cursor is None or i >= cursor]
        else:
            rows = [
                i
                for i in reversed(self.ids)
                if cursor is None or (i < cursor if self.skips else i <= cursor)
            ]
        rows = rows[: limit + 1]
        page: dict[str, Any] = {"items": [{"id": i} for i in rows[:limit]]}
        if len(rows) > limit:
            page["nextCursor"] = rows[limit]
        return page


@pytest.mark.parametrize("skips", [True, False], ids=["server-skips", "server-fixed"])
@pytest.mark.parametrize("sort", ["Newest", "Oldest"])
@pytest.mark.parametrize("limit", [1, 2, 3, 10])
def test_adjacent_ids_at_any_limit(skips: bool, sort: str, limit: int) -> None:
    ids = [*range(1000, 1023), 1100, 1101, 1200]
    server = CursorServer(ids, skips=skips)

    async def walk() -> tuple[list[int], ImagePages]:
        pages = ImagePages(server.fetch, {"collectionId": 1}, sort=sort, limit=limit)
        return [item.id async for page in pages for item in page.items], pages

    seen, pages = asyncio.run(walk())
    assert seen == (sorted(ids) if sort == "Oldest" else sorted(ids, reverse=True))
    assert pages.ended_normally is True
    assert server.calls <= 2 * len(ids) + 2  # no endless re-asking
