"""Everything Civitai knows about one image, gathered and flattened.

This is the seed project's single-image flow under its own names, so its
users' scripts keep working:

    api = CivitaiAPI.get_instance()
    basic_info = api.fetch_basic_info(image_id)            # image.get
    generation_data = api.fetch_generation_data(image_id)  # image.getGenerationData
    tags = api.fetch_image_tags(image_id)                  # tag names, best first
    image = CivitaiImage.from_single_image(basic_info, generation_data, api=api)
    image.author, image.image_url, image.tags, [l["name"] for l in image.loras]

Async code uses `fetch_image_analysis(client, image_id)` instead, and
`CivitaiImage.to_record()` gives the export record (`civitai_vault.records`).

Model availability: each resource's model version is looked up; a version
Civitai cannot find is "not_found", one whose model or version was deleted is
"deleted" (with a link to the community archive copy), an unpublished one
"unpublished", anything else "available".
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Coroutine, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, TypeVar

from civitai_vault.api.cdn import image_url_or_none
from civitai_vault.api.client import CivitaiClient
from civitai_vault.api.errors import NotFound, ServerError
from civitai_vault.api.models import (
    GenerationData,
    ImageInfo,
    ImageListItem,
    ModelVersion,
    Resource,
    VotableTag,
)
from civitai_vault.api.settings import DEFAULT_IMAGE_BASE_URL, ClientSettings
from civitai_vault.records import EXPORT_FIELDS, ExportFields, ResourceEntry, iso_utc
from civitai_vault.vocabulary import archive_model_url, model_url, resource_kind

__all__ = [
    "CivitaiAPI",
    "CivitaiImage",
    "ModelAvailability",
    "ResourceUse",
    "availability_of",
    "check_model_availability",
    "fetch_image_analysis",
]

Availability = Literal["available", "deleted", "unpublished", "not_found"]
T = TypeVar("T")


# ---------------------------------------------------------------- model availability


@dataclass(frozen=True)
class ModelAvailability:
    """Whether a model version an image used can still be had from Civitai."""

    model_version_id: int
    model_id: int | None
    availability: Availability
    model_status: str | None = None
    version_status: str | None = None

    @property
    def available(self) -> bool:
        return self.availability == "available"

    @property
    def civitai_url(self) -> str | None:
        # The seed's answer links the model, not the version.
        return model_url(self.model_id) if self.model_id else None

    @property
    def archive_url(self) -> str | None:
        """Where a deleted model may still be found (only for deleted models)."""
        if self.availability != "deleted" or not self.model_id:
            return None
        return archive_model_url(self.model_id)

    def as_dict(self) -> dict[str, Any]:
        """The seed's answer shape, plus `availability`."""
        answer: dict[str, Any] = {
            "available": self.available,
            "availability": self.availability,
            "status": self.model_status or self.version_status,
            "model_id": self.model_id,
            "model_version_id": self.model_version_id,
        }
        if self.availability == "deleted":
            answer["civitai_url"] = self.civitai_url
            answer["archive_url"] = self.archive_url
        if self.availability == "not_found":
            answer["error"] = "Not found"
        return answer


def availability_of(version: ModelVersion | None) -> Availability:
    if version is None:
        return "not_found"
    statuses = {version.status, version.model.status if version.model else None}
    if "Deleted" in statuses:
        return "deleted"
    if "Unpublished" in statuses or "UnpublishedViolation" in statuses:
        return "unpublished"
    return "available"


async def check_model_availability(
    client: CivitaiClient, model_version_id: int, model_id: int | None = None
) -> ModelAvailability:
    """Look one model version up (`modelVersion.getById`); a 404 means "not_found"."""
    try:
        version: ModelVersion | None = await client.get_model_version(model_version_id)
    except NotFound:
        version = None
    found_model_id = version.model.id if version and version.model else None
    return ModelAvailability(
        model_version_id=model_version_id,
        model_id=found_model_id or model_id,
        availability=availability_of(version),
        model_status=version.model.status if version and version.model else None,
        version_status=version.status if version else None,
    )


# ---------------------------------------------------------------- one resource


@dataclass(frozen=True)
class ResourceUse:
    """A checkpoint, LoRA, embedding or other resource one image was made with."""

    kind: str  # "checkpoint" | "lora" | "embedding" | the lower-cased Civitai type
    name: str | None
    weight: float | None
    model_id: int | None
    model_version_id: int | None
    version_name: str | None
    base_model: str | None

    def as_record(self) -> ResourceEntry:
        """One entry of the record's `loras` / `embeddings` lists."""
        return ResourceEntry(
            name=self.name,
            weight=self.weight,
            model_id=self.model_id,
            model_version_id=self.model_version_id,
            version_name=self.version_name,
            base_model=self.base_model,
        )


