"""Facet counts: for each filter, which values the current results have, and how many.

Each facet is counted over the results of every *other* filter (its own is
left out), so the list still offers the alternatives to the value chosen: with
`base_model=SDXL 1.0` selected, the base-model facet still shows how many SD
1.5 images the rest of the search would give. Only the most frequent values
are returned; the chosen one is always among them.

The counting itself is `archive.gallery.count_facet_values`; the gallery
caches results per archive state (`cache.LruCache`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any

from civitai_vault.archive.gallery import collection_name, count_facet_values, count_matches
from civitai_vault.vocabulary import NSFW_LABELS
from civitai_vault.web.params import SearchParams

__all__ = ["FACET_TITLES", "Facet", "collection_name", "count_facet", "facet_counts"]

# Values listed per facet in the sidebar.
SIDEBAR_TOP = 12

FACET_TITLES: dict[str, str] = {
    "collection": "Collection",
    "base_model": "Base model",
    "model": "Checkpoint",
    "lora": "LoRA",
    "tag": "Tag",
    "author": "Author",
    "nsfw": "NSFW level",
    "type": "Type",
}


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int


@dataclass
class Facet:
    name: str
    title: str
    values: list[FacetValue] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)
    # More distinct values exist than were returned.
    more: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "selected": self.selected,
            "more": self.more,
            "values": [v.__dict__ for v in self.values],
        }


def selected_values(params: SearchParams, name: str) -> list[str]:
    value = getattr(params, name)
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None else [str(value)]


def facet_counts(
    conn: sqlite3.Connection, params: SearchParams, *, top: int = 30
) -> dict[str, Facet]:
    """Every facet for a search, each with its `top` most frequent values."""
    return {
        name: show_selection(conn, count_facet(conn, name, params, top=top), params)
        for name in FACET_TITLES
    }


def count_facet(conn: sqlite3.Connection, name: str, params: SearchParams, *, top: int) -> Facet:
    """One facet's `top` values, counted over the search without its own filter.

    The answer depends only on `params.without(name)`: cache it under that.
    """
    rows = _count(conn, name, params.without(name), top + 1)
    return Facet(
        name=name,
        title=FACET_TITLES[name],
        values=[_facet_value(conn, name, value, count) for value, count in rows[:top]],
        more=len(rows) > top,
    )


def show_selection(conn: sqlite3.Connection, facet: Facet, params: SearchParams) -> Facet:
    """The facet as `params` sees it: its chosen values marked, and listed even when rare."""
    selected = selected_values(params, facet.name)
    shown = {v.value.casefold() for v in facet.values}
    missing = [
        FacetValue(
            value=value,
            label=facet_label(conn, facet.name, value),
            count=_count_one(conn, facet.name, value, params),
        )
        for value in selected
        if value.casefold() not in shown
    ]
    return replace(facet, selected=selected, values=[*facet.values, *missing])


def _count(
    conn: sqlite3.Connection, name: str, params: SearchParams, limit: int
) -> list[tuple[Any, int]]:
    return count_facet_values(conn, name, params.to_filter(), limit)


def _facet_value(conn: sqlite3.Connection, name: str, value: Any, count: int) -> FacetValue:
    return FacetValue(value=str(value), label=facet_label(conn, name, value), count=count)


def facet_label(conn: sqlite3.Connection, name: str, value: Any) -> str:
    """What a person reads for a facet value (a collection's name, an NSFW level's name)."""
    if name == "nsfw":
        try:
            return NSFW_LABELS.get(int(value), str(value))
        except (TypeError, ValueError):
            return str(value)
    if name == "collection":
        return collection_name(conn, int(value))
    return str(value)


def _count_one(conn: sqlite3.Connection, name: str, value: str, params: SearchParams) -> int:
    others = params.without(name)
    if name == "nsfw":
        narrowed = others.replace(nsfw=[int(value)])
    else:
        narrowed = others.replace(**{name: value})
    return count_matches(conn, narrowed.to_filter())
