"""`civitai-vault stats --json` agrees with statistics computed by hand from the source data."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from datetime import date

import pytest
from typer.testing import CliRunner

from civitai_vault.cli import app

from .conftest import HOSTILE_AUTHOR, HOSTILE_PROMPT, VERSION_ANSWERS, SmallImage

NSFW_LABELS = {1: "PG", 2: "PG-13", 4: "R", 8: "X", 16: "XXX"}
# The sizes the small archive uses, named by hand.
ASPECT_RATIOS = {
    (832, 1216): "2:3",
    (1216, 832): "3:2",
    (832, 832): "1:1",
    (1024, 1024): "1:1",
    (1216, 1216): "1:1",
    (832, 1024): "4:5",
    (1024, 832): "5:4",
    (1024, 1216): "0.84:1",
    (1216, 1024): "1.19:1",
}


def run_stats(*args: str) -> dict:
    result = CliRunner().invoke(app, ["stats", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def stats(small_archive):
    return run_stats("--archive", str(small_archive.path), "--top", "100")


def ranked(counter: Counter) -> list[tuple]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def names_and_counts(items: list[dict]) -> list[tuple]:
    return [(item["name"], item["count"]) for item in items]


def test_counts(stats, small_archive):
    images = small_archive.images
    counts = stats["counts"]
    assert counts["images"] == len(images)
    assert counts["videos"] == sum(i.type == "video" for i in images)
    assert counts["with_prompt"] == sum(bool(i.prompt) for i in images)
    assert counts["authors"] == len({i.author for i in images})
    assert counts["posts"] == len({i.post_id for i in images})
    assert counts["checkpoints"] == len({i.model for i in images if i.model})
    assert counts["files"] == sum(i.has_file for i in images)
    assert counts["failed_downloads"] == sum(not i.has_file for i in images)
    assert counts["loras"] == len({(n, m) for i in images for n, m, _, _ in i.loras})
    assert counts["embeddings"] == len({(n, m) for i in images for n, m, _ in i.embeddings})
    assert counts["tags"] == len({tag_id for i in images for tag_id, _ in i.tags})
    assert counts["first_created_at"] == min(i.created_at for i in images)


def test_top_lists(stats, small_archive):
    images = small_archive.images
    assert names_and_counts(stats["checkpoints"]) == ranked(
        Counter(i.model for i in images if i.model)
    )
    model_ids = {i.model: i.checkpoint[1] for i in images if i.checkpoint}
    assert all(c["model_id"] == model_ids[c["name"]] for c in stats["checkpoints"])
    assert names_and_counts(stats["base_models"]) == ranked(
        Counter(i.base_model for i in images if i.base_model)
    )
    assert names_and_counts(stats["samplers"]) == ranked(
        Counter(i.sampler for i in images if i.sampler)
    )
    assert names_and_counts(stats["authors"]) == ranked(Counter(i.author for i in images))
    assert names_and_counts(stats["tags"]) == ranked(
        Counter(name for i in images for _, name in i.tags)
    )
    assert names_and_counts(stats["types"]) == ranked(Counter(i.type for i in images))


def test_loras_with_their_weights(stats, small_archive):
    weights: dict[tuple, list[float]] = {}
    base_models: dict[tuple, set[str]] = {}
    for image in small_archive.images:
        for name, model_id, _, weight in image.loras:
            weights.setdefault((name, model_id), []).append(weight)
            base_models.setdefault((name, model_id), set()).add(image.base_model)
    expected = sorted(
        (
            {
                "name": name,
                "model_id": model_id,
                "base_model": min(base_models[name, model_id]),
                "uses": len(values),
                "images": len(values),
                "average_weight": round(statistics.fmean(values), 3),
                "min_weight": min(values),
                "max_weight": max(values),
            }
            for (name, model_id), values in weights.items()
        ),
        key=lambda item: (-item["uses"], item["name"], item["model_id"]),
    )
    assert stats["loras"] == expected
    embeddings = Counter(n for i in small_archive.images for n, _, _ in i.embeddings)
    assert [(e["name"], e["images"]) for e in stats["embeddings"]] == ranked(embeddings)
    assert all(e["average_weight"] is None for e in stats["embeddings"])


def distribution(values: list) -> dict:
    known = [v for v in values if v is not None]
    counter = Counter(known)
    return {
        "values": [{"value": v, "count": counter[v]} for v in sorted(counter)],
        "missing": len(values) - len(known),
        "average": round(statistics.fmean(known), 3),
        "median": statistics.median(known),
    }


def test_generation_settings(stats, small_archive):
    images = small_archive.images
    d = stats["distributions"]
    assert d["steps"] == distribution([i.steps for i in images])
    assert d["cfg_scale"] == distribution([i.cfg_scale for i in images])
    assert d["clip_skip"] == distribution([i.clip_skip for i in images])
    sizes = Counter((i.width, i.height) for i in images)
    assert [(s["value"], s["count"]) for s in d["sizes"]["values"]] == [
        (f"{w}x{h}", n) for (w, h), n in ranked(sizes)
    ]
    assert d["sizes"]["orientation"] == {
        "portrait": sum(n for (w, h), n in sizes.items() if h > w),
        "landscape": sum(n for (w, h), n in sizes.items() if w > h),
        "square": sum(n for (w, h), n in sizes.items() if w == h),
    }
    ratios = Counter()
    for (w, h), n in sizes.items():
        ratios[ASPECT_RATIOS[w, h]] += n
    assert [(r["value"], r["count"]) for r in d["aspect_ratios"]] == ranked(ratios)


def test_nsfw_mix_and_time(stats, small_archive):
    images = small_archive.images
    levels = Counter(i.nsfw_level for i in images)
    assert stats["nsfw_levels"] == [
        {"level": level, "label": NSFW_LABELS[level], "count": levels[level]}
        for level in sorted(levels)
    ]
    months = Counter(i.created_at[:7] for i in images)
    first, last = min(months), max(months)
    expected, year, month = [], int(first[:4]), int(first[5:])
    while f"{year:04d}-{month:02d}" <= last:
        key = f"{year:04d}-{month:02d}"
        expected.append({"period": key, "count": months.get(key, 0)})
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    assert stats["over_time"] == {"unit": "month", "counts": expected, "undated": 0}


def test_loras_with_checkpoints(stats, small_archive):
    pairs = Counter(
        (i.model, name) for i in small_archive.images if i.model for name, *_ in i.loras
    )
    assert [
        ((p["checkpoint"], p["lora"]), p["count"]) for p in stats["lora_checkpoint_pairs"]
    ] == ranked(pairs)
    for group in stats["loras_by_checkpoint"]:
        with_this = Counter(
            {lora: n for (model, lora), n in pairs.items() if model == group["checkpoint"]}
        )
        assert [(lora["name"], lora["count"]) for lora in group["loras"]] == ranked(with_this)[:5]


def test_collections(stats, small_archive):
    counts = Counter(c for i in small_archive.images for c in i.collections)
    assert [(c["id"], c["count"]) for c in stats["collections"]] == ranked(counts)
    assert {c["name"] for c in stats["collections"]} == {"Favourites", "Prompt ideas 💡 <i>"}


def test_prompt_concepts(stats, small_archive):
    with_prompt = [(n, i) for n, i in enumerate(small_archive.images) if i.prompt]
    positive = stats["prompt_concepts"]["positive"]
    assert positive["prompts"] == len(with_prompt)
    phrases = {p["text"]: p for p in positive["phrases"]}
    lighthouse = phrases["glowing lighthouse"]
    assert lighthouse["count"] == sum(1 for n, _ in with_prompt if n % 3 == 0)
    assert lighthouse["average_weight"] == 1.3
    assert phrases[HOSTILE_PROMPT]["count"] == sum(1 for n, _ in with_prompt if n % 7 == 0)
    assert phrases["night sky"]["count"] == sum(1 for n, _ in with_prompt if n % 5 == 0)
    words = {w["text"]: w["count"] for w in positive["words"]}
    assert words["1girl"] == len(with_prompt)
    assert words["猫耳"] == sum(1 for n, _ in with_prompt if n % 5 == 0)
    assert "the" not in words and "a" not in words
    assert "detail" not in words  # only ever inside <lora:Detail:...>, which is taken out
    networks = {n["name"]: n["count"] for n in positive["networks"]}
    assert networks["detail"] == sum(
        1 for _, i in with_prompt if any(lora[0] == "Detail Tweaker" for lora in i.loras)
    )
    negative = stats["prompt_concepts"]["negative"]
    negative_phrases = {p["text"]: p for p in negative["phrases"]}
    assert negative_phrases["bad hands"] == {
        "text": "bad hands",
        "count": len(with_prompt),
        "average_weight": 1.4,
    }


def test_model_availability_from_the_cache(stats, small_archive):
    used: dict[int, set[int]] = {}
    for image in small_archive.images:
        versions = [v for *_, v, _ in image.loras] + [v for _, _, v in image.embeddings]
        if image.checkpoint:
            versions.append(image.checkpoint[2])
        for version in versions:
            used.setdefault(version, set()).add(image.id)
    models = stats["models"]
    availability = Counter(VERSION_ANSWERS.get(v, ("unchecked",))[0] for v in used)
    assert models["versions"] == len(used)
    assert {k: v for k, v in models["by_availability"].items() if v} == dict(availability)
    gone = {v for v in used if VERSION_ANSWERS.get(v, ("available",))[0] != "available"}
    gone = {v for v in gone if v in VERSION_ANSWERS}
    assert {g["model_version_id"] for g in models["gone"]} == gone
    assert models["images_using_gone"] == len(set().union(*(used[v] for v in gone)))
    by_id = {g["model_version_id"]: g for g in models["gone"]}
    # Not found: the model id comes from the images, since Civitai answered nothing.
    assert by_id[7771]["archive_url"] == "https://civitaiarchive.com/models/777"
    assert by_id[7771]["civitai_url"] == "https://civitai.com/models/777?modelVersionId=7771"
    assert by_id[456194]["availability"] == "deleted"
    assert by_id[456194]["images"] == len(used[456194])


def test_filters_select_images_as_export_does(small_archive):
    path = str(small_archive.path)
    in_702 = [i for i in small_archive.images if 702 in i.collections]
    by_collection = run_stats("--archive", path, "--collection", "702")
    assert by_collection["counts"]["images"] == len(in_702)
    assert by_collection["filter"] == {"collection": 702}
    assert names_and_counts(by_collection["authors"]) == ranked(Counter(i.author for i in in_702))
    alice = run_stats("--archive", path, "--author", "ALICE", "--base-model", "pony")
    expected = [i for i in small_archive.images if i.author == "alice" and i.base_model == "Pony"]
    assert alice["counts"]["images"] == len(expected)
    assert alice["models"]["versions"] <= len(
        {v for i in expected for v in [i.checkpoint[2], *(lora[2] for lora in i.loras)]}
        | {v for i in expected for _, _, v in i.embeddings}
    )


def test_a_short_span_is_counted_per_day(small_archive):
    since = "2024-04-20"
    recent = [i for i in small_archive.images if i.created_at >= since]
    stats = run_stats("--archive", str(small_archive.path), "--since", since)
    over_time = stats["over_time"]
    assert over_time["unit"] == "day"
    days = Counter(i.created_at[:10] for i in recent)
    first, last = date.fromisoformat(min(days)), date.fromisoformat(max(days))
    assert len(over_time["counts"]) == (last - first).days + 1
    assert {c["period"]: c["count"] for c in over_time["counts"] if c["count"]} == dict(days)


def test_terminal_tables_print_civitai_text_as_written(small_archive):
    result = CliRunner().invoke(
        app, ["stats", "--archive", str(small_archive.path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert HOSTILE_AUTHOR in result.stdout  # Rich markup in a name is not interpreted
    assert "Pony Diffusion V6 XL" in result.stdout


def test_html_report_is_written_with_the_json(small_archive, tmp_path):
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        ["stats", "--archive", str(small_archive.path), "--json", "--html", str(report)],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["counts"]["images"] == len(small_archive.images)
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert 'http-equiv="Content-Security-Policy"' in page
    assert "<script" not in page.lower().replace("&lt;script", "")
    assert not list(tmp_path.glob(".report.html.*"))  # no temporary file left behind


def test_missing_archive_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(app, ["stats", "--archive", str(tmp_path / "nothing")])
    assert result.exit_code == 1
    assert "no archive at" in result.output
    assert "Traceback" not in result.output


def test_bad_date_is_a_usage_error(small_archive):
    result = CliRunner().invoke(
        app, ["stats", "--archive", str(small_archive.path), "--since", "yesterday"]
    )
    assert result.exit_code == 2
    assert "--since" in result.output
    assert "Traceback" not in result.output


def test_the_same_images_give_the_same_numbers(small_archive):
    """Ties are broken by name: two runs agree exactly, except for the time stamp."""
    first = run_stats("--archive", str(small_archive.path))
    second = run_stats("--archive", str(small_archive.path))
    first.pop("generated_at"), second.pop("generated_at")
    assert first == second


def test_an_empty_archive_has_empty_statistics(tmp_path):
    from civitai_vault.archive import open_archive

    open_archive(tmp_path / "empty").close()
    stats = run_stats("--archive", str(tmp_path / "empty"))
    assert stats["counts"]["images"] == 0
    assert stats["checkpoints"] == [] and stats["over_time"]["counts"] == []
    assert stats["distributions"]["steps"] == {
        "values": [],
        "missing": 0,
        "average": None,
        "median": None,
    }
    assert SmallImage  # the builder's type is what the fixtures above produce


def test_same_numbers_from_a_file_and_from_memory(small_archive):
    """Prompt concepts are counted beside the SQL for a file, in place for memory: same result."""
    import sqlite3

    from civitai_vault.analysis.stats import compute_stats
    from civitai_vault.archive import open_archive

    with open_archive(small_archive.path, create=False) as archive:
        from_file = compute_stats(archive.conn)
        memory = sqlite3.connect(":memory:")
        archive.conn.backup(memory)
    from_memory = compute_stats(memory)
    memory.close()
    from_file.pop("generated_at"), from_memory.pop("generated_at")
    assert from_file == from_memory


def test_html_into_a_missing_folder_names_the_path(small_archive, tmp_path):
    report = tmp_path / "no-such-folder" / "report.html"
    result = CliRunner().invoke(
        app, ["stats", "--archive", str(small_archive.path), "--html", str(report)]
    )
    assert result.exit_code == 2
    assert f"folder {report.parent} does not exist" in result.stderr
    assert "Errno" not in result.stderr and ".tmp" not in result.stderr


def test_html_into_a_read_only_folder_blames_the_folder_not_the_archive(small_archive):
    # /sys refuses new files even to root, as a read-only folder does to a user.
    report = "/sys/report.html"
    result = CliRunner().invoke(
        app, ["stats", "--archive", str(small_archive.path), "--html", report]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot write /sys/report.html: Permission denied; choose a folder you can "
        "write to with --html"
    ]