def resources_of(generation: GenerationData | None) -> list[ResourceUse]:
    """The resources Civitai resolved, or (when it resolved none) those the meta names.

    A version Civitai no longer knows comes back without name or type; the
    meta's own `civitaiResources` entry for the same version still says what
    kind it was and its weight, so that fills the gap.
    """
    if generation is None:
        return []
    listed = generation.meta.civitai_resources if generation.meta else []
    from_meta: dict[int | None, ResourceUse] = {
        use.model_version_id: use
        for use in (_from_meta_entry(e) for e in listed if isinstance(e, dict))
        if use.model_version_id is not None
    }
    if not generation.resources:
        return [_from_meta_entry(e) for e in listed if isinstance(e, dict)]
    uses = []
    for resource in generation.resources:
        use = _from_resource(resource)
        hint = from_meta.get(use.model_version_id)
        if hint is not None and use.kind == "unknown":
            use = replace(use, kind=hint.kind, weight=use.weight or hint.weight)
        uses.append(use)
    return uses


def _from_resource(resource: Resource) -> ResourceUse:
    return ResourceUse(
        kind=resource_kind(resource.model_type),
        name=resource.model_name,
        weight=resource.strength,
        model_id=resource.model_id,
        model_version_id=resource.model_version_id or resource.version_id,
        version_name=resource.version_name,
        base_model=resource.base_model,
    )


