"""Which model versions the archived images used, and whether Civitai still offers them.

A version is `available`, `deleted` (the model or the version was deleted),
`unpublished` (the model or version was unpublished, also for a violation), or
`not_found` (Civitai answers 404 for it); the rule is the API layer's
`availability_of`, shared with `civitai-vault image`.
Answers are cached in the `model_versions` table with the time they were
checked; `check_models` asks Civitai again only for versions never checked or
checked longer ago than the cache's time-to-live. Statistics read the cache
only and never touch the network.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from civitai_vault.analysis.sql import query
from civitai_vault.archive.queries import RecordFilter, where_clause
from civitai_vault.archive.writer import ModelVersionRow, cache_model_version, transaction

if TYPE_CHECKING:
    from civitai_vault.api.models import ModelVersion
    from civitai_vault.api.settings import ClientSettings

AVAILABILITIES: tuple[str, ...] = ("available", "deleted", "unpublished", "not_found")
GONE: frozenset[str] = frozenset({"deleted", "unpublished", "not_found"})
UNCHECKED = "unchecked"
DEFAULT_MAX_AGE = timedelta(days=7)
DEFAULT_CONCURRENCY = 4

CIVITAI_SITE = "https://civitai.com"
ARCHIVE_SITE = "https://civitaiarchive.com"


# ----------------------------------------------------------- cache rows


def model_version_row(version: ModelVersion) -> ModelVersionRow:
    """The cache row for a version Civitai answered for (classed by the API layer's rule)."""
    from civitai_vault.api.image_analysis import availability_of

    model = version.model
    return ModelVersionRow(
        id=int(version.id or 0),
        availability=availability_of(version),
        name=version.name,
        model_id=model.id if model else None,
        model_name=model.name if model else None,
        model_type=model.type if model else None,
        base_model=version.base_model,
        version_status=version.status,
        model_status=model.status if model else None,
    )


def civitai_url(model_id: int | None, version_id: int) -> str | None:
    if model_id is None:
        return None
    return f"{CIVITAI_SITE}/models/{model_id}?modelVersionId={version_id}"


def archive_url(model_id: int | None) -> str | None:
    """Where civitaiarchive.com keeps copies of models Civitai no longer offers."""
    if model_id is None:
        return None
    return f"{ARCHIVE_SITE}/models/{model_id}"


# ------------------------------------------------------------------- usage


@dataclass
class UsedVersion:
    """A model version used by archived images, with what the cache knows about it."""

    model_version_id: int
    model_id: int | None
    name: str | None  # the model's name
    version_name: str | None
    kind: str | None  # checkpoint | lora | embedding | other, as the images used it
    model_type: str | None
    base_model: str | None
    images: int
    availability: str  # one of AVAILABILITIES, or "unchecked"
    version_status: str | None
    model_status: str | None
    checked_at: str | None
    civitai_url: str | None = None
    archive_url: str | None = None

    def __post_init__(self) -> None:
        self.civitai_url = civitai_url(self.model_id, self.model_version_id)
        self.archive_url = archive_url(self.model_id) if self.availability in GONE else None

    @property
    def gone(self) -> bool:
        return self.availability in GONE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _uses_sql(where: str) -> str:
    """Every (version, image) use: resources of any kind plus the image's own checkpoint.

    Resources are read in one pass (their indexes lack image ids, so walking
    one costs a row read per entry); a filter becomes a set of image ids.
    """
    selected = "1" if where == "1" else f"r.image_id IN (SELECT i.id FROM images i WHERE {where})"
    return f"""
        SELECT r.model_version_id AS version_id, r.image_id AS image_id
        FROM image_resources r NOT INDEXED WHERE r.model_version_id IS NOT NULL AND {selected}
        UNION ALL
        SELECT i.model_version_id, i.id FROM images i
        WHERE i.model_version_id IS NOT NULL AND {where}"""


_CACHE_COLUMNS = (
    "model_name, name, model_id, base_model, model_type, availability, version_status, "
    "model_status, checked_at"
)


def used_versions(conn: sqlite3.Connection, f: RecordFilter | None = None) -> list[UsedVersion]:
    """Every model version the selected images used, most used first.

    Names come from the cache when Civitai answered, else from the images.
    """
    where, params = where_clause(f or RecordFilter())
    image_counts = query(
        conn,
        f"""SELECT version_id, count(DISTINCT image_id) AS n FROM ({_uses_sql(where)})
            GROUP BY version_id ORDER BY n DESC, version_id""",
        [*(params if where != "1" else []), *params],
    ).fetchall()
    cached = {
        row["id"]: row
        for row in query(conn, f"SELECT id, {_CACHE_COLUMNS} FROM model_versions").fetchall()
    }
    return [
        _used_version(conn, version_id, images, cached.get(version_id))
        for version_id, images in image_counts
    ]


def _used_version(
    conn: sqlite3.Connection, version_id: int, images: int, cached: sqlite3.Row | None
) -> UsedVersion:
    seen = _seen_as(conn, version_id)
    return UsedVersion(
        model_version_id=version_id,
        model_id=(cached and cached["model_id"]) or seen.get("model_id"),
        name=(cached and cached["model_name"]) or seen.get("name"),
        version_name=(cached and cached["name"]) or seen.get("version_name"),
        kind=seen.get("kind"),
        model_type=(cached and cached["model_type"]) or seen.get("model_type"),
        base_model=(cached and cached["base_model"]) or seen.get("base_model"),
        images=images,
        availability=cached["availability"] if cached else UNCHECKED,
        version_status=cached["version_status"] if cached else None,
        model_status=cached["model_status"] if cached else None,
        checked_at=cached["checked_at"] if cached else None,
    )


def _seen_as(conn: sqlite3.Connection, version_id: int) -> dict[str, Any]:
    """How the images named a version: one resource row (indexed), else an image's checkpoint."""
    row = query(
        conn,
        """SELECT kind, name, version_name, model_id, base_model, model_type
           FROM image_resources WHERE model_version_id = ? LIMIT 1""",
        (version_id,),
    ).fetchone()
    if row is None:
        row = query(
            conn,
            """SELECT 'checkpoint' AS kind, model AS name, model_version AS version_name,
                      model_id, base_model, NULL AS model_type
               FROM images WHERE model_version_id = ? LIMIT 1""",
            (version_id,),
        ).fetchone()
    return dict(zip(row.keys(), row, strict=True)) if row else {}


def images_using_gone_versions(conn: sqlite3.Connection, f: RecordFilter | None = None) -> int:
    """How many selected images used at least one version Civitai no longer offers."""
    where, params = where_clause(f or RecordFilter())
    selected = "1" if where == "1" else f"r.image_id IN (SELECT i.id FROM images i WHERE {where})"
    gone = sorted(GONE)
    return query(
        conn,
        f"""SELECT count(DISTINCT image_id) FROM (
                SELECT r.image_id FROM image_resources r
                WHERE r.model_version_id IN (SELECT id FROM model_versions
                                             WHERE availability IN (?, ?, ?)) AND {selected}
                UNION ALL
                SELECT i.id FROM images i
                WHERE i.model_version_id IN (SELECT id FROM model_versions
                                             WHERE availability IN (?, ?, ?)) AND {where})""",
        [*gone, *(params if where != "1" else []), *gone, *params],
    ).fetchone()[0]


def availability_summary(conn: sqlite3.Connection, f: RecordFilter | None = None) -> dict[str, Any]:
    """What the cache says about the versions the selected images used (no network)."""
    versions = used_versions(conn, f)
    counts = dict.fromkeys((*AVAILABILITIES, UNCHECKED), 0)
    for version in versions:
        counts[version.availability] = counts.get(version.availability, 0) + 1
    return {
        "versions": len(versions),
        "by_availability": counts,
        "images_using_gone": images_using_gone_versions(conn, f),
        "gone": [version.as_dict() for version in versions if version.gone],
    }


# ---------------------------------------------------------------- checking


class ModelVersionClient(Protocol):
    async def get_model_version(self, version_id: int) -> ModelVersion: ...


@dataclass
class CheckResult:
    """The outcome of `check_models`: every used version, and what this run asked."""

    versions: list[UsedVersion]
    looked_up: int
    failures: dict[int, str] = field(default_factory=dict)  # version id -> reason

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((*AVAILABILITIES, UNCHECKED), 0)
        for version in self.versions:
            counts[version.availability] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "versions": [version.as_dict() for version in self.versions],
            "counts": self.counts(),
            "looked_up": self.looked_up,
            "failures": [
                {"model_version_id": version_id, "reason": reason}
                for version_id, reason in sorted(self.failures.items())
            ],
        }


