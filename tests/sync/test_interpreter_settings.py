"""A sync changes two interpreter settings for its own run and gives both back:
the library's caller finds its process as it left it."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

import pytest

from civitai_vault import Vault


def test_a_run_collects_less_often_and_restores_the_collector_and_switch_interval(
    tmp_path: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVITAI_VAULT_CONFIG_DIR", str(tmp_path / "config"))
    vault = Vault(
        tmp_path / "a",
        site="red",
        base_url=emulator.base_url,
        image_base_url=emulator.image_base_url,
        token=emulator.session_token,
    )
    before = (gc.get_threshold(), gc.get_freeze_count(), sys.getswitchinterval(), gc.isenabled())
    seen_during: set[tuple[int, int, int]] = set()

    def note(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            seen_during.add(gc.get_threshold())

    gc.callbacks.append(note)
    try:
        summary = vault.sync(
            f"collection:{emulator.dataset.named['demo_collection']}", rate=0, cdn_rate=0
        )
    finally:
        gc.callbacks.remove(note)
    assert summary.ok and summary.targets[0].downloaded > 0
    # Young objects were collected after far more allocations than Python's 700.
    assert any(threshold[0] >= 10_000 for threshold in seen_during), seen_during
    after = (gc.get_threshold(), gc.get_freeze_count(), sys.getswitchinterval(), gc.isenabled())
    assert after == before
