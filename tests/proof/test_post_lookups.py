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

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.emulator_sync import POST_COLUMNS, post_get_columns

from civitai_emulator import EmulatorConfig, running_emulator

from .servers import Reply, Request
from .stage import Stage, input_of, sync

COLUMNS = POST_COLUMNS


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


def test_a_bulk_answer_over_a_limit_falls_back_to_post_get(emu: Any, tmp_path: Path) -> None:
    """A `post.getInfinite` answer that is itself over a limit (a few posts of many big
    images could be) will not get smaller when asked again: each post asks `post.get`."""

    def pad(procedure: str, data: Any) -> None:
        if procedure == "post.getInfinite" and isinstance(data, dict):
            data["padding"] = list(range(60_000))

    images = emu.dataset.collections[emu.dataset.named["all_collection"]].image_ids
    posts = {emu.dataset.post_of(i) for i in images}
    with Stage(emu, rewrite=pad) as stage:
        settings = dataclasses.replace(stage.settings(answer_values=50_000), batch_size=100)
        summary = sync(tmp_path / "a", settings, collection(emu))
        requests = list(stage.api.requests)
    assert summary["targets"][0]["failed"] == 0
    assert len(asked(requests, "post.getInfinite")) >= 1
    singly = [r for r in requests if r.path.startswith("/api/trpc/post.get?")]
    in_batches = sum(
        r.path.split("?")[0].rsplit("/", 1)[-1].split(",").count("post.get") for r in requests
    )
    assert in_batches + len(singly) == len(posts)  # each post once, by post.get
    rows = post_rows(tmp_path / "a")
    expected = post_get_columns(emu, posts)
    assert set(rows) == posts and all(rows[p][:4] == expected[p] for p in posts)
