"""The image CDN: which bytes a URL names (civitai/civitai @ ebed6616, src/client-utils/edge-url.ts
and src/client-utils/cf-images-utils.ts).

Three hosts, each its own listener:

- the image CDN (image.civitai.com): `/<account key>/<uuid>/<params>/<name>` (the
  name is cosmetic and may be left out);
- the video origin (image-b2.civitai.com, the image-cacher's Backblaze bucket that
  live clients moved to in 2026-06, gallery-dl gh#9421):
  `/file/civitai-media-cache/<uuid>/original`, the original bytes (a video's MP4);
- the generator's blob host (orchestration.civitai.com):
  `/v2/consumer/blobs/<blobId>.jpeg` and `<blobId>.mp4` for on-site generations still
  kept (see `civitai_emulator.generations`); deleted ones are 404.

Params are comma-joined `key=value` pairs:

- images: `original=true` (or no size) gives the original upload, PNG/JPEG/WebP with
  whatever metadata it carried; `width=`/`height=` give a smaller JPEG.
- videos: only `transcode=true` or `quality=100` (and not `anim=false`) give the MP4;
  a bare `original=true`, `anim=false` or a size gives a still WebP of the first
  frame. That is the gotcha that makes naive archivers save 1-frame pictures.
- a video's `thumbnailUrl` uuid gives its poster still.
- images stored as TIFF (`image/tiff`) are served as TIFF originals.

Two named videos break the rules on purpose: `b2_missing_video_image` is not in the
Backblaze bucket (404 there, `transcode=true` still works) and
`still_only_video_image` answers a still from every URL, so no origin gives a video.

An unknown uuid, blob or account key is a 404.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from civitai_emulator.dataset import Dataset, ImageRecord, image_uuid
from civitai_emulator.generations import output_by_blob
from civitai_emulator.media import PictureMaker, scaled_size, sniff_content_type
from civitai_emulator.video import ClipMaker

ACCOUNT_KEY = "xG1nkqKTMzGDvpLrqFT7WA"
B2_PREFIX = ("file", "civitai-media-cache")
CACHE_BUDGET_BYTES = 192 * 1024 * 1024


@dataclass(frozen=True)
class AssetRequest:
    """What a URL asks for; `variant` is the cache key besides `key` (uuid or blob id).
    `record` is the dataset image, None for a generated file."""

    key: str
    record: ImageRecord | None
    variant: tuple
    poster: bool = False


def parse_params(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            params[key.strip()] = value.strip()
    return params


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(float(value))
    except ValueError:
        return None
    return number if number > 0 else None


class Cdn:
    """Maps URLs to bytes, with an LRU cache shared by all requests."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.pictures = PictureMaker(dataset)
        self.clips = ClipMaker(dataset.seed)
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._cache_bytes = 0
        self._lock = threading.Lock()
        self._posters: dict[str, int] | None = None
        self._blobs: dict[str, Any] | None = None

    # --- URL -> request -----------------------------------------------------------

    def resolve(self, path: str, listener: str = "cdn") -> AssetRequest | None:
        """The asset a path names on a listener ("cdn", "video" or "generator")."""
        segments = [s for s in path.split("/") if s]
        if listener == "generator":
            return self._blob(segments)
        if listener == "video":
            if len(segments) != 4 or tuple(segments[:2]) != B2_PREFIX or segments[3] != "original":
                return None
            uuid, params = segments[2], {"original": "true", "quality": "100"}
            record = self.dataset.image_by_uuid(uuid)
            if record is None or self._role(record) == "b2_missing_video_image":
                return None
            return AssetRequest(record.uuid, record, self._variant(record, params))
        if len(segments) < 2 or segments[0] != ACCOUNT_KEY:
            return None
        uuid = segments[1]
        params = parse_params(segments[2]) if len(segments) >= 3 and "=" in segments[2] else {}
        record = self.dataset.image_by_uuid(uuid)
        if record is not None:
            return AssetRequest(record.uuid, record, self._variant(record, params))
        video_id = self._poster_index().get(uuid)
        if video_id is None:
            return None
        record = self.dataset.images[video_id]
        size = scaled_size(
            record.width, record.height, _int(params.get("width")), _int(params.get("height"))
        )
        return AssetRequest(record.uuid, record, ("still", size), poster=True)

    def _blob(self, segments: list[str]) -> AssetRequest | None:
        if len(segments) != 4 or segments[:3] != ["v2", "consumer", "blobs"]:
            return None
        blob_id, _, extension = segments[3].partition(".")
        if self._blobs is None:
            self._blobs = output_by_blob(self.dataset)
        found = self._blobs.get(blob_id)
        if found is None:
            return None
        output = found[1]
        if output.type == "video":
            if extension not in ("mp4", ""):
                return None
            return AssetRequest(blob_id, None, ("mp4", _even((output.width, output.height))))
        if extension not in ("jpeg", "jpg", ""):
            return None
        return AssetRequest(blob_id, None, ("generated", (output.width, output.height)))

    def _role(self, record: ImageRecord) -> str | None:
        return self.dataset._core.role_of.get(self.dataset._core.index_of[record.id])

    def _variant(self, record: ImageRecord, params: dict[str, str]) -> tuple:
        want_width, want_height = _int(params.get("width")), _int(params.get("height"))
        size = scaled_size(record.width, record.height, want_width, want_height)
        if record.type == "video":
            wants_video = params.get("transcode") == "true" or params.get("quality") == "100"
            stubborn = self._role(record) == "still_only_video_image"
            if wants_video and params.get("anim") != "false" and not stubborn:
                return ("mp4", _even(size))
            return ("still", size)
        if size == (record.width, record.height):
            return ("original",)
        return ("resized", size)

    def _poster_index(self) -> dict[str, int]:
        if self._posters is None:
            seed = self.dataset.seed
            self._posters = {
                image_uuid(seed, -image_id): image_id
                for image_id in self.dataset.image_ids
                if self.dataset.type_of(image_id) == "video"
            }
        return self._posters

    # --- request -> bytes ---------------------------------------------------------

    def cached(self, asset: AssetRequest) -> bytes | None:
        key = (asset.key, asset.poster, asset.variant)
        with self._lock:
            data = self._cache.get(key)
            if data is not None:
                self._cache.move_to_end(key)
            return data

    def render(self, asset: AssetRequest) -> bytes:
        """The bytes for an asset (CPU work: call it off the event loop)."""
        data = self.cached(asset)
        if data is not None:
            return data
        data = self._render(asset)
        key = (asset.key, asset.poster, asset.variant)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = data
                self._cache_bytes += len(data)
            while self._cache_bytes > CACHE_BUDGET_BYTES and self._cache:
                _, evicted = self._cache.popitem(last=False)
                self._cache_bytes -= len(evicted)
        return data

    def _render(self, asset: AssetRequest) -> bytes:
        record, kind = asset.record, asset.variant[0]
        if record is None:  # a generated file on the blob host
            width, height = asset.variant[1]
            if kind == "mp4":
                return self.clips.copy_for(asset.key, width, height)
            return self.pictures.encoded(self.pictures.picture(asset.key, width, height), "JPEG")
        if kind == "original":
            return self.pictures.original(record)
        if kind == "resized":
            return self.pictures.resized(record.uuid, record.width, record.height, asset.variant[1])
        if kind == "mp4":
            width, height = asset.variant[1]
            if (width, height) == _even((record.width, record.height)):
                return self.clips.copy_for(record.uuid, record.width, record.height)
            return self.clips.copy_for(record.uuid, width, height)
        frame = self.clips.first_frame(record.width, record.height)
        target = asset.variant[1]
        if frame.size != target:
            frame = frame.resize(target)
        return self.pictures.encoded(frame, "WEBP")


def _even(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    return max(width - width % 2, 2), max(height - height % 2, 2)


def content_type_of(data: bytes) -> str:
    return sniff_content_type(data)
