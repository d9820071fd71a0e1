"""Crash soak: kill -9 the sync at 20 random moments, run it again each time, end identical.

    python benchmarks/crash_soak.py                      # 20 kills, 2,000 images
    python benchmarks/crash_soak.py --kills 8 --images 600

The emulator serves `all_collection` of EmulatorConfig(images=N); the real
`civitai-vault sync` runs in a child process and gets SIGKILL at a moment
picked at random in one of four phases, each made likely by the latency the
emulator adds for that run and recognised in its request log:

- listing:   slow API answers, killed while a listing page is in flight;
- details:   generation data and tags being fetched and committed;
- downloads: a slow CDN, files half written into media/.partial;
- commits:   nothing slowed down, killed while the writer commits at full speed.

After every kill the archive is checked: SQLite's integrity check passes, every
file the database names has the bytes it recorded, and no file under a final
name is partial (an unrecorded one must be a whole, decodable file). Then one
more run completes the archive, which must be identical to a clean run's.
Prints one row per kill; exit code 1 if anything was wrong.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fault_soak import _readable_copy, cli_env, differences, problems, snapshot, sync_command

from civitai_emulator import EmulatorConfig, Faults, running_emulator
from civitai_vault.media.verify import InvalidMedia, verify_file

PHASES = ("listing", "details", "downloads", "commits")
PAGE_SIZE = 200


@dataclass(frozen=True)
class Moment:
    phase: str
    procedure: str  # what to count in the request log ("cdn" = files served)
    count: int
    after: float
    faults: Faults

    def describe(self) -> str:
        what = {
            "collection.getById": "collection lookup",
            "image.getInfinite": "listing pages",
            "image.getGenerationData": "generation data",
            "tag.getVotableTags": "tag lists",
            "cdn": "files served",
        }[self.procedure]
        return f"after {self.count} {what} +{self.after * 1000:.0f} ms"


def pick_moment(rng: random.Random, phase: str, pages: int) -> Moment:
    if phase == "listing":
        latency = rng.uniform(0.05, 0.2)
        page = rng.randrange(0, pages)
        procedure = "image.getInfinite" if page else "collection.getById"
        return Moment(phase, procedure, max(page, 1), rng.uniform(0, latency),
                      Faults(latency=latency))  # fmt: skip
    if phase == "details":
        latency = rng.uniform(0.005, 0.03)
        return Moment(phase, "image.getGenerationData", rng.randrange(5, 60),
                      rng.uniform(0, 0.05), Faults(latency=latency))  # fmt: skip
    if phase == "downloads":
        latency = rng.uniform(0.02, 0.15)
        return Moment(phase, "cdn", rng.randrange(5, 60), rng.uniform(0, latency),
                      Faults(cdn_latency=latency))  # fmt: skip
    return Moment(phase, "tag.getVotableTags", rng.randrange(5, 80), rng.uniform(0, 0.3),
                  Faults())  # fmt: skip


def answered(emu: Any, procedure: str, since: int) -> int:
    entries = emu.request_log[since:]
    if procedure == "cdn":
        return sum(1 for e in entries if e.listener == "cdn" and e.status == 200)
    return sum(1 for e in entries if e.procedure == procedure)


def kill_at(emu: Any, command: list[str], env: dict[str, str], moment: Moment) -> bool:
    """Run `command` and SIGKILL it at `moment`; False when it finished first."""
    since = len(emu.request_log)
    emu.set_faults(moment.faults)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while answered(emu, moment.procedure, since) < moment.count:
            if process.poll() is not None:
                return False
            time.sleep(0.002)
        time.sleep(moment.after)
        if process.poll() is not None:
            return False
        process.send_signal(signal.SIGKILL)
        return True
    finally:
        process.wait()
        emu.clear_faults()


def progress(archive: Path) -> tuple[int, int, int]:
    """(images listed, with details, with files) as the killed run left the database."""
    if not (archive / "vault.db").exists():
        return (0, 0, 0)
    with tempfile.TemporaryDirectory() as scratch:
        conn = _readable_copy(archive, Path(scratch))
        try:
            listed, details = conn.execute(
                "SELECT count(*), count(details_at) FROM images"
            ).fetchone()
            files = conn.execute("SELECT count(*) FROM files").fetchone()[0]
        finally:
            conn.close()
    return (listed, details, files)


def partial_files(archive: Path) -> list[str]:
    """Files under a final name that are not whole media (the .partial folder aside)."""
    media = archive / "media"
    found = []
    for file in media.rglob("*") if media.is_dir() else []:
        if file.is_file() and ".partial" not in file.parts:
            try:
                verify_file(file, None)
            except InvalidMedia as exc:
                found.append(f"{file.relative_to(archive)}: {exc}")
    return found


@dataclass
class Kill:
    number: int
    moment: Moment
    landed: bool
    state: tuple[int, int, int]
    damage: list[str]


def crash_soak(images: int, kills: int, seed: int = 1) -> tuple[list[Kill], list[str], bool]:
    """(one row per kill, differences from the clean run, whether the final run succeeded)."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="crash-soak-") as folder:
        work = Path(folder)
        config = EmulatorConfig(seed=seed, images=images, site_mode="red")
        with running_emulator(config) as emu:
            env = cli_env(emu, work / "config")
            target = f"collection:{emu.dataset.named['all_collection']}"
            clean = subprocess.run(sync_command(work / "clean", target, 8), env=env,
                                   capture_output=True, text=True)  # fmt: skip
            if clean.returncode != 0:
                raise SystemExit(f"the clean run failed: {clean.stderr[-1000:]}")
            command = sync_command(work / "crashed", target, 8)
            pages = -(-images // PAGE_SIZE)
            rows = []
            for number in range(1, kills + 1):
                moment = pick_moment(rng, PHASES[(number - 1) % len(PHASES)], pages)
                landed = kill_at(emu, command, env, moment)
                crashed = work / "crashed"
                damage = problems(crashed) + partial_files(crashed)
                rows.append(Kill(number, moment, landed, progress(crashed), damage))
            final = subprocess.run(command, env=env, capture_output=True, text=True)
        diff = differences(snapshot(work / "clean"), snapshot(work / "crashed"))
        diff += problems(work / "crashed") + partial_files(work / "crashed")
    return rows, diff, final.returncode == 0


def table(rows: list[Kill], images: int) -> list[str]:
    header = ("kill", "phase", "moment", "landed", "listed", "details", "files", "archive")
    lines = [header]
    for row in rows:
        listed, details, files = row.state
        lines.append(
            (
                str(row.number),
                row.moment.phase,
                row.moment.describe(),
                "yes" if row.landed else "no (run ended first)",
                f"{listed}/{images}",
                f"{details}/{images}",
                f"{files}/{images}",
                "sound" if not row.damage else "DAMAGED: " + "; ".join(row.damage)[:120],
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
           for line in lines]  # fmt: skip
    out.insert(1, "-" * len(out[0]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000, help="size of all_collection")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="dataset seed and kill moments")
    args = parser.parse_args()
    print(f"crash soak: {args.kills} kills, all_collection of {args.images:,} images", flush=True)
    rows, diff, final_ok = crash_soak(args.images, args.kills, args.seed)
    print("\n".join(table(rows, args.images)))
    landed = sum(row.landed for row in rows)
    sound = all(not row.damage for row in rows)
    print(f"\nkills landed: {landed}/{len(rows)}; archive sound after every kill: "
          f"{'yes' if sound else 'NO'}")  # fmt: skip
    if final_ok and not diff:
        print("final run: complete, identical to a clean run")
    else:
        print(f"final run: {'ok' if final_ok else 'FAILED'}; differences: {diff or 'none'}")
    return 0 if (final_ok and not diff and sound) else 1


if __name__ == "__main__":
    sys.exit(main())
