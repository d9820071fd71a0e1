"""The shape of what `stats` computes: `compute_stats` returns a `Stats`.

A `Stats` is a plain dict (it goes to JSON as is), typed key by key so that
code reading it is checked. Entries of top lists are dicts of their own kind
(`{"value": ..., "count": ...}`, `{"name": ..., "model_id": ..., ...}`).
"""

from __future__ import annotations

from typing import Any, TypedDict


class Distributions(TypedDict):
    """Generation settings: counts per value, median, and the sizes used."""

    steps: dict[str, Any]
    cfg_scale: dict[str, Any]
    clip_skip: dict[str, Any]
    sizes: dict[str, Any]
    aspect_ratios: list[dict[str, Any]]


class Stats(TypedDict):
    """Everything `civitai-vault stats` shows (`--json` prints exactly this)."""

    generated_at: str
    filter: dict[str, Any]
    counts: dict[str, Any]
    checkpoints: list[dict[str, Any]]
    loras: list[dict[str, Any]]
    embeddings: list[dict[str, Any]]
    base_models: list[dict[str, Any]]
    samplers: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    authors: list[dict[str, Any]]
    collections: list[dict[str, Any]]
    distributions: Distributions
    types: list[dict[str, Any]]
    nsfw_levels: list[dict[str, Any]]
    over_time: dict[str, Any]
    lora_checkpoint_pairs: list[dict[str, Any]]
    loras_by_checkpoint: list[dict[str, Any]]
    models: dict[str, Any]
    prompt_concepts: dict[str, Any]
