"""File names built from a template and sanitized parts, which can never leave the archive.

Text from Civitai is untrusted: a username or an original file name may hold
`../`, slashes, control characters, Windows device names or thousands of
characters. Every field is cleaned before it goes into the template, and every
path segment of the result is cleaned again, so the template's own literal text
cannot escape either. `safe_join` is the last gate before a file is written.

Two images must never get one name: the second file would replace the first.
`check_template` refuses, before a run starts, a template without `{image_id}`
or `{uuid}`; and when a name is cut to length, the cut falls on the other
fields, never on those.
"""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any

from civitai_vault.errors import UsageError

DEFAULT_TEMPLATE = "{username}/{image_id}.{ext}"
TEMPLATE_FIELDS: tuple[str, ...] = (
    "image_id",
    "uuid",
    "username",
    "post_id",
    "collection_id",
    "collection_name",
    "type",
    "base_model",
    "model",
    "date",
    "name_stem",
    "ext",
)
# Fields that differ for every image: a template needs one of them.
UNIQUE_FIELDS: tuple[str, ...] = ("image_id", "uuid")
UNKNOWN = "_unknown"
# Bytes per path segment: far below the usual 255, leaving room for the sidecar
# suffixes and the temporary names used while writing.
MAX_SEGMENT_BYTES = 120

_FORBIDDEN = re.compile(r'[/\\<>:"|?*]')
# Bidirectional overrides make a name display differently from what it is.
_INVISIBLE = re.compile("[\u202a-\u202e\u2066-\u2069\ufeff]")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{n}" for n in "123456789¹²³"}
    | {f"LPT{n}" for n in "123456789¹²³"}
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def check_template(template: str) -> None:
    """Refuse a template that is malformed or could give two images the same file name."""
    fields = {field for _, field, _, _ in _parse(template) if field is not None}
    if not fields & set(UNIQUE_FIELDS):
        raise UsageError(
            f"the file name template {template!r} can give two images the same name, and "
            "the second file would replace the first: include {image_id} (or {uuid}), "
            "for example '{username}/{image_id}.{ext}'"
        )
    render_relpath(template, {"image_id": 1, "uuid": "u"}, "png")  # unknown fields, specs


def render_relpath(template: str, record: dict[str, Any], ext: str) -> str:
    """The record's file path relative to the media folder, POSIX separators, never escaping."""
    ext = _clean_ext(ext)
    values = _field_values(record, ext)
    # (text, kept whole): a unique field's text is never cut to fit a length.
    pieces: list[tuple[str, bool]] = []
    for literal, field, spec, conversion in _parse(template):
        pieces.append((literal.replace("\\", "/"), False))
        if field is None:
            continue
        text = _clean_field(_format_field(field, spec or "", conversion, values))
        pieces.append((text, field in UNIQUE_FIELDS))
    # Room for the extension and what `_clean_segment` may add (a leading "_").
    budget = MAX_SEGMENT_BYTES - len(ext) - 3
    segments = [
        _clean_segment(_fit(part, budget))
        for part in _split_segments(pieces)
        if _joined(part).strip()
    ]
    # The file itself always ends in the type's extension, whatever the template says.
    name = segments.pop() if segments else UNKNOWN
    if not name.endswith(f".{ext}"):
        name = f"{name}.{ext}"
    return "/".join([*segments, _cap_length(name, ext)])


def _parse(template: str) -> list[tuple[str, str | None, str | None, str | None]]:
    try:
        return list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(f"the file name template {template!r} is malformed: {exc}") from None


def _split_segments(pieces: list[tuple[str, bool]]) -> list[list[tuple[str, bool]]]:
    """The pieces of each path segment (cleaned fields hold no "/"; literals may)."""
    segments: list[list[tuple[str, bool]]] = [[]]
    for text, whole in pieces:
        first, *rest = text.split("/")
        segments[-1].append((first, whole))
        segments += [[(part, whole)] for part in rest]
    return segments


def _joined(pieces: list[tuple[str, bool]]) -> str:
    return "".join(text for text, _ in pieces)


