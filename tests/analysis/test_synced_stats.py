"""`stats --json` over an archive synced from the emulator matches the emulator's own dataset.

Every expectation is computed from `synced_archive.dataset` (the data the
emulator served), never from the archive, so the sync, the archive and the
statistics are checked together against the source.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from typing import Any

import pytest
from typer.testing import CliRunner

from civitai_vault.cli import app


def ranked(counter: Counter) -> list[tuple]:
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))


def names_and_counts(items: list[dict]) -> list[tuple]:
    return [(item["name"], item["count"]) for item in items]


@pytest.fixture(scope="module")
def stats(synced_archive) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, ["stats", "--json", "--top", "1000", "--archive", str(synced_archive.path)]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def source(synced_archive) -> list[Any]:
    dataset = synced_archive.dataset
    return [dataset.images[i] for i in dataset.collections[synced_archive.collection_id].image_ids]


def meta_of(image: Any) -> dict[str, Any]:
    """What getGenerationData shows of an image's meta (nothing when it is hidden)."""
    return {} if image.hide_meta or not image.meta else image.meta


def version_named(dataset: Any, version_id: int) -> Any:
    return dataset.model_versions.get(version_id)


def test_counts_and_mix(stats, source, synced_archive):
    dataset = synced_archive.dataset
    counts = stats["counts"]
    assert counts["images"] == len(source)
    assert counts["videos"] == sum(image.type == "video" for image in source)
    assert counts["with_prompt"] == sum(bool(meta_of(image).get("prompt")) for image in source)
    authors = Counter(dataset.users[dataset.posts[i.post_id].user_id].username for i in source)
    authors.pop(None, None)  # a deleted account has no name
    assert names_and_counts(stats["authors"]) == ranked(authors)
    levels = Counter(image.nsfw_level for image in source)
    assert [(n["level"], n["count"]) for n in stats["nsfw_levels"]] == sorted(levels.items())
    assert names_and_counts(stats["base_models"]) == ranked(Counter(i.base_model for i in source))
    assert names_and_counts(stats["types"]) == ranked(Counter(i.type for i in source))
    tags = Counter(dataset.tags[tag_id].name for image in source for tag_id in image.tag_scores)
    assert names_and_counts(stats["tags"]) == ranked(tags)
    assert stats["collections"][0]["count"] == len(source)


def test_time(stats, source):
    months = Counter(image.created_at.strftime("%Y-%m") for image in source)
    counted = {c["period"]: c["count"] for c in stats["over_time"]["counts"] if c["count"]}
    assert stats["over_time"]["unit"] == "month"
    assert counted == dict(months)


def test_models_used(stats, source, synced_archive):
    dataset = synced_archive.dataset
    checkpoints: Counter = Counter()
    loras: dict[tuple, list[float]] = {}
    embeddings: Counter = Counter()
    for image in source:
        for ref in image.resources:
            version = version_named(dataset, ref.model_version_id)
            if version is None:
                continue  # Civitai no longer knows it: no name to count it under
            if ref.kind == "checkpoint":
                checkpoints[version.model_name] += 1
            elif ref.kind == "lora":
                loras.setdefault((version.model_name, version.model_id), []).append(ref.strength)
            else:
                embeddings[version.model_name, version.model_id] += 1
    assert names_and_counts(stats["checkpoints"]) == ranked(checkpoints)
    assert {
        (lora["name"], lora["model_id"]): (
            lora["images"],
            lora["average_weight"],
            lora["min_weight"],
            lora["max_weight"],
        )
        for lora in stats["loras"]
    } == {
        key: (len(weights), round(statistics.fmean(weights), 3), min(weights), max(weights))
        for key, weights in loras.items()
    }
    # Several models share a name (one per base model): they are told apart by model id.
    assert {(e["name"], e["model_id"]): e["images"] for e in stats["embeddings"]} == dict(
        embeddings
    )


def test_generation_settings(stats, source):
    metas = [meta_of(image) for image in source]
    for key, meta_key in (("steps", "steps"), ("cfg_scale", "cfgScale"), ("clip_skip", "clipSkip")):
        values = [meta.get(meta_key) for meta in metas]
        known = Counter(v for v in values if v is not None)
        distribution = stats["distributions"][key]
        assert [(v["value"], v["count"]) for v in distribution["values"]] == sorted(known.items())
        assert distribution["missing"] == values.count(None)
    samplers = Counter(meta["sampler"] for meta in metas if meta.get("sampler"))
    assert names_and_counts(stats["samplers"]) == ranked(samplers)
    sizes = Counter(f"{image.width}x{image.height}" for image in source)
    counted = {s["value"]: s["count"] for s in stats["distributions"]["sizes"]["values"]}
    assert counted == dict(sizes)


def test_prompt_concepts_follow_the_prompts(stats, source):
    prompts = [meta_of(image).get("prompt") for image in source]
    prompts = [prompt for prompt in prompts if prompt]
    positive = stats["prompt_concepts"]["positive"]
    assert positive["prompts"] == len(prompts)
    # The most common phrase, counted here with a plain pattern: a comma-separated
    # part, maybe in emphasis brackets, maybe with a weight.
    top = positive["phrases"][0]["text"]
    pattern = re.compile(
        rf"(?:^|[,\n])\s*[(\[]*\s*{re.escape(top)}\s*(?::\s*[\d.]+)?\s*[)\]]*\s*(?=,|\n|$)",
        re.IGNORECASE,
    )
    assert positive["phrases"][0]["count"] == sum(bool(pattern.search(p)) for p in prompts)
    networks = Counter()
    for prompt in prompts:
        networks.update({name.casefold() for name in re.findall(r"<lora:([^:>]+)", prompt)})
    assert {n["name"]: n["count"] for n in positive["networks"]} == dict(networks)


def availability_truth(dataset: Any, version_id: int) -> str:
    version = dataset.model_versions.get(version_id)
    if version is None or version_id in dataset.missing_version_ids:
        return "not_found"
    statuses = {version.status, version.model_status}
    if "Deleted" in statuses:
        return "deleted"
    return "unpublished" if "Unpublished" in statuses else "available"


def test_model_availability_is_what_sync_cached(stats, source, synced_archive):
    dataset = synced_archive.dataset
    used: dict[int, set[int]] = {}
    for image in source:
        for ref in image.resources:
            used.setdefault(ref.model_version_id, set()).add(image.id)
    models = stats["models"]
    truth = Counter(availability_truth(dataset, v) for v in used)
    assert models["versions"] == len(used)
    assert {k: v for k, v in models["by_availability"].items() if v} == dict(truth)
    gone = {v for v in used if availability_truth(dataset, v) != "available"}
    assert {g["model_version_id"]: g["images"] for g in models["gone"]} == {
        v: len(used[v]) for v in gone
    }
    for entry in models["gone"]:
        version = dataset.model_versions.get(entry["model_version_id"])
        if version is not None:
            assert entry["archive_url"] == f"https://civitaiarchive.com/models/{version.model_id}"
    assert models["images_using_gone"] == len(set().union(*(used[v] for v in gone)))
