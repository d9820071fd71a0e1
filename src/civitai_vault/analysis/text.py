"""Statistics and model checks as Rich tables for the terminal.

Every piece of Civitai text goes through `untrusted.terminal_text`, never into
a markup string, so a model called "[red]x" or a prompt with "[/]" prints as
written and an escape sequence in a name prints as `\x1b`, not to the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich import box
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from civitai_vault.analysis.availability import GONE, CheckResult, UsedVersion
from civitai_vault.analysis.charts import number
from civitai_vault.analysis.results import Stats
from civitai_vault.untrusted import terminal_text

TERMINAL_TOP = 10
AVAILABILITY_STYLES = {
    "available": "green",
    "deleted": "bold red",
    "unpublished": "yellow",
    "not_found": "magenta",
    "unchecked": "dim",
}


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right", overflow="fold")
    return table


def _counted(title: str, rows: Iterable[tuple[Any, ...]], *columns: str) -> Table | None:
    table = _table(title, *columns)
    for row in rows:
        table.add_row(*(terminal_text(cell, one_line=True) for cell in row))
    return table if table.row_count else None


def stats_renderables(stats: Stats, top: int = TERMINAL_TOP) -> list[RenderableType]:
    """The parts of a `compute_stats` dict worth reading in a terminal, as tables."""
    counts = stats.get("counts", {})
    distributions = stats.get("distributions", {})
    concepts = stats.get("prompt_concepts", {})
    parts: list[RenderableType | None] = [
        _overview(counts),
        _counted(
            "Checkpoints",
            ((c["name"], number(c["count"])) for c in stats.get("checkpoints", [])[:top]),
            "checkpoint",
            "images",
        ),
        _counted(
            "LoRAs",
            (
                (
                    lora["name"],
                    number(lora["images"]),
                    number(lora["average_weight"]),
                    f"{number(lora['min_weight'])} to {number(lora['max_weight'])}",
                )
                for lora in stats.get("loras", [])[:top]
            ),
            "LoRA",
            "images",
            "avg weight",
            "range",
        ),
        _counted(
            "Embeddings",
            ((e["name"], number(e["images"])) for e in stats.get("embeddings", [])[:top]),
            "embedding",
            "images",
        ),
        *(
            _counted(
                title,
                ((i["name"], number(i["count"])) for i in entries[:top]),
                column,
                "images",
            )
            for title, entries, column in (
                ("Base models", stats.get("base_models", []), "base model"),
                ("Samplers", stats.get("samplers", []), "sampler"),
                ("Tags", stats.get("tags", []), "tag"),
                ("Authors", stats.get("authors", []), "author"),
            )
        ),
        _settings(distributions),
        _counted(
            "NSFW levels",
            ((n["label"], number(n["count"])) for n in stats.get("nsfw_levels", [])),
            "level",
            "images",
        ),
        _counted(
            "LoRA + checkpoint",
            (
                (f"{p['lora']} + {p['checkpoint']}", number(p["count"]))
                for p in stats.get("lora_checkpoint_pairs", [])[:top]
            ),
            "pair",
            "images",
        ),
        *(
            _counted(
                f"{label} {kind}",
                (
                    (item["text"], number(item["count"]))
                    for item in concepts.get(side, {}).get(kind, [])[:top]
                ),
                kind[:-1],
                "prompts",
            )
            for side, label in (("positive", "Prompt"), ("negative", "Negative"))
            for kind in ("words", "phrases")
        ),
    ]
    tables = [part for part in parts if part is not None]
    # Side by side where the terminal is wide enough; the overview and models stay whole.
    models = _models_summary(stats.get("models") or {})
    return [tables[0], Columns(tables[1:], padding=(0, 3)), *([models] if models else [])]


def _overview(counts: dict[str, Any]) -> Table:
    table = _table("Archive", "", "")
    table.show_header = False
    for label, key in (
        ("images", "images"),
        ("videos", "videos"),
        ("with a prompt", "with_prompt"),
        ("authors", "authors"),
        ("checkpoints", "checkpoints"),
        ("LoRAs", "loras"),
        ("embeddings", "embeddings"),
        ("tags", "tags"),
        ("files", "files"),
        ("failed downloads", "failed_downloads"),
        ("gone from Civitai", "gone_upstream"),
    ):
        if counts.get(key) is not None:
            table.add_row(Text(label), Text(number(counts[key])))
    if counts.get("first_created_at"):
        span = f"{counts['first_created_at'][:10]} to {counts['last_created_at'][:10]}"
        table.add_row(Text("created"), Text(span))
    return table


def _settings(distributions: Mapping[str, Any]) -> Table | None:
    table = _table("Generation settings", "setting", "most used", "average", "median", "missing")
    for label, key in (("steps", "steps"), ("CFG scale", "cfg_scale"), ("clip skip", "clip_skip")):
        distribution = distributions.get(key) or {}
        values = distribution.get("values") or []
        if not values:
            continue
        common = max(values, key=lambda item: item["count"])
        table.add_row(
            Text(label),
            Text(f"{number(common['value'])} ({number(common['count'])})"),
            Text(number(distribution.get("average"))),
            Text(number(distribution.get("median"))),
            Text(number(distribution.get("missing"))),
        )
    ratios = distributions.get("aspect_ratios") or []
    if ratios:
        table.add_row(
            Text("aspect ratio"),
            Text(f"{ratios[0]['value']} ({number(ratios[0]['count'])})"),
            Text(""),
            Text(""),
            Text(""),
        )
    return table if table.row_count else None


def _models_summary(models: dict[str, Any]) -> RenderableType | None:
    counts = models.get("by_availability") or {}
    if not models.get("versions"):
        return None
    line = Text("Models: ")
    line.append(f"{number(models['versions'])} versions used; ")
    line.append_text(availability_line(counts))
    gone = models.get("gone", [])[:TERMINAL_TOP]
    if not gone:
        return line
    listed = [_as_version(item) for item in gone]
    return Group(line, _versions_table(listed, "Gone from Civitai"), _version_links(listed))


def availability_line(counts: dict[str, int]) -> Text:
    """ "561 available, 53 deleted, ..." with each status in its colour."""
    line = Text()
    parts = [(key, value) for key, value in counts.items() if value]
    for index, (key, value) in enumerate(parts):
        if index:
            line.append(", ")
        line.append(f"{number(value)} {key.replace('_', ' ')}", style=AVAILABILITY_STYLES.get(key))
    return line


def _as_version(item: dict[str, Any]) -> UsedVersion:
    fields = {
        key: value for key, value in item.items() if key not in ("civitai_url", "archive_url")
    }
    return UsedVersion(**fields)


def _versions_table(versions: Sequence[UsedVersion], title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("status")
    table.add_column("images", justify="right")
    table.add_column("type")
    table.add_column("model", overflow="fold")
    table.add_column("version", overflow="fold")
    for version in versions:
        table.add_row(
            Text(
                version.availability.replace("_", " "),
                style=AVAILABILITY_STYLES.get(version.availability, ""),
            ),
            Text(number(version.images)),
            terminal_text(version.model_type or version.kind or "", one_line=True),
            terminal_text(version.name or "(unknown)", one_line=True),
            terminal_text(
                f"{version.version_name or ''} #{version.model_version_id}".strip(), one_line=True
            ),
        )
    return table


def _version_links(versions: Sequence[UsedVersion]) -> Group:
    """One line per version, its link whole: never folded mid-word, so it can be clicked.

    A table cell would cut a long URL at the cell's edge; a line of its own is
    left for the terminal to wrap, which keeps it one link (and Rich marks it
    as a hyperlink where the terminal supports that).
    """
    lines = []
    for version in versions:
        link = version.archive_url if version.gone else version.civitai_url
        if not link:
            continue
        line = Text(f"#{version.model_version_id} ", no_wrap=True, overflow="ignore")
        line.append(link, style=f"link {link}")
        lines.append(line)
    return Group(*lines)


def check_renderables(result: CheckResult, *, show_available: bool = False) -> list[RenderableType]:
    """The check-models table (gone versions first; available ones only if asked) and a summary."""
    order = {status: rank for rank, status in enumerate(("deleted", "unpublished", "not_found"))}
    versions = sorted(
        (v for v in result.versions if show_available or v.availability != "available"),
        key=lambda v: (order.get(v.availability, len(order)), -v.images, v.model_version_id),
    )
    summary = Text(f"{number(len(result.versions))} model versions used: ")
    summary.append_text(availability_line(result.counts()))
    summary.append(f". Looked up {number(result.looked_up)} now, the rest from the cache.")
    if any(v.availability in GONE for v in result.versions):
        summary.append(" Links to civitaiarchive.com lead to copies it may hold.")
    parts: list[RenderableType] = []
    if versions:
        title = "Model versions your images used" if show_available else "No longer available"
        parts.append(_versions_table(versions, title))
        parts.append(_version_links(versions))
    parts.append(summary)
    return parts
