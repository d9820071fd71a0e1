"""Text files next to a media file, for tools that do not read metadata inside files.

`<stem>.txt` holds the A1111 text: Diffusion Toolkit and Infinite Image
Browsing look for exactly that name (the file name with `.txt` instead of its
extension) when a file has no embedded data, which is always the case for
videos. `<stem>.json` holds the whole export record. Both are written atomically.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

from civitai_vault.atomic import atomic_write_bytes
from civitai_vault.media.infotext import build_infotext


def sidecar_paths(path: Path) -> tuple[Path, Path]:
    """The `.txt` and `.json` sidecars of a media file."""
    path = Path(path)
    return path.with_suffix(".txt"), path.with_suffix(".json")


def write_sidecars(
    path: Path, record: dict[str, Any], txt: bool = True, json: bool = True
) -> list[Path]:
    """Write the requested sidecars beside `path`; returns the files written.

    No `.txt` is written for a record without generation data (there is no text).
    """
    txt_path, json_path = sidecar_paths(path)
    written = []
    text = build_infotext(record) if txt else None
    if text is not None:
        # No trailing newline: some readers take the very last line as the parameters.
        atomic_write_bytes(txt_path, text.encode("utf-8"))
        written.append(txt_path)
    if json:
        document = jsonlib.dumps(record, ensure_ascii=False, indent=2, default=str)
        atomic_write_bytes(json_path, (document + "\n").encode("utf-8"))
        written.append(json_path)
    return written
