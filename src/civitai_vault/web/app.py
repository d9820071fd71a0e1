"""The gallery application: one archive, server-rendered pages, a JSON API, static files.

    from civitai_vault.web import create_app
    app = create_app(Path("civitai-archive"))       # then run it with uvicorn

The gallery only reads the archive (plus its thumbnail cache) and never reads
the configuration file, so no credential can reach a page or an answer.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from civitai_vault import __version__ as VERSION
from civitai_vault.web import api, pages
from civitai_vault.web.cache import LruCache
from civitai_vault.web.facets import (
    FACET_TITLES,
    SIDEBAR_TOP,
    Facet,
    count_facet,
    show_selection,
)
from civitai_vault.web.params import SearchParams
from civitai_vault.web.reader import ArchiveReader
from civitai_vault.web.security import SecurityMiddleware, allowed_hosts_for
from civitai_vault.web.templating import make_templates
from civitai_vault.web.thumbs import ThumbnailStore
from civitai_vault.web.timing import ServerTimingMiddleware

WEB_DIR = Path(__file__).parent


@dataclass
class Gallery:
    """What every request needs: the archive reader, caches and templates."""

    reader: ArchiveReader
    thumbs: ThumbnailStore
    templates: Jinja2Templates
    facet_cache: LruCache = field(default_factory=lambda: LruCache(size=2048))
    # One facet query per core: more threads only make them wait for each other.
    workers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(
            max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="facets"
        )
    )
    choice_cache: LruCache = field(default_factory=lambda: LruCache(size=4))
    stats_cache: LruCache = field(default_factory=lambda: LruCache(size=16))

    @property
    def root(self) -> Path:
        return self.reader.root

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self.reader.connection() as conn:
            yield conn

    def facets(self, params: SearchParams, top: int) -> dict[str, Facet]:
        """Facet counts for a search, each facet on its own connection, cached per archive state.

        SQLite releases the GIL while it works, so the facets count in parallel. A
        facet is counted without its own filter, so it is cached under the search
        without that filter: after a click on a value of one facet, that facet's
        counts are reused and only the others are counted again.
        """
        stamp = self.reader.data_stamp()

        def one(name: str) -> Facet:
            key = (stamp, name, params.without(name).selection_key(), top)

            with self.reader.connection() as conn:
                facet = self.facet_cache.get_or_compute(
                    key, lambda: count_facet(conn, name, params, top=top)
                )
                # The counts are shared; what is selected belongs to this search.
                return show_selection(conn, facet, params)

        return dict(zip(FACET_TITLES, self.workers.map(one, FACET_TITLES), strict=True))

    def warm_up(self) -> None:
        """Count the unfiltered facets in the background: the first page shows them at once."""
        threading.Thread(
            target=self.facets, args=(SearchParams(), SIDEBAR_TOP), daemon=True
        ).start()


def create_app(
    archive_root: Path | str,
    *,
    listen_host: str = "127.0.0.1",
    allow_hosts: Iterable[str] = (),
) -> FastAPI:
    """The gallery for the archive at `archive_root`.

    Raises FileNotFoundError when there is no archive there. `listen_host` is
    the address the server will listen on: requests naming another host than
    it, this machine's loopback names or one of `allow_hosts` are refused
    (see `security`).
    """
    reader = ArchiveReader(archive_root)
    gallery = Gallery(
        reader=reader,
        thumbs=ThumbnailStore(reader.root),
        templates=make_templates(WEB_DIR / "templates"),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        gallery.warm_up()
        yield
        gallery.workers.shutdown(wait=True, cancel_futures=True)
        reader.close()

    app = FastAPI(
        title="civitai-vault gallery",
        version=VERSION,
        description="Search and read a civitai-vault archive. Every answer comes from the "
        "local archive; nothing is fetched from the internet.",
        # The interactive docs pages load their scripts from a CDN: the schema is enough.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.gallery = gallery
    app.add_middleware(
        SecurityMiddleware, allowed_hosts=allowed_hosts_for(listen_host, allow_hosts)
    )
    # Added last, so it runs first and times everything, refusals included.
    app.add_middleware(ServerTimingMiddleware)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    _install_error_pages(app, gallery)
    return app


def _install_error_pages(app: FastAPI, gallery: Gallery) -> None:
    """Errors as one clear sentence: JSON for the API, a small page for people."""

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def answer(request: Request, status: int, message: str) -> Response:
        if wants_json(request):
            return JSONResponse({"detail": message}, status_code=status)
        return gallery.templates.TemplateResponse(
            request, "error.html", {"status": status, "message": message}, status_code=status
        )

    @app.exception_handler(RequestValidationError)
    async def bad_query(request: Request, exc: RequestValidationError) -> Response:
        if wants_json(request):
            errors = jsonable_encoder(exc.errors(), exclude={"ctx", "url"})
            return JSONResponse({"detail": errors}, status_code=400)
        return answer(request, 400, describe_validation(exc.errors()))

    @app.exception_handler(OverflowError)
    async def too_large(request: Request, exc: OverflowError) -> Response:
        # A number the database cannot hold names nothing in it (a safety net: the
        # parameters are bounded where they are declared).
        return answer(request, 400, "A number in this address is too large.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "Not found."
        if exc.status_code == 404 and message == "Not Found":
            message = "There is nothing at this address."
        return answer(request, exc.status_code, message)

    @app.exception_handler(sqlite3.OperationalError)
    async def database_busy(request: Request, exc: sqlite3.OperationalError) -> Response:
        return answer(
            request,
            503,
            f"The archive database could not be read ({exc}); try again in a moment.",
        )


def describe_validation(errors: Any) -> str:
    """`[{'loc': ('query', 'collection'), 'msg': ...}]` -> "collection: Input should be ..."."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", ""))
    return "Bad search: " + "; ".join(parts) if parts else "Bad search."
