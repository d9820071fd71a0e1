"""How fast each export format runs, and how much memory it needs.

    python benchmarks/export_speed.py [--images 100000] [--archive DIR]

Builds (once, then reuses) a synthetic archive with `synthetic_archive.py`,
then exports it in every format, each in a fresh child process so that its
peak resident memory (`ru_maxrss`) is its own. Each format runs twice, on the
first 10,000 records and on all of them: if memory is flat, the two peaks are
about the same.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMATS = ("jsonl", "json", "csv", "parquet")
SMALL = 10_000


def child(fmt: str, archive_path: str, out: str, limit: int | None) -> None:
    """Run one export in this process and print its measurements as JSON."""
    from civitai_vault.archive import open_archive
    from civitai_vault.archive.queries import RecordFilter
    from civitai_vault.export import export_archive

    if fmt == "parquet":
        import pyarrow

        # Arrow's first conversion sets up ~50 MB once; count it in the baseline, not per record.
        pyarrow.array(["warm up"])
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    with open_archive(archive_path, create=False) as archive:
        result = export_archive(archive.conn, RecordFilter(limit=limit), fmt, Path(out))
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "count": result.count,
                "seconds": elapsed,
                "baseline_mb": baseline,
                "peak_mb": _peak_rss_mb(),
                "size_mb": Path(out).stat().st_size / 1e6,
            }
        )
    )


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def measure(fmt: str, archive: Path, out_dir: Path, limit: int | None) -> dict:
    out = out_dir / f"export-{limit or 'all'}.{fmt}"
    done = subprocess.run(
        [sys.executable, __file__, "--child", fmt, str(archive), str(out), str(limit or 0)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{fmt} export failed:\n{done.stderr}")
    out.unlink()
    return json.loads(done.stdout)


def _warm_page_cache(db_path: Path) -> None:
    """Read the database once so the first format measured does not pay for a cold disk."""
    with db_path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


def ensure_archive(images: int, seed: int) -> Path:
    path = HERE / "out" / f"synthetic-{images}-seed{seed}"
    if not (path / "vault.db").exists():
        sys.path.insert(0, str(HERE))
        from synthetic_archive import build_archive

        print(f"building a synthetic archive of {images:,} images in {path} ...", flush=True)
        started = time.perf_counter()
        build_archive(path, images=images, seed=seed)
        print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        fmt, archive, out, limit = sys.argv[2:6]
        child(fmt, archive, out, int(limit) or None)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--archive", type=Path, help="an existing archive to export instead")
    args = parser.parse_args()
    archive = args.archive or ensure_archive(args.images, args.seed)
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    _warm_page_cache(archive / "vault.db")

    header = (
        f"{'format':<8} {'records':>9} {'time s':>8} {'records/s':>10} "
        f"{'peak RSS MB':>12} {'over start MB':>14} {'file MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for fmt in FORMATS:
        for limit in (SMALL, None):
            m = measure(fmt, archive, out_dir, limit)
            print(
                f"{fmt:<8} {m['count']:>9,} {m['seconds']:>8.2f} "
                f"{m['count'] / m['seconds']:>10,.0f} {m['peak_mb']:>12.0f} "
                f"{m['peak_mb'] - m['baseline_mb']:>14.0f} {m['size_mb']:>8.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
