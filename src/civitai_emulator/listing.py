"""`image.getInfinite`: which images a page holds, in which order, and the next cursor.

Two paths, chosen as Civitai's getInfiniteImagesHandler does (civitai/civitai @ ebed6616,
`src/server/controllers/image.controller.ts` requiresDbPath): `postId`, `postIds`,
`collectionId`, a non-empty `reactions`, `imageId`, or `modelId` without
`modelVersionId` take the database path (`getAllImages`); everything else (a user's
uploads, `modelVersionId`, the general feed) takes the search index.

- The database path sorts by image id: descending for Newest and the Most* sorts,
  ascending for Oldest. It fetches limit+1 rows, pops the last and returns its id as
  `nextCursor`. The next page asks `id < cursor` on descending sorts, so the popped
  image is never returned: one image lost per page boundary. `boundary_skip=False`
  asks `id <= cursor` instead. Oldest asks `id >= cursor` and loses nothing. Random
  (collections only) uses a string cursor "<seed>:<sortKey>:<id>".
- A post's images (`postId` without `modelId`) are ordered by their position in the
  post (`ORDER BY i."index"`), and the cursor is that position (`index >= cursor`,
  pagination-helpers getCursor): nothing is lost, whatever the sort says.
- `collectionId` of a collection the caller may not read gives an empty page, not an
  error; so does a Post, Model or Article collection, whose items are not images
  (the CTE keeps `ci."imageId" IS NOT NULL`).
- `reactions` keeps the images the caller reacted to with one of those kinds; without
  a session the filter is skipped (`if (userId && reactions?.length)`) and the
  answer is the whole database feed, everyone's images.
- `modelId` keeps images one of whose resources is a version of that model
  (ImageResourceNew); `modelVersionId` (index path) those using that version.
- `username` without `userId` is looked up; an unknown (or deleted) name is 404 "User
  not found". With `userId` given, `username` is ignored.
- `period` keeps images created since the start of the day one period before "now";
  the dataset's now is its last day (`DATASET_NOW`), so the filters keep something.
- The search-index path pages by offset with a string cursor "<offset>|<snapshot ms>"
  and loses nothing.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from civitai_emulator import shapes
from civitai_emulator.dataset import DATASET_SPAN, DATASET_START, Dataset, User
from civitai_emulator.errors import TRPCError
from civitai_emulator.jsvalues import UNDEFINED

DESCENDING_SORTS = ("Most Reactions", "Most Comments", "Most Collected", "Newest")
DATASET_NOW = DATASET_START + DATASET_SPAN
SNAPSHOT_MS = int(DATASET_NOW.timestamp() * 1000)
PERIODS = {"Day": timedelta(days=1), "Week": timedelta(weeks=1), "Month": timedelta(days=30)}


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
    if params.get("hidden") and request.viewer is None:
        raise TRPCError("UNAUTHORIZED", "You are not authorized to perform this action")
    if "username" in params and "userId" not in params:
        user = dataset.user_by_username(params["username"])
        if user is None:
            raise TRPCError("NOT_FOUND", "User not found")
        params["userId"] = user.id
    if uses_database(params):
        return _database_path(dataset, request)
    if params["sort"] == "Random":
        raise TRPCError("BAD_REQUEST", "Random sort requires a collectionId")
    return _index_path(dataset, request, order_cache)


def uses_database(params: dict[str, Any]) -> bool:
    """image.controller.ts requiresDbPath (prioritizedUserIds left out)."""
    return bool(
        params.get("postId")
        or params.get("postIds")
        or params.get("collectionId")
        or params.get("reactions")
        or params.get("imageId")
        or (params.get("modelId") and not params.get("modelVersionId"))
    )


# ------------------------------------------------------------- database path


def _database_path(dataset: Dataset, request: ListingRequest) -> dict[str, Any]:
    params = request.params
    if params["sort"] == "Random" and not params.get("collectionId"):
        raise TRPCError("BAD_REQUEST", "Random sort requires a collectionId")
    if params.get("collectionTagId") and not params.get("collectionId"):
        raise TRPCError("BAD_REQUEST", "collectionTagId requires a collectionId")
    candidates, in_collection = _candidates(dataset, request)
    if candidates is None:
        return empty_page()
    if params.get("cursor", UNDEFINED) is not UNDEFINED and params.get("skip"):
        raise TRPCError("INTERNAL_SERVER_ERROR", "Cannot use skip with cursor")
    accept = _filter(dataset, request)
    limit = params["limit"]
    if params["sort"] == "Random":
        return _random_page(dataset, request, candidates, accept)
    if params.get("postId") and not params.get("modelId"):
        return _post_page(dataset, request, candidates, accept)
    ordered = _ordered_from_cursor(candidates, params, request.boundary_skip)
    rows = _take(ordered, accept, limit + 1)
    next_cursor: Any = UNDEFINED
    if len(rows) > limit:
        next_cursor = rows.pop()
    return _page(dataset, request, rows, next_cursor, in_collection, from_index=False)


def _candidates(dataset: Dataset, request: ListingRequest) -> tuple[list[int] | None, bool]:
    """Ascending candidate ids, or None when the collection gives nothing to read."""
    params = request.params
    sets: list[Iterable[int]] = []
    in_collection = bool(params.get("collectionId"))
    if in_collection:
        collection = dataset.collections.get(int(params["collectionId"]))
        if collection is None or not _may_read(collection, request.viewer):
            return None, True
        sets.append(collection.image_ids)  # empty unless it is an Image collection
    post_ids = list(params.get("postIds") or [])
    if params.get("postId"):
        post_ids.append(params["postId"])
    if post_ids:
        ids: set[int] = set()
        for post_id in post_ids:
            post = dataset.posts.get(int(post_id))
            if post is not None:
                ids.update(post.image_ids)
        sets.append(sorted(ids))
    if params.get("imageId"):
        image_id = int(params["imageId"])
        sets.append([image_id] if dataset.has_image(image_id) else [])
    if params.get("modelVersionId"):
        sets.append(dataset.images_using([int(params["modelVersionId"])]))
    elif params.get("modelId"):
        sets.append(dataset.images_using(dataset.versions_of_model(int(params["modelId"]))))
    if params.get("reactions") and request.viewer is not None:
        # only the signed-in dataset user has reactions stored
        mine = request.viewer.id == dataset.owner.id
        sets.append(dataset.reacted_images(params["reactions"]) if mine else [])
    if not sets:
        return list(dataset.image_ids), in_collection
    result = list(sets[0])
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


def _post_page(
    dataset: Dataset, request: ListingRequest, candidates: list[int], accept: Callable[[int], bool]
) -> dict[str, Any]:
    """`ORDER BY i."index"` with `i."index" >= cursor`: the cursor is a position."""
    params = request.params
    cursor = params.get("cursor", UNDEFINED)
    start = 0 if cursor is UNDEFINED else _numeric_cursor(cursor)
    post = dataset.posts.get(int(params["postId"]))
    members = set(candidates)
    ordered = [
        (position, image_id)
        for position, image_id in enumerate(post.image_ids if post else ())
        if image_id in members and position >= start
    ]
    rows: list[tuple[int, int]] = []
    for position, image_id in ordered:
        if len(rows) > params["limit"]:
            break
        if accept(image_id):
            rows.append((position, image_id))
    next_cursor: Any = UNDEFINED
    if len(rows) > params["limit"]:
        next_cursor = rows.pop()[0]
    ids = [image_id for _, image_id in rows]
    return _page(dataset, request, ids, next_cursor, False, from_index=False)


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
    return _page(dataset, request, rows, next_cursor, True, from_index=False)


def _random_cursor(cursor: Any) -> tuple[int, tuple[int, int]]:
    try:
        seed, key, image_id = str(cursor).split(":")
        return int(seed), (int(key), int(image_id))
    except ValueError as error:
        raise TRPCError("BAD_REQUEST", f"Invalid cursor: {cursor}") from error


# ---------------------------------------------------------------- index path


def _index_path(dataset: Dataset, request: ListingRequest, order_cache: dict) -> dict[str, Any]:
    params = request.params
    offset, snapshot = _index_cursor(params.get("cursor", UNDEFINED))
    ordered = _index_order(dataset, params, order_cache)
    accept = _filter(dataset, request)
    visible = [image_id for image_id in ordered if accept(image_id)]
    limit = params["limit"]
    rows = visible[offset : offset + limit]
    next_cursor: Any = UNDEFINED
    if offset + limit < len(visible):
        next_cursor = f"{offset + limit}|{snapshot}"
    return _page(dataset, request, rows, next_cursor, False, from_index=True)


def _index_cursor(cursor: Any) -> tuple[int, int]:
    if cursor is UNDEFINED:
        return 0, SNAPSHOT_MS
    text = str(cursor)
    if isinstance(cursor, str) and "|" in text:
        offset, _, snapshot = text.partition("|")
        if offset.isdigit() and snapshot.isdigit():
            return int(offset), int(snapshot)
    raise TRPCError("BAD_REQUEST", f"Invalid cursor: {text}")


def _index_order(dataset: Dataset, params: dict[str, Any], cache: dict) -> list[int]:
    user_id = params.get("userId")
    version_id = params.get("modelVersionId")
    sort = params["sort"]
    key = (user_id, version_id, sort)
    cached = cache.get(key)
    if cached is not None:
        return cached
    ids: Iterable[int] = dataset.images_of_user(user_id) if user_id else dataset.image_ids
    if version_id:
        using = set(dataset.images_using([int(version_id)]))
        ids = [i for i in ids if i in using]
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


def _period_start(params: dict[str, Any]) -> float | None:
    period = params.get("period", "AllTime")
    if period == "AllTime" or params.get("periodMode") == "stats":
        return None
    day = DATASET_NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "Year":
        return day.replace(year=day.year - 1).timestamp()
    return (day - PERIODS[period]).timestamp()


def _filter(dataset: Dataset, request: ListingRequest) -> Callable[[int], bool]:
    """The per-image conditions every path applies, cheapest first."""
    params = request.params
    level = request.browsing_level
    types = set(params.get("types") or ())
    excluded_users = set(params.get("excludedUserIds") or ())
    user_id = params.get("userId")
    since = _period_start(params)
    excluded_tags = set(params.get("excludedTagIds") or ())
    base_models = set(params.get("baseModels") or ())
    with_meta = bool(params.get("withMeta") or params.get("requiringMeta"))
    from_platform = bool(params.get("fromPlatform"))
    needs_record = bool(excluded_tags or base_models or with_meta or from_platform)
    created_ts = dataset._core.created_ts
    index_of = dataset._core.index_of

    def accept(image_id: int) -> bool:
        nsfw = dataset.nsfw_level_of(image_id)
        if nsfw == 0 or not nsfw & level:
            return False
        if types and dataset.type_of(image_id) not in types:
            return False
        if since is not None and created_ts[index_of[image_id]] < since:
            return False
        if user_id is not None or excluded_users:
            owner = dataset.user_of(image_id)
            if (user_id is not None and owner != user_id) or owner in excluded_users:
                return False
        if needs_record:
            record = dataset.images[image_id]
            if excluded_tags and excluded_tags.intersection(record.tag_scores):
                return False
            if base_models and not base_models.intersection(_base_models_of(dataset, record)):
                return False
            if with_meta and (record.meta is None or record.hide_meta):
                return False
            if from_platform and not (record.meta and "civitaiResources" in record.meta):
                return False
        return True

    return accept


def _base_models_of(dataset: Dataset, record: Any) -> set[str]:
    """The base models of an image's resources (the real filter joins ModelVersion)."""
    found = {record.base_model}
    for ref in record.resources:
        version = dataset.model_versions.get(ref.model_version_id)
        if version is not None:
            found.add(version.base_model)
    return found


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
    request: ListingRequest,
    rows: list[int],
    next_cursor: Any,
    in_collection: bool,
    from_index: bool,
) -> dict[str, Any]:
    params = request.params
    include = list(params.get("include") or [])
    if params.get("withMeta"):
        include.append("meta")
    if params.get("withTags"):
        include.append("tags")
    viewer = request.viewer
    mine = viewer is not None and viewer.id == dataset.owner.id
    items = []
    for image_id in rows:
        item = shapes.listing_item(
            dataset, dataset.images[image_id], include, in_collection, from_index, mine
        )
        reaction = dataset.reaction_of(image_id) if mine else None
        if reaction is not None and viewer is not None:
            item["reactions"] = [{"userId": viewer.id, "reaction": reaction}]
        items.append(item)
    page: dict[str, Any] = {"nextCursor": next_cursor, "items": items}
    if from_index:
        page["source"] = "meili"  # getAllImagesIndex names the search backend that answered
    return page
