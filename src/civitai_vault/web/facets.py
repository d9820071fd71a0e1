"""Facet counts: for each filter, which values the current results have, and how many.

Each facet is counted over the results of every *other* filter (its own is
left out), so the list still offers the alternatives to the value chosen: with
`base_model=SDXL 1.0` selected, the base-model facet still shows how many SD
1.5 images the rest of the search would give. Only the most frequent values
are returned; the chosen one is always among them.

Speed: scalar facets group on the `images_gallery` covering index; tags,
LoRAs and collections count through narrow covering indexes keyed by image
id. The gallery caches results per archive state (`cache.LruCache`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any

from civitai_vault.archive.queries import where_clause
from civitai_vault.web.params import NSFW_LABELS, SearchParams
from civitai_vault.web.search import IMAGES, count_matches

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

# Facets that are one column of `images`: counted with one GROUP BY each.
COLUMN_FACETS: dict[str, str] = {
    "base_model": "i.base_model",
    "model": "i.model",
    "author": "i.author",
    "nsfw": "i.nsfw_level",
    "type": "i.type",
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
    f = params.to_filter()
    where, args = where_clause(f)
    if name in COLUMN_FACETS:
        column = COLUMN_FACETS[name]
        sql = f"""SELECT {column}, count(*) AS n FROM {IMAGES}
                  WHERE {where} AND {column} IS NOT NULL
                  GROUP BY {column} ORDER BY n DESC, {column} LIMIT ?"""
    elif name == "tag":
        sql = _tag_sql(conn, where, args)
    elif name == "lora":
        # Walking the (kind, name, image) index groups without sorting: the
        # cheapest way when many images match.
        sql = f"""SELECT min(r.name), count(DISTINCT r.image_id) AS n
                  FROM image_resources r INDEXED BY image_resources_kind_name_image
                  WHERE r.kind = 'lora' AND r.name IS NOT NULL {_and_in("r.image_id", where)}
                  GROUP BY r.name COLLATE NOCASE ORDER BY n DESC, 1 LIMIT ?"""
    elif name == "collection":
        sql = f"""SELECT CAST(substr(ti.target_key, 12) AS INTEGER), count(*) AS n
                  FROM target_items ti INDEXED BY target_items_live
                  WHERE ti.target_key LIKE 'collection:%' AND ti.removed_at IS NULL
                        {_and_in("ti.image_id", where)}
                  GROUP BY ti.target_key ORDER BY n DESC, 1 LIMIT ?"""
    else:
        raise ValueError(f"unknown facet {name!r}")
    return [(row[0], row[1]) for row in conn.execute(sql, [*args, limit])]


def _and_in(column: str, where: str) -> str:
    """`AND column IN (the matching images)`, or nothing when every image matches.

    The `+` keeps SQLite from using `column` to pick an index: with some table
    statistics it would otherwise probe the index once per image and value.
    """
    if where == "1":
        return ""
    return f"AND +{column} IN (SELECT i.id FROM {IMAGES} WHERE {where})"


def _tag_sql(conn: sqlite3.Connection, where: str, args: list[Any]) -> str:
    """Tag counts: image by image for a small result set, tag by tag for a large one.

    Image by image reads each matching image's tags (then sorts them to group):
    the cost grows with the results. Tag by tag walks the whole (tag, image)
    index in order and needs no sort: a fixed cost that wins once the results
    are a good part of the archive. Both are spelled so that SQLite cannot
    choose another plan.
    """
    by_tag = "image_tags it INDEXED BY image_tags_tag_image"
    if where == "1":
        counted = by_tag
    else:
        matches = conn.execute(f"SELECT count(*) FROM {IMAGES} WHERE {where}", args).fetchone()[0]
        everything = conn.execute("SELECT count(*) FROM images").fetchone()[0]
        if matches * 4 > everything:
            counted = f"{by_tag} WHERE 1 {_and_in('it.image_id', where)}"
        else:
            matching = f"SELECT i.id FROM {IMAGES} WHERE {where}"
            counted = f"({matching}) s CROSS JOIN image_tags it ON it.image_id = s.id"
    return f"""SELECT t.name, c.n FROM (
                   SELECT it.tag_id, count(*) AS n FROM {counted}
                   GROUP BY it.tag_id ORDER BY n DESC LIMIT ?
               ) c JOIN tags t ON t.id = c.tag_id ORDER BY c.n DESC, t.name"""


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


def collection_name(conn: sqlite3.Connection, collection_id: int) -> str:
    row = conn.execute(
        """SELECT coalesce(c.name, t.label) FROM (SELECT ? AS id) x
           LEFT JOIN collections c ON c.id = x.id
           LEFT JOIN targets t ON t.key = 'collection:' || x.id""",
        (collection_id,),
    ).fetchone()
    return row[0] if row and row[0] else f"Collection {collection_id}"


def _count_one(conn: sqlite3.Connection, name: str, value: str, params: SearchParams) -> int:
    others = params.without(name)
    if name == "nsfw":
        narrowed = others.replace(nsfw=[int(value)])
    else:
        narrowed = others.replace(**{name: value})
    return count_matches(conn, narrowed.to_filter())
