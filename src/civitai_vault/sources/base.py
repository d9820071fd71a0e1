"""What a source is: one declaration per kind of thing a person archives.

As gallery-dl declares one extractor class per URL form, each source here is
one small class that says, as data: the URL paths and `kind:REF` forms that
name it, an example, which procedure lists it and with what input, what
"complete" means for it, whether a re-run may stop at the first page that
brings nothing new, whether it needs a login, which filters its feed has and
which query parameters of a pasted URL it understands. Its `plan` turns one
Target into the SyncJobs a run walks; the engine walks every job the same way
(`sources.listings`), and the archive stores the job's kind, id and filters in
columns of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from civitai_vault.sources.filters import Filters, filters_from_query

if TYPE_CHECKING:
    from civitai_vault.api import CivitaiClient

__all__ = ["SOURCES", "Site", "Source", "SyncJob", "Target", "register"]

Site = Literal["com", "red"]
MAX_ID = 2**53 - 1  # ids are JS numbers on the wire


@dataclass(frozen=True)
class Target:
    """One thing the user asked to archive, as parsed; `site` is set when it came from a URL."""

    kind: str
    id: int | None = None
    username: str | None = None
    site: Site | None = None
    filters: Filters = field(default_factory=Filters)

    @property
    def source(self) -> type[Source]:
        return SOURCES[self.kind]

    @property
    def ref(self) -> str:
        if self.username is not None:
            return self.username
        if self.id is not None:
            return str(self.id)
        return "me"

    def __str__(self) -> str:
        text = "me" if self.kind == "me" else f"{self.kind}:{self.ref}"
        return f"{text}?{self.filters.query()}" if self.filters else text


@dataclass(frozen=True)
class SyncJob:
    """One listing a run walks, and how it is recorded in the archive.

    `key` is the archive's name for it: `<kind>:<ref>`, plus `?<filters>` when
    filtered, so a filtered listing is its own target with its own completeness.
    """

    kind: str
    ref: str
    label: str
    source_id: int | None = None
    filters: Filters = field(default_factory=Filters)
    listing: Mapping[str, Any] = field(default_factory=dict)  # the procedure's input
    owner_id: int | None = None  # every listed item must belong to this user
    owner_name: str | None = None
    # Only feeds ordered newest first may stop at the first page of known images.
    may_stop_early: bool = False
    # How it is walked (`sources.listings`): "images" (image.getInfinite), "posts"
    # (post.getInfinite, then each post's images), "generated", or "image" (image.get).
    walk: Literal["images", "posts", "generated", "image"] = "images"
    error: str | None = None  # planning found it cannot be archived: report, walk nothing
    skipped: str | None = None  # not images (a Model collection in `me`): a note, not a failure
    # How many items the server counts in it (a Public collection's `_count.items`), when
    # it says: progress shows "of about N" (what the site hides may make it fewer).
    expected_items: int | None = None
    # What planning learned and the archive keeps (the collection object, say).
    context: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        base = f"{self.kind}:{self.ref}"
        return f"{base}?{self.filters.query()}" if self.filters.changes_listing() else base

    @property
    def source(self) -> type[Source]:
        return SOURCES[self.kind]

    @property
    def collection_id(self) -> int | None:
        return self.source_id if self.kind == "collection" else None

    @property
    def image_id(self) -> int | None:
        return self.source_id if self.kind == "image" else None


class Source:
    """A kind of thing to archive. Subclasses declare; `plan` turns a Target into jobs."""

    kind: ClassVar[str]
    title: ClassVar[str]  # what the README calls it
    example: ClassVar[str]
    # Path patterns of civitai.com / civitai.red URLs; a group `id` or `name` is the ref.
    urls: ClassVar[tuple[str, ...]] = ()
    # `prefix:REF` forms (`collection:12`, `user:name`); `takes` says what REF is.
    prefixes: ClassVar[tuple[str, ...]] = ()
    takes: ClassVar[Literal["id", "name", "none"]] = "id"
    procedure: ClassVar[str]  # the listing procedure
    cost: ClassVar[str]  # requests per run, for the README
    complete: ClassVar[str]  # what "complete" means for this source
    may_stop_early: ClassVar[bool] = False
    needs_login: ClassVar[bool] = False
    checks: ClassVar[tuple[str, ...]] = ()
    # Filters its feed has (flag names: nsfw, type, since, until, base-model, sort, period).
    filters: ClassVar[frozenset[str]] = frozenset()
    # URL query parameters it understands: name -> filter name, or None for page
    # context that does not change what is listed (`/posts/5?modelId=3`).
    query: ClassVar[Mapping[str, str | None]] = {}

    _compiled: ClassVar[tuple[re.Pattern[str], ...]] = ()

    @classmethod
    def match_path(cls, path: str) -> re.Match[str] | None:
        for pattern in cls._compiled:
            match = pattern.fullmatch(path)
            if match:
                return match
        return None

    @classmethod
    def target(
        cls,
        match: Mapping[str, str | None],
        site: Site | None,
        query: Mapping[str, list[str]],
    ) -> Target:
        """The Target for a matched URL or prefixed form (groups `id` / `name`) and its query."""
        ident = match.get("id")
        return Target(
            cls.kind,
            id=int(ident) if ident else None,
            username=match.get("name"),
            site=site,
            filters=filters_from_query(cls, query),
        )

    @classmethod
    async def plan(cls, client: CivitaiClient, target: Target) -> list[SyncJob]:
        raise NotImplementedError


SOURCES: dict[str, type[Source]] = {}


def register(cls: type[Source]) -> type[Source]:
    """Class decorator: add a source to the catalogue, compiling its URL patterns once."""
    cls._compiled = tuple(re.compile(p, re.IGNORECASE) for p in cls.urls)
    SOURCES[cls.kind] = cls
    return cls
