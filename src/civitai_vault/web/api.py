"""The JSON API: search results as export records, one record, facet counts.

The schema is served at `/openapi.json`. Records have exactly the export
record's fields (`civitai_vault.records.ImageRecord`), the same as
`civitai-vault export --format json`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from civitai_vault.web.params import MAX_ID, SearchParams
from civitai_vault.web.search import count_matches, records_for_ids, search

if TYPE_CHECKING:
    from civitai_vault.web.app import Gallery

router = APIRouter(prefix="/api", tags=["archive"])

MAX_LIMIT = 500


class ResourceOut(BaseModel):
    name: str | None
    weight: float | None
    model_id: int | None
    model_version_id: int | None
    version_name: str | None
    base_model: str | None


class ExportRecord(BaseModel):
    """One archived image: the export record, `ImageRecord.to_dict()` (missing values are null)."""

    image_id: int
    image_url: str | None
    uuid: str | None
    name: str | None
    type: str | None
    mime_type: str | None
    width: int | None
    height: int | None
    nsfw_level: int | None
    created_at: str | None
    published_at: str | None
    post_id: int | None
    author: str | None
    author_id: int | None
    prompt: str | None
    negative_prompt: str | None
    sampler: str | None
    steps: int | None
    cfg_scale: float | None
    seed: int | None
    clip_skip: int | None
    base_model: str | None
    process: str | None
    engine: str | None
    workflow: str | None
    model: str | None
    model_version: str | None
    model_id: int | None
    model_version_id: int | None
    loras: list[ResourceOut]
    embeddings: list[ResourceOut]
    tags: list[str]
    collections: list[int]
    file_path: str | None
    sha256: str | None
    raw_meta_json: str | None


class ImagePage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[ExportRecord]


class FacetValueOut(BaseModel):
    value: str
    label: str
    count: int


class FacetOut(BaseModel):
    title: str
    selected: list[str]
    more: bool
    values: list[FacetValueOut]


class FacetsAnswer(BaseModel):
    total: int
    facets: dict[str, FacetOut]


Params = Annotated[SearchParams, Query()]


def gallery_of(request: Request) -> Gallery:
    return request.app.state.gallery


@router.get("/images", response_model=ImagePage, summary="Search the archive")
def list_images(
    request: Request,
    params: Params,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    """Images matching the search, `limit` at a time from `offset`, with the total count."""
    with gallery_of(request).connection() as conn:
        if params.sort == "random" and params.seed is None:
            params = params.replace(seed=random.randrange(2**31))
        page = search(conn, params, limit=limit, offset=offset)
    # The records are already the documented shape: skip re-validating each one.
    return JSONResponse(
        {"total": page.total, "limit": limit, "offset": offset, "items": page.records}
    )


@router.get("/images/{image_id}", response_model=ExportRecord, summary="One image")
def get_image(request: Request, image_id: Annotated[int, Path(ge=0, le=MAX_ID)]) -> JSONResponse:
    with gallery_of(request).connection() as conn:
        records = records_for_ids(conn, [image_id])
    if not records:
        raise HTTPException(404, f"image {image_id} is not in this archive")
    return JSONResponse(records[0])


@router.get("/facets", response_model=FacetsAnswer, summary="Facet counts for a search")
def get_facets(
    request: Request, params: Params, top: Annotated[int, Query(ge=1, le=500)] = 30
) -> JSONResponse:
    """For each facet, its most frequent values among the images the *other* filters select."""
    gallery = gallery_of(request)
    with gallery.connection() as conn:
        total = count_matches(conn, params.to_filter())
    facets = gallery.facets(params, top)
    return JSONResponse(
        {"total": total, "facets": {name: facet.as_dict() for name, facet in facets.items()}}
    )
