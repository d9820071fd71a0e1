"""Waits of the listing itself are said too: a suspicious empty page is asked again after
a back-off, and a back-off of two seconds or more is announced as it starts."""

from __future__ import annotations

import asyncio
from typing import Any

from civitai_vault.api import pagination
from civitai_vault.api.pagination import ImagePages
from civitai_vault.waits import waits_said_by


def test_an_empty_page_mid_listing_is_asked_again_and_the_wait_said(monkeypatch):
    answers = [
        {"items": [{"id": 9}, {"id": 8}], "nextCursor": 8},
        {"items": []},  # what the real server's 20 s statement timeout answers
        {"items": [{"id": 7}]},
    ]
    asked: list[dict[str, Any]] = []

    async def fetch(payload: dict[str, Any]) -> Any:
        asked.append(payload)
        return answers[len(asked) - 1]

    # The back-off is random below its cap; here it is the cap, so the wait is 2 s.
    monkeypatch.setattr(pagination.random, "uniform", lambda low, high: high)
    said: list[str] = []

    async def walk() -> list[int]:
        pages = ImagePages(fetch, {"collectionId": 1}, retry_base=2, retry_cap=2)
        return [item.id for page in [p async for p in pages] for item in page.items]

    with waits_said_by(lambda message, seconds: said.append(message)):
        listed = asyncio.run(walk())
    assert listed == [9, 8, 7] and len(asked) == 3
    assert said == [
        "waiting 2 s: Civitai answered an empty page in the middle of the listing (what its "
        "20 s query limit looks like), try 2 of 4"
    ]
