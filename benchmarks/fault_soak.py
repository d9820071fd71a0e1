"""Fault soak: a large sync through steady failures ends with the archive a clean run makes.

    python benchmarks/fault_soak.py                # 5,000 images (the issue's size)
    python benchmarks/fault_soak.py --images 500   # quicker

The emulator serves `all_collection` of EmulatorConfig(images=N). First a clean
run (no faults) makes the reference archive. Then the same sync goes into a new
archive while the emulator injects, on the API, 5% HTTP 500, 5% 429, 2%
truncated bodies, 2% malformed JSON, 1% dropped connections and 0-20 ms of
random latency, and on the CDN 5% 500, 5% 429, 2% truncated bodies, 1% dropped
connections and 0-20 ms of latency. A second run (faults still on) is allowed
only if the first one reports failures: the output says how many runs it took.
The archives must then be identical: the same rows (timestamps aside), the same
files with the same SHA-256, a sound database. Each run is the real
`civitai-vault sync` command in a child process, with the default retry
settings and no pace limit. Exit code 1 if the archives differ.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from civitai_emulator import EmulatorConfig, Faults, running_emulator

SOAK_FAULTS = Faults(
    status_500=0.05,
    status_429=0.05,
    truncated=0.02,
    malformed=0.02,
    dropped=0.01,
    jitter=0.02,
    cdn_status_500=0.05,
    cdn_status_429=0.05,
    cdn_truncated=0.02,
    cdn_dropped=0.01,
    cdn_jitter=0.02,
    seed=5000,
)

# Columns that record when something happened; two equal archives may differ there.
TIME_COLUMNS = frozenset(
    {
        "first_seen_at",
        "last_seen_at",
        "updated_at",
        "details_at",
        "fetched_at",
        "checked_at",
        "downloaded_at",
        "at",
        "last_run_at",
    }
)
TABLES = {
    "images": "SELECT * FROM images ORDER BY id",
    "image_resources": "SELECT * FROM image_resources ORDER BY image_id, position",
    "image_tags": "SELECT * FROM image_tags ORDER BY image_id, tag_id",
    "tags": "SELECT * FROM tags ORDER BY id",
    "model_versions": "SELECT * FROM model_versions ORDER BY id",
    "posts": "SELECT * FROM posts ORDER BY id",
    "files": "SELECT * FROM files ORDER BY image_id",
    "target_items": "SELECT * FROM target_items ORDER BY target_key, image_id",
    "failures": "SELECT * FROM failures ORDER BY image_id, stage",
}


# ---------------------------------------------------------------- archive checks


def _readable_copy(archive: Path, scratch: Path) -> sqlite3.Connection:
    """A connection to a copy of the archive's database, so checking never writes to it."""
    for name in ("vault.db", "vault.db-wal"):
        if (archive / name).exists():
            shutil.copy2(archive / name, scratch / name)
    conn = sqlite3.connect(scratch / "vault.db")
    conn.row_factory = sqlite3.Row
    return conn


def snapshot(archive: Path) -> dict[str, Any]:
    """Everything an archive holds that must not depend on how the run went."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        conn = _readable_copy(archive, Path(scratch))
        try:
            for table, sql in TABLES.items():
                result[table] = [
                    {k: row[k] for k in row.keys() if k not in TIME_COLUMNS}  # noqa: SIM118
                    for row in conn.execute(sql)
                ]
        finally:
            conn.close()
    media = archive / "media"
    result["disk"] = sorted(
        str(p.relative_to(archive))
        for p in media.rglob("*")
        if p.is_file() and ".partial" not in p.parts
    )
    return result


def problems(archive: Path) -> list[str]:
    """A damaged database, or a file whose bytes are not the ones the database recorded."""
    if not (archive / "vault.db").exists():
        return []
    found: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        conn = _readable_copy(archive, Path(scratch))
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                found.append(f"integrity_check: {check}")
            rows = conn.execute("SELECT path, sha256, size FROM files").fetchall()
        finally:
            conn.close()
    for path, sha, size in rows:
        file = archive / path
        if file.is_file():
            data = file.read_bytes()
            if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
                found.append(f"{path}: not the bytes recorded")
    return found


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Which parts of two snapshots differ, and how many rows each has."""
    return [
        f"{name}: {len(a[name])} vs {len(b[name])} rows" for name in a if a[name] != b.get(name)
    ]


