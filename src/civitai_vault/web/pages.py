"""The HTML side of the gallery: grid, detail, statistics, files and thumbnails."""

from __future__ import annotations

import random
import sqlite3
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from civitai_vault.archive.gallery import (
    base_models,
    collection_name,
    image_types,
    synced_collection_ids,
)
from civitai_vault.web.detail import GENERATION_FIELDS, IMAGE_FIELDS, load_detail
from civitai_vault.web.download import MEDIA_TYPES, stream_records
from civitai_vault.web.facets import FACET_TITLES, SIDEBAR_TOP, facet_label
from civitai_vault.web.files import file_for_image, find_media_file
from civitai_vault.web.navigation import detail_nav
from civitai_vault.web.params import MAX_ID, SearchParams
from civitai_vault.web.search import count_matches, search
from civitai_vault.web.stats import stats_charts
from civitai_vault.web.thumbs import SIZES, ThumbnailError

if TYPE_CHECKING:
    from civitai_vault.web.app import Gallery

PER_PAGE = 60
MAX_PAGE = 100_000

router = APIRouter(include_in_schema=False)

Params = Annotated[SearchParams, Query()]
PageNumber = Annotated[int, Query(ge=1, le=MAX_PAGE)]
ImageId = Annotated[int, Path(ge=0, le=MAX_ID)]


def gallery_of(request: Request) -> Gallery:
    return request.app.state.gallery


