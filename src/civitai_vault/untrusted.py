"""Text from Civitai, or read from files, is untrusted: make it storable and printable.

Two things such text can do that it must not:

- Hold a lone UTF-16 surrogate (`"\\ud83d"`, what JavaScript writes when it
  cuts a string inside an emoji). Python decodes it from JSON, but it cannot
  be encoded as UTF-8, so SQLite, files and the terminal all refuse it.
  `sound_text` replaces it with U+FFFD (the raw JSON keeps the original).
- Drive the terminal: ESC and the other control characters start ANSI/OSC
  sequences (window title, clear screen, OSC 52 clipboard writes, hyperlinks),
  bidirectional overrides reorder what is shown, and Rich markup (`[bold]`,
  `[/x]`, which crashes Rich) would be interpreted in a markup string.
  `printable` turns every such character into a visible escape (`\\x1b`),
  `terminal_text` wraps the result in a Rich `Text` (never parsed as markup),
  and `terminal_json` does the same for JSON printed with `--json`.

Every place that prints text from Civitai or from a file goes through these.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.text import Text

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls, DEL, C1 controls (0x9b is an 8-bit CSI), bidirectional
# embeddings/overrides/isolates, line and paragraph separators, BOM.
_INVISIBLE = "\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff"
_UNPRINTABLE = re.compile(f"[\x00-\x08\x0b-\x1f{_INVISIBLE}]")
_UNPRINTABLE_ONE_LINE = re.compile(f"[\x00-\x1f{_INVISIBLE}]")
# json.dumps already escapes C0 controls; the rest is escaped here.
_JSON_UNPRINTABLE = re.compile(f"[{_INVISIBLE}]")


def sound_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD: encodable as UTF-8."""
    if text.isascii():  # most text is, and a surrogate is not ASCII: no scan needed
        return text
    return _SURROGATE.sub(REPLACEMENT, text)


def sound_value(value: Any) -> Any:
    """`sound_text` applied to a string, or to every string inside lists and dicts."""
    if isinstance(value, str):
        return sound_text(value)
    if isinstance(value, list):
        return [sound_value(item) for item in value]
    if isinstance(value, dict):
        return {sound_value(k): sound_value(v) for k, v in value.items()}
    return value


def exact_json(value: Any) -> str:
    """JSON text of `value` that keeps lone surrogates exactly, as `\\udXXX` escapes.

    `json.dumps(ensure_ascii=False)` would write them raw, and raw they cannot be
    stored or written; outside strings JSON has no such characters, so escaping
    each one is still the same JSON.
    """
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    if text.isascii():
        return text
    return _SURROGATE.sub(_json_escape, text)


def printable(text: str, *, one_line: bool = False) -> str:
    """`text` safe for a terminal: control characters shown as escapes (`\\x1b`, `\\u202e`).

    Line breaks and tabs stay, unless `one_line` (error lines, table cells), where
    a line break is shown as `\\n` so one message stays one line.
    """
    pattern = _UNPRINTABLE_ONE_LINE if one_line else _UNPRINTABLE
    return pattern.sub(_escape, text)


def terminal_text(value: Any, style: str = "", *, one_line: bool = False) -> Text:
    """A Rich `Text` of untrusted `value`: no markup, no emoji codes, no escapes."""
    return Text(printable("" if value is None else str(value), one_line=one_line), style=style)


def terminal_json(value: Any, *, indent: int | None = 2) -> str:
    """`value` as JSON for stdout: UTF-8 text kept readable, escapes and surrogates escaped."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return _JSON_UNPRINTABLE.sub(_json_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"
