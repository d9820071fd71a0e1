"""What a first sync costs the server, batched, against the release before batching.

    python benchmarks/batching.py                 # 2,000 images with media
    python benchmarks/batching.py --images 500    # smaller
    python benchmarks/batching.py --skip-old      # without the (slow) old release

The emulator runs in its own process with 50 ms added to every API and CDN
answer. Each run syncs the same collection from empty at the DEFAULT settings
(no pace flags) and prints API HTTP requests, procedure calls, CDN requests,
wall time and images per second, for this tree and for the release before
batching (commit e97ccf5, unpacked with `git archive` and run on the same
interpreter). Then it checks the targets of issue 13: at most
ceil(N/200) + ceil(N/50) + (distinct posts + model versions)/50 + 2 API
requests, at most 1.2 procedure calls per image, the same records as the old
release (tags in the same order), the first sync bounded by the CDN rather
than the API, and an unthrottled run (--rate 0 --calls-per-second 0
--cdn-rate 0) at concurrency 4 within 90% of its bound.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_process import emulator_process

REPO = Path(__file__).resolve().parents[1]
OLD_RELEASE = "e97ccf5"
LATENCY = 0.05
CONCURRENCY = 4  # the default


def sync(env: dict[str, str], archive: Path, target: str, *flags: str, src: Path | None = None):
    """One `civitai-vault sync` in a child process; its --json summary."""
    child_env = dict(env)
    if src is not None:
        child_env["PYTHONPATH"] = str(src)
    command = [sys.executable, "-m", "civitai_vault.cli", "sync", target]
    command += ["--archive", str(archive), "--json", *flags]
    done = subprocess.run(command, env=child_env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"sync failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def old_release(work: Path, repo: Path = REPO) -> Path:
    """The old release's src/ folder, unpacked from git."""
    data = subprocess.run(
        ["git", "-C", str(repo), "archive", OLD_RELEASE, "src"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(work / "old", filter="data")
    return work / "old" / "src"


def records(archive: Path) -> list[tuple]:
    """What the export shows per image: the record columns and the tags in order."""
    conn = sqlite3.connect(archive / "vault.db")
    try:
        rows = conn.execute(
            """SELECT i.id, i.prompt, i.negative_prompt, i.seed, i.steps, i.sampler,
                      i.model_version_id, i.post_id, i.author,
                      (SELECT group_concat(name, '|') FROM (
                          SELECT t.name AS name FROM image_tags it JOIN tags t ON t.id = it.tag_id
                          WHERE it.image_id = i.id ORDER BY it.score DESC, t.name)),
                      (SELECT count(*) FROM image_resources r WHERE r.image_id = i.id),
                      f.sha256
               FROM images i LEFT JOIN files f ON f.image_id = i.id ORDER BY i.id"""
        ).fetchall()
    finally:
        conn.close()
    return rows


def lookups(archive: Path) -> tuple[int, int]:
    conn = sqlite3.connect(archive / "vault.db")
    try:
        posts = conn.execute("SELECT count(DISTINCT post_id) FROM images").fetchone()[0]
        versions = conn.execute(
            "SELECT count(DISTINCT model_version_id) FROM image_resources "
            "WHERE model_version_id IS NOT NULL"
        ).fetchone()[0]
    finally:
        conn.close()
    return posts, versions


def row(label: str, summary: dict, images: int) -> list[str]:
    seconds = summary["seconds"]
    calls = summary.get("api_calls") or summary["api_requests"]
    return [
        label,
        str(summary["api_requests"]),
        str(calls),
        f"{calls / images:.2f}",
        str(summary["cdn_requests"]),
        f"{seconds:.1f}",
        f"{images / seconds:.1f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--skip-old", action="store_true", help="do not run the old release")
    parser.add_argument("--only-old", action="store_true", help="run only the old release")
    parser.add_argument("--repo", type=Path, default=REPO, help="the git repository to read")
    args = parser.parse_args()
    faults = {"latency": LATENCY, "cdn_latency": LATENCY}
    table = [["run", "API requests", "calls", "calls/img", "CDN requests", "seconds", "img/s"]]
    checks: list[tuple[str, bool, str]] = []
    with (
        tempfile.TemporaryDirectory() as folder,
        emulator_process(seed=1, images=args.images, site_mode="red", faults=faults) as emu,
    ):
        work = Path(folder)
        env = {**os.environ, **emu.env(), "CIVITAI_VAULT_CONFIG_DIR": str(work / "config")}
        target = f"collection:{emu.named['all_collection']}"
        # The emulator draws each picture on first request; fill its cache first.
        unthrottled = ["--rate", "0", "--calls-per-second", "0", "--cdn-rate", "0"]
        sync(env, work / "warm-up", target, *unthrottled, "--no-embed")
        if args.only_old:
            old = sync(env, work / "old-archive", target, src=old_release(work, args.repo))
            print("\t".join(row(f"release {OLD_RELEASE}, defaults", old, args.images)))
            return
        new = sync(env, work / "new", target)
        n = new["targets"][0]["listed"]
        table.append(row("this tree, defaults", new, n))
        fast = sync(env, work / "fast", target, *unthrottled, "--concurrency", str(CONCURRENCY))
        table.append(row("this tree, unthrottled, concurrency 4", fast, n))
        posts, versions = lookups(work / "new")
        allowed = math.ceil(n / 200) + math.ceil(n / 50) + (posts + versions) / 50 + 2
        checks.append(
            (
                "API requests within the bound",
                new["api_requests"] <= allowed,
                f"{new['api_requests']} <= ceil(N/200)+ceil(N/50)+(P+V)/50+2 = {allowed:.1f} "
                f"(N={n}, P={posts}, V={versions})",
            )
        )
        calls_per_image = new["api_calls"] / n
        checks.append(
            ("procedure calls per image", calls_per_image <= 1.2, f"{calls_per_image:.2f} <= 1.2")
        )
        # The default budgets: 2 HTTP requests/s and 150 calls/s; the CDN: 4 at a time.
        api_floor = max(new["api_requests"] / 2.0, new["api_calls"] / 150.0)
        cdn_floor = new["cdn_requests"] * LATENCY / CONCURRENCY
        checks.append(
            (
                "first sync bounded by the CDN, not the API",
                cdn_floor >= api_floor,
                f"the API budgets allow >= {api_floor:.1f} s, the CDN needs >= {cdn_floor:.1f} s; "
                f"took {new['seconds']:.1f} s",
            )
        )
        bound = max(
            fast["api_requests"] * LATENCY / CONCURRENCY,
            fast["cdn_requests"] * LATENCY / CONCURRENCY,
        )
        share = bound / fast["seconds"]
        # How much of the run the CDN slots held a download, and how long each took:
        # near 100% busy, the gap to the bound is the time per download beyond the latency.
        busy = fast["cdn_seconds"] / CONCURRENCY / fast["seconds"]
        per_download = 1000 * fast["cdn_seconds"] / max(fast["cdn_requests"], 1)
        checks.append(
            (
                "unthrottled run vs its bound",
                share >= 0.9,
                f"{100 * share:.0f}% of {bound:.1f} s (CDN slots busy {100 * busy:.0f}%, "
                f"{per_download:.1f} ms a download against {1000 * LATENCY:.0f} ms added)",
            )
        )
        if not args.skip_old:
            src = old_release(work, args.repo)
            old = sync(env, work / "old-archive", target, src=src)
            table.append(row(f"release {OLD_RELEASE}, defaults", old, n))
            same = records(work / "old-archive") == records(work / "new")
            checks.append(("same records as the old release (tags in order)", same, ""))
        else:
            same_fast = records(work / "fast") == records(work / "new")
            checks.append(("same records unthrottled and at defaults", same_fast, ""))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    print()
    for name, ok, detail in checks:
        print(f"{'ok   ' if ok else 'MISS '} {name}: {detail}")


if __name__ == "__main__":
    main()
