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

from civitai_vault.archive.models import (
    cached_versions,
    images_using_versions,
    seen_as,
    version_image_counts,
)
from civitai_vault.archive.queries import RecordFilter
from civitai_vault.archive.writer import ModelVersionRow, cache_model_version, transaction
from civitai_vault.sync.normalize import version_row
from civitai_vault.vocabulary import archive_model_url, model_url

if TYPE_CHECKING:
    from civitai_vault.api.models import ModelVersion
    from civitai_vault.api.settings import ClientSettings

AVAILABILITIES: tuple[str, ...] = ("available", "deleted", "unpublished", "not_found")
GONE: frozenset[str] = frozenset({"deleted", "unpublished", "not_found"})
UNCHECKED = "unchecked"
DEFAULT_MAX_AGE = timedelta(days=7)
DEFAULT_CONCURRENCY = 4


# ----------------------------------------------------------- cache rows


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
        self.civitai_url = model_url(self.model_id, self.model_version_id)
        self.archive_url = archive_model_url(self.model_id) if self.availability in GONE else None

    @property
    def gone(self) -> bool:
        return self.availability in GONE

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def used_versions(conn: sqlite3.Connection, f: RecordFilter | None = None) -> list[UsedVersion]:
    """Every model version the selected images used, most used first.

    Names come from the cache when Civitai answered, else from the images.
    """
    cached = cached_versions(conn)
    return [
        _used_version(conn, version_id, images, cached.get(version_id))
        for version_id, images in version_image_counts(conn, f)
    ]


def _used_version(
    conn: sqlite3.Connection, version_id: int, images: int, cached: sqlite3.Row | None
) -> UsedVersion:
    seen = seen_as(conn, version_id)
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


def availability_summary(conn: sqlite3.Connection, f: RecordFilter | None = None) -> dict[str, Any]:
    """What the cache says about the versions the selected images used (no network)."""
    versions = used_versions(conn, f)
    counts = dict.fromkeys((*AVAILABILITIES, UNCHECKED), 0)
    for version in versions:
        counts[version.availability] = counts.get(version.availability, 0) + 1
    return {
        "versions": len(versions),
        "by_availability": counts,
        "images_using_gone": images_using_versions(conn, sorted(GONE), f),
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
                row, raw = replace(version_row(version), id=version_id), version.raw
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
