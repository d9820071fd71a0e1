"""`image.getInfinite`: which images a page holds, in which order, and the next cursor.

Two paths, as on Civitai (civitai-api.md §3.3):

- The database path (a `collectionId`, `postId(s)` or `imageId` filter) sorts by image
  id: descending for Newest and the Most* sorts, ascending for Oldest. It fetches
  limit+1 rows, pops the last and returns its id as `nextCursor`. The next page asks
  `id < cursor` on descending sorts, so the popped image is never returned: one image
  lost per page boundary. `boundary_skip=False` asks `id <= cursor` instead. Oldest
  asks `id >= cursor` and loses nothing. Random (collections only) uses a string
  cursor "<seed>:<sortKey>:<id>".
- The search-index path (user filters or no filter) pages by offset with a string
  cursor "<offset>|<snapshot ms>" and loses nothing.

A collection the caller may not read gives an empty page, not an error.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from civitai_emulator import shapes
from civitai_emulator.dataset import DATASET_SPAN, DATASET_START, Dataset, User
from civitai_emulator.errors import TRPCError
from civitai_emulator.jsvalues import UNDEFINED

DESCENDING_SORTS = ("Most Reactions", "Most Comments", "Most Collected", "Newest")
SNAPSHOT_MS = int((DATASET_START + DATASET_SPAN).timestamp() * 1000)


@dataclass
class ListingRequest:
    params: dict[str, Any]
    viewer: User | None
    browsing_level: int  # already clamped
    boundary_skip: bool


def empty_page() -> dict[str, Any]:
    return {"nextCursor": UNDEFINED, "items": []}


def list_images(dataset: Dataset, request: ListingRequest, order_cache: dict) -> dict[str, Any]:
    params = request.params
    if params["sort"] == "Random" and "collectionId" not in params:
        raise TRPCError("BAD_REQUEST", "Random sort requires a collectionId")
    if "collectionTagId" in params and "collectionId" not in params:
        raise TRPCError("BAD_REQUEST", "collectionTagId requires a collectionId")
    if params.get("hidden") and request.viewer is None:
        raise TRPCError("UNAUTHORIZED")
    if "cursor" in params and "skip" in params:
        raise TRPCError(
            "INTERNAL_SERVER_ERROR",
            "Invalid `prisma.$queryRaw()` invocation: cursor and skip cannot be combined",
        )
    if any(key in params for key in ("collectionId", "postId", "postIds", "imageId")):
        return _database_path(dataset, request)
    return _index_path(dataset, request, order_cache)


# ------------------------------------------------------------- database path


def _database_path(dataset: Dataset, request: ListingRequest) -> dict[str, Any]:
    params = request.params
    candidates, in_collection = _candidates(dataset, request)
    if candidates is None:
        return empty_page()
    accept = _filter(dataset, request)
    limit = params["limit"]
    if params["sort"] == "Random":
        return _random_page(dataset, request, candidates, accept)
    ordered = _ordered_from_cursor(candidates, params, request.boundary_skip)
    rows = _take(ordered, accept, limit + 1)
    next_cursor: Any = UNDEFINED
    if len(rows) > limit:
        next_cursor = rows.pop()
    return _page(dataset, rows, next_cursor, request, in_collection, from_index=False)


def _candidates(dataset: Dataset, request: ListingRequest) -> tuple[list[int] | None, bool]:
    """Ascending candidate ids, or None when the caller may not read the collection."""
    params = request.params
    sets: list[set[int] | list[int]] = []
    in_collection = "collectionId" in params
    if in_collection:
        collection = dataset.collections.get(int(params["collectionId"]))
        if collection is None or not _may_read(collection, request.viewer):
            return None, True
        sets.append(list(collection.image_ids))
    post_ids = list(params.get("postIds") or [])
    if "postId" in params:
        post_ids.append(params["postId"])
    if post_ids:
        ids: set[int] = set()
        for post_id in post_ids:
            post = dataset.posts.get(int(post_id))
            if post is not None:
                ids.update(post.image_ids)
        sets.append(ids)
    if "imageId" in params:
        image_id = int(params["imageId"])
        sets.append({image_id} if dataset.has_image(image_id) else set())
    base = sets[0]
    result = sorted(base) if isinstance(base, set) else list(base)
    for other in sets[1:]:
        keep = set(other)
        result = [image_id for image_id in result if image_id in keep]
    return result, in_collection


def _may_read(collection: Any, viewer: User | None) -> bool:
    if collection.read in ("Public", "Unlisted"):
        return True
    return viewer is not None and viewer.id == collection.owner_id


def _ordered_from_cursor(
    candidates: list[int], params: dict[str, Any], boundary_skip: bool
) -> Iterable[int]:
    cursor = params.get("cursor", UNDEFINED)
    cursor_id = None if cursor is UNDEFINED else _numeric_cursor(cursor)
    if params["sort"] == "Oldest":
        start = 0 if cursor_id is None else bisect.bisect_left(candidates, cursor_id)
        return (candidates[i] for i in range(start, len(candidates)))
    if cursor_id is None:
        end = len(candidates)
    elif boundary_skip:
        end = bisect.bisect_left(candidates, cursor_id)  # id < cursor
    else:
        end = bisect.bisect_right(candidates, cursor_id)  # id <= cursor
    return (candidates[i] for i in range(end - 1, -1, -1))


def _numeric_cursor(cursor: Any) -> int:
    if isinstance(cursor, bool):
        raise TRPCError("BAD_REQUEST", f"Invalid cursor: {cursor}")
    if isinstance(cursor, int):
        return cursor
    if isinstance(cursor, float) and cursor.is_integer():
        return int(cursor)
    if isinstance(cursor, str) and cursor.strip().lstrip("-").isdigit():
        return int(cursor)
    raise TRPCError("BAD_REQUEST", f"Invalid cursor: {cursor}")


def _random_page(
    dataset: Dataset, request: ListingRequest, candidates: list[int], accept: Callable[[int], bool]
) -> dict[str, Any]:
    params = request.params
    cursor = params.get("cursor", UNDEFINED)
    if cursor is UNDEFINED:
        seed, after = dataset.seed, None
    else:
        seed, after = _random_cursor(cursor)

    def sort_key(image_id: int) -> tuple[int, int]:
        digest = hashlib.blake2b(f"{seed}:{image_id}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") % 1_000_000, image_id

    ordered = sorted(candidates, key=sort_key, reverse=True)
    if after is not None:
        ordered = [i for i in ordered if sort_key(i) <= after]
    rows = _take(ordered, accept, params["limit"] + 1)
    next_cursor: Any = UNDEFINED
    if len(rows) > params["limit"]:
        popped = rows.pop()
        key, image_id = sort_key(popped)
        next_cursor = f"{seed}:{key}:{image_id}"
    return _page(dataset, rows, next_cursor, request, True, from_index=False)


def _random_cursor(cursor: Any) -> tuple[int, tuple[int, int]]:
    try:
        seed, key, image_id = str(cursor).split(":")
        return int(seed), (int(key), int(image_id))
    except ValueError as error:
        raise TRPCError("BAD_REQUEST", f"Invalid cursor: {cursor}") from error


# ---------------------------------------------------------------- index path


def _index_path(dataset: Dataset, request: ListingRequest, order_cache: dict) -> dict[str, Any]:
    params = request.params
    user_id = params.get("userId")
    if "username" in params:
        user = dataset.user_by_username(params["username"])
        if user is None or (user_id is not None and user.id != user_id):
            return empty_page()
        user_id = user.id
    offset, snapshot = _index_cursor(params.get("cursor", UNDEFINED))
    ordered = _index_order(dataset, user_id, params["sort"], order_cache)
    accept = _filter(dataset, request)
    visible = [image_id for image_id in ordered if accept(image_id)]
    limit = params["limit"]
    rows = visible[offset : offset + limit]
    next_cursor: Any = UNDEFINED
    if offset + limit < len(visible):
        next_cursor = f"{offset + limit}|{snapshot}"
    return _page(dataset, rows, next_cursor, request, False, from_index=True)


def _index_cursor(cursor: Any) -> tuple[int, int]:
    if cursor is UNDEFINED:
        return 0, SNAPSHOT_MS
    text = str(cursor)
    if isinstance(cursor, str) and "|" in text:
        offset, _, snapshot = text.partition("|")
        if offset.isdigit() and snapshot.isdigit():
            return int(offset), int(snapshot)
    raise TRPCError("BAD_REQUEST", f"Invalid cursor: {text}")


def _index_order(dataset: Dataset, user_id: int | None, sort: str, cache: dict) -> list[int]:
    key = (user_id, sort)
    cached = cache.get(key)
    if cached is not None:
        return cached
    ids = dataset.images_of_user(user_id) if user_id is not None else dataset.image_ids
    if sort == "Oldest":
        ordered = sorted(ids, key=lambda i: (dataset.published_ts_of(i), i))
    elif sort == "Newest":
        ordered = sorted(ids, key=lambda i: (dataset.published_ts_of(i), i), reverse=True)
    else:
        ordered = sorted(ids, key=lambda i: (dataset.reactions_of(i), i), reverse=True)
    if len(cache) > 64:
        cache.clear()
    cache[key] = ordered
    return ordered


# ---------------------------------------------------------------- shared parts


def _filter(dataset: Dataset, request: ListingRequest) -> Callable[[int], bool]:
    """The per-image conditions every path applies, cheapest first."""
    params = request.params
    level = request.browsing_level
    types = set(params.get("types") or ())
    excluded_users = set(params.get("excludedUserIds") or ())
    user_id = params.get("userId")
    username = params.get("username")
    if username is not None:
        user = dataset.user_by_username(username)
        user_id = user.id if user else -1
    excluded_tags = set(params.get("excludedTagIds") or ())
    base_models = set(params.get("baseModels") or ())
    with_meta = bool(params.get("withMeta") or params.get("requiringMeta"))
    needs_record = bool(excluded_tags or base_models or with_meta)

    def accept(image_id: int) -> bool:
        nsfw = dataset.nsfw_level_of(image_id)
        if nsfw == 0 or not nsfw & level:
            return False
        if types and dataset.type_of(image_id) not in types:
            return False
        if user_id is not None or excluded_users:
            owner = dataset.user_of(image_id)
            if (user_id is not None and owner != user_id) or owner in excluded_users:
                return False
        if needs_record:
            record = dataset.images[image_id]
            if excluded_tags and excluded_tags.intersection(record.tag_scores):
                return False
            if base_models and record.base_model not in base_models:
                return False
            if with_meta and (record.meta is None or record.hide_meta):
                return False
        return True

    return accept


def _take(ordered: Iterable[int], accept: Callable[[int], bool], count: int) -> list[int]:
    rows: list[int] = []
    iterator: Iterator[int] = iter(ordered)
    for image_id in iterator:
        if len(rows) >= count:
            break
        if accept(image_id):
            rows.append(image_id)
    return rows


def _page(
    dataset: Dataset,
    rows: list[int],
    next_cursor: Any,
    request: ListingRequest,
    in_collection: bool,
    from_index: bool,
) -> dict[str, Any]:
    params = request.params
    include = list(params.get("include") or [])
    if params.get("withMeta"):
        include.append("meta")
    if params.get("withTags"):
        include.append("tags")
    owner = request.viewer is not None and request.viewer.id == dataset.owner.id
    items = [
        shapes.listing_item(
            dataset, dataset.images[image_id], include, in_collection, from_index, owner
        )
        for image_id in rows
    ]
    page: dict[str, Any] = {"nextCursor": next_cursor, "items": items}
    if from_index:
        page["source"] = "meili"  # getAllImagesIndex names the search backend that answered
    return page
