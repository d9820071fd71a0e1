"""Jinja2 setup: autoescaping everywhere, and the small helpers the templates use.

Everything Civitai wrote (prompts, names, tags) reaches HTML only through
autoescaping; no template marks Civitai text `|safe`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi.templating import Jinja2Templates

from civitai_vault.vocabulary import NSFW_LABELS
from civitai_vault.web.files import media_url
from civitai_vault.web.params import SORT_LABELS
from civitai_vault.web.thumbs import SIZES

GRID_THUMB = SIZES["grid"]


def thumb_url(record: dict[str, Any], size: str = "grid") -> str | None:
    """The thumbnail of a record's file; the hash in the URL lets browsers cache it for good."""
    if not record.get("file_path") or not record.get("sha256"):
        return None
    suffix = "" if size == "grid" else f"&size={quote(size)}"
    return f"/thumbs/{record['image_id']}?v={record['sha256'][:12]}{suffix}"


def thumb_box(record: dict[str, Any]) -> tuple[int, int]:
    """Width and height of the grid thumbnail, so the page does not jump while it loads."""
    width, height = record.get("width") or 0, record.get("height") or 0
    if width <= 0 or height <= 0:
        return GRID_THUMB, GRID_THUMB
    scale = min(1.0, GRID_THUMB / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


# X (8), XXX (16) and Blocked (32) are blurred, hidden or shown as the browser's setting says.
ADULT_LEVEL = 8


def is_adult(level: Any) -> bool:
    return isinstance(level, int) and level >= ADULT_LEVEL


def number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def nsfw_label(level: Any) -> str:
    try:
        return NSFW_LABELS.get(int(level), str(level))
    except (TypeError, ValueError):
        return "unknown"


def make_templates(directory: Path) -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(directory),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        media_url=media_url,
        thumb_url=thumb_url,
        thumb_box=thumb_box,
        nsfw_label=nsfw_label,
        is_adult=is_adult,
        NSFW_LABELS=NSFW_LABELS,
        SORT_LABELS=SORT_LABELS,
    )
    env.filters["number"] = number
    return Jinja2Templates(env=env)
