"""`Vault`: an archive folder and everything the command line does with it, for scripts.

    from civitai_vault import Vault

    vault = Vault("~/civitai-archive")            # settings as the CLI takes them
    summary = vault.sync(["collection:12"])       # civitai-vault sync collection:12
    for image in vault.images(lora="detail tweaker"):
        print(image.image_id, image.prompt)
    vault.export("loras.csv", tag="cat")          # civitai-vault export -o loras.csv --tag cat

Settings come as the command line takes them: keyword arguments (where the
CLI has flags), then the environment (CIVITAI_VAULT_ARCHIVE, CIVITAI_SITE,
CIVITAI_BASE_URL, CIVITAI_IMAGE_BASE_URL, CIVITAI_API_KEY, CIVITAI_TOKEN),
then the config file `civitai-vault login` wrote. Filters are the CLI's
(`collection`, `tag`, `model`, `lora`, `base_model`, `author`, `since`,
`until`); errors are the CLI's too: `UsageError` for what can never work as
asked, `CivitaiError` and `ArchiveError` for what was tried and failed.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from civitai_vault.api.targets import Target, parse_target
from civitai_vault.config import Settings, SiteFlags, load_settings, site_flags
from civitai_vault.errors import UsageError
from civitai_vault.records import ImageRecord

if TYPE_CHECKING:
    from civitai_vault.analysis.availability import CheckResult
    from civitai_vault.analysis.results import Stats
    from civitai_vault.archive.lock import Holder
    from civitai_vault.archive.queries import RecordFilter
    from civitai_vault.archive.verify import VerifyResult
    from civitai_vault.export import ExportResult
    from civitai_vault.settings_file import SettingsFile
    from civitai_vault.sources import Filters as FeedFilters
    from civitai_vault.sync.engine import SyncOptions
    from civitai_vault.sync.progress import Reporter
    from civitai_vault.sync.summary import RunSummary as SyncSummary

__all__ = ["Filters", "Vault"]


class Filters(TypedDict, total=False):
    """Which archived images: all given filters must match (as `export` and `stats` take them)."""

    collection: int | None
    tag: str | None
    model: str | None  # checkpoint name, model id or version id
    lora: str | None  # LoRA name, model id or version id
    base_model: str | None
    author: str | None
    since: str | None  # on or after: YYYY[-MM[-DD[THH:MM]]]
    until: str | None  # up to and including: "2024-05" is all of May


class Vault:
    """An archive folder (vault.db and media/), created by the first `sync`."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        limits: dict[str, Any] | None = None,
        **given: Unpack[SiteFlags],
    ) -> None:
        """`given`: site, base_url, image_base_url, video_base_url, api_key, token, as the
        CLI's flags of those names (`config.SiteFlags`); `limits` the limit flags by
        setting key (`api.limits.LIMIT_SETTINGS`)."""
        self._limits = limits
        self._given = site_flags(given, "Vault")
        self._path = Path(path).expanduser() if path is not None else None

    @functools.cached_property
    def settings(self) -> Settings:
        """Read when first needed: reading the archive needs neither config file nor login."""
        return load_settings(archive=self._path, limits=self._limits, **self._given)

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else self.settings.archive

    def __repr__(self) -> str:
        return f"Vault({str(self.path)!r})"

    # ------------------------------------------------------------ online

    def sync(
        self,
        targets: str | Target | Iterable[str | Target],
        *,
        media: bool | None = None,
        embed: bool | None = None,
        sidecars: bool | None = None,
        template: str | None = None,
        limit: int | None = None,
        rate: float | None = None,
        concurrency: int | None = None,
        cdn_rate: float | None = None,
        calls_per_second: float | None = None,
        batch_size: int | None = None,
        filters: FeedFilters | None = None,
        progress: Reporter | None = None,
        repair: bool = False,
        wait: float | None = 0,
        on_wait: Callable[[Holder], None] | None = None,
    ) -> SyncSummary:
        """Archive `targets` (URLs, "collection:N", "post:N", "image:N", "me", or Targets).

        As `civitai-vault sync`: re-runs fetch only what is new. An option left
        at None takes its CIVITAI_VAULT_* variable, else the settings file,
        else the default. The summary's `ok` is False when any target could not
        be archived completely; each target's `problem` says why. `filters`
        (`sources.filters_from_options`) narrow every target's feed, over a
        URL's own query; one its feed does not have is a UsageError. With
        `repair`, every archived file is verified first and the missing, cut
        short or altered ones are fetched again (no targets: all of them).
        Another writer is waited for up to `wait` seconds (None: as long as it
        takes, `on_wait` told for whom), then ArchiveBusy names it.
        """
        from civitai_vault.sync.progress import QuietReporter
        from civitai_vault.sync.run import Pace, run_sync

        # A shown reporter takes the run's wait notices from the moment it is made, so
        # it is closed here whatever happens: a run that never starts (a mistyped
        # target) must not leave it saying the next run's waits to a closed stream.
        reporter = progress or QuietReporter()
        try:
            # --repair alone repairs the broken files and nothing else: no targets.
            named = parse_targets(targets) if targets or not repair else []
            parsed = with_filters(named, filters)
            options = self._sync_options(media, embed, sidecars, template, limit, repair)
            pace = Pace(
                self._chosen("rate", rate),
                self._chosen("concurrency", concurrency),
                self._chosen("cdn_rate", cdn_rate),
                calls_per_second,  # procedure calls per second, inside batches too
                batch_size,  # calls per batched request, 1 = unbatched
            )
            settings = self.settings_for(parsed)
            return asyncio.run(
                run_sync(settings, parsed, options, pace, reporter, wait=wait, on_wait=on_wait)
            )
        finally:
            reporter.close()

    def _sync_options(
        self,
        media: bool | None,
        embed: bool | None,
        sidecars: bool | None,
        template: str | None,
        limit: int | None,
        repair: bool,
    ) -> SyncOptions:
        """What a sync keeps and how it writes files: the arguments over the settings file."""
        from civitai_vault.sync.engine import SyncOptions
        from civitai_vault.sync.files import FileOptions

        chosen = self._preferences
        with_sidecars = chosen.get("sidecars", sidecars)
        return SyncOptions(
            media=chosen.get("media", media),
            limit=limit,
            repair=repair,
            files=FileOptions(
                template=chosen.get("template", template),
                embed=chosen.get("embed", embed),
                sidecar_txt=with_sidecars,
                sidecar_json=with_sidecars,
            ),
        )

    def check_models(
        self,
        *,
        refresh: bool = False,
        max_age: timedelta = timedelta(days=7),
        rate: float | None = None,
        concurrency: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        wait: float | None = 0,
        on_wait: Callable[[Holder], None] | None = None,
    ) -> CheckResult:
        """Which model versions the archived images used are still on Civitai (cached).

        `progress(done, total)` is called as look-ups finish. The archive's
        writer lock is waited for as by `sync`.
        """
        from civitai_vault.analysis.availability import check_archive_models
        from civitai_vault.archive import open_archive

        pace = {k: v for k, v in (("rate", rate), ("concurrency", concurrency)) if v is not None}
        with open_archive(self.path, create=False, wait=wait, on_wait=on_wait) as opened:
            return asyncio.run(
                check_archive_models(
                    opened.conn,
                    self.settings.client_settings(**pace),
                    refresh=refresh,
                    max_age=max_age,
                    on_progress=progress,
                )
            )

    # ------------------------------------------------------------ offline

    def images(self, **filters: Unpack[Filters]) -> Iterator[ImageRecord]:
        """The archived images the filters select, newest first, one at a time."""
        from civitai_vault.archive import open_archive
        from civitai_vault.archive.queries import iter_records

        selected = record_filter(filters)
        with open_archive(self.path, create=False, reading=True) as opened:
            for record in iter_records(opened.conn, selected):
                yield ImageRecord.from_dict(record)

    def stats(self, *, top: int = 25, **filters: Unpack[Filters]) -> Stats:
        """What `civitai-vault stats --json` prints, for the images the filters select."""
        from civitai_vault.analysis.stats import compute_stats
        from civitai_vault.archive import open_archive

        selected = record_filter(filters)
        with open_archive(self.path, create=False, reading=True) as opened:
            return compute_stats(opened.conn, selected, top=top)

    def export(
        self,
        path: str | Path | None,
        format: str | None = None,
        *,
        excel: bool = False,
        allow_formulas: bool = False,
        **filters: Unpack[Filters],
    ) -> ExportResult:
        """Write the selected images to `path` (None or "-": stdout): json, jsonl, csv, parquet.

        The format defaults to the file's extension, else jsonl. The file
        appears only when complete. CSV cells a spreadsheet would run as a
        formula get a leading ' unless `allow_formulas`.
        """
        from civitai_vault.archive import open_archive
        from civitai_vault.export import FORMATS, export_archive, format_for_path

        destination = None if path is None or str(path) == "-" else Path(path).expanduser()
        fmt = (format or format_for_path(destination) or "jsonl").lower()
        if fmt not in FORMATS:
            raise UsageError(f"unknown --format {format!r}; choose one of {', '.join(FORMATS)}")
        if excel and fmt != "csv":
            raise UsageError("--excel applies to CSV only; add --format csv")
        if allow_formulas and fmt != "csv":
            raise UsageError("--allow-formulas applies to CSV only; add --format csv")
        selected = record_filter(filters)
        with open_archive(self.path, create=False, reading=True) as opened:
            return export_archive(
                opened.conn,
                selected,
                fmt,
                destination,
                excel=excel,
                allow_formulas=allow_formulas,
            )

    def verify(self) -> VerifyResult:
        """Re-hash every archived file against its recorded size and SHA-256 (`verify`).

        The result names the missing, cut short and altered files; `sync(repair=True)`
        fetches them again.
        """
        from civitai_vault.archive import open_archive
        from civitai_vault.archive.verify import verify_files

        with open_archive(self.path, create=False, reading=True) as opened:
            return verify_files(opened)

    def status(self) -> dict[str, Any]:
        """What `civitai-vault status --json` prints: totals, targets, runs, what is missing."""
        from civitai_vault.archive import open_archive
        from civitai_vault.archive.status import archive_status

        with open_archive(self.path, create=False, reading=True) as opened:
            return archive_status(opened.conn)

    # ------------------------------------------------------------ helpers

    @functools.cached_property
    def _preferences(self) -> SettingsFile:
        """Options not given: environment (CIVITAI_VAULT_*) > settings file > defaults."""
        from civitai_vault.settings_file import SettingsFile

        return SettingsFile()

    def _chosen(self, key: str, given: Any) -> Any:
        """`given`, else what the environment or settings file chose; None leaves the default
        to the client, which also derives others from it (the CDN's concurrency)."""
        value, source = self._preferences.resolve(key, given)
        return None if source == "default" else value

    def settings_for(self, targets: Iterable[Target]) -> Settings:
        """The settings a run over `targets` uses: a civitai.red URL means civitai.red,
        unless `site`, CIVITAI_SITE or the settings file says otherwise."""
        chosen = self.settings.sources.get("site") in ("flag", "env", "settings")
        if chosen or not any(target.site == "red" for target in targets):
            return self.settings
        red: SiteFlags = {**self._given, "site": "red"}
        return load_settings(archive=self.path, limits=self._limits, **red)


