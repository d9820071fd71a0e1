"""Sync-time filters: what of a feed to archive (`--nsfw`, `--type`, `--since`, ...).

The same filters come from flags and from a pasted URL's query string
(`?sort=Newest&types=video&baseModels=SDXL 1.0`). Each source declares which
ones its feed has; one it does not have is refused, never ignored. A filtered
target is its own target in the archive (its key carries the filter), so its
completeness is judged against the filtered listing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "NSFW_LEVELS",
    "PERIODS",
    "SORTS",
    "Filters",
    "parse_date",
    "parse_nsfw",
]

# Browsing levels (civitai/civitai @ ebed6616, src/server/common/enums.ts NsfwLevel):
# PG=1, PG13=2, R=4, X=8, XXX=16.
NSFW_LEVELS = {"pg": 1, "pg13": 2, "r": 4, "x": 8, "xxx": 16}
ALL_LEVELS = 31
SORTS = ("Newest", "Oldest", "Most Reactions", "Most Comments", "Most Collected")
PERIODS = ("Day", "Week", "Month", "Year", "AllTime")
TYPES = ("image", "video")
DEFAULT_SORT = "Newest"
DEFAULT_PERIOD = "AllTime"


@dataclass(frozen=True)
class Filters:
    """What to keep of a feed; every field None means "everything, in the default order"."""

    nsfw: int | None = None  # browsing-level bitmask
    types: tuple[str, ...] | None = None  # ("image",) / ("video",)
    since: date | None = None
    until: date | None = None
    base_models: tuple[str, ...] | None = None
    sort: str | None = None
    period: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())  # source-specific (reactions=Like,...)

    def __post_init__(self) -> None:
        # The defaults are what every listing does anyway: not a filter.
        if self.sort == DEFAULT_SORT:
            object.__setattr__(self, "sort", None)
        if self.period == DEFAULT_PERIOD:
            object.__setattr__(self, "period", None)

    def __bool__(self) -> bool:
        return bool(self.names())

    def names(self) -> list[str]:
        """The filters that are set (by their flag names)."""
        return [name for name, _ in self.items()]

    def items(self) -> list[tuple[str, str]]:
        """Set filters as (name, value) pairs in a fixed order: the target key's query part."""
        out: list[tuple[str, str]] = []
        if self.nsfw is not None:
            out.append(("nsfw", str(self.nsfw)))
        if self.types:
            out.append(("type", ",".join(self.types)))
        if self.since is not None:
            out.append(("since", self.since.isoformat()))
        if self.until is not None:
            out.append(("until", self.until.isoformat()))
        if self.base_models:
            out.append(("base-model", ",".join(self.base_models)))
        if self.sort is not None:
            out.append(("sort", self.sort))
        if self.period is not None:
            out.append(("period", self.period))
        out.extend(sorted(self.extra))
        return out

    def query(self) -> str:
        """The target key's query part: what changes which images belong (not the order)."""
        return urlencode([(name, value) for name, value in self.items() if name != "sort"])

    def changes_listing(self) -> bool:
        return bool(self.query())

    def as_dict(self) -> dict[str, str]:
        return dict(self.items())

    def merged(self, other: Filters) -> Filters:
        """These filters with `other`'s set values on top (flags over a URL's query)."""
        changes: dict[str, Any] = {
            name: getattr(other, name)
            for name in ("nsfw", "types", "since", "until", "base_models", "sort", "period")
            if getattr(other, name) is not None
        }
        if other.extra:
            changes["extra"] = tuple(sorted({**dict(self.extra), **dict(other.extra)}.items()))
        return replace(self, **changes)

    def get_extra(self, name: str) -> str | None:
        return dict(self.extra).get(name)

    def keeps_date(self, when: datetime | None) -> bool:
        """Does an image created at `when` fall inside --since/--until (inclusive, UTC days)?"""
        if self.since is None and self.until is None:
            return True
        if when is None:
            return False  # cannot show it is inside the window
        day = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).date()
        if self.since is not None and day < self.since:
            return False
        return not (self.until is not None and day > self.until)


