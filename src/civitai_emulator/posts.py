"""`post.getInfinite`: a page of posts, as Civitai's getPostsInfinite builds it.

From civitai/civitai @ ebed6616, `src/server/services/post.service.ts` getPostsInfinite
and `src/server/schema/post.schema.ts` postsQuerySchema:

- `username` is slugified (postgresSlugify) and looked up with `findFirst`; **a name
  that finds nobody (a deleted user, whose username is gone) adds no filter at all**,
  so the answer is everyone's posts (gallery-dl gh#8299). Clients must check that
  each post's `user.id` is the one they asked for.
- Sorts: Newest = `publishedAt DESC, id DESC`; Most Reactions (the default), Most
  Comments, Most Collected = that count DESC, id DESC, keeping only posts where the
  count is > 0. The next cursor is `"<value>|<id>"` (the ISO date, or the count),
  and the next page asks `(value, id) <= (cursor value, cursor id)`: the popped post
  comes back first, nothing is lost. A plain value (legacy cursor) asks `value <`.
- `period` keeps posts published since the start of the day one period before the
  dataset's now; `browsingLevel` keeps posts whose nsfwLevel shares a bit with it.
- `ids` keeps only those posts, after every other filter (the sort's count > 0
  included) and within `limit`; an empty `ids` fails in the query builder (500).
- `collectionId`: the posts of a Post collection the caller may read; otherwise
  `{items: []}` (no nextCursor key at all).
- Each item embeds at most 8 of its images (capPostGetInfiniteImages) and says how
  many it has in `imageCount`; posts left with no visible image are dropped after the
  page was cut, so a page may hold fewer than `limit` posts and still have a cursor.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

from civitai_emulator import shapes
from civitai_emulator.dataset import Dataset, PostRecord, User
from civitai_emulator.errors import TRPCError
from civitai_emulator.jsvalues import UNDEFINED
from civitai_emulator.listing import DATASET_NOW

IMAGES_PER_POST = 8  # src/server/utils/post-getinfinite-images.ts
PERIODS = {"Day": timedelta(days=1), "Week": timedelta(weeks=1), "Month": timedelta(days=30)}
EMPTY_JOIN = (
    "Expected `join([])` to be called with an array of multiple elements, but got an empty array"
)
METRIC_SORTS = {
    "Most Reactions": "reactionCount",
    "Most Comments": "commentCount",
    "Most Collected": "collectedCount",
}


def postgres_slugify(text: str | None) -> str:
    """src/utils/string-helpers.ts postgresSlugify (JavaScript replaces the first space only)."""
    if not text:
        return ""
    return re.sub(r"[^a-zA-Z0-9_]", "", text.replace(" ", "_", 1)).lower()


def post_metrics(dataset: Dataset, post: PostRecord) -> dict[str, int]:
    """PostMetric counts: reactions add up the images', comments come from the post.
    Fixed for a dataset, so they are computed once per post."""
    cache = dataset.post_metrics_cache
    found = cache.get(post.id)
    if found is None:
        found = cache[post.id] = _count_metrics(dataset, post)
    return found


def _count_metrics(dataset: Dataset, post: PostRecord) -> dict[str, int]:
    reactions = sum(dataset.reactions_of(i) for i in post.image_ids)
    digest = hashlib.blake2b(f"post-comments/{dataset.seed}/{post.id}".encode(), digest_size=2)
    comments = int.from_bytes(digest.digest(), "big") % 16
    return {
        "reactionCount": reactions,
        "commentCount": comments if comments > 4 else 0,
        "collectedCount": reactions // 6,
    }


def list_posts(
    dataset: Dataset, params: dict[str, Any], viewer: User | None, browsing_level: int
) -> dict[str, Any]:
    wanted = postgres_slugify(params.get("username")) if params.get("username") else ""
    target = _find_user(dataset, wanted) if wanted else None
    is_owner = bool(
        viewer is not None
        and viewer.username
        and wanted
        and postgres_slugify(viewer.username) == wanted
    )
    posts = list(dataset.posts.values())
    if target is not None:
        posts = [p for p in posts if p.user_id == target.id]
    excluded = set(params.get("excludedUserIds") or ())
    if target is not None and target.id in excluded:
        return {"items": []}
    if target is None and excluded:
        posts = [p for p in posts if p.user_id not in excluded]
    if params.get("draftOnly") and is_owner:
        posts = []  # every dataset post is published
    since = _period_start(params.get("period", "AllTime"))
    if since is not None:
        posts = [p for p in posts if p.published_at >= since]
    if browsing_level:
        posts = [p for p in posts if p.nsfw_level & browsing_level]
    ids = params.get("ids", UNDEFINED)
    if ids is not UNDEFINED and ids is not None:
        if not ids:  # `p.id IN (${Prisma.join([])})`: sql-template-tag throws, throwDbError
            raise TRPCError("INTERNAL_SERVER_ERROR", EMPTY_JOIN)
        asked = set(ids)
        posts = [p for p in posts if p.id in asked]
    if params.get("modelVersionId"):
        posts = []  # no dataset post is linked to a model version
    if params.get("collectionId"):
        collection = dataset.collections.get(int(params["collectionId"]))
        if collection is None or not _may_read(collection, viewer):
            return {"items": []}
        members = set(collection.post_ids)
        posts = [p for p in posts if p.id in members]
    return _page(dataset, posts, params, browsing_level)


def _find_user(dataset: Dataset, slug: str) -> User | None:
    for user in dataset.users.values():
        if user.username is not None and postgres_slugify(user.username) == slug:
            return user
    return None


def _may_read(collection: Any, viewer: User | None) -> bool:
    if collection.read in ("Public", "Unlisted"):
        return True
    return viewer is not None and viewer.id == collection.owner_id


def _period_start(period: str) -> datetime | None:
    if period == "AllTime":
        return None
    day = DATASET_NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "Year":
        return day.replace(year=day.year - 1)
    return day - PERIODS[period]


def _page(
    dataset: Dataset,
    posts: list[PostRecord],
    params: dict[str, Any],
    browsing_level: int,
) -> dict[str, Any]:
    metric = METRIC_SORTS.get(params["sort"])
    keyed: list[tuple[Any, int, PostRecord]] = []
    for post in posts:
        if metric is None:
            keyed.append((post.published_at, post.id, post))
        else:
            value = post_metrics(dataset, post)[metric]
            if value > 0:
                keyed.append((value, post.id, post))
    keyed.sort(key=lambda row: (row[0], row[1]), reverse=True)
    cursor = params.get("cursor", UNDEFINED)
    if cursor is not UNDEFINED and cursor not in ("", 0):
        keyed = _after_cursor(keyed, cursor, date_sort=metric is None)
    limit = int(params["limit"])
    rows = keyed[: limit + 1]
    next_cursor: Any = UNDEFINED
    if len(rows) > limit:
        value, post_id, _ = rows.pop()
        shown = _iso(value) if isinstance(value, datetime) else str(value)
        next_cursor = f"{shown}|{post_id}"
    items = [_item(dataset, post, browsing_level) for _, _, post in rows]
    return {"nextCursor": next_cursor, "items": [item for item in items if item["imageCount"]]}


def _after_cursor(
    keyed: list[tuple[Any, int, PostRecord]], cursor: Any, date_sort: bool
) -> list[tuple[Any, int, PostRecord]]:
    text = str(cursor)
    value_text, bar, id_text = text.partition("|")
    value = _cursor_value(value_text, date_sort)
    if bar:
        if not id_text.lstrip("-").isdigit():
            raise TRPCError("INTERNAL_SERVER_ERROR", f"invalid input syntax: {text}")
        cursor_id = int(id_text)
        return [row for row in keyed if (row[0], row[1]) <= (value, cursor_id)]
    return [row for row in keyed if row[0] < value]


def _cursor_value(text: str, date_sort: bool) -> Any:
    """`new Date(valueStr)` or `Number(valueStr)`; an invalid one fails in Postgres (500)."""
    try:
        if date_sort:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        return float(text)
    except ValueError as error:
        raise TRPCError("INTERNAL_SERVER_ERROR", f"invalid input syntax: {text}") from error


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _item(dataset: Dataset, post: PostRecord, browsing_level: int) -> dict[str, Any]:
    visible = [
        dataset.images[i]
        for i in post.image_ids
        if not browsing_level or dataset.nsfw_level_of(i) & browsing_level
    ]
    metrics = post_metrics(dataset, post)
    reactions = metrics["reactionCount"]
    user = shapes.user_summary(dataset.users.get(post.user_id), post.user_id)
    return {
        "id": post.id,
        "nsfwLevel": post.nsfw_level,
        "title": post.title,
        "publishedAt": post.published_at + timedelta(0),
        "modelVersionId": None,
        "collectionId": None,
        "imageCount": len(visible),
        "user": {
            "id": post.user_id,
            "username": user.get("username"),
            "image": None,
            "deletedAt": user.get("deletedAt"),
            "cosmetics": [],
            "profilePicture": None,
        },
        "stats": {
            "commentCount": metrics["commentCount"],
            "likeCount": reactions // 2,
            "dislikeCount": 0,
            "heartCount": reactions // 4,
            "laughCount": reactions // 17,
            "cryCount": reactions // 40,
            "collectedCount": metrics["collectedCount"],
        },
        "images": [shapes.post_feed_image(dataset, r) for r in visible[:IMAGES_PER_POST]],
        "cosmetic": None,
    }
