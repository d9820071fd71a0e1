"""Every benchmark in one run, summed up in one table.

    python benchmarks/run_all.py              # the sizes the targets are stated for (30+ min)
    python benchmarks/run_all.py --quick      # smaller sizes, a few minutes
    python benchmarks/run_all.py --markdown   # the table as Markdown (for the README)

Runs, through the functions of the other scripts in this folder: sync speed
against its bound, re-run cost and memory (sync_speed.py), export speed and
memory (export_speed.py), stats time (stats_speed.py), gallery latency and page
weight (gallery_speed.py), the fault and crash soaks (fault_soak.py,
crash_soak.py), client and emulator throughput (client_throughput.py,
emulator_throughput.py) and verify/embed speed (embed_speed.py). Progress goes
to stderr; the table, headed by the machine it ran on, goes to stdout. A
benchmark that fails shows as a row saying why; the others still run.
Exit code 1 if any verdict is not "ok".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


@dataclass(frozen=True)
class Sizes:
    sync_images: int
    memory_images: int
    archive_images: int
    soak_images: int
    crash_images: int
    crash_kills: int
    client_requests: int
    embed_repeat: int
    emulator_images: int


FULL = Sizes(2_000, 100_000, 100_000, 5_000, 2_000, 20, 400, 20, 100_000)
QUICK = Sizes(500, 20_000, 20_000, 500, 600, 6, 200, 5, 20_000)


@dataclass(frozen=True)
class Row:
    area: str
    measurement: str
    result: str
    target: str = ""
    verdict: str = ""


# ---------------------------------------------------------------- the machine


def machine() -> list[Row]:
    return [
        Row("machine", "CPU", cpu_model()),
        Row("machine", "cores", str(os.cpu_count() or "?")),
        Row("machine", "RAM", ram()),
        Row(
            "machine", "Python", f"{platform.python_version()} ({platform.python_implementation()})"
        ),
        Row("machine", "OS", f"{platform.system()} {platform.release()}"),
    ]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram() -> str:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return "?"
    return f"{pages * page_size / 2**30:.1f} GiB"


# ---------------------------------------------------------------- each benchmark


def sync_rows(sizes: Sizes) -> list[Row]:
    import sync_speed

    with tempfile.TemporaryDirectory(prefix="run-all-sync-") as folder:
        work = Path(folder)
        # The default concurrency (4), then twice that: the re-run row is the first's.
        rows = sync_speed.throughput(sizes.sync_images, 0.05, 4, work / "c4")
        rows.insert(1, sync_speed.throughput(sizes.sync_images, 0.05, 8, work / "c8")[0])
        rows.append(sync_speed.memory(sizes.memory_images, work))
    return [Row("sync", *(str(cell) for cell in row)) for row in rows]


def synthetic_archive(images: int) -> Path:
    from export_speed import ensure_archive

    return ensure_archive(images, 1)


def export_rows(sizes: Sizes) -> list[Row]:
    import export_speed

    archive = synthetic_archive(sizes.archive_images)
    out = HERE / "out"
    export_speed._warm_page_cache(archive / "vault.db")
    rows = []
    for fmt in export_speed.FORMATS:
        small = export_speed.measure(fmt, archive, out, export_speed.SMALL)
        whole = export_speed.measure(fmt, archive, out, None)
        grown = (whole["peak_mb"] - whole["baseline_mb"]) - (
            small["peak_mb"] - small["baseline_mb"]
        )
        rows.append(
            Row(
                "export",
                f"{fmt}, {whole['count']:,} records",
                f"{whole['count'] / whole['seconds']:,.0f} records/s ({whole['seconds']:.1f} s), "
                f"peak {whole['peak_mb']:.0f} MB",
                f"memory flat: +{grown:.0f} MB over {export_speed.SMALL:,} records",
                "ok" if grown < 50 else "GROWS",
            )
        )
    return rows


def stats_rows(sizes: Sizes) -> list[Row]:
    import stats_speed

    archive = synthetic_archive(sizes.archive_images)
    budget = stats_speed.BUDGET_SECONDS
    cases = [
        ("compute_stats, all images", stats_speed.compute(archive, None)),
        ("civitai-vault stats --json", stats_speed.command(archive, "--json")),
    ]
    rows = []
    for label, action in cases:
        best, worst, cpu = stats_speed.timed(action, 3)
        cpu_note = f" (CPU {cpu:.2f} s)"
        rows.append(
            Row(
                "stats",
                f"{label} ({sizes.archive_images:,} images)",
                f"{best:.2f} s best{cpu_note}, {worst:.2f} s worst of 3",
                f"< {budget:.0f} s",
                "ok" if best < budget else "OVER",
            )
        )
    return rows


def gallery_rows(sizes: Sizes) -> list[Row]:
    import gallery_speed
    import httpx

    from civitai_vault.web.server import running_gallery

    archive = synthetic_archive(sizes.archive_images)
    queries = gallery_speed.searches(archive / "vault.db")
    with running_gallery(archive) as base, httpx.Client(base_url=base, timeout=60) as client:
        for warm in ({"q": "warm"}, {"nsfw": 32}, {"sort": "oldest"}, {}):
            client.get(gallery_speed.url("/", warm))
            client.get(gallery_speed.url("/api/images", warm))
        timings = {
            "HTML grid /": gallery_speed.measure(client, "/", queries),
            "JSON /api/images": gallery_speed.measure(client, "/api/images", queries),
        }
        weight = sum(size for _, size in gallery_speed.page_weight(client))
    target_ms = gallery_speed.PAGE_TARGET_MS
    rows = []
    for title, groups in timings.items():
        every = [wall for values in groups.values() for wall, _ in values]
        cpu = [cpu for values in groups.values() for _, cpu in values]
        p95 = gallery_speed.percentile(every, 0.95)
        rows.append(
            Row(
                "gallery",
                f"{title}: first page of {len(every)} new searches",
                f"p95 {p95:.1f} ms, p50 {gallery_speed.statistics.median(every):.1f} ms "
                f"(CPU p95 {gallery_speed.percentile(cpu, 0.95):.1f} ms)",
                f"p95 < {target_ms:.0f} ms",
                "ok" if p95 < target_ms else "SLOW",
            )
        )
    limit = gallery_speed.WEIGHT_TARGET_BYTES
    rows.append(
        Row(
            "gallery",
            "grid page weight before thumbnails",
            f"{weight / 1000:.0f} KB",
            f"< {limit / 1000:.0f} KB",
            "ok" if weight < limit else "HEAVY",
        )
    )
    return rows


def fault_soak_rows(sizes: Sizes) -> list[Row]:
    import fault_soak

    result = fault_soak.soak(sizes.soak_images)
    faulty = result.soaked[0]
    return [
        Row(
            "faults",
            f"sync of {sizes.soak_images:,} images under 5% 500, 5% 429, 2% truncated, "
            "2% malformed, 1% dropped (API and CDN)",
            f"{faulty.api_faults + faulty.cdn_faults:,} faults injected, {faulty.seconds:.0f} s "
            f"(clean {result.clean.seconds:.0f} s); {result.verdict}",
            "identical to a clean run",
            "ok" if result.identical else "DIFFERENT",
        )
    ]


def crash_soak_rows(sizes: Sizes) -> list[Row]:
    import crash_soak

    kills, diff, final_ok = crash_soak.crash_soak(sizes.crash_images, sizes.crash_kills)
    landed = sum(kill.landed for kill in kills)
    sound = all(not kill.damage for kill in kills)
    ok = final_ok and not diff and sound
    return [
        Row(
            "crashes",
            f"kill -9 at {len(kills)} random moments ({sizes.crash_images:,} images)",
            f"{landed} kills landed; sound after each: {'yes' if sound else 'NO'}; "
            f"final run {'identical to a clean run' if ok else 'DIFFERENT'}",
            "sound, then identical",
            "ok" if ok else "FAILED",
        )
    ]


def client_rows(sizes: Sizes) -> list[Row]:
    import client_throughput

    from civitai_emulator import EmulatorConfig, Faults, running_emulator

    latency, concurrency = 0.05, 16
    config = EmulatorConfig(seed=1, images=max(600, sizes.client_requests))
    with running_emulator(config) as emu:
        emu.set_faults(Faults(latency=latency))
        rate, median = asyncio.run(
            client_throughput.measure(emu, concurrency, sizes.client_requests)
        )
    bound = concurrency / latency
    return [
        Row(
            "client",
            f"API calls, {latency * 1000:.0f} ms latency, concurrency {concurrency}",
            f"{rate:.0f} requests/s, median {median * 1000:.0f} ms",
            f"bound {bound:.0f} requests/s",
            f"{100 * rate / bound:.0f}% of bound",
        )
    ]


def embed_rows(sizes: Sizes) -> list[Row]:
    import embed_speed

    rows = []
    with tempfile.TemporaryDirectory(prefix="run-all-embed-") as folder:
        for name, options in embed_speed.FORMATS.items():
            m = embed_speed.measure(Path(folder), name, options, (1024, 1536), sizes.embed_repeat)
            rows.append(
                Row(
                    "media",
                    f"verify + embed a {m['size']} {name} ({m['MB']:.1f} MB)",
                    f"verify {m['verify ms']:.0f} ms, embed {m['embed ms']:.0f} ms "
                    f"({m['embed MB/s']:.0f} MB/s)",
                )
            )
    return rows


def emulator_rows(sizes: Sizes) -> list[Row]:
    import emulator_throughput

    from civitai_emulator import EmulatorConfig, running_emulator

    ready, _ = emulator_throughput.start_up(sizes.emulator_images)
    with running_emulator(EmulatorConfig(images=sizes.emulator_images, site_mode="red")) as emu:
        pages, items, seconds = emulator_throughput.full_listing(emu)
    return [
        Row("emulator", f"start with {sizes.emulator_images:,} images", f"{ready:.2f} s"),
        Row("emulator", f"list all_collection ({pages} pages)", f"{items / seconds:,.0f} items/s"),
    ]


BENCHMARKS: list[tuple[str, Callable[[Sizes], list[Row]]]] = [
    ("sync speed, re-run cost, memory", sync_rows),
    ("export", export_rows),
    ("stats", stats_rows),
    ("gallery", gallery_rows),
    ("fault soak", fault_soak_rows),
    ("crash soak", crash_soak_rows),
    ("client throughput", client_rows),
    ("verify and embed", embed_rows),
    ("emulator", emulator_rows),
]


# ---------------------------------------------------------------- running and printing


def run(sizes: Sizes, only: set[str] | None = None) -> list[Row]:
    rows = machine()
    chosen = [(name, bench) for name, bench in BENCHMARKS if not only or name in only]
    for number, (name, benchmark) in enumerate(chosen, start=1):
        print(f"[{number}/{len(chosen)}] {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            rows += benchmark(sizes)
        except (Exception, SystemExit) as exc:  # one broken benchmark must not hide the rest
            traceback.print_exc(file=sys.stderr)
            reason = " ".join(str(exc).split())[:160] or type(exc).__name__
            rows.append(Row(name, "did not finish", reason, "", "FAILED"))
        print(f"      {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


COLUMNS = ("area", "measurement", "result", "target", "verdict")


def as_text(rows: list[Row]) -> str:
    cells = [COLUMNS] + [(r.area, r.measurement, r.result, r.target, r.verdict) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in cells]  # fmt: skip
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def as_markdown(rows: list[Row]) -> str:
    def clean(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = (r.area, r.measurement, r.result, r.target, r.verdict)
        lines.append("| " + " | ".join(clean(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a few minutes")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument(
        "--only",
        action="append",
        choices=[name for name, _ in BENCHMARKS],
        help="run only this benchmark (repeatable)",
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    started = time.perf_counter()
    rows = run(sizes, set(args.only or ()))
    minutes = (time.perf_counter() - started) / 60
    rows.append(Row("run", "run_all.py" + (" --quick" if args.quick else ""),
                    f"{minutes:.1f} min in total"))  # fmt: skip
    print(as_markdown(rows) if args.markdown else as_text(rows))
    bad = [r for r in rows if r.verdict and r.verdict != "ok" and not r.verdict.endswith("bound")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