# ---------------------------------------------------------------- runs


def cli_env(emu: Any, config_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVITAI_")}
    env.update(
        CIVITAI_BASE_URL=emu.base_url,
        CIVITAI_IMAGE_BASE_URL=emu.image_base_url,
        CIVITAI_API_KEY=emu.api_key,
        CIVITAI_SITE="red",
        CIVITAI_VAULT_CONFIG_DIR=str(config_dir),
    )
    return env


def sync_command(archive: Path, target: str, concurrency: int) -> list[str]:
    return [
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
        "--cdn-rate",
        "0",
        "--concurrency",
        str(concurrency),
    ]


@dataclass
class Run:
    label: str
    seconds: float
    summary: dict[str, Any]
    api_faults: int = 0
    cdn_faults: int = 0

    @property
    def target(self) -> dict[str, Any]:
        return self.summary["targets"][0] if self.summary.get("targets") else {}


def run_sync(emu: Any, env: dict[str, str], archive: Path, target: str, label: str,
             concurrency: int) -> Run:  # fmt: skip
    logged = len(emu.request_log)
    started = time.perf_counter()
    done = subprocess.run(
        sync_command(archive, target, concurrency), env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    try:
        summary = json.loads(done.stdout)
    except ValueError:
        summary = {"ok": False, "error": done.stderr.strip()[-500:]}
    entries = emu.request_log[logged:]
    return Run(
        label,
        seconds,
        summary,
        api_faults=sum(1 for e in entries if e.fault and e.listener == "api"),
        cdn_faults=sum(1 for e in entries if e.fault and e.listener == "cdn"),
    )


@dataclass
class SoakResult:
    images: int
    clean: Run
    soaked: list[Run] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)
    damage: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return (
            bool(self.soaked)
            and self.soaked[-1].summary.get("ok")
            and not (self.diff or self.damage)
        )

    @property
    def verdict(self) -> str:
        runs = len(self.soaked)
        if self.identical:
            return f"identical to the clean run after {runs} run{'s' if runs > 1 else ''}"
        return "DIFFERENT: " + "; ".join(self.diff + self.damage)[:300]


def soak(images: int, seed: int = 1, concurrency: int = 8) -> SoakResult:
    """Clean run, faulty run (and a second one only if the first reports failures), compared."""
    with tempfile.TemporaryDirectory(prefix="fault-soak-") as folder:
        work = Path(folder)
        config = EmulatorConfig(seed=seed, images=images, site_mode="red")
        with running_emulator(config) as emu:
            env = cli_env(emu, work / "config")
            target = f"collection:{emu.dataset.named['all_collection']}"
            clean = run_sync(emu, env, work / "clean", target, "clean (no faults)", concurrency)
            result = SoakResult(images, clean)
            emu.set_faults(SOAK_FAULTS)
            first = run_sync(emu, env, work / "soaked", target, "with faults", concurrency)
            result.soaked.append(first)
            if not first.summary.get("ok"):
                again = run_sync(
                    emu, env, work / "soaked", target, "again, faults still on", concurrency
                )
                result.soaked.append(again)
            emu.clear_faults()
        result.damage = problems(work / "soaked")
        result.diff = differences(snapshot(work / "clean"), snapshot(work / "soaked"))
    return result


def table(result: SoakResult) -> list[str]:
    header = ("run", "seconds", "API req", "CDN req", "faults API/CDN", "failed", "complete")
    rows = [header]
    for run in (result.clean, *result.soaked):
        target = run.target
        rows.append(
            (
                run.label,
                f"{run.seconds:.1f}",
                str(run.summary.get("api_requests", "?")),
                str(run.summary.get("cdn_requests", "?")),
                f"{run.api_faults}/{run.cdn_faults}",
                str(target.get("failed", "?")),
                "yes" if run.summary.get("ok") else "no",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]  # fmt: skip
    lines.insert(1, "-" * len(lines[0]))
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000, help="size of all_collection")
    parser.add_argument("--seed", type=int, default=1, help="the emulator's dataset seed")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    args = parser.parse_args()
    print(f"fault soak: all_collection of {args.images:,} images, seed {args.seed}", flush=True)
    result = soak(args.images, args.seed, args.concurrency)
    print("\n".join(table(result)))
    print(f"\nresult: {result.verdict}")
    return 0 if result.identical else 1


if __name__ == "__main__":
    sys.exit(main())
