"""Terminal output for people: run summaries, archive status, one image's analysis.

Civitai text (and text from files) goes through `untrusted.terminal_text`: never
parsed as markup, so a prompt that contains `[bold]` or `[/x]` shows as itself,
and its control characters print as visible escapes (`\x1b`), never reaching the
terminal as the escape sequences they would start.
"""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from civitai_vault.sync.summary import RunSummary
from civitai_vault.untrusted import terminal_text
from civitai_vault.vocabulary import SHOWN_META_KEYS


def print_run_summary(console: Console, summary: RunSummary) -> None:
    table = Table(title="sync summary", show_lines=False)
    columns = (
        "target",
        "listed",
        "new",
        "updated",
        "downloaded",
        "failed",
        "removed",
        "hidden",
        "gone",
        "complete",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "target" else "right")
    for t in summary.targets:
        # A skipped target (a Model collection of `me`) had nothing to archive: not a failure.
        complete = (
            "[green]yes[/]" if t.complete else "[dim]skipped[/]" if t.skipped else "[red]no[/]"
        )
        table.add_row(
            terminal_text(t.label),
            str(t.listed),
            str(t.new),
            str(t.updated),
            f"{t.downloaded} ({format_bytes(t.downloaded_bytes)})" if t.downloaded else "0",
            _red_if(t.failed),
            str(t.removed),
            str(t.hidden),
            str(t.gone),
            complete,
        )
    print_table(console, table)
    for t in summary.targets:
        if t.error:
            console.print(terminal_text(f"{t.label}: {t.error}", style="bold red"))
        for reason, count in t.failure_reasons.most_common(5):
            console.print(terminal_text(f"{t.label}: {count} failed: {reason}", style="red"))
        for note in t.notes:
            console.print(
                terminal_text(f"{t.label}: {note}", style="dim" if t.skipped else "yellow")
            )
    for note in summary.notes:
        console.print(terminal_text(f"note: {note}", style="yellow"))
    console.print(
        terminal_text(
            f"{summary.api_requests} API requests, {summary.cdn_requests} downloads "
            f"({format_bytes(summary.bytes_downloaded)}) in {summary.seconds:.1f} s",
            style="dim",
        )
    )


def print_table(console: Console, table: Table) -> None:
    """A log file or a pipe has no width to keep to: drawn at Rich's default of 80
    columns a wide table would cut its headers short ("targ…"), so there it gets
    the room it needs. A terminal keeps its own width."""
    if console.is_terminal:
        console.print(table)
        return
    needed = console.measure(table, options=console.options.update_width(1000)).maximum
    wide = Console(file=console.file, width=max(console.width, needed), color_system=None)
    wide.print(table)


