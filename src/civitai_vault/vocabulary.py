"""Civitai's vocabulary, in one place: sites, NSFW levels, resource kinds, meta keys, links.

Everything that names a Civitai concept (the terminal, the gallery, the HTML
report, exports, sync) takes it from here, so that two places never say it
differently.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ARCHIVE_SITE_URL",
    "CHECKPOINT_TYPES",
    "DEFAULT_IMAGE_BASE_URL",
    "EMBEDDING_TYPES",
    "LORA_TYPES",
    "NSFW_LABELS",
    "SHOWN_META_KEYS",
    "SITE_URLS",
    "archive_model_url",
    "model_url",
    "nsfw_label",
    "resource_kind",
]

# The two sites: civitai.com hides R and X even when signed in; civitai.red does not.
SITE_URLS: dict[str, str] = {"com": "https://civitai.com", "red": "https://civitai.red"}
DEFAULT_IMAGE_BASE_URL = "https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA"
# The community archive that keeps copies of models Civitai no longer offers.
ARCHIVE_SITE_URL = "https://civitaiarchive.com"

# Civitai's browsing levels (a bit field; each image has exactly one).
NSFW_LABELS: dict[int, str] = {
    0: "Unrated",
    1: "PG",
    2: "PG-13",
    4: "R",
    8: "X",
    16: "XXX",
    32: "Blocked",
}

# Model types as resources and meta entries spell them (lower case, no spaces),
# by the kind the archive files them under.
LORA_TYPES = frozenset({"lora", "locon", "lycoris", "dora", "loha", "lokr"})
EMBEDDING_TYPES = frozenset({"textualinversion", "embedding", "embed", "ti"})
CHECKPOINT_TYPES = frozenset({"checkpoint", "model"})

# Keys of Civitai's generation `meta` that have fields of their own in the export
# record (prompt, sampler, resources, ...): views list the other keys as
# "other parameters".
SHOWN_META_KEYS = frozenset(
    {
        "prompt",
        "negativePrompt",
        "sampler",
        "steps",
        "cfgScale",
        "seed",
        "clipSkip",
        "baseModel",
        "Model",
        "process",
        "engine",
        "workflow",
        "civitaiResources",
        "resources",
    }
)


def nsfw_label(level: Any) -> str:
    """ "PG", "R", ...; an unknown level as its number."""
    try:
        return NSFW_LABELS.get(int(level), str(level))
    except (TypeError, ValueError):
        return str(level)


def resource_kind(model_type: Any) -> str:
    """ "lora", "embedding", "checkpoint", another type as spelled, or "unknown"."""
    text = str(model_type or "").replace(" ", "").lower()
    if text in LORA_TYPES:
        return "lora"
    if text in EMBEDDING_TYPES:
        return "embedding"
    if text in CHECKPOINT_TYPES:
        return "checkpoint"
    return text or "unknown"


def model_url(
    model_id: int | None, version_id: int | None = None, site: str = SITE_URLS["com"]
) -> str | None:
    """A model's page on Civitai, opened at `version_id` when given."""
    if model_id is None:
        return None
    url = f"{site}/models/{model_id}"
    return f"{url}?modelVersionId={version_id}" if version_id else url


def archive_model_url(model_id: int | None) -> str | None:
    """Where civitaiarchive.com keeps a copy of a model Civitai no longer offers."""
    return None if model_id is None else f"{ARCHIVE_SITE_URL}/models/{model_id}"
