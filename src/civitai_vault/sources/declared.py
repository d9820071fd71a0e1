"""The catalogue: every source a person can archive, one declaration each.

Procedures and their real inputs are taken from civitai/civitai's server
source (civitai/civitai @ ebed6616, src/server/schema/ and src/server/services/);
where behaviour is subtle the class says why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from civitai_vault.errors import TargetError
from civitai_vault.sources.base import Site, Source, SyncJob, Target, register
from civitai_vault.sources.filters import Filters, check_supported, filters_from_query
from civitai_vault.sources.listings import answer_is_not_for

if TYPE_CHECKING:
    from civitai_vault.api import CivitaiClient


class _HasId(Protocol):
    @property
    def id(self) -> Any: ...


_Answer = TypeVar("_Answer", bound=_HasId)

ID = r"(?P<id>[0-9]{1,16})"
NAME = r"(?P<name>[^/]+)"
IMAGE_FILTERS = frozenset({"nsfw", "type", "since", "until", "base-model", "sort", "period"})
FEED_QUERY: Mapping[str, str | None] = {
    "sort": "sort",
    "period": "period",
    "types": "type",
    "type": "type",
    "baseModels": "base-model",
    "baseModel": "base-model",
    "browsingLevel": "nsfw",
    "nsfw": "nsfw",
    "periodMode": None,  # how the period is measured, not what is listed
    "view": None,  # grid or feed layout
}
# The image-page context Civitai appends when an image is opened from a feed.
IMAGE_CONTEXT = ("postId", "modelId", "modelVersionId", "collectionId", "username", "userId")
DEFAULT_REACTIONS = ("Like", "Heart", "Laugh", "Cry")
REACTIONS = ("Like", "Dislike", "Laugh", "Cry", "Heart")
NON_IMAGE_COLLECTIONS = {"Model": "models", "Article": "articles", "Model3D": "3D models"}


def feed_input(filters: Filters) -> dict[str, Any]:
    """`image.getInfinite` input for the filters the server applies itself."""
    out: dict[str, Any] = {}
    if filters.types:
        out["types"] = list(filters.types)
    if filters.base_models:
        out["baseModels"] = list(filters.base_models)
    return out


async def _creator(client: CivitaiClient, username: str) -> tuple[int, str]:
    """The user's id and name from user.getCreator; UserNotFound names them when there is none.

    image.getInfinite answers an unknown name with 404, but post.getInfinite
    ignores it and lists strangers' posts (gallery-dl gh#8299): ask first.
    """
    creator = await client.get_creator(username=username)
    if creator is not None and creator.id is None and creator.deleted_at is None:
        # An answer about nobody is a broken answer, not a user who does not exist.
        raise answer_is_not_for("user.getCreator", f"user {username!r}", None)
    if creator is None or creator.id is None or creator.deleted_at is not None:
        raise UserNotFound(
            f"user {username!r} was not found on Civitai (deleted, or never existed): "
            "check the name in the URL"
        )
    return int(creator.id), creator.username or username


def _shown_on_civitai(what: str, status: str | None) -> None:
    """TargetNotFound unless `status` is one whose gallery Civitai shows.

    The model page (model.getById, civitai/civitai @ ebed6616 model.controller.ts)
    answers NOT_FOUND for a model that is not Published and leaves out versions
    that are not, for anyone but the owner; modelVersion.getById and
    model.getSimple answer whatever the status. A missing status is not held
    against the target: the listing still decides.
    """
    if status is None or str(status).lower() == "published":
        return
    shown = str(status)[:40].lower()  # error lines are made printable where they are shown
    raise TargetNotFound(f"{what} is {shown} on Civitai, so it has no public gallery to archive")


class TargetNotFound(TargetError):
    """The post, model version, ... a target names does not exist (or is hidden from us)."""


class UserNotFound(TargetNotFound):
    """A target names a user Civitai does not have: the run reports it and goes on."""


async def _looked_up(
    answer: Awaitable[_Answer], asked_id: int, *, missing: str, procedure: str, what: str
) -> _Answer:
    """The answer about the thing a target names, once it is known to be that thing.

    Civitai's NOT_FOUND is `TargetNotFound(missing)`: without this look-up an unknown
    id would list nothing and read "complete, 0". An answer about another id (or none)
    is malformed, never taken for the thing asked."""
    from civitai_vault.api import NotFound

    try:
        found = await answer
    except NotFound:
        raise TargetNotFound(missing) from None
    if found.id != asked_id:
        raise answer_is_not_for(procedure, what, found.id)
    return found


class SourceRefused(TargetError):
    """A target that cannot be archived as asked (no login, someone else's reactions, ...)."""


@register
class CollectionSource(Source):
    kind = "collection"
    title = "a collection"
    example = "https://civitai.com/collections/12345"
    urls = (rf"/collections/{ID}(?:/.*)?",)
    prefixes = ("collection", "collections")
    procedure = "collection.getById, then image.getInfinite {collectionId}"
    cost = "1 + images/200 (a Post collection: 1 + posts/200 + per post 1 + images/200)"
    complete = (
        "the whole listing was walked to a trusted end; a collection is ordered by image "
        "id, not by date added, so it is always walked whole"
    )
    checks = ("readable", "holds images or posts")
    filters = IMAGE_FILTERS
    query = FEED_QUERY

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        return [await collection_job(client, int(target.id or 0), target.filters)]


async def collection_job(
    client: CivitaiClient,
    collection_id: int,
    filters: Filters,
    skip_non_images: bool = False,
    expected_items: int | None = None,
) -> SyncJob:
    """A collection's job from collection.getById: its name, its type, whether we may read it.

    `expected_items`: its item count, when the caller's listing of collections said it."""
    found = await client.get_collection(collection_id)
    base: dict[str, Any] = {
        "kind": "collection",
        "ref": str(collection_id),
        "source_id": collection_id,
    }
    collection = found.collection
    if collection is None:
        return SyncJob(
            **base,
            label=f"collection {collection_id}",
            filters=filters,
            error=await _unreadable_collection(client, collection_id),
        )
    label = (
        f"{collection.name} (collection {collection_id})"
        if collection.name
        else (f"collection {collection_id}")
    )
    context = {"collection": collection}
    holds = NON_IMAGE_COLLECTIONS.get(collection.type or "")
    if holds:
        message = (
            f"collection {collection_id} holds {holds}, not images: civitai-vault archives "
            "images (and the images of posts)"
        )
        return SyncJob(
            **base,
            label=label,
            filters=filters,
            context=context,
            skipped=message if skip_non_images else None,
            error=None if skip_non_images else message,
        )
    walk: Literal["images", "posts"] = "posts" if collection.type == "Post" else "images"
    return SyncJob(
        **base,
        label=label,
        filters=filters,
        listing={"collectionId": collection_id, **feed_input(filters)},
        walk=walk,
        context=context,
        expected_items=expected_items,
    )


async def _unreadable_collection(client: CivitaiClient, collection_id: int) -> str:
    if client.signed_in and not (await client.whoami()).signed_in:
        # An expired session reads as anonymous: the collection is not to blame.
        return (
            f"collection {collection_id} could not be read because Civitai did not accept "
            "your login (the key or session token is wrong or expired): run "
            "`civitai-vault login --force`"
        )
    if not client.signed_in:
        return (
            f"collection {collection_id} is private or does not exist, and you are not signed "
            "in: run `civitai-vault login` (or set CIVITAI_API_KEY) and try again"
        )
    return (
        f"collection {collection_id} is private to another user or does not exist: your "
        "login cannot read it (Civitai answers such collections as empty, not as an error)"
    )


@register
class ImageSource(Source):
    kind = "image"
    title = "an image"
    example = "https://civitai.com/images/117165031"
    urls = (rf"/images/{ID}(?:/.*)?",)
    prefixes = ("image", "images")
    procedure = "image.get"
    cost = "1"
    complete = "image.get answered it"
    query = MappingProxyType({name: None for name in (*IMAGE_CONTEXT, *FEED_QUERY)})

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        image_id = int(target.id or 0)
        return [
            SyncJob(
                kind="image",
                ref=str(image_id),
                source_id=image_id,
                label=f"image {image_id}",
                walk="image",
            )
        ]


@register
class PostSource(Source):
    kind = "post"
    title = "a post"
    example = "https://civitai.com/posts/4567"
    urls = (rf"/posts/{ID}(?:/.*)?",)
    prefixes = ("post", "posts")
    procedure = "post.get, then image.getInfinite {postId} (by position in the post)"
    cost = "1 + images/200"
    complete = "every image of the post, by its position, each one the post author's"
    checks = ("exists", "every image is the author's")
    filters = frozenset({"nsfw", "type", "since", "until"})
    # A post lists by position: a feed's order in its URL changes nothing.
    query = MappingProxyType(
        {
            "modelId": None,
            "modelVersionId": None,
            "sort": None,
            "period": None,
            "types": "type",
            "browsingLevel": "nsfw",
        }
    )

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        post_id = int(target.id or 0)
        base: dict[str, Any] = {"kind": "post", "ref": str(post_id), "source_id": post_id}
        post = await _looked_up(
            client.get_post(post_id),
            post_id,
            missing=f"post {post_id} was not found on Civitai (deleted, unpublished, or not "
            "visible to you)",
            procedure="post.get",
            what=f"post {post_id}",
        )
        owner = post.user
        if getattr(owner, "id", None) is None:
            # Without the author, "every image is the author's" cannot be checked.
            raise answer_is_not_for("post.get", f"post {post_id}'s author", None)
        title = f"post {post_id}"
        return [
            SyncJob(
                **base,
                label=title,
                filters=target.filters,
                listing={"postId": post_id, **feed_input(target.filters)},
                owner_id=getattr(owner, "id", None),
                owner_name=getattr(owner, "username", None),
            )
        ]


@register
class UserImagesSource(Source):
    kind = "user_images"
    title = "a user's uploads"
    example = "https://civitai.com/user/NAME/images"
    urls = (rf"/user/{NAME}(?:/(?P<what>images|videos))?/?",)
    prefixes = ("user", "user_images", "user-images")
    takes = "name"
    procedure = "user.getCreator, then image.getInfinite {username}"
    cost = "1 + new images/200 (a re-run stops at the first page with nothing new)"
    complete = (
        "listed to its end, or (newest first) to a page of images already archived; "
        "every item the user's own"
    )
    may_stop_early = True
    checks = ("user exists", "every image is the user's")
    filters = IMAGE_FILTERS
    query = MappingProxyType({**FEED_QUERY, "section": None, "reactions": "reactions"})

    @classmethod
    def target(
        cls, match: Mapping[str, str | None], site: Site | None, query: Mapping[str, list[str]]
    ) -> Target:
        section = ",".join(query.get("section", [])).lower()
        if section == "reactions":
            return ReactionsSource.target(match, site, query)
        if section not in ("", "images", "videos"):
            raise ValueError(f"?section={section} of a user's page is not an image feed")
        if "reactions" in query:
            raise ValueError("?reactions= needs ?section=reactions (your reactions feed)")
        found = super().target(match, site, query)
        if match.get("what") == "videos" and not found.filters.types:
            found = Target(
                found.kind,
                username=found.username,
                site=site,
                filters=found.filters.merged(Filters(types=("video",))),
            )
        return found

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        user_id, name = await _creator(client, target.username or "")
        filters = target.filters
        newest_first = (filters.sort or "Newest") == "Newest"
        return [
            SyncJob(
                kind=cls.kind,
                ref=name,
                label=f"{name}'s {'videos' if filters.types == ('video',) else 'images'}",
                filters=filters,
                listing={"username": name, **feed_input(filters)},
                owner_id=user_id,
                owner_name=name,
                may_stop_early=newest_first,
            )
        ]


@register
class UserPostsSource(Source):
    kind = "user_posts"
    title = "a user's posts"
    example = "https://civitai.com/user/NAME/posts"
    urls = (rf"/user/{NAME}/posts/?",)
    prefixes = ("user_posts", "user-posts")
    takes = "name"
    procedure = "user.getCreator, then post.getInfinite {username}, then image.getInfinite {postId}"
    cost = "1 + posts/200 + per post 1 + images/200"
    complete = "every post walked to its end, every post and image the user's own"
    checks = ("user exists", "every post and image is the user's")
    filters = frozenset({"nsfw", "type", "since", "until", "sort", "period"})
    query = MappingProxyType({"sort": "sort", "period": "period", "periodMode": None})

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        user_id, name = await _creator(client, target.username or "")
        return [
            SyncJob(
                kind=cls.kind,
                ref=name,
                label=f"{name}'s posts",
                filters=target.filters,
                listing={"username": name},
                owner_id=user_id,
                owner_name=name,
                walk="posts",
            )
        ]


@register
class ReactionsSource(Source):
    kind = "reactions"
    title = "your reactions"
    example = "https://civitai.com/user/ME/images?section=reactions&reactions=Heart"
    prefixes = ("reactions",)
    takes = "none"
    procedure = "image.getInfinite {reactions} (the signed-in user's reactions)"
    cost = "login check (2) + images/200"
    complete = "the whole listing of images you reacted to was walked to a trusted end"
    needs_login = True
    checks = ("signed in", "the URL's user is you")
    filters = IMAGE_FILTERS
    query = MappingProxyType({**FEED_QUERY, "section": None, "reactions": "reactions"})

    @classmethod
    def target(
        cls, match: Mapping[str, str | None], site: Site | None, query: Mapping[str, list[str]]
    ) -> Target:
        filters = filters_from_query(cls, query)
        wanted = filters.get_extra("reactions")
        if wanted:
            names = sorted({_reaction(part) for part in wanted.split(",") if part.strip()})
            extra = {**dict(filters.extra), "reactions": ",".join(names)}
            filters = replace(filters, extra=tuple(sorted(extra.items())))
        return Target(cls.kind, username=match.get("name"), site=site, filters=filters)

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        if not client.signed_in:
            raise SourceRefused(
                "your reactions need a login (Civitai shows them only to you, and answers "
                "without one with the public feed): run `civitai-vault login` first"
            )
        me = await client.whoami()
        if not me.signed_in:
            raise SourceRefused(
                "Civitai did not accept your login, and your reactions are shown only to you: "
                "run `civitai-vault login` again"
            )
        asked = target.username
        if asked and me.username and asked.lower() != me.username.lower():
            raise SourceRefused(
                f"the reactions of {asked!r} cannot be archived: Civitai shows each user only "
                f"their own (you are signed in as {me.username!r})"
            )
        wanted = (target.filters.get_extra("reactions") or ",".join(DEFAULT_REACTIONS)).split(",")
        return [
            SyncJob(
                kind=cls.kind,
                ref="me",
                label="your reactions",
                filters=target.filters,
                listing={"reactions": wanted, **feed_input(target.filters)},
            )
        ]


def _reaction(text: str) -> str:
    for name in REACTIONS:
        if name.lower() == text.strip().lower():
            return name
    raise ValueError(f"?reactions={text}: use {', '.join(REACTIONS)}")


@register
class ModelSource(Source):
    kind = "model"
    title = "a model's gallery"
    example = "https://civitai.com/models/4201/some-model?modelVersionId=130072"
    urls = (rf"/models/{ID}(?:/[^/]*)?/?",)
    prefixes = ("model", "models")
    procedure = (
        "model.getSimple, then image.getInfinite {modelId} (community images shown on "
        "the model page)"
    )
    cost = "1 + images/200"
    complete = "the model's gallery was walked to a trusted end"
    checks = ("model exists and is published",)
    filters = IMAGE_FILTERS
    query = MappingProxyType({**FEED_QUERY, "modelVersionId": "modelVersionId"})

    @classmethod
    def target(
        cls, match: Mapping[str, str | None], site: Site | None, query: Mapping[str, list[str]]
    ) -> Target:
        version = ",".join(query.get("modelVersionId", []))
        found = super().target(match, site, query)
        extra = tuple((k, v) for k, v in found.filters.extra if k != "modelVersionId")
        filters = replace(found.filters, extra=extra)
        if version:
            if not version.isdigit() or not 0 < int(version) < 2**53:
                raise ValueError(f"?modelVersionId={version}: not a model version id")
            return Target("model_version", id=int(version), site=site, filters=filters)
        return Target(cls.kind, id=found.id, site=site, filters=filters)

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        model_id = int(target.id or 0)
        model = await _looked_up(
            client.get_model(model_id),
            model_id,
            missing=f"Civitai has no model {model_id} (deleted, or never existed): check the id",
            procedure="model.getSimple",
            what=f"model {model_id}",
        )
        _shown_on_civitai(f"model {model_id}", model.status)
        return [
            SyncJob(
                kind=cls.kind,
                ref=str(model_id),
                source_id=model_id,
                label=f"model {model_id}'s gallery",
                filters=target.filters,
                listing={"modelId": model_id, **feed_input(target.filters)},
            )
        ]


@register
class ModelVersionSource(Source):
    kind = "model_version"
    title = "a model version's gallery"
    example = "model-version:130072"
    prefixes = ("model-version", "model_version", "modelversion")
    procedure = "modelVersion.getById, then image.getInfinite {modelId, modelVersionId}"
    cost = "1 + images/200"
    complete = "the version's gallery was walked to a trusted end"
    checks = ("version and its model exist and are published",)
    filters = IMAGE_FILTERS
    query = FEED_QUERY

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        version_id = int(target.id or 0)
        base: dict[str, Any] = {"kind": cls.kind, "ref": str(version_id), "source_id": version_id}
        version = await _looked_up(
            client.get_model_version(version_id),
            version_id,
            missing=f"Civitai has no model version {version_id}: check the id",
            procedure="modelVersion.getById",
            what=f"version {version_id}",
        )
        model = version.model
        _shown_on_civitai(f"model version {version_id}", version.status)
        if model is not None:
            _shown_on_civitai(
                f"model version {version_id} belongs to model {model.id}, which", model.status
            )
        name = " ".join(x for x in (getattr(model, "name", None), version.name) if x)
        listing: dict[str, Any] = {"modelVersionId": version_id, **feed_input(target.filters)}
        if model is not None and model.id is not None:
            listing["modelId"] = int(model.id)
        return [
            SyncJob(
                **base,
                label=f"{name or 'model version'} ({version_id})'s gallery",
                filters=target.filters,
                listing=listing,
            )
        ]


@register
class GeneratedSource(Source):
    kind = "generated"
    title = "your on-site generations"
    example = "https://civitai.com/generate"
    urls = (r"/generate/?",)
    prefixes = ("generated", "generations")
    takes = "none"
    procedure = "orchestrator.queryGeneratedImages (Civitai deletes them after 30 days)"
    cost = "generations/take (one request per page of workflows), files from the generator's host"
    complete = "every page of your generation history was walked to its end"
    needs_login = True
    checks = ("signed in",)
    filters = frozenset({"type", "since", "until"})
    query = MappingProxyType({})

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        if not client.signed_in:
            raise SourceRefused(
                "your generations need a login (they are private to you): run "
                "`civitai-vault login` first"
            )
        listing: dict[str, Any] = {}
        return [
            SyncJob(
                kind=cls.kind,
                ref="me",
                label="your generations",
                filters=target.filters,
                listing=listing,
                walk="generated",
            )
        ]


@register
class MeSource(Source):
    kind = "me"
    title = "every collection you own"
    example = "me"
    prefixes = ("me",)
    takes = "none"
    procedure = "collection.getAllUser, then each collection"
    cost = "1 + per collection 1 + images/200"
    complete = "each collection on its own"
    needs_login = True

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        collections = await client.get_user_collections()
        return [
            await collection_job(client, int(c.id), target.filters, skip_non_images=True)
            for c in collections
            if c.id is not None and c.is_owner is not False
        ]


@register
class UserCollectionsSource(Source):
    kind = "user_collections"
    title = "a user's collections"
    example = "https://civitai.com/user/NAME/collections"
    urls = (rf"/user/{NAME}/collections/?",)
    prefixes = ("user_collections", "user-collections")
    takes = "name"
    procedure = "collection.getAllUser (yours) or user.getCreator + collection.getInfinite"
    cost = "1-2 + per collection 1 + images/200"
    complete = "each collection on its own; another user's private collections are never listed"
    # The page's own order of collections; each collection is walked whole anyway.
    query = MappingProxyType({"sort": None, "period": None})

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        """Your own come from collection.getAllUser, private ones included. Another user's
        come from collection.getInfinite, which Civitai limits to Public collections."""
        name = target.username or ""
        me = await client.whoami()
        if me.username and me.username.lower() == name.lower():
            return await MeSource.plan(client, target)
        user_id, _ = await _creator(client, name)
        collections = await client.get_public_collections(user_id)
        return [
            await collection_job(
                client,
                int(c.id),
                target.filters,
                skip_non_images=True,
                expected_items=c.item_count,  # collection.getInfinite's `_count.items`
            )
            for c in collections
            if c.id is not None
        ]


def checked(target: Target) -> Target:
    """The target, or ValueError when it carries a filter its source's feed does not have."""
    check_supported(target.source, target.filters)
    return target
