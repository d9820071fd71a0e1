"""`sync`'s filter flags (--type, --nsfw, --since, ...) and --video-base-url, run as a user
runs them, against the emulator: what ends in the archive, and what is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest


def rows(archive: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(archive / "vault.db")
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def test_type_video_archives_only_the_users_videos_and_records_the_filter(
    red_cli, red_emulator, tmp_path
):
    dataset = red_emulator.dataset
    name = dataset.named["owner_username"]
    owned = dataset.images_of_user(dataset.user_by_username(name).id)
    videos = {i for i in owned if dataset.type_of(i) == "video"}
    assert videos and len(videos) < len(owned)  # the filter has something to leave out
    archive = tmp_path / "archive"

    done = red_cli(
        "sync", "--archive", str(archive), "--no-media", f"user:{name}", "--type", "video"
    )

    assert done.code == 0, done.stderr
    key = f"user_images:{name}?type=video"
    assert rows(archive, "SELECT key, filters_json FROM targets") == [(key, '{"type": "video"}')]
    archived = rows(archive, "SELECT image_id FROM target_items")
    assert {i for (i,) in archived} == videos
    status = red_cli("status", "--archive", str(archive), "--json").json()
    assert [t["target"] for t in status["targets"]] == [key]


def test_flags_and_a_urls_query_make_the_same_target(red_cli, red_emulator, tmp_path):
    name = red_emulator.dataset.named["owner_username"]
    by_flag, by_url = tmp_path / "flag", tmp_path / "url"
    flag = red_cli(
        "sync", "--archive", str(by_flag), "--no-media", f"user:{name}", "--type", "video"
    )
    url = red_cli(
        "sync", "--archive", str(by_url), "--no-media", f"https://civitai.red/user/{name}/videos"
    )
    assert flag.code == url.code == 0
    sql = "SELECT key, filters_json FROM targets"
    assert rows(by_flag, sql) == rows(by_url, sql)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["image:{image}", "--type", "video"], "cannot be filtered by --type"),
        (["post:{post}", "--base-model", "SDXL 1.0"], "cannot be filtered by --base-model"),
        (["user:{user}", "--nsfw", "spicy"], "--nsfw 'spicy'"),
        (["user:{user}", "--since", "2024-05-02", "--until", "2024-05-01"], "is after --until"),
        (["user:{user}", "--sort", "Random"], "--sort 'Random'"),
        (["--type", "video"], "apply to the targets you name"),
    ],
)
def test_a_filter_that_cannot_work_is_one_line_and_exit_2_before_any_request(
    red_cli, red_emulator, tmp_path, args, says
):
    dataset = red_emulator.dataset
    image = dataset.named["video_image"]
    values = {
        "image": image,
        "post": dataset.post_of(image),
        "user": dataset.named["owner_username"],
    }
    archive = tmp_path / "archive"
    before = len(red_emulator.request_log)

    done = red_cli("sync", "--archive", str(archive), *[a.format(**values) for a in args])

    assert done.code == 2
    assert says in done.error_line
    assert done.stdout == ""
    assert len(red_emulator.request_log) == before
    assert not archive.exists()


def test_video_base_url_is_where_a_video_served_as_a_still_is_looked_for(
    red_cli, red_emulator, tmp_path
):
    """The trap user's still-only video: every address answers with a still, the video origin
    given by --video-base-url included, so that origin is asked (once) and the image fails."""
    dataset = red_emulator.dataset
    name = dataset.named["trap_username"]
    still_only = dataset.images[dataset.named["still_only_video_image"]]
    video_origin = red_emulator.video_base_url
    archive = tmp_path / "archive"
    asked_before = [r for r in red_emulator.request_log if r.listener == "video"]

    done = red_cli(
        "sync", "--archive", str(archive), f"user:{name}", "--type", "video",
        "--video-base-url", video_origin, "--no-embed", "--quiet",
    )  # fmt: skip

    asked = [r for r in red_emulator.request_log if r.listener == "video"][len(asked_before) :]
    assert [r.path for r in asked] == [f"/file/civitai-media-cache/{still_only.uuid}/original"]
    assert done.code == 1
    assert "no address served the video" in done.error_line
    files = rows(archive, "SELECT image_id, mime_type FROM files")
    assert files and all(mime.startswith("video/") for _, mime in files)
    assert still_only.id not in {i for i, _ in files}