def _from_meta_entry(entry: dict[str, Any]) -> ResourceUse:
    def number(key: str, kind: type) -> Any:
        value = entry.get(key)
        try:
            return kind(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    return ResourceUse(
        kind=resource_kind(entry.get("type")),
        name=entry.get("modelName") if isinstance(entry.get("modelName"), str) else None,
        weight=number("weight", float),
        model_id=number("modelId", int),
        model_version_id=number("modelVersionId", int),
        version_name=entry.get("modelVersionName")
        if isinstance(entry.get("modelVersionName"), str)
        else None,
        base_model=None,
    )


# ---------------------------------------------------------------- the image


@dataclass
class CivitaiImage(ExportFields[datetime]):
    """One image with its generation data, tags, author and resources, flattened.

    The export record's fields (`records.ExportFields`, dates as datetimes), and
    what only a live look-up knows: whether the author was deleted, every
    resource used, its models' availability, and the generation meta itself.
    """

    author_deleted: bool = False
    resources: list[ResourceUse] = field(default_factory=list)
    model_availability: dict[int, ModelAvailability] = field(default_factory=dict)
    raw_meta: dict[str, Any] | None = None

    # ------------------------------------------------------------ building

    @classmethod
    def from_api(
        cls,
        info: ImageInfo | ImageListItem | dict[str, Any],
        generation: GenerationData | dict[str, Any] | None = None,
        tags: Iterable[VotableTag | dict[str, Any] | str] | None = None,
        image_base_url: str = DEFAULT_IMAGE_BASE_URL,
    ) -> CivitaiImage:
        """Flatten API objects (models or the raw dicts they came from) into one image."""
        if isinstance(info, dict):
            info = ImageInfo.model_validate(info)
        if isinstance(generation, dict):
            generation = GenerationData.model_validate(generation)
        image = cls(image_id=int(info.id or 0))
        image._take_info(info, image_base_url)
        image._take_generation(generation)
        image.tags = tag_names(tags or [])
        return image

    @classmethod
    def from_single_image(
        cls,
        basic_info: ImageInfo | dict[str, Any],
        generation_data: GenerationData | dict[str, Any] | None,
        api: CivitaiAPI | None = None,
        tags: Iterable[VotableTag | dict[str, Any] | str] | None = None,
        check_models: bool = True,
    ) -> CivitaiImage:
        """The seed's constructor: with `api`, tags and model availability are fetched too."""
        base = api.settings.image_base_url if api else None
        image = cls.from_api(basic_info, generation_data, tags, base or DEFAULT_IMAGE_BASE_URL)
        if api is not None:
            if tags is None:
                image.tags = api.fetch_image_tags(image.image_id)
            if check_models:
                image.model_availability = api.check_resources(image.resources)
        return image

    def _take_info(self, info: ImageInfo | ImageListItem, image_base_url: str) -> None:
        self.uuid = info.url
        self.name = info.name
        self.type = info.type
        self.mime_type = info.mime_type
        self.width, self.height = info.width, info.height
        self.nsfw_level = info.nsfw_level
        self.created_at, self.published_at = info.created_at, info.published_at
        self.post_id = info.post_id
        user = info.user
        if user is not None:
            self.author_id = user.id
            self.author_deleted = user.deleted_at is not None
            self.author = None if self.author_deleted else user.username
        self.image_url = image_url_or_none(image_base_url, info)
        if isinstance(info, ImageListItem) and info.base_model:
            self.base_model = info.base_model

    def _take_generation(self, generation: GenerationData | None) -> None:
        if generation is None:
            return
        meta = generation.meta
        self.raw_meta = meta.raw if meta is not None and isinstance(meta.raw, dict) else None
        self.process = generation.process
        self.engine = (meta.engine if meta else None) or generation.engine
        if meta is not None:
            self.prompt, self.negative_prompt = meta.prompt, meta.negative_prompt
            self.sampler, self.steps = meta.sampler, meta.steps
            self.cfg_scale, self.seed, self.clip_skip = meta.cfg_scale, meta.seed, meta.clip_skip
            self.workflow = meta.workflow
            self.base_model = meta.base_model or self.base_model
            self.model = meta.model
        self.resources = resources_of(generation)
        checkpoint = next((r for r in self.resources if r.kind == "checkpoint"), None)
        if checkpoint is not None:
            self.model = checkpoint.name or self.model
            self.model_version = checkpoint.version_name
            self.model_id, self.model_version_id = checkpoint.model_id, checkpoint.model_version_id
            self.base_model = self.base_model or checkpoint.base_model
        self.loras = [r.as_record() for r in self.resources if r.kind == "lora"]
        self.embeddings = [r.as_record() for r in self.resources if r.kind == "embedding"]

    # ------------------------------------------------------------ output

    @property
    def deleted_models(self) -> list[ModelAvailability]:
        return [a for a in self.model_availability.values() if a.availability == "deleted"]

    def to_record(self) -> dict[str, Any]:
        """The export record: exactly `EXPORT_FIELDS`, in order, None for unknown."""
        converted: dict[str, Any] = {
            "created_at": iso_utc(self.created_at),
            "published_at": iso_utc(self.published_at),
            "loras": [dict(lora) for lora in self.loras],
            "embeddings": [dict(embedding) for embedding in self.embeddings],
            "tags": list(self.tags),
            "collections": list(self.collections),
            "raw_meta_json": _meta_json(self.raw_meta),
        }
        return {
            name: converted[name] if name in converted else getattr(self, name)
            for name in EXPORT_FIELDS
        }


def tag_names(tags: Iterable[VotableTag | dict[str, Any] | str]) -> list[str]:
    """Tag names, highest score first, each once.

    Equal scores go by name, as the archive orders them, so that a record built
    from the API and one rebuilt from the database list tags alike; names
    without scores keep the order given.
    """
    scored: list[tuple[float, str, int, str]] = []
    for position, tag in enumerate(tags):
        name: str | None
        if isinstance(tag, str):
            name, score = tag, None
        else:
            if isinstance(tag, dict):
                tag = VotableTag.model_validate(tag)
            name, score = tag.name, tag.score
        if name:
            tie = name if score is not None else ""
            scored.append((-(score if score is not None else float("-inf")), tie, position, name))
    names: list[str] = []
    for *_, name in sorted(scored):
        if name not in names:
            names.append(name)
    return names


def _meta_json(meta: dict[str, Any] | None) -> str | None:
    if meta is None:
        return None
    return json.dumps(meta, ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _script_settings(
    session_token: str | None,
    api_key: str | None,
    site: str | None,
    base_url: str | None,
    image_base_url: str | None,
) -> ClientSettings:
    from civitai_vault.config import load_settings

    settings = load_settings(site=site, base_url=base_url, image_base_url=image_base_url)
    if session_token or api_key:
        settings = replace(settings, api_key=api_key, token=session_token, session_store=None)
    return settings.client_settings()


# ---------------------------------------------------------------- async entry point


async def fetch_image_analysis(
    client: CivitaiClient, image_id: int, *, check_models: bool = True
) -> CivitaiImage:
    """Basic info, generation data and tags of one image (and its models' availability)."""
    info, generation, tags = await asyncio.gather(
        client.get_image(image_id),
        client.get_generation_data(image_id),
        client.get_votable_tags(image_id),
    )
    image = CivitaiImage.from_api(info, generation, tags, client.image_base_url)
    if check_models:
        image.model_availability = await check_resources(client, image.resources)
    return image


async def check_resources(
    client: CivitaiClient, resources: Iterable[ResourceUse]
) -> dict[int, ModelAvailability]:
    """Availability of every distinct model version among `resources`, by version id."""
    wanted: dict[int, int | None] = {}
    for resource in resources:
        if resource.model_version_id is not None:
            wanted.setdefault(resource.model_version_id, resource.model_id)
    answers = await asyncio.gather(
        *(check_model_availability(client, vid, mid) for vid, mid in wanted.items())
    )
    return {answer.model_version_id: answer for answer in answers}


# ---------------------------------------------------------------- synchronous facade


class CivitaiAPI:
    """A small synchronous facade over `CivitaiClient` for scripts (the seed's names).

    One client runs on a private event loop in a background thread, so pacing,
    retries and the session cookie are shared by every call. `fetch_*` return
    plain dicts (the decoded JSON) and None when Civitai has no such image;
    other failures raise `CivitaiError` with a message saying what to do.
    """

    _instance: CivitaiAPI | None = None
    _instance_lock = threading.Lock()

    def __init__(
        self,
        session_token: str | ClientSettings | None = None,
        *,
        api_key: str | None = None,
        settings: ClientSettings | None = None,
        site: str | None = None,
        base_url: str | None = None,
        image_base_url: str | None = None,
    ) -> None:
        """`CivitaiAPI(session_token)`, `CivitaiAPI(api_key=...)`, or `CivitaiAPI(settings=...)`.

        Where Civitai is (`site`, `base_url`, `image_base_url`) comes from the
        arguments, else the environment, else the config file `login` wrote.
        Credentials given here are the only ones used; without any, those of
        the environment or config file are.
        """
        if isinstance(session_token, ClientSettings):  # CivitaiAPI(settings), as before
            settings, session_token = session_token, None
        if settings is None:
            settings = _script_settings(session_token, api_key, site, base_url, image_base_url)
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="civitai-api", daemon=True
        )
        self._thread.start()
        self._client = CivitaiClient(settings)
        self._run(self._client.open())

    @classmethod
    def get_instance(cls) -> CivitaiAPI:
        """The shared instance, configured like the command line (flags aside)."""
        with cls._instance_lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    @property
    def client(self) -> CivitaiClient:
        return self._client

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
        if CivitaiAPI._instance is self:
            CivitaiAPI._instance = None

    def __enter__(self) -> CivitaiAPI:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ the seed's calls

    def fetch_basic_info(self, image_id: int) -> dict[str, Any] | None:
        """`image.get` as a dict (id, url, user, createdAt, mimeType, postId, ...)."""
        try:
            return self._run(self._client.get_image(image_id)).raw
        except NotFound:
            return None

    def fetch_generation_data(self, image_id: int) -> dict[str, Any] | None:
        """`image.getGenerationData` as a dict (meta, resources, process, ...)."""
        try:
            return self._run(self._client.get_generation_data(image_id)).raw
        except NotFound:
            return None

    def fetch_votable_tags(self, image_id: int) -> list[dict[str, Any]]:
        return [tag.raw for tag in self._run(self._client.get_votable_tags(image_id))]

    def fetch_image_tags(self, image_id: int) -> list[str]:
        """Tag names of an image, most relevant first."""
        return tag_names(self._run(self._client.get_votable_tags(image_id)))

    def check_model_availability(
        self, model_id: int | None, model_version_id: int
    ) -> dict[str, Any]:
        """The seed's answer: `{"available": False, "civitai_url", "archive_url"}` when deleted,
        `{"available": True, "status"}` when not, `{"available": False, "error": "Not found"}`."""
        answer = self._run(check_model_availability(self._client, model_version_id, model_id))
        return answer.as_dict()

    def check_resources(self, resources: Iterable[ResourceUse]) -> dict[int, ModelAvailability]:
        return self._run(check_resources(self._client, list(resources)))

    def iter_collection_images(
        self, collection_id: int, *, sort: str = "Newest"
    ) -> Iterator[dict[str, Any]]:
        """Every image of a collection (`image.getInfinite` items as dicts), page by page.

        Each image comes once, whatever the server does at page boundaries. A
        listing the server cut short (its statement timeout answers an empty
        page) raises ServerError at the end rather than passing for complete.
        """
        pages = self._client.iter_image_pages(collection_id=collection_id, sort=sort)
        try:
            while True:
                try:
                    page = self._run(pages.__anext__())
                except StopAsyncIteration:
                    break
                for item in page.items:
                    yield item.raw
        finally:
            self._run(pages.aclose())
        if pages.ended_normally is False:
            raise ServerError(
                f"the listing of collection {collection_id} ended early",
                procedure="image.getInfinite",
            )

    def fetch_image(self, image_id: int, *, check_models: bool = True) -> CivitaiImage:
        """The whole single-image flow in one call."""
        return self._run(fetch_image_analysis(self._client, image_id, check_models=check_models))
