"""Short real MP4 clips (H.264 through PyAV), encoded once per size and reused.

A served copy is made unique by appending a top-level `free` box naming the image, a
box every MP4 reader skips. The first frame doubles as the still that the CDN returns
for a video asked for without `transcode=true` (the gallery-dl gotcha).
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading

import av
from PIL import Image, ImageDraw

from civitai_emulator.media import draw_band

FRAMES = 16
FRAME_RATE = 8


class ClipMaker:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._clips: dict[tuple[int, int], tuple[bytes, Image.Image]] = {}

    def base_clip(self, width: int, height: int) -> tuple[bytes, Image.Image]:
        """(MP4 bytes, first frame) for a size; H.264 wants even dimensions."""
        key = (width - width % 2, height - height % 2)
        with self._lock:
            cached = self._clips.get(key)
            if cached is None:
                cached = self._encode(*key)
                self._clips[key] = cached
        return cached

    def _encode(self, width: int, height: int) -> tuple[bytes, Image.Image]:
        background = draw_band(self.seed, width, height, 0, (width + height) % 8)
        frames = [_frame(background, index) for index in range(FRAMES)]
        # faststart (moov before mdat, as streamed uploads have it) needs a real file:
        # the muxer reopens it to move the index to the front.
        with tempfile.TemporaryDirectory(prefix="civitai-emulator-") as folder:
            path = os.path.join(folder, "clip.mp4")
            self._write(path, frames, width, height)
            with open(path, "rb") as clip:
                return clip.read(), frames[0]

    @staticmethod
    def _write(path: str, frames: list[Image.Image], width: int, height: int) -> None:
        with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=FRAME_RATE)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "32", "preset": "ultrafast"}
            for picture in frames:
                for packet in stream.encode(av.VideoFrame.from_image(picture)):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    def copy_for(self, image_key: str, width: int, height: int) -> bytes:
        clip, _ = self.base_clip(width, height)
        payload = f"civitai-emulator {image_key}".encode()
        return clip + struct.pack(">I", 8 + len(payload)) + b"free" + payload

    def first_frame(self, width: int, height: int) -> Image.Image:
        return self.base_clip(width, height)[1]


def _frame(background: Image.Image, index: int) -> Image.Image:
    frame = background.copy()
    draw = ImageDraw.Draw(frame)
    width, height = frame.size
    radius = max(min(width, height) // 8, 4)
    x = radius + (width - 2 * radius) * index // max(FRAMES - 1, 1)
    y = height // 2
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(250, 240, 230))
    return frame