def format_bytes(size: float) -> str:
    """1234567 -> "1.2 MB": decimal units, as download tools print them."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _red_if(count: int) -> str:
    return f"[red]{count}[/]" if count else "0"


def print_status(console: Console, status: dict[str, Any]) -> None:
    """Totals, one table row per target, then each target's name and note whole.

    The table holds only short cells (the target as typed, counts, the time of the
    last run), so no terminal width cuts them; names and notes are free text and
    go on their own soft-wrapped lines below it.
    """
    totals = status["totals"]
    console.print(
        terminal_text(
            f"{totals['images']} images ({totals['videos']} videos), "
            f"{totals['with_details']} with generation data, {totals['files']} files "
            f"({totals['bytes'] / 1e6:.1f} MB); {totals['gone_upstream']} gone from Civitai, "
            f"{totals['failures']} with a pending failure"
        ),
        soft_wrap=True,
    )
    table = Table(title="targets", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("target", no_wrap=True)
    for column in ("images", "removed", "hidden", "new", "failed"):
        table.add_column(column, justify="right")
    table.add_column("complete")
    table.add_column("last run (UTC)", no_wrap=True)
    for t in status["targets"]:
        table.add_row(
            terminal_text(t["target"]),
            str(t["images"]),
            str(t["removed"]),
            str(t.get("hidden") or 0),
            str(t["new"] if t["new"] is not None else ""),
            str(t["failed"] if t["failed"] is not None else ""),
            {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[t["complete"]],
            (t["last_run_at"] or "never")[:16].replace("T", " "),
        )
    print_table(console, table)
    for t in status["targets"]:
        # A label that only restates the target ("post 12") says nothing new.
        name = t["label"] if t["label"] != t["target"].replace(":", " ") else None
        said = [part for part in (name, t["note"]) if part]
        if said:
            _print_whole(console, terminal_text(f"{t['target']}: " + "; ".join(said)))
    for failure in status["failures"]:
        console.print(
            terminal_text(
                f"image {failure['image_id']} ({failure['stage']}): {failure['reason']}", "red"
            ),
            soft_wrap=True,
        )


def print_image(console: Console, image: Any, site_url: str = "https://civitai.com") -> None:
    """The single-image analysis: basic info, model, resources, tags, prompts, other parameters.

    Everything that may be long (URLs, prompts, parameters) is printed soft-wrapped,
    so neither a pipe nor a narrow terminal cuts or breaks it: it can be copied whole.
    """
    record = image.to_record()
    info = Table.grid(padding=(0, 2))
    info.add_column(style="bold")
    info.add_column()
    rows = [
        ("image", f"{record['image_id']} ({record['type']}, {record['width']}x{record['height']})"),
        ("file name", record["name"]),
        ("author", record["author"] or ("(deleted user)" if image.author_deleted else "unknown")),
        ("created", record["created_at"]),
        ("published", record["published_at"]),
        ("post", record["post_id"]),
        ("nsfw level", record["nsfw_level"]),
        ("base model", record["base_model"]),
        ("checkpoint", _resource_line(record["model"], record["model_version"])),
        ("sampler", record["sampler"]),
        ("steps", record["steps"]),
        ("cfg scale", record["cfg_scale"]),
        ("seed", record["seed"]),
        ("clip skip", record["clip_skip"]),
        ("process", record["process"]),
        ("engine", record["engine"]),
        ("workflow", record["workflow"]),
    ]
    for label, value in rows:
        if value is not None:
            info.add_row(label, terminal_text(str(value)))
    console.print(info)
    for label, url in (
        ("url", record["image_url"]),
        ("page", f"{site_url}/images/{record['image_id']}"),
    ):
        if url:
            _print_whole(console, terminal_text(f"{label}: ", style="bold") + terminal_text(url))
    _print_resources(console, image)
    if record["tags"]:
        _print_whole(
            console,
            terminal_text("tags: ", style="bold") + terminal_text(", ".join(record["tags"])),
        )
    for label, key in (("prompt", "prompt"), ("negative prompt", "negative_prompt")):
        console.print(terminal_text(f"{label}:", style="bold"))
        _print_whole(console, terminal_text(record[key] or "(none)"))
    _print_other_parameters(console, image.raw_meta)


LONG_PARAMETER = 300


def _print_whole(console: Console, text: Text) -> None:
    console.print(text, soft_wrap=True)


def _resource_line(name: Any, version: Any) -> str | None:
    if name is None:
        return None
    return f"{name} ({version})" if version else str(name)


def _print_resources(console: Console, image: Any) -> None:
    """One line per resource: what it is, its weight, whether Civitai still has it, a link."""
    if not image.resources:
        console.print(terminal_text("resources: none listed", style="dim"))
        return
    console.print(terminal_text("resources:", style="bold"))
    for resource in image.resources:
        found = image.model_availability.get(resource.model_version_id)
        availability = found.availability if found else "unchecked"
        line = terminal_text(f"  {resource.kind:<11}") + terminal_text(
            _resource_line(
                resource.name or f"version {resource.model_version_id}", resource.version_name
            )
            or ""
        )
        if resource.weight is not None:
            line += terminal_text(f", weight {resource.weight:g}")
        style = "green" if availability == "available" else "red"
        line += terminal_text(": ") + terminal_text(availability.replace("_", " "), style=style)
        if found is not None and found.archive_url:
            line += terminal_text(f", archive copy at {found.archive_url}")
        elif found is not None and found.civitai_url:
            line += terminal_text(f", {found.civitai_url}")
        _print_whole(console, line)


def _print_other_parameters(console: Console, meta: dict[str, Any] | None) -> None:
    """What else the generation data says (hires fix, VAE, hashes...): one `key: value` a line."""
    others = {k: v for k, v in (meta or {}).items() if k not in SHOWN_META_KEYS and v is not None}
    if not others:
        return
    console.print(terminal_text("other parameters:", style="bold"))
    for key, value in others.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if len(shown) > LONG_PARAMETER:
            shown = f"({len(shown)} characters; see --json)"
        _print_whole(console, terminal_text(f"  {key}: {shown}"))
