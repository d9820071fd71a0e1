"""How long verifying a download and embedding its generation data take, per format and size.

    python benchmarks/embed_speed.py [--repeat 20]

For each format and size, fixture images are made with Pillow, then each one
is verified (`verify_file`: structure walk plus a full decode) and embedded
(`embed_metadata`: A1111 text and XMP, atomic replace, SHA-256). Prints the
median milliseconds per file and the throughput in MB/s of file size. The
decode in `verify_file` dominates; embedding is metadata-only and should stay
close to the cost of reading and rewriting the bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from civitai_vault.media.embed import embed_metadata
from civitai_vault.media.verify import verify_file

SIZES = ((512, 768), (1024, 1536), (2048, 3072))
FORMATS = {
    "png": {"format": "PNG"},
    "jpeg": {"format": "JPEG", "quality": 92},
    "webp": {"format": "WEBP", "quality": 90},
}
RECORD = {
    "image_id": 1,
    "prompt": "masterpiece, a cat in a garden, (detailed fur:1.2), <lora:detail:0.8>\n" * 4,
    "negative_prompt": "lowres, bad hands, worst quality",
    "sampler": "DPM++ 2M Karras",
    "steps": 30,
    "cfg_scale": 7,
    "seed": 123456789,
    "width": 1024,
    "height": 1536,
    "model": "Pony Diffusion V6 XL",
    "model_version": "V6",
    "model_version_id": 290640,
    "loras": [{"name": "detail", "weight": 0.8, "model_version_id": 111, "version_name": "v1"}],
    "embeddings": [],
    "tags": ["cat", "garden", "anime", "animal"],
    "author": "alice",
    "raw_meta_json": json.dumps({"Model hash": "a1b2c3d4e5", "Hires upscale": 1.5}),
}


def noise_image(size: tuple[int, int]) -> Image.Image:
    """Noisy pixels, so the files are as large as real generations and compress as badly."""
    return Image.effect_noise(size, 64).convert("RGB")


def measure(folder: Path, name: str, options: dict, size: tuple[int, int], repeat: int) -> dict:
    source = folder / f"source-{name}-{size[0]}"
    noise_image(size).save(source, **options)
    data = source.read_bytes()
    verify_ms, embed_ms = [], []
    for index in range(repeat):
        path = folder / f"{name}-{size[0]}-{index}"
        path.write_bytes(data)
        started = time.perf_counter()
        verify_file(path, len(data))
        verified = time.perf_counter()
        embed_metadata(path, RECORD)
        embedded = time.perf_counter()
        verify_ms.append((verified - started) * 1000)
        embed_ms.append((embedded - verified) * 1000)
        path.unlink()
    megabytes = len(data) / 1e6
    verify_median, embed_median = statistics.median(verify_ms), statistics.median(embed_ms)
    return {
        "format": name,
        "size": f"{size[0]}x{size[1]}",
        "MB": megabytes,
        "verify ms": verify_median,
        "embed ms": embed_median,
        "embed MB/s": megabytes / (embed_median / 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, options in FORMATS.items():
            for size in SIZES:
                rows.append(measure(Path(folder), name, options, size, args.repeat))
    header = (
        f"{'format':<6} {'size':>10} {'MB':>6} {'verify ms':>10} {'embed ms':>9} {'embed MB/s':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['format']:<6} {row['size']:>10} {row['MB']:>6.2f} {row['verify ms']:>10.1f}"
            f" {row['embed ms']:>9.1f} {row['embed MB/s']:>11.0f}"
        )


if __name__ == "__main__":
    main()