@router.get("/")
def index(request: Request, params: Params, page: PageNumber = 1) -> Response:
    gallery = gallery_of(request)
    if params.sort == "random" and params.seed is None:
        # Fix the shuffle now, so the next pages continue this order.
        params = params.replace(seed=random.randrange(2**31))
    with gallery.connection() as conn:
        results = search(conn, params, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
        choices = filter_choices(gallery, conn)
        chips = active_filters(conn, params)
    pages = max(1, -(-results.total // PER_PAGE))
    return gallery.templates.TemplateResponse(
        request,
        "index.html",
        {
            "params": params,
            "results": results,
            "page": page,
            "pages": pages,
            "prev_url": params.url("/", page=page - 1 if page > 2 else None) if page > 1 else None,
            "next_url": params.url("/", page=page + 1) if results.has_next else None,
            "choices": choices,
            "chips": chips,
            "detail_query": params.query_string(),
        },
    )


@router.get("/fragments/facets")
def facets_fragment(request: Request, params: Params) -> Response:
    """The facet panel (values and counts), loaded by the grid page after the results."""
    gallery = gallery_of(request)
    facets = gallery.facets(params, SIDEBAR_TOP)
    return gallery.templates.TemplateResponse(
        request, "_facets.html", {"params": params, "facets": facets, "links": facet_links}
    )


@router.get("/images/{image_id}")
def image_detail(
    request: Request,
    image_id: ImageId,
    params: Params,
    at: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> Response:
    """One image; `at` is its place in the results of the search in `params` (for prev/next)."""
    gallery = gallery_of(request)
    with gallery.connection() as conn:
        detail = load_detail(conn, gallery.root, image_id)
        if detail is None:
            raise HTTPException(404, f"Image {image_id} is not in this archive.")
        nav = detail_nav(conn, params, image_id, at, PER_PAGE)
    return gallery.templates.TemplateResponse(
        request,
        "detail.html",
        {
            "detail": detail,
            "nav": nav,
            "record": detail.record,
            "params": params,
            "generation_fields": GENERATION_FIELDS,
            "image_fields": IMAGE_FIELDS,
        },
    )


@router.get("/stats")
def stats_page(request: Request, params: Params) -> Response:
    gallery = gallery_of(request)
    with gallery.connection() as conn:
        total = count_matches(conn, params.to_filter())
        key = (gallery.reader.data_stamp(), params.selection_key())
        charts = gallery.stats_cache.get_or_compute(key, lambda: stats_charts(conn, params))
        chips = active_filters(conn, params)
    return gallery.templates.TemplateResponse(
        request,
        "stats.html",
        {"params": params, "total": total, "charts": charts, "chips": chips},
    )


@router.get("/download.{fmt}")
def download_view(request: Request, fmt: Literal["csv", "json"], params: Params) -> Response:
    """The records of the current search, as `civitai-vault export` writes them."""
    gallery = gallery_of(request)
    return StreamingResponse(
        stream_records(gallery.reader, params, fmt),
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="civitai-vault-images.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/api")
def api_page(request: Request, params: Params) -> Response:
    """What the JSON API offers, with this search's URLs as examples."""
    gallery = gallery_of(request)
    return gallery.templates.TemplateResponse(
        request,
        "api.html",
        {
            "params": params,
            "fields": SearchParams.model_fields,
            "example": params.url("/api/images", limit=5),
        },
    )


@router.get("/assets/charts.css")
def charts_stylesheet() -> Response:
    """The analysis charts' own styles, served as a file: the CSP allows no inline style."""
    from civitai_vault.analysis.report import CHART_CSS

    return Response(CHART_CSS, media_type="text/css", headers={"Cache-Control": "no-cache"})


@router.get("/media/{file_path:path}")
def media_file(request: Request, file_path: str) -> Response:
    gallery = gallery_of(request)
    with gallery.connection() as conn:
        found = find_media_file(conn, gallery.root, file_path)
    if found is None:
        raise HTTPException(404, "No archived file at this address.")
    if not found.inline:
        return FileResponse(
            found.path, media_type="application/octet-stream", filename=found.path.name
        )
    return FileResponse(
        found.path, media_type=found.mime_type, headers={"Cache-Control": "private, max-age=3600"}
    )


@router.get("/thumbs/{image_id}")
def thumbnail(
    request: Request, image_id: ImageId, size: Literal["grid", "poster"] = "grid"
) -> Response:
    gallery = gallery_of(request)
    with gallery.connection() as conn:
        found = file_for_image(conn, gallery.root, image_id)
    if found is not None:
        try:
            thumb = gallery.thumbs.get(image_id, found.path, found.sha256, found.kind, size)
        except ThumbnailError:
            pass
        else:
            # The file's hash is in the URL (?v=): a changed file gets a new URL.
            cache = {"Cache-Control": "private, max-age=31536000, immutable"}
            if isinstance(thumb, bytes):
                return Response(thumb, media_type="image/webp", headers=cache)
            return FileResponse(thumb, media_type="image/webp", headers=cache)
    return Response(
        placeholder_svg(SIZES[size]),
        status_code=404,
        media_type="image/svg+xml",
        headers={"Cache-Control": "no-store"},
    )


def placeholder_svg(size: int) -> bytes:
    """A grey tile with "no file", for images whose file is missing or unreadable."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}"><rect width="100%" height="100%" fill="#2a2d33"/>'
        f'<text x="50%" y="50%" fill="#9aa0a6" font-family="sans-serif" font-size="{size // 12}" '
        'text-anchor="middle" dominant-baseline="middle">no file</text></svg>'
    ).encode()


def filter_choices(gallery: Gallery, conn: sqlite3.Connection) -> dict[str, Any]:
    """Short lists for the filter form (collections, base models), cached per archive state."""

    def compute() -> dict[str, Any]:
        collections = [(cid, collection_name(conn, cid)) for cid in synced_collection_ids(conn)]
        return {
            "collections": collections,
            "base_models": base_models(conn),
            "types": image_types(conn),
        }

    return gallery.choice_cache.get_or_compute(gallery.reader.data_stamp(), compute)


def active_filters(conn: sqlite3.Connection, params: SearchParams) -> list[tuple[str, str]]:
    """("tag: castle", url without it) for each filter in use, to show and remove them."""
    chips: list[tuple[str, str]] = []
    if params.q:
        chips.append((f"“{params.q}”", params.without("q").url("/")))
    for name in FACET_TITLES:
        if name == "nsfw":
            for level in params.nsfw:
                rest = [n for n in params.nsfw if n != level]
                label = f"{FACET_TITLES[name]}: {facet_label(conn, name, level)}"
                chips.append((label, params.replace(nsfw=rest).url("/")))
        elif (value := getattr(params, name)) is not None:
            label = f"{FACET_TITLES[name]}: {facet_label(conn, name, value)}"
            chips.append((label, params.without(name).url("/")))
    for name, title in (("since", "From"), ("until", "Until")):
        if value := getattr(params, name):
            chips.append((f"{title} {value}", params.without(name).url("/")))
    return chips


def facet_links(params: SearchParams, name: str, value: str) -> tuple[bool, str]:
    """(is it selected, URL that toggles it) for one facet value."""
    if name == "nsfw":
        level = int(value)
        selected = level in params.nsfw
        levels = [n for n in params.nsfw if n != level] if selected else [*params.nsfw, level]
        return selected, params.replace(nsfw=sorted(levels)).url("/")
    current = getattr(params, name)
    selected = current is not None and str(current).casefold() == value.casefold()
    changed = params.without(name) if selected else params.replace(**{name: value})
    return selected, changed.url("/")
