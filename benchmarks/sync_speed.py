"""Sync speed against the emulator: throughput against its bound, re-run cost, memory.

    python benchmarks/sync_speed.py            # 2,000 images with media; 100,000 metadata-only
    python benchmarks/sync_speed.py --quick    # 500 images; 20,000 metadata-only

The emulator runs in its own process with a fixed added latency on every API
and CDN response and no pace limit on our side. With `C` API requests and `D`
downloads in flight and latency `L`, a run that needs `A` API requests and `F`
downloads cannot take less than max(A·L/C, F·L/D) seconds: that is the bound
the measured time is compared with. The sync itself runs as the real command
in a child process, so peak memory is the command's own.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_process import emulator_process

TARGET_SHARE = 0.9  # of the bound, the throughput the requests and the concurrency allow

WRAPPER = (
    "import json, resource, subprocess, sys;"
    "r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
    "sys.stderr.write(r.stderr);"
    "print(json.dumps({'code': r.returncode, 'out': r.stdout,"
    " 'peak_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))"
)


def run_sync(env: dict[str, str], archive: Path, target: str, *extra: str) -> dict:
    command = [
        sys.executable,
        "-m",
        "civitai_vault.cli",
        "sync",
        target,
        "--archive",
        str(archive),
        "--json",
        "--rate",
        "0",
        "--calls-per-second",
        "0",
        "--cdn-rate",
        "0",
        *extra,
    ]
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], env=env, capture_output=True, text=True
    )
    result = json.loads(done.stdout)
    if result["code"] != 0:
        raise SystemExit(f"sync failed ({result['code']}): {done.stderr[-2000:]}")
    summary = json.loads(result["out"])
    summary["peak_mb"] = result["peak_kb"] / 1024
    return summary


def throughput(images: int, latency: float, concurrency: int, work: Path) -> list[tuple]:
    rows = []
    faults = {"latency": latency, "cdn_latency": latency}
    with emulator_process(seed=1, images=images, site_mode="red", faults=faults) as emu:
        env = {**os.environ, **emu.env(), "CIVITAI_VAULT_CONFIG_DIR": str(work / "config")}
        target = f"collection:{emu.named['all_collection']}"
        # The emulator draws each picture on first request; a warm-up pass fills its
        # cache, so the timed run measures the client rather than the emulator's drawing.
        run_sync(env, work / "warm-up", target, "--concurrency", str(concurrency), "--no-embed")
        first = run_sync(env, work / "a", target, "--concurrency", str(concurrency))
        api, cdn = first["api_requests"], first["cdn_requests"]
        bound_s = max(api * latency / concurrency, cdn * latency / concurrency)
        measured_s = first["seconds"]
        # The bound is the CDN's: "CDN slots busy" is how much of the run its slots held
        # a download. Near 100%, what is left between run and bound is each download
        # taking longer than the added latency (this machine's emulator and client
        # sharing its cores), not slots waiting for work.
        busy = first["cdn_seconds"] / concurrency / measured_s
        share = bound_s / measured_s
        rows.append(
            (
                f"sync {images:,} images with media, {latency * 1000:.0f} ms latency, "
                f"concurrency {concurrency}",
                f"{images / measured_s:.1f} img/s = {100 * share:.0f}% of bound "
                f"(CDN slots busy {100 * busy:.0f}%)",
                f">= {100 * TARGET_SHARE:.0f}% of bound {images / bound_s:.1f} img/s "
                f"({api} API + {cdn} CDN requests)",
                "ok" if share >= TARGET_SHARE else "BELOW",
            )
        )
        again = run_sync(env, work / "a", target, "--concurrency", str(concurrency))
        allowed = 1 + math.ceil(images / 200)
        rows.append(
            (
                f"re-run with nothing new ({images:,} images)",
                f"{again['api_requests']} API requests",
                f"allowed 1 + N/200 = {allowed}",
                "ok" if again["api_requests"] <= allowed else "OVER",
            )
        )
    return rows


def memory(images: int, work: Path) -> tuple:
    with emulator_process(seed=2, images=images, site_mode="red") as emu:
        env = {**os.environ, **emu.env(), "CIVITAI_VAULT_CONFIG_DIR": str(work / "config")}
        target = f"collection:{emu.named['all_collection']}"
        summary = run_sync(env, work / "m", target, "--no-media", "--concurrency", "16")
    return (
        f"metadata-only sync of {images:,} images",
        f"peak {summary['peak_mb']:.0f} MB",
        f"{summary['seconds']:.0f} s, {summary['api_requests']} API requests",
        "ok" if summary["peak_mb"] < 300 else "OVER 300 MB",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--images", type=int, help="images for the throughput run")
    parser.add_argument("--memory-images", type=int, help="images for the memory run")
    parser.add_argument("--concurrency", type=int, default=4, help="the sync default is 4")
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    images = args.images or (500 if args.quick else 2000)
    memory_images = args.memory_images or (20_000 if args.quick else 100_000)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        rows = throughput(images, args.latency_ms / 1000, args.concurrency, work)
        rows.append(memory(memory_images, work))
    widths = [max(len(str(row[i])) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
