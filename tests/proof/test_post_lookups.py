"""Posts are looked up 200 at a time with `post.getInfinite {ids}`; one it leaves out is asked
with `post.get`.

The real getPostsInfinite leaves out private posts (even the viewer's own, unless the
listing names them as its user), posts of unpublished model versions or unreadable
collections and posts of hidden users, all of which `post.get` still answers
(civitai/civitai @ ebed6616, post.service.ts). A stand-in in front of the emulator
leaves one post out of every bulk answer; what `post.get` then says of it decides its
row: its columns, an empty row when it is gone (not asked again), no row after a
failure (asked again by the next run).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.api import CivitaiClient, ClientSettings
from civitai_vault.sync.normalize import post_row

from .servers import Reply, Request
from .stage import Stage, input_of, sync

COLUMNS = ("user_id", "title", "published_at", "nsfw_level")


@pytest.fixture(scope="module")
def emu() -> Any:
    with running_emulator(EmulatorConfig(seed=3, images=260, site_mode="red")) as emulator:
        yield emulator


def collection(emu: Any) -> str:
    return f"collection:{emu.dataset.named['all_collection']}"


def leave_out(hidden: int) -> Any:
    def rewrite(procedure: str, data: Any) -> None:
        if procedure == "post.getInfinite" and isinstance(data, dict):
            data["items"] = [item for item in data["items"] if item["id"] != hidden]

    return rewrite


def post_get_answer(emu: Any, hidden: int, how: str) -> Any:
    """How `post.get` answers for the hidden post: as the emulator does, 404, or 500."""

    def replace(procedure: str, request: Request) -> Reply | None:
        if procedure != "post.get" or input_of(request)["id"] != hidden or how == "answered":
            return None
        if how == "failing":
            return Reply(500, b"Internal Server Error", {"content-type": "text/plain"})
        missing = json.dumps({"json": {"id": 1}})  # a post the emulator has not: its 404
        upstream = httpx.get(
            f"{emu.base_url}/api/trpc/post.get",
            params={"input": missing},
            headers={"Referer": emu.base_url + "/"},
        )
        assert upstream.status_code == 404
        return Reply(404, upstream.content, {"content-type": "application/json"})

    return replace


def post_rows(path: Path) -> dict[int, tuple[Any, ...]]:
    with sqlite3.connect(path / "vault.db") as conn:
        rows = conn.execute(f"SELECT id, {', '.join(COLUMNS)}, raw_json FROM posts").fetchall()
    return {row[0]: row[1:] for row in rows}


def post_get_columns(emu: Any, post_ids: set[int]) -> dict[int, tuple[Any, ...]]:
    """Each post's columns as `post.get` gives them, asked of the emulator directly."""

    async def run() -> dict[int, tuple[Any, ...]]:
        settings = ClientSettings(
            site="red",
            base_url=emu.base_url,
            image_base_url=emu.image_base_url,
            api_key=emu.api_key,
            rate=0,
            calls_per_second=0,
        )
        found = {}
        async with CivitaiClient(settings) as client:
            for post_id in sorted(post_ids):
                row = post_row(await client.get_post(post_id))
                found[post_id] = tuple(row[k] for k in COLUMNS)
        return found

    return asyncio.run(run())


def asked(requests: list[Request], procedure: str) -> list[Request]:
    return [r for r in requests if procedure in r.path.split("?")[0].rsplit("/", 1)[-1].split(",")]


@pytest.mark.parametrize("how", ["answered", "gone", "failing"])
def test_a_post_left_out_of_the_bulk_answer_is_asked_alone(
    emu: Any, tmp_path: Path, how: str
) -> None:
    images = emu.dataset.collections[emu.dataset.named["all_collection"]].image_ids
    posts = {emu.dataset.post_of(i) for i in images}
    hidden = emu.dataset.post_of(images[7])
    with Stage(emu, api=post_get_answer(emu, hidden, how), rewrite=leave_out(hidden)) as stage:
        settings = dataclasses.replace(stage.settings(), batch_size=100)
        summary = sync(tmp_path / "a", settings, collection(emu))
        first = list(stage.api.requests)
        stage.api.requests.clear()
        again = sync(tmp_path / "a", settings, collection(emu))
        second = list(stage.api.requests)
    assert summary["targets"][0]["failed"] == 0 and again["targets"][0]["new"] == 0
    rows = post_rows(tmp_path / "a")
    expected = post_get_columns(emu, posts)
    assert len(asked(first, "post.getInfinite")) == -(-len(posts) // 200)
    alone = [r for r in asked(first, "post.get") if input_of(r)["id"] == hidden]
    assert len(asked(first, "post.get")) == len(alone)  # no other post needed post.get
    tries = settings.max_retries + 1
    if how == "answered":
        assert len(alone) == 1
        assert rows[hidden][:4] == expected[hidden]
        assert "availability" in json.loads(rows[hidden][4])  # the post.get answer, kept whole
    elif how == "gone":
        assert len(alone) == 1
        assert rows[hidden] == (None,) * 5  # known gone: not asked again
    else:
        assert len(alone) == tries and hidden not in rows
    assert set(rows) | {hidden} == posts
    assert all(rows[p][:4] == expected[p] for p in posts - {hidden})
    # The next run asks again only for a post whose look-up failed.
    rerun_asks = [input_of(r)["id"] for r in asked(second, "post.get")]
    assert rerun_asks == ([hidden] * tries if how == "failing" else [])
    assert len(asked(second, "post.getInfinite")) == (how == "failing")
