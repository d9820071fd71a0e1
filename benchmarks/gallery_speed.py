"""How fast the gallery answers a new search or facet change, and how heavy its grid page is.

    python benchmarks/gallery_speed.py [--images 100000] [--archive DIR]

Builds (once, then reuses) a synthetic archive with `synthetic_archive.py`,
serves it with uvicorn on a loopback port and asks it, over HTTP, for the
first page of about two hundred different searches: words from real prompts,
every kind of facet (base model, checkpoint, LoRA, tag, author, collection,
NSFW level, type, date range), combinations of both, every sort, deeper pages.
Every search is new to the server, so no cache helps. The times are the
server's own (its `Server-Timing` header), so they do not depend on the
client: `wall` from request to first byte of the answer, and `cpu` the
processor time the server used meanwhile (requests go one at a time), which
a machine busy with other work inflates far less than wall time.

Targets: p95 under 100 ms for the first page (HTML grid and JSON API), and a
grid page (HTML, CSS, JS and facet panel, before thumbnails) under 300 KB.
The facet panel is counted in a separate request after the results; its
times are shown too.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

HERE = Path(__file__).resolve().parent
PAGE_TARGET_MS = 100.0
WEIGHT_TARGET_BYTES = 300_000

Query = dict[str, Any]


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


def searches(db_path: Path, seed: int = 7) -> list[tuple[str, Query]]:
    """(group, query) pairs drawn from what the archive holds, all different."""
    rng = random.Random(seed)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:

        def column(sql: str) -> list[Any]:
            return [row[0] for row in conn.execute(sql) if row[0] is not None]

        prompts = column("SELECT prompt FROM images WHERE prompt IS NOT NULL LIMIT 5000")
        words = sorted(
            {w.strip("(),:<>[]").lower() for p in prompts for w in p.split() if w.isalpha()}
        )
        words = [w for w in words if len(w) >= 4]
        base_models = column("SELECT DISTINCT base_model FROM images INDEXED BY images_base_model")
        checkpoints = column("SELECT DISTINCT model FROM images INDEXED BY images_model")
        authors = column("SELECT DISTINCT author FROM images INDEXED BY images_author")
        tags = column("SELECT name FROM tags")
        loras = column("SELECT DISTINCT name FROM image_resources WHERE kind = 'lora'")
        samplers = column("SELECT DISTINCT sampler FROM images INDEXED BY images_sampler")
        collections = column("SELECT CAST(substr(key, 12) AS INTEGER) FROM targets "
                             "WHERE key LIKE 'collection:%'")  # fmt: skip
        months = column("SELECT DISTINCT substr(created_at, 1, 7) FROM images INDEXED BY "
                        "images_created")  # fmt: skip
    finally:
        conn.close()

    def pick(items: list[Any], count: int) -> list[Any]:
        return rng.sample(items, min(count, len(items)))

    out: list[tuple[str, Query]] = []
    out += [("full text", {"q": w}) for w in pick(words, 30)]
    pairs = zip(pick(words, 10), pick(words, 10), strict=True)
    out += [("full text", {"q": f"{a} {b}"}) for a, b in pairs]
    out += [("facet", {"base_model": b}) for b in base_models]
    out += [("facet", {"model": m}) for m in pick(checkpoints, 10)]
    out += [("facet", {"lora": name}) for name in pick(loras, 12)]
    out += [("facet", {"tag": t}) for t in pick(tags, 12)]
    out += [("facet", {"author": a}) for a in pick(authors, 12)]
    out += [("facet", {"collection": c}) for c in collections]
    out += [("facet", {"nsfw": n}) for n in ([1], [2], [4, 8], [1, 2], [16], [8, 16])]
    out += [("facet", {"type": t}) for t in ("video", "image")]
    for month in pick(months, 8):
        out.append(("facet", {"since": month, "until": month}))
    for _ in range(30):
        query: Query = {"q": rng.choice(words)}
        extra = rng.choice(["base_model", "nsfw", "tag", "author", "type", "since"])
        query.update(
            {
                "base_model": {"base_model": rng.choice(base_models)},
                "nsfw": {"nsfw": [rng.choice([1, 2, 4])]},
                "tag": {"tag": rng.choice(tags)},
                "author": {"author": rng.choice(authors)},
                "type": {"type": "video"},
                "since": {"since": rng.choice(months)},
            }[extra]
        )
        out.append(("search + facet", query))
    for _ in range(12):
        query = {"tag": rng.choice(tags), "base_model": rng.choice(base_models)}
        query["nsfw"] = [rng.choice([1, 2])]
        out.append(("facet + facet", query))
    for sort in ("oldest", "id", "id_asc", "random"):
        out.append(("sort", {"sort": sort, "seed": 11} if sort == "random" else {"sort": sort}))
        out.append(("sort", {"sort": sort, "base_model": rng.choice(base_models), "seed": 3}))
    # The search box's syntax: exclusions, alternatives, phrases and field:value.
    for _ in range(4):
        a, b = rng.sample(words, 2)
        out.append(("syntax", {"q": f"{a} -{b}"}))
        out.append(("syntax", {"q": f"{a} OR {b}"}))
        out.append(("syntax", {"q": f'"{a} {b}"'}))
    out += [("syntax", {"q": f"tag:{t.split()[0]}"}) for t in pick(tags, 3)]
    out += [("syntax", {"q": f"sampler:{s.split()[0]}"}) for s in pick(samplers, 3)]
    out += [("syntax", {"q": f"model:{m.split()[0]} -lora:{rng.choice(loras).split()[0]}"})
            for m in pick(checkpoints, 3)]  # fmt: skip
    out += [
        ("syntax", {"q": f"base:{b.split()[0]} {rng.choice(words)}"}) for b in pick(base_models, 3)
    ]
    out += [("deeper page", {"page": page}) for page in (2, 5, 50, 500)]
    out += [("deeper page", {"q": rng.choice(words), "page": 2}) for _ in range(4)]
    return out


def server_ms(answer: httpx.Response) -> tuple[float, float]:
    """(wall, cpu) milliseconds from `Server-Timing: app;dur=12.3, cpu;dur=8.1`."""
    assert answer.status_code == 200, (answer.status_code, answer.request.url)
    metrics = dict(
        part.strip().split(";dur=") for part in answer.headers["server-timing"].split(",")
    )
    return float(metrics["app"]), float(metrics["cpu"])


def url(path: str, query: Query) -> str:
    pairs = []
    for key, value in query.items():
        values = value if isinstance(value, list) else [value]
        pairs += [(key, v) for v in values]
    return f"{path}?{urlencode(pairs)}" if pairs else path


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))
    return ordered[index]


def row(name: str, values: list[tuple[float, float]], target: float | None) -> str:
    wall, cpu = [v[0] for v in values], [v[1] for v in values]
    p95 = percentile(wall, 0.95)
    verdict = "" if target is None else ("ok" if p95 < target else "SLOW")
    return (
        f"{name:<34}{len(values):>5}{statistics.median(wall):>9.1f}{p95:>9.1f}{max(wall):>9.1f}"
        f"{statistics.median(cpu):>9.1f}{percentile(cpu, 0.95):>9.1f}  {verdict}"
    )


def measure(client: httpx.Client, path: str, queries: Iterable[tuple[str, Query]]) -> dict:
    times: dict[str, list[tuple[float, float]]] = {}
    for group, query in queries:
        if path != "/" and "page" in query:
            # The API pages by offset: the same page, in its terms.
            page = query["page"]
            query = {k: v for k, v in query.items() if k != "page"}
            query["offset"] = 60 * (page - 1)
        if path == "/api/images":
            query = {**query, "limit": 60}
        times.setdefault(group, []).append(server_ms(client.get(url(path, query))))
    return times


def page_weight(client: httpx.Client) -> list[tuple[str, int]]:
    grid = client.get("/")
    parts = [("grid page HTML (60 tiles)", len(grid.content))]
    for asset in ("/static/gallery.css", "/static/gallery.js", "/static/favicon.svg"):
        parts.append((asset, len(client.get(asset).content)))
    parts.append(("facet panel (/fragments/facets)", len(client.get("/fragments/facets").content)))
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000, help="size of the synthetic archive")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic archive")
    parser.add_argument("--archive", type=Path, help="an existing archive to serve instead")
    args = parser.parse_args(argv)
    archive = args.archive or ensure_archive(args.images, args.seed)

    from civitai_vault.web.server import running_gallery

    queries = searches(archive / "vault.db")
    with running_gallery(archive) as base, httpx.Client(base_url=base, timeout=60) as client:
        total = client.get("/api/images", params={"limit": 1}).json()["total"]
        # A running gallery has its database pages in memory: warm them as a user's first
        # few clicks would, with searches that are not measured.
        for warm in ({"q": "warm"}, {"nsfw": 32}, {"sort": "oldest"}, {}):
            client.get(url("/", warm))
            client.get(url("/api/images", warm))
        # The unfiltered facet panel, which the server counts in the background
        # when it starts: done before anything is timed.
        client.get("/fragments/facets")
        html = measure(client, "/", queries)
        api = measure(client, "/api/images", queries)
        facet_queries = [q for i, q in enumerate(queries) if i % 3 == 0]
        facets = measure(client, "/fragments/facets", facet_queries)
        weight = page_weight(client)

    print(f"\nGallery over {total:,} images ({archive}); server time in ms\n")
    print(f"{'':<39}{'wall':>18}{'':>9}{'cpu':>14}")
    heads = ("p50", "p95", "max", "p50", "p95")
    print(f"{'first page of a new search':<34}{'n':>5}" + "".join(f"{h:>9}" for h in heads))
    failed = False
    for title, times in (("HTML grid /", html), ("JSON /api/images", api)):
        for group, values in times.items():
            print(row(f"  {title}: {group}", values, None))
        every = [v for values in times.values() for v in values]
        print(row(f"{title}: all", every, PAGE_TARGET_MS))
        failed |= percentile([wall for wall, _ in every], 0.95) >= PAGE_TARGET_MS
    every = [v for values in facets.values() for v in values]
    print(row("facet panel, counted after (all)", every, None))

    print("\nGrid page weight before thumbnails")
    for name, size in weight:
        print(f"  {name:<40}{size:>10,} B")
    weight_total = sum(size for _, size in weight)
    verdict = "ok" if weight_total < WEIGHT_TARGET_BYTES else "TOO HEAVY"
    print(f"  {'total':<40}{weight_total:>10,} B  (target < {WEIGHT_TARGET_BYTES:,})  {verdict}")
    failed |= weight_total >= WEIGHT_TARGET_BYTES
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
