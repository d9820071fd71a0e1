"""The procedures the emulator answers, with the rules the real router attaches to them.

Each `Procedure` says whether it is a query or a mutation, whether it needs a session
(`protected`), which input schema it parses, whether it shares the heavy-request
bulkhead, and how long an edge may cache it. Resolvers take a `CallContext` and the
parsed input and return plain data for the codecs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from typing import Any

from civitai_emulator import schemas, shapes
from civitai_emulator.auth import (
    SCOPE_AI_SERVICES_READ,
    SCOPE_COLLECTIONS_READ,
    SCOPE_MEDIA_READ,
    SCOPE_MODELS_READ,
    SCOPE_USER_READ,
)
from civitai_emulator.dataset import Dataset, User
from civitai_emulator.errors import BROKEN_QUERY, NOT_FOUND_ENTITY, TRPCError
from civitai_emulator.generations import query_generated_images
from civitai_emulator.jsvalues import UNDEFINED
from civitai_emulator.listing import ListingRequest, empty_page, list_images
from civitai_emulator.posts import list_posts


@dataclass
class CallContext:
    dataset: Dataset
    user: User | None
    site: str
    browsing_cap: int
    boundary_skip: bool
    force_empty_listing: bool = False
    caches: dict[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    generator_base_url: str = ""
    persistent_500_images: frozenset[int] = frozenset()
    persistent_500_procedures: frozenset[str] = frozenset()

    def fail_if_broken(self, procedure: str, image_id: Any) -> None:
        """The persistent outage of gh#6716 for the images `Faults` names."""
        if procedure in self.persistent_500_procedures and image_id in self.persistent_500_images:
            raise TRPCError("INTERNAL_SERVER_ERROR", BROKEN_QUERY)


Resolver = Callable[[CallContext, dict[str, Any]], Any]


@dataclass(frozen=True)
class Procedure:
    name: str
    kind: str  # "query" | "mutation"
    schema: schemas.Schema
    resolve: Resolver
    protected: bool = False
    heavy: bool = False
    edge_cache_seconds: int = 0
    scope: int = SCOPE_MEDIA_READ  # the API key scope bit the procedure requires


# ------------------------------------------------------------------ resolvers


def image_get(ctx: CallContext, params: dict[str, Any]) -> Any:
    image_id = params["id"]
    ctx.fail_if_broken("image.get", image_id)
    if not ctx.dataset.has_image(image_id):
        raise TRPCError("NOT_FOUND", f"No image with id {_js(image_id)}")
    return shapes.image_detail(ctx.dataset, ctx.dataset.images[image_id])


def image_generation_data(ctx: CallContext, params: dict[str, Any]) -> Any:
    image_id = params["id"]
    ctx.fail_if_broken("image.getGenerationData", image_id)
    if not ctx.dataset.has_image(image_id):
        raise TRPCError("NOT_FOUND", NOT_FOUND_ENTITY)
    return shapes.generation_data(ctx.dataset, ctx.dataset.images[image_id])


def image_get_infinite(ctx: CallContext, params: dict[str, Any]) -> Any:
    if ctx.force_empty_listing:
        return empty_page()
    request = ListingRequest(
        params=params,
        viewer=ctx.user,
        browsing_level=int(params["browsingLevel"]) & ctx.browsing_cap,
        boundary_skip=ctx.boundary_skip,
    )
    return list_images(ctx.dataset, request, ctx.caches.setdefault("index_order", {}))


def post_get_infinite(ctx: CallContext, params: dict[str, Any]) -> Any:
    level = int(params["browsingLevel"])
    level = (level & ctx.browsing_cap) or ctx.browsing_cap
    return list_posts(ctx.dataset, params, ctx.user, level)


def orchestrator_query_generated_images(ctx: CallContext, params: dict[str, Any]) -> Any:
    assert ctx.user is not None  # protected
    if ctx.user.id != ctx.dataset.owner.id:
        return {"items": [], "nextCursor": UNDEFINED}
    return query_generated_images(
        ctx.dataset, params, ctx.now, ctx.site == "green", ctx.generator_base_url
    )


