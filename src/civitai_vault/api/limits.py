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

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "MAX_JSON_DEPTH", "Limits"]

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
    # Pillow's own decompression-bomb threshold (it only warns there, and refuses at twice it).
    image_pixels: int = 89_478_485
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

# The flag that raises each limit, for the messages that report one.
FLAGS = {
    "answer_bytes": "--max-answer-mb",
    "file_bytes": "--max-file-mb",
    "api_seconds": "--api-timeout",
    "download_seconds": "--download-timeout",
    "image_pixels": "--max-image-mpx",
    "json_depth": "--max-json-depth",
    "answer_values": "--max-answer-values",
    "listing_pages": "--max-pages",
}