def parse_targets(targets: str | Target | Iterable[str | Target]) -> list[Target]:
    """Targets from text (as the command line takes them) or Target objects; at least one."""
    items = [targets] if isinstance(targets, str | Target) else list(targets)
    if not items:
        raise UsageError(
            "name at least one target: a collection URL, collection:N, post:N, "
            "image:N, /user/NAME/images, or me"
        )
    return [item if isinstance(item, Target) else parse_target(item) for item in items]


def with_filters(targets: list[Target], filters: FeedFilters | None) -> list[Target]:
    """Each target with `filters` over its own; a filter a target's feed lacks is refused."""
    from dataclasses import replace

    from civitai_vault.sources import checked

    merged = [replace(t, filters=t.filters.merged(filters)) if filters else t for t in targets]
    try:
        return [checked(target) for target in merged]
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def record_filter(filters: Filters) -> RecordFilter:
    """The archive's filter for `filters`; a malformed date is a UsageError naming it."""
    from civitai_vault.archive.queries import RecordFilter
    from civitai_vault.export import parse_date_bound

    values: dict[str, Any] = dict(filters)
    unknown = set(values) - set(Filters.__annotations__)
    if unknown:
        known = ", ".join(Filters.__annotations__)
        raise UsageError(f"unknown filter {sorted(unknown)[0]!r}; use {known}")
    for bound in ("since", "until"):
        if values.get(bound):
            values[bound] = parse_date_bound(values[bound], f"--{bound}")
    return RecordFilter(**values)