def tag_votable(ctx: CallContext, params: dict[str, Any]) -> Any:
    if params["type"] != "image" or not ctx.dataset.has_image(params["id"]):
        return []
    owner = ctx.user is not None and ctx.user.id == ctx.dataset.owner.id
    record = ctx.dataset.images[params["id"]]
    return shapes.votable_tags(ctx.dataset, record, params["take"], owner)


def tag_get_by_id(ctx: CallContext, params: dict[str, Any]) -> Any:
    return shapes.tag_summary(ctx.dataset, params["id"])


def model_version_get_by_id(ctx: CallContext, params: dict[str, Any]) -> Any:
    version = ctx.dataset.model_versions.get(params["id"])
    if version is None:
        raise TRPCError("NOT_FOUND", f"No version with id {_js(params['id'])}")
    return shapes.model_version(version, bool(params.get("withFiles")))


def model_get_simple(ctx: CallContext, params: dict[str, Any]) -> Any:
    """`model.getSimple` (civitai/civitai @ ebed6616, model.service.ts
    getSimpleModelWithVersions): the model whatever its status, NOT_FOUND when none."""
    versions = ctx.dataset.versions_of_model(params["id"])
    if not versions:
        raise TRPCError("NOT_FOUND", NOT_FOUND_ENTITY)
    first = ctx.dataset.model_versions[versions[0]]
    return shapes.simple_model(first, ctx.dataset.users.get(first.user_id))


def post_get(ctx: CallContext, params: dict[str, Any]) -> Any:
    post = ctx.dataset.posts.get(params["id"])
    if post is None:
        raise TRPCError("NOT_FOUND", NOT_FOUND_ENTITY)
    return shapes.post_detail(ctx.dataset, post)


def collection_get_by_id(ctx: CallContext, params: dict[str, Any]) -> Any:
    collection_id = params["id"]
    collection = ctx.dataset.collections.get(collection_id)
    permissions = shapes.collection_permissions(collection, ctx.user, _js_int(collection_id))
    if collection is None or not (
        permissions["read"] or permissions["write"] or permissions["manage"]
    ):
        return {"collection": None, "permissions": permissions}
    level = _collection_nsfw_level(ctx, collection.id)
    return {
        "collection": shapes.collection_detail(ctx.dataset, collection, level),
        "permissions": permissions,
    }


def _collection_nsfw_level(ctx: CallContext, collection_id: int) -> int:
    levels: dict[int, int] = ctx.caches.setdefault("collection_nsfw", {})
    if collection_id not in levels:
        collection = ctx.dataset.collections[collection_id]
        level = reduce(lambda acc, i: acc | ctx.dataset.nsfw_level_of(i), collection.image_ids, 0)
        for post_id in collection.post_ids:  # a Post collection: its posts' levels
            level |= ctx.dataset.posts[post_id].nsfw_level
        levels[collection_id] = level
    return levels[collection_id]


def collection_get_all_user(ctx: CallContext, params: dict[str, Any]) -> Any:
    assert ctx.user is not None  # protected
    wanted_type = params.get("type")
    own = [
        c
        for c in ctx.dataset.collections.values()
        if c.owner_id == ctx.user.id and (wanted_type is None or c.type == wanted_type)
    ]
    return [shapes.user_collection(c) for c in own]


def collection_get_infinite(ctx: CallContext, params: dict[str, Any]) -> Any:
    """Public collections, newest first, with their item counts.

    collection.service.ts getAllCollections (civitai/civitai @ ebed6616): the emulator
    has no moderators, so `privacy` is always forced to Public, for the owner too (their
    Private and Unlisted collections are never here, even with `ids`); `modes` only
    filters for moderators. `_count.items` is getCollectionItemCount with status
    ACCEPTED (every emulated item is accepted), whatever the viewer may see of them:
    images hidden by the site's browsing level still count.
    """
    limit = int(params["limit"])
    user_id = params.get("userId")
    ids = set(params.get("ids") or ())
    types = set(params.get("types") or ())
    query = (params.get("query") or "").lower()
    public = sorted(
        (
            c
            for c in ctx.dataset.collections.values()
            if c.read == "Public"
            and (user_id is None or c.owner_id == user_id)
            and (not ids or c.id in ids)
            and (not types or c.type in types)
            and (not query or query in c.name.lower())
        ),
        key=lambda c: (c.created_at, c.id),
        reverse=True,
    )
    cursor = params.get("cursor")
    if cursor:  # prisma: `cursor: cursor ? {id: cursor} : undefined`
        ordered = [c.id for c in public]
        public = public[ordered.index(cursor) :] if cursor in ordered else []
    page, rest = public[:limit], public[limit:]
    return {
        "nextCursor": rest[0].id if rest else UNDEFINED,
        "items": [
            shapes.collection_feed_item(ctx.dataset, c, _collection_nsfw_level(ctx, c.id))
            for c in page
        ],
    }


