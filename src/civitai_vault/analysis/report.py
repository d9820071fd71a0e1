"""The statistics as a page a person would rather look at than read.

`render_charts(stats)` gives an HTML fragment (inline SVG charts, no scripts,
no styles that need a stylesheet to be legible) that the gallery embeds;
`render_report(stats, title)` wraps it in one self-contained page that opens
offline, scales to a phone, and carries a Content-Security-Policy that allows
no script, no network and only its own inline stylesheet.

All Civitai text (names, prompts, tags) reaches the markup through Jinja2
with autoescaping on; the Python side only computes numbers and positions.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from civitai_vault.analysis import charts
from civitai_vault.analysis.results import Stats
from civitai_vault.vocabulary import model_url

# Styles for the fragment's classes. The report inlines them; the gallery can
# serve them from its own stylesheet. Charts stay legible without them.
CHART_CSS = """
.cv-report{--cv-card:#fff;--cv-line:#d8dce3;--cv-muted:#5b6270;color:#1d2330}
.cv-grid{display:grid;gap:14px;align-items:start;
grid-template-columns:repeat(auto-fill,minmax(min(100%,380px),1fr))}
.cv-groups{display:grid;gap:4px 18px;
grid-template-columns:repeat(auto-fill,minmax(min(100%,300px),1fr))}
.cv-card{background:var(--cv-card);border:1px solid var(--cv-line);border-radius:10px;
padding:12px 14px;min-width:0}
.cv-card.cv-wide{grid-column:1/-1}
.cv-card h2{font-size:1.02rem;margin:0 0 4px}
.cv-card h3{font-size:.92rem;margin:12px 0 4px}
.cv-note{color:var(--cv-muted);font-size:.85rem;margin:0 0 8px}
.cv-empty{color:var(--cv-muted);font-style:italic;margin:4px 0}
.cv-svg{display:block;width:100%;max-width:540px;height:auto;overflow:visible}
.cv-svg a text{text-decoration:underline}
.cv-numbers{display:grid;gap:8px;margin:0;
grid-template-columns:repeat(auto-fill,minmax(min(100%,9.5rem),1fr))}
.cv-numbers div{border:1px solid var(--cv-line);border-radius:8px;padding:8px 10px}
.cv-numbers dt{color:var(--cv-muted);font-size:.8rem}
.cv-numbers dd{margin:0;font-size:1.3rem;font-weight:600;overflow-wrap:anywhere}
.cv-table-wrap{overflow-x:auto}
.cv-table{border-collapse:collapse;width:100%;font-size:.88rem}
.cv-table th,.cv-table td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--cv-line);
vertical-align:top;overflow-wrap:anywhere}
.cv-table td.cv-num{text-align:right;white-space:nowrap}
.cv-status-deleted{color:#c0392b;font-weight:600}
.cv-status-unpublished{color:#b9610b;font-weight:600}
.cv-status-not_found{color:#8e44ad;font-weight:600}
@media (prefers-color-scheme:dark){
.cv-report{--cv-card:#1c2029;--cv-line:#343a46;--cv-muted:#a3abb9;color:#e6e9ef}
.cv-status-deleted{color:#ff7b6b}.cv-status-unpublished{color:#ffb05c}
.cv-status-not_found{color:#d59cf0}}
"""

PAGE_CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f3f5f8;color:#1d2330;line-height:1.4;
font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Helvetica Neue",Arial,sans-serif}
main{max-width:1280px;margin:0 auto;padding:16px}
header.cv-page{margin:0 0 14px}
header.cv-page h1{font-size:1.45rem;margin:0 0 4px;overflow-wrap:anywhere}
header.cv-page p{margin:0;color:#5b6270;font-size:.9rem;overflow-wrap:anywhere}
a{color:#2a62b8}
@media (prefers-color-scheme:dark){body{background:#12151b;color:#e6e9ef}
header.cv-page p{color:#a3abb9}a{color:#8ab4ff}}
@media (max-width:480px){main{padding:8px}.cv-card{padding:10px}}
"""

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
GONE_TABLE_LIMIT = 200


@dataclass
class Section:
    """One card of the report: a title, an optional note, and one or more charts."""

    title: str
    kind: str  # bars | columns | share | numbers | gone | groups
    chart: Any = None
    note: str | None = None
    wide: bool = False
    items: list[Any] = field(default_factory=list)


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("civitai_vault.analysis", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_charts(stats: Stats) -> str:
    """The charts of `compute_stats` output as an HTML fragment: escaped, no scripts."""
    template = _environment().get_template("charts.html")
    return template.render(sections=build_sections(stats))


def render_report(stats: Stats, title: str = "civitai-vault statistics") -> str:
    """One self-contained HTML page with every chart; opens offline."""
    css = CHART_CSS.strip() + "\n" + PAGE_CSS.strip()
    template = _environment().get_template("report.html")
    return template.render(
        title=title,
        stats=stats,
        css=Markup(css),  # our own constant; the CSP allows exactly this text
        csp=content_security_policy(css),
        charts=Markup(render_charts(stats)),
        filter_text=_filter_text(stats.get("filter") or {}),
    )


def content_security_policy(css: str) -> str:
    """No scripts, no requests, no forms; only the page's own stylesheet (by hash)."""
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    return "; ".join(
        (
            "default-src 'none'",
            f"style-src 'sha256-{digest}'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
        )
    )


def _filter_text(selected: dict[str, Any]) -> str:
    if not selected:
        return "every archived image"
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in selected.items())


# ----------------------------------------------------------------- sections


def build_sections(stats: Stats) -> list[Section]:
    """The report's cards, in reading order, from a `compute_stats` dict."""
    distributions = stats.get("distributions", {})
    concepts = stats.get("prompt_concepts", {})
    positive, negative = concepts.get("positive", {}), concepts.get("negative", {})
    sections = [
        Section("At a glance", "numbers", items=_numbers(stats), wide=True),
        _over_time(stats.get("over_time", {})),
        _share(
            "NSFW levels",
            [(item["label"], item["count"]) for item in stats.get("nsfw_levels", [])],
            charts.NSFW_COLORS,
        ),
        _named_bars("Base models", stats.get("base_models", [])),
        _checkpoints(stats.get("checkpoints", [])),
        _resources("LoRAs", stats.get("loras", []), weights=True),
        _resources("Embeddings", stats.get("embeddings", []), weights=False),
        _loras_by_checkpoint(stats.get("loras_by_checkpoint", [])),
        _bars(
            "LoRA and checkpoint pairs",
            [
                (f"{pair['lora']} + {pair['checkpoint']}", pair["count"])
                for pair in stats.get("lora_checkpoint_pairs", [])
            ],
            note="Images that used both.",
        ),
        _named_bars("Samplers", stats.get("samplers", [])),
        _distribution("Steps", distributions.get("steps")),
        _distribution("CFG scale", distributions.get("cfg_scale")),
        _distribution("Clip skip", distributions.get("clip_skip")),
        _bars(
            "Aspect ratios",
            [(item["value"], item["count"]) for item in distributions.get("aspect_ratios", [])],
        ),
        _sizes(distributions.get("sizes") or {}),
        _named_bars("Tags", stats.get("tags", [])),
        _named_bars("Authors", stats.get("authors", [])),
        _collections(stats.get("collections", [])),
        _concept_bars("Prompt words", positive.get("words", []), positive),
        _phrase_bars("Prompt phrases", positive.get("phrases", []), positive),
        _concept_bars("Negative prompt words", negative.get("words", []), negative),
        _phrase_bars("Negative prompt phrases", negative.get("phrases", []), negative),
        _bars(
            "LoRA tags written in prompts",
            [(item["name"], item["count"]) for item in positive.get("networks", [])],
            note="<lora:…> tags as written, counted once per prompt.",
        ),
        *_models(stats.get("models") or {}),
    ]
    return sections


def _numbers(stats: Stats) -> list[tuple[str, str]]:
    counts = stats.get("counts", {})
    models = stats.get("models") or {}
    gone = sum(
        (models.get("by_availability") or {}).get(key, 0)
        for key in ("deleted", "unpublished", "not_found")
    )
    pairs = [
        ("Images", counts.get("images")),
        ("Videos", counts.get("videos")),
        ("With a prompt", counts.get("with_prompt")),
        ("Authors", counts.get("authors")),
        ("Posts", counts.get("posts")),
        ("Checkpoints", counts.get("checkpoints")),
        ("LoRAs", counts.get("loras")),
        ("Embeddings", counts.get("embeddings")),
        ("Tags", counts.get("tags")),
        ("Files", counts.get("files")),
    ]
    numbers = [(label, charts.number(value)) for label, value in pairs if value is not None]
    numbers.append(("Size on disk", _bytes(counts.get("file_bytes") or 0)))
    if counts.get("failed_downloads"):
        numbers.append(("Failed downloads", charts.number(counts["failed_downloads"])))
    if counts.get("gone_upstream"):
        numbers.append(("Gone from Civitai", charts.number(counts["gone_upstream"])))
    if models.get("versions"):
        numbers.append(("Models no longer offered", charts.number(gone)))
    return numbers


def _bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def _bars(
    title: str,
    items: list[tuple[str, float]],
    *,
    value_texts: list[str] | None = None,
    links: list[str | None] | None = None,
    note: str | None = None,
) -> Section:
    chart = charts.bar_chart(items, value_texts=value_texts, links=links)
    return Section(title, "bars", chart=chart, note=note)


def _named_bars(title: str, items: list[dict[str, Any]]) -> Section:
    return _bars(title, [(str(item["name"]), item["count"]) for item in items])


def _checkpoints(items: list[dict[str, Any]]) -> Section:
    return _bars(
        "Checkpoints",
        [(item["name"], item["count"]) for item in items],
        links=[model_url(item.get("model_id")) for item in items],
    )


def _resources(title: str, items: list[dict[str, Any]], *, weights: bool) -> Section:
    texts = []
    for item in items:
        text = charts.number(item["images"])
        if weights and item.get("average_weight") is not None:
            low, high = _weight(item["min_weight"]), _weight(item["max_weight"])
            text += f" · weight {_weight(item['average_weight'])}"
            if low != high:
                text += f" ({low} to {high})"
        texts.append(text)
    note = "Images that used each"
    note += "; weight: average (lowest to highest)." if weights and items else "."
    return _bars(title, _told_apart(items), value_texts=texts, note=note)


def _told_apart(items: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Labels for resources; a name several models share gets its base model added."""
    names = Counter(item["name"] for item in items)
    return [
        (
            f"{item['name']} ({item['base_model']})"
            if names[item["name"]] > 1 and item.get("base_model")
            else item["name"],
            item["images"],
        )
        for item in items
    ]


def _weight(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def _loras_by_checkpoint(items: list[dict[str, Any]]) -> Section:
    groups = []
    for item in items:
        if not item["loras"]:
            continue
        share = [
            (lora["name"], lora["count"] / item["images"] if item["images"] else 0)
            for lora in item["loras"]
        ]
        texts = [
            f"{charts.number(lora['count'])} · {round(100 * value)}%"
            for lora, (_, value) in zip(item["loras"], share, strict=True)
        ]
        groups.append(
            (
                f"{item['checkpoint']} ({charts.number(item['images'])} images)",
                charts.bar_chart(share, value_texts=texts),
            )
        )
    return Section(
        "LoRAs used with each checkpoint",
        "groups",
        items=groups,
        note="Share of the checkpoint's images that used the LoRA.",
        wide=True,
    )


def _distribution(title: str, distribution: dict[str, Any] | None) -> Section:
    distribution = distribution or {"values": []}
    items = [(charts.number(item["value"]), item["count"]) for item in distribution["values"]]
    note_parts = []
    if distribution.get("average") is not None:
        note_parts.append(f"average {charts.number(distribution['average'])}")
    if distribution.get("median") is not None:
        note_parts.append(f"median {charts.number(distribution['median'])}")
    if distribution.get("missing"):
        note_parts.append(f"{charts.number(distribution['missing'])} images without it")
    return Section(
        title,
        "columns",
        chart=charts.column_chart(items),
        note=", ".join(note_parts).capitalize() or None,
    )


def _sizes(sizes: dict[str, Any]) -> Section:
    section = _bars(
        "Image sizes",
        [(item["value"], item["count"]) for item in sizes.get("values", [])],
        note=(
            f"{charts.number(sizes['distinct'])} different sizes."
            if sizes.get("distinct")
            else None
        ),
    )
    orientation = sizes.get("orientation") or {}
    section.items = [
        charts.share_chart([(key.capitalize(), value) for key, value in orientation.items()])
    ]
    return section


def _over_time(over_time: dict[str, Any]) -> Section:
    unit = over_time.get("unit", "month")
    items = [
        (_period_label(item["period"], unit), item["count"]) for item in over_time.get("counts", [])
    ]
    note = f"Images per {unit}, by the date Civitai gives for each."
    if over_time.get("undated"):
        note += f" {charts.number(over_time['undated'])} without a date."
    return Section("Images over time", "columns", chart=charts.column_chart(items), note=note)


def _period_label(period: str, unit: str) -> str:
    if unit == "month" and len(period) == 7:
        return f"{MONTHS[int(period[5:7]) - 1]} ’{period[2:4]}"
    return period[5:] if unit == "day" and len(period) == 10 else period


def _collections(items: list[dict[str, Any]]) -> Section:
    return _bars(
        "Collections",
        [(item["name"] or f"collection {item['id']}", item["count"]) for item in items],
    )


def _concept_bars(title: str, items: list[dict[str, Any]], concepts: dict[str, Any]) -> Section:
    note = _prompts_note(concepts)
    return _bars(title, [(item["text"], item["count"]) for item in items], note=note)


def _phrase_bars(title: str, items: list[dict[str, Any]], concepts: dict[str, Any]) -> Section:
    texts = []
    for item in items:
        text = charts.number(item["count"])
        if item.get("average_weight") not in (None, 1, 1.0):
            text += f" · weight {_weight(item['average_weight'])}"
        texts.append(text)
    return _bars(
        title,
        [(item["text"], item["count"]) for item in items],
        value_texts=texts,
        note=_prompts_note(concepts),
    )


def _prompts_note(concepts: dict[str, Any]) -> str | None:
    prompts = concepts.get("prompts")
    if not prompts:
        return None
    return f"In how many of {charts.number(prompts)} prompts each appears."


def _share(title: str, items: list[tuple[str, float]], colors: dict[str, str]) -> Section:
    return Section(title, "share", chart=charts.share_chart(items, colors))


def _models(models: dict[str, Any]) -> list[Section]:
    counts = models.get("by_availability") or {}
    share = charts.share_chart(
        [(key.replace("_", " "), value) for key, value in counts.items()],
        {key.replace("_", " "): color for key, color in charts.AVAILABILITY_COLORS.items()},
    )
    note = None
    if counts.get("unchecked"):
        note = (
            f"{charts.number(counts['unchecked'])} model versions were never checked: "
            "run `civitai-vault check-models`."
        )
    gone = models.get("gone") or []
    table_note = (
        f"{charts.number(models.get('images_using_gone', 0))} images used at least one of them."
        if gone
        else None
    )
    return [
        Section("Model availability", "share", chart=share, note=note),
        Section(
            "Models Civitai no longer offers",
            "gone",
            items=gone[:GONE_TABLE_LIMIT],
            note=table_note,
            wide=True,
        ),
    ]