def _fit(pieces: list[tuple[str, bool]], budget: int) -> str:
    """The segment's text within `budget` bytes, cutting the longest pieces that may be cut."""
    pieces = list(pieces)
    while len(_joined(pieces).encode("utf-8")) > budget:
        cuttable = [i for i, (text, whole) in enumerate(pieces) if not whole and text]
        if not cuttable:
            break
        longest = max(cuttable, key=lambda i: len(pieces[i][0].encode("utf-8")))
        excess = len(_joined(pieces).encode("utf-8")) - budget
        data = pieces[longest][0].encode("utf-8")
        pieces[longest] = (data[: max(0, len(data) - excess)].decode("utf-8", "ignore"), False)
    return _joined(pieces)


def safe_join(root: Path, relpath: str) -> Path:
    """`root / relpath`, resolved; ValueError if it would land anywhere outside `root`.

    Symlinks are followed before the check, so a link inside the archive that
    points elsewhere cannot be used to write there.
    """
    if not relpath or "\x00" in relpath or "\\" in relpath:
        raise ValueError(f"refusing the file path {relpath!r}: empty or not a POSIX path")
    relative = PurePosixPath(relpath)
    if relative.is_absolute() or ".." in relative.parts:
        raise ValueError(f"refusing the file path {relpath!r}: it points outside the archive")
    try:
        base = Path(root).resolve()
        candidate = (base / relative).resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise ValueError(
            f"refusing the file path {relpath!r}: it runs into a symlink loop"
        ) from None
    if candidate == base or not candidate.is_relative_to(base):
        raise ValueError(f"refusing the file path {relpath!r}: it resolves outside the archive")
    return candidate


def _field_values(record: dict[str, Any], ext: str) -> dict[str, Any]:
    created = record.get("created_at")
    date = created[:10] if isinstance(created, str) and _DATE.match(created) else None
    collections = record.get("collections") or []
    name = record.get("name")
    return {
        "image_id": record.get("image_id"),
        "uuid": record.get("uuid"),
        "username": record.get("author") or record.get("username"),
        "post_id": record.get("post_id"),
        # The collection being synced (the engine passes it), else the first one known.
        "collection_id": record.get("collection_id") or (collections[0] if collections else None),
        "collection_name": record.get("collection_name"),
        "type": record.get("type"),
        "base_model": record.get("base_model"),
        "model": record.get("model"),
        "date": date,
        "name_stem": PurePosixPath(name.replace("\\", "/")).stem if name else None,
        "ext": ext,
    }


def _format_field(field: str, spec: str, conversion: str | None, values: dict[str, Any]) -> str:
    if field not in values:
        known = ", ".join("{" + name + "}" for name in TEMPLATE_FIELDS)
        raise UsageError(f"unknown field {{{field}}} in the file name template; use {known}")
    if conversion:
        raise UsageError(f"!{conversion} is not allowed in the file name template")
    value = values[field]
    if value is None or value == "":
        return UNKNOWN
    try:
        return format(value, spec)
    except (ValueError, TypeError):
        raise UsageError(f"the format {{{field}:{spec}}} does not fit {value!r}") from None


def _clean_ext(ext: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]", "", ext.lower().lstrip("."))[:10]
    return cleaned or "bin"


def _clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = "".join(char for char in text if unicodedata.category(char) not in ("Cc", "Cs"))
    return _INVISIBLE.sub("", text)


def _clean_field(text: str) -> str:
    """A field value: one path segment's worth of text, no separators of any platform."""
    cleaned = _FORBIDDEN.sub("_", _clean_text(text)).strip()
    return cleaned or "_"


def _clean_segment(segment: str) -> str:
    """One directory or file name: no dot names, no Windows traps, capped in length."""
    cleaned = _FORBIDDEN.sub("_", _clean_text(segment)).strip()
    cleaned = cleaned.rstrip(". ")  # Windows drops trailing dots and spaces silently
    if cleaned.startswith("."):
        cleaned = "_" + cleaned.lstrip(".")
    if not cleaned:
        cleaned = "_"
    if cleaned.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        cleaned = "_" + cleaned
    return _cap_length(cleaned, None)


def _cap_length(segment: str, ext: str | None) -> str:
    if len(segment.encode("utf-8")) <= MAX_SEGMENT_BYTES:
        return segment
    suffix = f".{ext}" if ext and segment.endswith(f".{ext}") else ""
    stem = segment[: len(segment) - len(suffix)]
    budget = MAX_SEGMENT_BYTES - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip(". ")
    return (stem or "_") + suffix
