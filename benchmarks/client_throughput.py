"""How many API requests per second the client gets through, against the emulator.

    python benchmarks/client_throughput.py [--requests 400] [--latency 0 0.05]

For each emulator latency (0 and 50 ms by default) and client concurrency
(1, 4, 16), one client with no pace limit (rate 0) fetches the generation
data of `--requests` images (the call the sync engine makes most) and the
table shows requests per second and the median time per call. With latency,
throughput should grow about linearly with concurrency until the emulator or
the client's own overhead is the limit; without it, the numbers are the
client's and the emulator's overhead per call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from civitai_emulator import EmulatorConfig, Faults, running_emulator
from civitai_vault.api import CivitaiClient, ClientSettings

CONCURRENCY = (1, 4, 16)


async def measure(emu: Any, concurrency: int, count: int) -> tuple[float, float]:
    """(requests per second, median seconds per call) for `count` calls."""
    settings = ClientSettings(
        site="red",
        base_url=emu.base_url,
        image_base_url=emu.image_base_url,
        api_key=emu.api_key,
        rate=0,
        concurrency=concurrency,
    )
    ids = emu.dataset.image_ids[:count]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for image_id in ids:
        queue.put_nowait(image_id)
    durations: list[float] = []
    async with CivitaiClient(settings) as client:
        await client.get_generation_data(ids[0])  # open the connection pool first

        async def worker() -> None:
            # As many workers as the client lets through: each call's time is its own,
            # not time spent queueing for the concurrency gate.
            while not queue.empty():
                image_id = queue.get_nowait()
                started = time.perf_counter()
                await client.get_generation_data(image_id)
                durations.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(ids) / elapsed, statistics.median(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.05])
    args = parser.parse_args()

    rows: list[tuple[float, int, float, float]] = []
    with running_emulator(EmulatorConfig(seed=1, images=max(600, args.requests))) as emu:
        for latency in args.latency:
            emu.set_faults(Faults(latency=latency))
            for concurrency in CONCURRENCY:
                rate, median = asyncio.run(measure(emu, concurrency, args.requests))
                rows.append((latency, concurrency, rate, median))

    print(f"{'latency ms':>10}  {'concurrency':>11}  {'requests/s':>10}  {'median ms':>9}")
    for latency, concurrency, rate, median in rows:
        print(f"{latency * 1000:>10.0f}  {concurrency:>11}  {rate:>10.1f}  {median * 1000:>9.1f}")


if __name__ == "__main__":
    main()
