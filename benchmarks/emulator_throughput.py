"""How fast the emulator starts and answers, so it is never what a benchmark measures.

    python benchmarks/emulator_throughput.py [--images 100000] [--requests 300]

Prints three tables:

1. start-up: building the dataset and opening both listeners, for 600, 2,000 and
   `--images` images (records are built lazily, so this stays well under a second);
2. API: requests per second for the calls a sync makes (generation data, tags, a
   200-item listing page) with 1 and 8 concurrent callers, plus the time to page
   through the whole `all_collection` of the large dataset;
3. CDN: originals per second for each format, first request (generated) and
   repeated (from the cache).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.api.codec import decode_devalue


def row(*cells: Any) -> str:
    return "  ".join(f"{cell:>14}" if i else f"{cell:<34}" for i, cell in enumerate(cells))


def start_up(images: int) -> tuple[float, float]:
    started = time.perf_counter()
    with running_emulator(EmulatorConfig(images=images)) as emu:
        ready = time.perf_counter() - started
        first = time.perf_counter()
        emu.dataset.images[emu.dataset.image_ids[-1]]
        record = time.perf_counter() - first
    return ready, record


async def rate(emu: Any, requests: list[tuple[str, dict]], concurrency: int) -> float:
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            procedure, data = queue.get_nowait()
            response = await client.get(
                f"/api/trpc/{procedure}", params={"input": json.dumps({"json": data})}
            )
            response.raise_for_status()

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=emu.base_url, headers=headers, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return len(requests) / (time.perf_counter() - started)


def api_table(emu: Any, count: int) -> None:
    dataset = emu.dataset
    ids = dataset.image_ids[:count]
    collection = dataset.named["all_collection"]
    cases: dict[str, Callable[[], list[tuple[str, dict]]]] = {
        "image.getGenerationData": lambda: [("image.getGenerationData", {"id": i}) for i in ids],
        "tag.getVotableTags": lambda: [
            ("tag.getVotableTags", {"id": i, "type": "image"}) for i in ids
        ],
        "image.getInfinite (200 items)": lambda: (
            [("image.getInfinite", {"collectionId": collection, "limit": 200})]
            * max(count // 20, 5)
        ),
    }
    print(row("API call", "req/s (1)", "req/s (8)"))
    for label, make in cases.items():
        one = asyncio.run(rate(emu, make(), 1))
        eight = asyncio.run(rate(emu, make(), 8))
        print(row(label, f"{one:,.0f}", f"{eight:,.0f}"))


def full_listing(emu: Any) -> tuple[int, int, float]:
    collection = emu.dataset.named["all_collection"]
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    cursor, pages, items = None, 0, 0
    started = time.perf_counter()
    with httpx.Client(base_url=emu.base_url, headers=headers, timeout=60) as client:
        while True:
            data: dict[str, Any] = {"collectionId": collection, "limit": 200, "sort": "Newest"}
            if cursor is not None:
                data["cursor"] = cursor + 1
            answer = client.get(
                "/api/trpc/image.getInfinite", params={"input": json.dumps({"json": data})}
            ).json()["result"]["data"]
            body = page_of(answer)
            pages += 1
            items += len(body["items"])
            cursor = body.get("nextCursor")
            if cursor is None:
                return pages, items, time.perf_counter() - started


def page_of(data: Any) -> dict[str, Any]:
    """A listing page from a call's `result.data`: superjson (`{"json": ...}`) or devalue
    (the live site's answers since 2026-07, and the emulator's default)."""
    if isinstance(data, dict) and "json" in data:
        return data["json"]
    return decode_devalue(data)


def cdn_table(emu: Any, per_format: int) -> None:
    dataset = emu.dataset
    by_format: dict[str, list[Any]] = {}
    for image_id in dataset.image_ids:
        record = dataset.images[image_id]
        by_format.setdefault(record.mime_type, []).append(record)
    print(row("CDN original", "first/s", "cached/s", "avg KB"))
    with httpx.Client(timeout=60) as client:
        for mime, records in sorted(by_format.items()):
            chosen = records[:per_format]
            params = "transcode=true,original=true" if mime.startswith("video") else "original=true"
            urls = [f"{emu.image_base_url}/{r.uuid}/{params}/{r.id}" for r in chosen]
            sizes = []
            started = time.perf_counter()
            for url in urls:
                sizes.append(len(client.get(url).content))
            first = len(urls) / (time.perf_counter() - started)
            started = time.perf_counter()
            for url in urls:
                client.get(url)
            cached = len(urls) / (time.perf_counter() - started)
            print(
                row(
                    mime,
                    f"{first:,.0f}",
                    f"{cached:,.0f}",
                    f"{sum(sizes) / len(sizes) / 1024:,.0f}",
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    print(row("start-up", "ready (s)", "1st record (ms)"))
    for images in sorted({600, 2_000, args.images}):
        ready, record = start_up(images)
        print(row(f"{images:,} images", f"{ready:.3f}", f"{record * 1000:.2f}"))
    print()
    with running_emulator(EmulatorConfig(images=args.images, site_mode="red")) as emu:
        api_table(emu, args.requests)
        pages, items, seconds = full_listing(emu)
        print(row(f"all_collection: {pages} pages", f"{items:,} items", f"{seconds:.1f} s"))
        print()
        cdn_table(emu, max(args.requests // 10, 10))


if __name__ == "__main__":
    main()
