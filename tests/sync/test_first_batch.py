"""A target's first details batch is small, so its downloads start before a whole batch is in.

Counted in requests, never timed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.sync.details import FIRST_BATCH


def _generation_batches(emu: Any) -> list[int]:
    """Per API request that asked for generation data, in order: how many calls it held."""
    return [
        entry.procedure.split(",").count("image.getGenerationData")
        for entry in emu.request_log
        if entry.listener == "api" and "image.getGenerationData" in entry.procedure
    ]


def test_the_first_batch_is_small_and_the_rest_are_full(tmp_path: Path, sync: Any) -> None:
    with running_emulator(EmulatorConfig(seed=3, images=260, site_mode="red")) as emu:
        emu.clear_log()
        summary = sync(
            tmp_path / "a",
            emu,
            [f"collection:{emu.dataset.named['all_collection']}"],
            media=False,
            batch_size=100,
        )
        batches = _generation_batches(emu)
        cdn = [entry for entry in emu.request_log if entry.listener == "cdn"]
    n = summary["targets"][0]["new"]
    assert n > 200 and summary["targets"][0]["failed"] == 0
    assert batches[0] == FIRST_BATCH
    assert sum(batches) == n  # the same calls, split once more
    assert len(batches) == 1 + math.ceil((n - FIRST_BATCH) / 100)
    assert all(size == 100 for size in batches[1:-1])
    assert cdn == []
