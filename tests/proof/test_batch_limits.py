"""A batch's answer over a size limit fails only the call whose own answer is over it.

The limits of `api.limits` (answer bytes, decoded values) hold for one HTTP
answer, and a batch of 50 calls has one answer for all of them: 50 ordinary
answers can together go past a limit that none of them comes near. A
stand-in (the emulator behind `servers.rewriting_proxy`) pads every
generation-data answer, and one image's far past the limit; the sync splits
the batches that are too large, keeps every other image, fails the one image
with the limit's message, and asks a bounded number of requests.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from civitai_emulator import EmulatorConfig, running_emulator

from .servers import Request
from .stage import Stage, assert_failed_alone, demo, input_of, listed_images, sync

MB = 1024 * 1024
BATCH = 50


@pytest.fixture(scope="module")
def emu() -> Any:
    with running_emulator(EmulatorConfig(seed=71, images=60, site_mode="red")) as emulator:
        yield emulator


def padded(victim: int, ordinary: Any, huge: Any) -> Callable[[str, Any], None]:
    """A rewrite that adds `ordinary` to each generation-data answer, `huge` to the victim's."""

    def rewrite(procedure: str, data: Any) -> None:
        if procedure != "image.getGenerationData" or not isinstance(data, dict):
            return
        owners = {resource.get("imageId") for resource in data.get("resources") or []}
        data["padding"] = huge if victim in owners else ordinary

    return rewrite


def generation_requests(requests: list[Request]) -> list[list[str]]:
    """The calls of each request that asked for generation data."""
    asked = [r.path.split("?")[0].rsplit("/", 1)[-1].split(",") for r in requests]
    return [calls for calls in asked if "image.getGenerationData" in calls]


def details_of(path: Path) -> dict[int, Any]:
    with sqlite3.connect(path / "vault.db") as conn:
        rows = conn.execute("SELECT id, details_at FROM images").fetchall()
    return dict(rows)


CASES = {
    # limit, an ordinary answer's padding, the victim's
    "values": (
        {"answer_values": 50_000},
        list(range(2_000)),
        list(range(60_000)),
        "50,000 values",
    ),
    "bytes": ({"answer_bytes": MB}, "x" * 60_000, "x" * (MB + MB // 4), "the 1 MB limit"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_batch_over_an_answer_limit_is_split_and_only_the_big_answer_fails(
    emu: Any, tmp_path: Path, case: str
) -> None:
    limits, ordinary, huge, reason = CASES[case]
    images = listed_images(emu)
    victim = next(i for i in images if emu.dataset.images[i].resources)
    with Stage(emu, rewrite=padded(victim, ordinary, huge)) as stage:
        settings = dataclasses.replace(stage.settings(**limits), batch_size=BATCH)
        summary = sync(tmp_path / "a", settings, demo(emu))
        requests = list(stage.api.requests)
    failure = assert_failed_alone(summary, tmp_path / "a", victim, reason)
    flag = "--max-answer-values" if case == "values" else "--max-answer-mb"
    assert "image.getGenerationData" in failure and flag in failure
    details = details_of(tmp_path / "a")
    assert details[victim] is None
    assert all(done for image_id, done in details.items() if image_id != victim)
    new = summary["targets"][0]["new"]
    asked = generation_requests(requests)
    calls = sum(len(batch) for batch in asked)
    assert max(len(batch) for batch in asked) > BATCH // 2  # it was batched to begin with
    assert calls > new  # and the batch over the limit was asked again in parts
    # A batch of n calls costs at most 2n - 1 requests (the halves of its halves...), and
    # each call is asked at most once per level of halving.
    assert len(asked) <= 2 * new and calls <= new * (BATCH.bit_length() + 1)
    alone = [
        r
        for r in requests
        if r.path.startswith("/api/trpc/image.getGenerationData?")
        and "batch=1" not in r.path
        and input_of(r)["id"] == victim
    ]
    assert len(alone) == 1  # the victim's own answer is over the limit: asked once, not retried