def parse_nsfw(text: str) -> int:
    """`--nsfw`: a bitmask (1..31) or level names joined by commas (`PG,PG13`, `R`, `all`)."""
    raw = text.strip()
    if raw.isdigit():
        value = int(raw)
        if not 1 <= value <= ALL_LEVELS:
            raise ValueError(f"--nsfw {raw}: a bitmask is 1..31 (PG=1, PG13=2, R=4, X=8, XXX=16)")
        return value
    if raw.lower() in ("all", "true"):
        return ALL_LEVELS
    if raw.lower() in ("none", "false", "sfw"):
        return NSFW_LEVELS["pg"]
    mask = 0
    for part in raw.replace("+", ",").split(","):
        level = NSFW_LEVELS.get(part.strip().lower().replace("-", ""))
        if level is None:
            raise ValueError(
                f"--nsfw {raw!r}: use level names PG, PG13, R, X, XXX (comma-separated), "
                "all, or a bitmask 1..31"
            )
        mask |= level
    return mask


def parse_date(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValueError(f"{flag} {text!r}: use a date as YYYY-MM-DD") from None


def parse_choice(text: str, choices: tuple[str, ...], flag: str) -> str:
    wanted = text.strip().replace("+", " ").lower()
    for choice in choices:
        if choice.lower() == wanted or choice.lower().replace(" ", "") == wanted.replace(" ", ""):
            return choice
    raise ValueError(f"{flag} {text!r}: use one of {', '.join(choices)}")


def parse_types(text: str, flag: str = "--type") -> tuple[str, ...]:
    kinds = tuple(sorted({parse_choice(p, TYPES, flag) for p in text.split(",") if p.strip()}))
    if not kinds:
        raise ValueError(f"{flag}: use image or video")
    return kinds


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def filters_from_options(
    *,
    nsfw: str | None = None,
    type_: str | None = None,
    since: str | None = None,
    until: str | None = None,
    base_model: list[str] | None = None,
    sort: str | None = None,
    period: str | None = None,
) -> Filters:
    """Filters from the `sync` flags; ValueError (one line) for a value that can never work."""
    found = Filters(
        nsfw=parse_nsfw(nsfw) if nsfw else None,
        types=parse_types(type_) if type_ else None,
        since=parse_date(since, "--since") if since else None,
        until=parse_date(until, "--until") if until else None,
        base_models=tuple(b for text in base_model or [] for b in parse_list(text)) or None,
        sort=parse_choice(sort, SORTS, "--sort") if sort else None,
        period=parse_choice(period, PERIODS, "--period") if period else None,
    )
    if found.since and found.until and found.since > found.until:
        raise ValueError(f"--since {found.since} is after --until {found.until}")
    return found


def filters_from_query(source: Any, query: Mapping[str, list[str]]) -> Filters:
    """Filters from a pasted URL's query string, by what `source.query` understands.

    A parameter the source does not list is refused (ValueError, one line):
    silently dropping `?types=video` would archive the wrong images.
    """
    values: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for param, given in query.items():
        if param not in source.query:
            known = ", ".join(sorted(k for k in source.query)) or "none"
            raise ValueError(
                f"the URL's query parameter {param!r} is not understood for {source.title} "
                f"(understood: {known}); remove it or use a sync flag"
            )
        name = source.query[param]
        text = ",".join(v for v in given if v.strip())
        if name is None or not text:
            continue
        flag = f"?{param}="
        if name == "nsfw":
            values["nsfw"] = parse_nsfw(text)
        elif name == "type":
            values["types"] = parse_types(text, flag)
        elif name == "base-model":
            values["base_models"] = parse_list(text)
        elif name == "sort":
            values["sort"] = parse_choice(text, SORTS, flag)
        elif name == "period":
            values["period"] = parse_choice(text, PERIODS, flag)
        elif name in ("since", "until"):
            values[name] = parse_date(text, flag)
        else:
            extra[name] = text
    return Filters(**values, extra=tuple(sorted(extra.items())))


def check_supported(source: Any, filters: Filters) -> None:
    """ValueError when a filter is set that the source's feed does not have."""
    unsupported = [
        name
        for name in filters.names()
        if name not in source.filters and name not in dict(filters.extra)
    ]
    if unsupported:
        have = ", ".join(f"--{n}" for n in sorted(source.filters)) or "no filters"
        raise ValueError(
            f"{source.title} cannot be filtered by {', '.join('--' + n for n in unsupported)} "
            f"(it has {have})"
        )