def user_get_creator(ctx: CallContext, params: dict[str, Any]) -> Any:
    username = params.get("username")
    user_id = params.get("id")
    if not username and user_id is None:
        raise TRPCError("BAD_REQUEST", "Must provide username or id")
    if user_id == -1 or (username or "").lower() == "civitai":
        return None
    if username:
        user = ctx.dataset.user_by_username(username)
    else:
        user = ctx.dataset.users.get(user_id) if user_id is not None else None
    if user is None or user.deleted_at is not None:
        raise TRPCError("NOT_FOUND", "Could not find user")
    return shapes.creator(ctx.dataset, user)


def reaction_toggle(ctx: CallContext, params: dict[str, Any]) -> Any:
    # The dataset is fixed, so a reaction is acknowledged and not stored.
    return "removed"


def collection_save_item(ctx: CallContext, params: dict[str, Any]) -> Any:
    return {"status": "unchanged"}


def _js(number: Any) -> str:
    """How JavaScript prints a number in a template string."""
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def _js_int(number: Any) -> Any:
    return int(number) if isinstance(number, float) and number.is_integer() else number


PROCEDURES: dict[str, Procedure] = {
    p.name: p
    for p in (
        Procedure("image.get", "query", schemas.IMAGE_GET, image_get),
        Procedure("image.getGenerationData", "query", schemas.ID, image_generation_data),
        Procedure(
            "image.getInfinite", "query", schemas.IMAGE_GET_INFINITE, image_get_infinite, heavy=True
        ),
        Procedure("post.getInfinite", "query", schemas.POSTS_INFINITE, post_get_infinite),
        Procedure(
            "orchestrator.queryGeneratedImages",
            "query",
            schemas.WORKFLOW_QUERY,
            orchestrator_query_generated_images,
            protected=True,
            scope=SCOPE_AI_SERVICES_READ,
        ),
        Procedure("tag.getVotableTags", "query", schemas.VOTABLE_TAGS, tag_votable),
        Procedure("tag.getById", "query", schemas.ID, tag_get_by_id),
        Procedure(
            "modelVersion.getById",
            "query",
            schemas.MODEL_VERSION_GET,
            model_version_get_by_id,
            scope=SCOPE_MODELS_READ,
        ),
        Procedure(
            "model.getSimple", "query", schemas.ID, model_get_simple, scope=SCOPE_MODELS_READ
        ),
        Procedure("post.get", "query", schemas.ID, post_get),
        Procedure(
            "collection.getById",
            "query",
            schemas.ID,
            collection_get_by_id,
            scope=SCOPE_COLLECTIONS_READ,
        ),
        Procedure(
            "collection.getAllUser",
            "query",
            schemas.ALL_USER_COLLECTIONS,
            collection_get_all_user,
            protected=True,
            scope=SCOPE_COLLECTIONS_READ,
        ),
        Procedure(
            "collection.getInfinite",
            "query",
            schemas.COLLECTIONS_INFINITE,
            collection_get_infinite,
            scope=SCOPE_COLLECTIONS_READ,
        ),
        Procedure(
            "user.getCreator",
            "query",
            schemas.GET_CREATOR,
            user_get_creator,
            edge_cache_seconds=180,
            scope=SCOPE_USER_READ,
        ),
        Procedure(
            "reaction.toggle",
            "mutation",
            schemas.REACTION_TOGGLE,
            reaction_toggle,
            protected=True,
            scope=0,
        ),
        Procedure(
            "collection.saveItem",
            "mutation",
            schemas.SAVE_COLLECTION_ITEM,
            collection_save_item,
            protected=True,
            scope=0,
        ),
    )
}
