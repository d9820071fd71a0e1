"""How much a server may make the client hold, write, wait for or walk.

Nothing a server sends is trusted to be small: one answer, one file, one
listing could otherwise fill the memory, the disk or the rest of the day
(an 800 MB page, an endless or gzip-bombed file, one byte every few seconds,
a few hundred bytes of devalue whose shared references expand to gigabytes).
Each limit fails the one request or item that went past it, with a one-line
reason naming the setting that raises it; the run goes on.

The defaults sit far above anything Civitai really sends: a listing page of
200 images with tags is about 1 MB and 80,000 values, a generation-data
answer a few KB, an original image tens of MB, a video clip a few hundred MB,
the largest generated images (8k upscales) about 70 megapixels, and Civitai's
own proxy gives up on a request after about 30 s.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["DEFAULT_LIMITS", "LIMIT_SETTINGS", "MAX_JSON_DEPTH", "LimitSetting", "Limits"]

MB = 1024 * 1024
# Decoding walks values recursively; deeper than this would meet Python's own
# recursion limit (1000) before the configured one.
MAX_JSON_DEPTH = 500


@dataclass(frozen=True)
class Limits:
    """The bounds the client keeps, each with the flag that raises it.

    answer_bytes: one API answer, counted after decompression.
    file_bytes: one downloaded file, counted after decompression.
    api_seconds / download_seconds: total time for one API request / one file,
        from sending it to its last byte (the time between two bytes is the
        client's `timeout`).
    image_pixels: width x height of one image file, checked before decoding.
    json_depth: nesting of objects and arrays in one answer.
    answer_values: values in one decoded answer, with devalue's shared
        references counted each time they are used (what the decoded copy holds).
    listing_pages: pages of one listing.
    """

    answer_bytes: int = 64 * MB
    file_bytes: int = 1024 * MB
    api_seconds: float = 120.0
    download_seconds: float = 1800.0
    # About Pillow's own decompression-bomb threshold (89.5 Mpx, where it only warns).
    image_pixels: int = 90_000_000
    json_depth: int = 100
    answer_values: int = 1_000_000
    listing_pages: int = 100_000

    def __post_init__(self) -> None:
        for name in ("answer_bytes", "file_bytes", "image_pixels", "answer_values"):
            if getattr(self, name) < 1:
                raise ValueError(f"the limit {name} must be at least 1")
        if self.listing_pages < 1:
            raise ValueError("the listing page limit must be at least 1")
        if self.api_seconds <= 0 or self.download_seconds <= 0:
            raise ValueError("time limits must be more than 0 seconds")
        if not 1 <= self.json_depth <= MAX_JSON_DEPTH:
            raise ValueError(f"the JSON depth limit must be between 1 and {MAX_JSON_DEPTH}")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class LimitSetting:
    """A limit as the user sets it: its setting key (and flag), unit, and `Limits` field."""

    key: str
    field: str
    scale: float  # user units -> the field's units (MB -> bytes, megapixels -> pixels)
    kind: type
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def default(self) -> int | float:
        value = getattr(DEFAULT_LIMITS, self.field) / self.scale
        return self.kind(value)

    def to_field(self, value: float) -> int | float:
        scaled = value * self.scale
        return int(scaled) if isinstance(getattr(DEFAULT_LIMITS, self.field), int) else scaled


LIMIT_SETTINGS: tuple[LimitSetting, ...] = (
    LimitSetting("max_answer_mb", "answer_bytes", MB, int, "largest API answer, in MB"),
    LimitSetting("max_file_mb", "file_bytes", MB, int, "largest file, in MB"),
    LimitSetting("api_timeout", "api_seconds", 1, float, "seconds one API request may take"),
    LimitSetting("download_timeout", "download_seconds", 1, float, "seconds one file may take"),
    LimitSetting("max_image_mpx", "image_pixels", 1e6, float, "largest image, in megapixels"),
    LimitSetting("max_json_depth", "json_depth", 1, int, "deepest nesting in an API answer"),
    LimitSetting("max_answer_values", "answer_values", 1, int, "values in one decoded API answer"),
    LimitSetting("max_pages", "listing_pages", 1, int, "pages of one listing"),
)
assert {ls.field for ls in LIMIT_SETTINGS} == {f.name for f in fields(Limits)}

# The flag that raises each limit, for the messages that report one.
FLAGS = {setting.field: setting.flag for setting in LIMIT_SETTINGS}
