"""How long `civitai-vault stats` takes over a large archive; the budget is 5 s for 100,000 images.

    python benchmarks/stats_speed.py [--images 100000] [--archive DIR] [--runs 3]

Builds a synthetic archive with `synthetic_archive.build_archive` (about a
minute for 100,000 images) unless --archive names one already built, then
times the statistics every way a person gets them: the function the gallery
calls (all images and two filters), and the command line with --json and with
--html. Prints a table with the best and worst wall time of --runs runs and the
CPU time of the best (a busy machine stretches wall time, not CPU time), and
exits 1 if any best run is over budget.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_archive import build_archive

from civitai_vault.analysis.stats import compute_stats
from civitai_vault.archive import open_archive
from civitai_vault.archive.queries import RecordFilter, count_images
from civitai_vault.archive.schema import DB_NAME

BUDGET_SECONDS = 5.0


def cpu_seconds() -> float:
    """CPU time of this process (every thread) and of finished child processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(action: Callable[[], object], runs: int) -> tuple[float, float, float]:
    """(best wall, worst wall, CPU of the best run) over `runs` runs, in seconds.

    On a busy machine wall time grows while CPU time stays put: both are shown.
    """
    results = []
    for _ in range(runs):
        started, cpu = time.perf_counter(), cpu_seconds()
        action()
        results.append((time.perf_counter() - started, cpu_seconds() - cpu))
    best = min(results)
    return best[0], max(results)[0], best[1]


def compute(root: Path, f: RecordFilter | None) -> Callable[[], object]:
    def run() -> object:
        # A fresh connection each run, as a command gets: nothing cached in SQLite.
        with open_archive(root, create=False) as archive:
            return compute_stats(archive.conn, f)

    return run


def command(root: Path, *args: str) -> Callable[[], object]:
    def run() -> object:
        return subprocess.run(
            [sys.executable, "-m", "civitai_vault.cli", "stats", "--archive", str(root), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000, help="size of a new archive")
    parser.add_argument("--archive", type=Path, help="an archive already built (reused as is)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="stats-speed-") as scratch:
        root = args.archive
        if root is None or not (root / DB_NAME).exists():
            root = root or Path(scratch) / "archive"
            print(f"building a {args.images:,}-image archive in {root} ...", flush=True)
            started = time.perf_counter()
            build_archive(root, images=args.images, seed=1)
            print(f"built in {time.perf_counter() - started:.1f} s\n", flush=True)
        with open_archive(root, create=False) as archive:
            images = count_images(archive.conn)
            collection = archive.conn.execute(
                "SELECT min(CAST(substr(key, 12) AS INTEGER)) FROM targets "
                "WHERE key LIKE 'collection:%'"
            ).fetchone()[0]
        report = Path(scratch) / "report.html"
        cases: list[tuple[str, Callable[[], object]]] = [
            ("compute_stats(conn)  (gallery, all images)", compute(root, None)),
            (
                "compute_stats(conn, collection)",
                compute(root, RecordFilter(collection=collection)),
            ),
            ("compute_stats(conn, since one year)", compute(root, RecordFilter(since="2024-06"))),
            ("civitai-vault stats --json", command(root, "--json")),
            ("civitai-vault stats --html FILE", command(root, "--html", str(report))),
        ]
        load = os.getloadavg()[0]
        print(
            f"{images:,} images, best and worst of {args.runs} runs, budget {BUDGET_SECONDS} s "
            f"(load average {load:.1f} on {os.cpu_count()} CPUs)\n"
        )
        print(f"{'measurement':<46} {'best s':>7} {'worst s':>8} {'cpu s':>6}  verdict")
        print("-" * 82)
        over = False
        for label, action in cases:
            best, worst, cpu = timed(action, args.runs)
            verdict = "ok" if best < BUDGET_SECONDS else "OVER BUDGET"
            over = over or best >= BUDGET_SECONDS
            print(f"{label:<46} {best:>7.2f} {worst:>8.2f} {cpu:>6.2f}  {verdict}", flush=True)
        if report.exists():
            print(f"\nreport size: {report.stat().st_size / 1e3:,.0f} kB")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
