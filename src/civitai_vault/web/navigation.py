"""Previous, next and back from an image's page, within the search it was opened from.

The grid's links carry the image's place in the results (`at`): its
neighbours are then one three-row page away. If the archive changed since (or
the link was typed by hand), the image is looked up in the results instead.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from civitai_vault.archive.gallery import count_matches, page_ids, position_of
from civitai_vault.web.params import SearchParams


@dataclass(frozen=True)
class DetailNav:
    back_url: str
    prev_url: str | None = None
    next_url: str | None = None
    position: int | None = None  # 0-based place in the results, None if not among them
    total: int = 0


def detail_nav(
    conn: sqlite3.Connection, params: SearchParams, image_id: int, at: int | None, per_page: int
) -> DetailNav:
    f = params.to_filter()
    sort, seed = params.sort, params.seed or 0
    position, ids, start = None, [], 0
    if at is not None:
        start = max(0, at - 1)
        ids = page_ids(conn, f, sort=sort, seed=seed, limit=3, offset=start)
    if image_id in ids:
        position = start + ids.index(image_id)
    else:
        position = position_of(conn, f, image_id, sort=sort, seed=seed)
        if position is None:
            return DetailNav(back_url=params.url("/"))
        start = max(0, position - 1)
        ids = page_ids(conn, f, sort=sort, seed=seed, limit=3, offset=start)
    here = position - start
    previous = ids[here - 1] if here > 0 else None
    following = ids[here + 1] if here + 1 < len(ids) else None
    page = position // per_page + 1
    return DetailNav(
        back_url=params.url("/", page=page if page > 1 else None) + f"#tile-{image_id}",
        prev_url=None if previous is None else params.url(f"/images/{previous}", at=position - 1),
        next_url=None if following is None else params.url(f"/images/{following}", at=position + 1),
        position=position,
        total=count_matches(conn, f),
    )
