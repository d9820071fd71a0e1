"""The gallery's query string: what to search, filter and sort by.

Everything a search needs lives in the URL, so any page can be bookmarked or
shared. The same model serves the HTML pages and the JSON API, and turns into
the `RecordFilter` that export and statistics use, so a filter means the same
thing everywhere.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, model_validator

from civitai_vault.archive.gallery import tag_filter
from civitai_vault.archive.queries import RecordFilter

Sort = Literal["newest", "oldest", "id", "id_asc", "random"]

SORT_LABELS: dict[str, str] = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "id": "Highest id",
    "id_asc": "Lowest id",
    "random": "Random",
}


DATE_PATTERN = r"^\d{4}(-\d{2}(-\d{2})?)?$"

# SQLite stores integers in 64 bits: a larger id in a URL can name nothing.
MAX_ID = 2**63 - 1
ArchiveId = Annotated[int, Field(ge=0, le=MAX_ID)]


class SearchParams(BaseModel):
    """A search: full text, facets, date range and sort. Empty values mean "any"."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    q: str | None = Field(
        None,
        max_length=500,
        description="What to look for in the prompt, negative prompt, tags, checkpoint and "
        'LoRA names and author. Words must all appear (each from its start); "exact phrase"; '
        "a OR b; -word leaves out; field:value (model:, lora:, tag:, sampler:, author:, "
        "base:) looks in one field only.",
    )
    collection: int | None = Field(None, ge=0, le=MAX_ID, description="Collection id.")
    base_model: str | None = Field(None, max_length=200, description="Base model, e.g. SDXL 1.0.")
    model: str | None = Field(
        None, max_length=300, description="Checkpoint name, or its model / model-version id."
    )
    lora: str | None = Field(
        None, max_length=300, description="LoRA name, or its model / model-version id."
    )
    tag: str | None = Field(None, max_length=200, description="Tag name.")
    author: str | None = Field(None, max_length=200, description="Author's username.")
    nsfw: list[Annotated[int, Field(ge=0, le=MAX_ID)]] = Field(
        default_factory=list, description="NSFW levels to include (1, 2, 4, 8, 16, 32)."
    )
    type: str | None = Field(
        None, max_length=20, pattern=r"^[a-z]+$", description="image or video."
    )
    since: str | None = Field(
        None, pattern=DATE_PATTERN, description="Created on or after (YYYY, YYYY-MM, YYYY-MM-DD)."
    )
    until: str | None = Field(
        None, pattern=DATE_PATTERN, description="Created on or before (YYYY, YYYY-MM, YYYY-MM-DD)."
    )
    sort: Sort = Field("newest", description="Order of the results.")
    seed: int | None = Field(
        None, ge=0, lt=2**31, description="Shuffle for sort=random; the same seed pages stably."
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_means_any(cls, data: Any) -> Any:
        """An HTML form sends empty fields as `name=`; they do not filter."""
        if not isinstance(data, dict):
            return data
        cleaned: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if value:
                    cleaned[key] = value
            elif isinstance(value, list):
                cleaned[key] = [v for v in value if not (isinstance(v, str) and not v.strip())]
            elif value is not None:
                cleaned[key] = value
        return cleaned

    def to_filter(self, *, limit: int | None = None, offset: int = 0) -> RecordFilter:
        return RecordFilter(
            q=self.q,
            collection=self.collection,
            # RecordFilter.tag's condition, spelled for the gallery's indexes.
            extra_where=[tag_filter(self.tag)] if self.tag else [],
            model=self.model,
            lora=self.lora,
            base_model=self.base_model,
            author=self.author,
            since=self.since,
            until=self.until,
            nsfw_levels=tuple(sorted(set(self.nsfw))),
            type=self.type,
            sort="id" if self.sort == "random" else self.sort,
            limit=limit,
            offset=offset,
        )

    def without(self, *fields: str) -> SearchParams:
        """The same search with some fields cleared (a facet counts without its own filter)."""
        changes: dict[str, Any] = {name: ([] if name == "nsfw" else None) for name in fields}
        return self.model_copy(update=changes)

    def replace(self, **changes: Any) -> SearchParams:
        """The same search with some fields changed (validated, so "7" becomes 7)."""
        return SearchParams.model_validate({**self.model_dump(), **changes})

    def selection_key(self) -> str:
        """Which images the search selects, whatever their order (a cache key for counts)."""
        return self.replace(sort="newest", seed=None).query_string()

    def is_filtered(self) -> bool:
        """True when anything narrows the results (sort and seed do not)."""
        return any(self.model_dump(exclude={"sort", "seed"}, exclude_defaults=True).values())

    def query_items(self) -> list[tuple[str, str]]:
        """The search as query-string pairs, without defaults (short, stable URLs)."""
        items: list[tuple[str, str]] = []
        for name, value in self.model_dump(exclude_defaults=True).items():
            if isinstance(value, list):
                items += [(name, str(v)) for v in value]
            elif value is not None:
                items.append((name, str(value)))
        return items

    def query_string(self, **extra: Any) -> str:
        pairs = self.query_items() + [(k, str(v)) for k, v in extra.items() if v is not None]
        return urlencode(pairs)

    def url(self, path: str = "/", **extra: Any) -> str:
        query = self.query_string(**extra)
        return f"{path}?{query}" if query else path