def stale_version_ids(
    conn: sqlite3.Connection,
    versions: Sequence[UsedVersion],
    *,
    max_age: timedelta,
    now: datetime | None = None,
) -> list[int]:
    """The versions whose cached answer is missing or older than `max_age`."""
    oldest = (now or datetime.now(UTC)) - max_age
    return [
        version.model_version_id
        for version in versions
        if version.checked_at is None or _parse_time(version.checked_at) < oldest
    ]


def _parse_time(text: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)  # unreadable: treat as never checked
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


async def check_models(
    conn: sqlite3.Connection,
    client: ModelVersionClient,
    *,
    refresh: bool = False,
    max_age: timedelta = DEFAULT_MAX_AGE,
    concurrency: int = DEFAULT_CONCURRENCY,
    now: datetime | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> CheckResult:
    """Look up every used version whose cached answer is missing or stale (all with `refresh`).

    Each answer is committed as it arrives, so an interrupted run keeps what
    it learned. A lookup that fails for another reason than a 404 is reported
    in `failures` and leaves the cache as it was. `on_progress(done, total)`
    is called before the first look-up and after each one.
    """
    from civitai_vault.api import CivitaiError, NotFound

    versions = used_versions(conn)
    if refresh:
        wanted = [version.model_version_id for version in versions]
    else:
        wanted = stale_version_ids(conn, versions, max_age=max_age, now=now)
    gate = asyncio.Semaphore(max(1, concurrency))
    failures: dict[int, str] = {}
    done = 0
    if on_progress is not None:
        on_progress(0, len(wanted))

    async def look_up(version_id: int) -> None:
        try:
            await look_up_one(version_id)
        finally:
            nonlocal done
            done += 1
            if on_progress is not None:
                on_progress(done, len(wanted))

    async def look_up_one(version_id: int) -> None:
        async with gate:
            try:
                version = await client.get_model_version(version_id)
            except NotFound:
                row, raw = ModelVersionRow(id=version_id, availability="not_found"), None
            except CivitaiError as exc:
                failures[version_id] = str(exc)
                return
            else:
                # The answer is about the id we asked for, whatever id it carries.
                row, raw = replace(model_version_row(version), id=version_id), version.raw
        with transaction(conn):
            cache_model_version(conn, row, raw)

    await asyncio.gather(*(look_up(version_id) for version_id in wanted))
    return CheckResult(versions=used_versions(conn), looked_up=len(wanted), failures=failures)


async def check_archive_models(
    conn: sqlite3.Connection,
    settings: ClientSettings,
    *,
    refresh: bool = False,
    max_age: timedelta = DEFAULT_MAX_AGE,
    on_progress: Callable[[int, int], None] | None = None,
) -> CheckResult:
    """`check_models` with a client made from `settings`: its pace, its number in flight."""
    from civitai_vault.api import CivitaiClient

    async with CivitaiClient(settings) as client:
        return await check_models(
            conn,
            client,
            refresh=refresh,
            max_age=max_age,
            concurrency=settings.concurrency,
            on_progress=on_progress,
        )
