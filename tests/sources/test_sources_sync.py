"""Every source archived over loopback, complete or loud: a user's uploads and posts,
reactions, model galleries, on-site generations, typed collections; videos that
must end as videos; failures that stay with the image or target they belong to."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.support.emulator_sync import run_sync

from civitai_emulator import EmulatorConfig, Faults, running_emulator
from civitai_vault.api import ClientSettings
from civitai_vault.errors import TargetError
from civitai_vault.sources import parse_target
from civitai_vault.sync.engine import SyncOptions
from civitai_vault.sync.files import FileOptions


@pytest.fixture(scope="module")
def emu(request: pytest.FixtureRequest) -> Any:
    """600 images (the smallest dataset with the 230-image post), civitai.red rules."""
    manager = running_emulator(EmulatorConfig(seed=3, images=600, site_mode="red"))
    server = manager.__enter__()
    request.addfinalizer(lambda: manager.__exit__(None, None, None))
    return server


def sync(
    path: Path,
    emu: Any,
    targets: list[str],
    *,
    signed_in: bool = True,
    media: bool = False,
    filters: Any = None,
) -> dict[str, Any]:
    settings = ClientSettings(
        site="red",
        base_url=emu.base_url,
        image_base_url=emu.image_base_url,
        api_key=emu.api_key if signed_in else None,
        rate=0,
        cdn_rate=0,
        concurrency=8,
        retry_base=0.01,
        retry_cap=0.05,
    )
    files = FileOptions(video_base_url=emu.video_base_url, embed=False)
    parsed = [parse_target(t) for t in targets]
    if filters is not None:
        from dataclasses import replace

        parsed = [replace(t, filters=t.filters.merged(filters)) for t in parsed]

    options = SyncOptions(media=media, files=files, download_workers=4)
    return run_sync(path, settings, parsed, options)


def rows(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path / "vault.db")
    try:
        return [tuple(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def target_images(path: Path, key: str) -> list[tuple[int, int | None, str | None]]:
    return rows(
        path,
        """SELECT i.id, i.author_id, i.type FROM target_items ti JOIN images i ON i.id = ti.image_id
           WHERE ti.target_key = ? ORDER BY i.id""",
        key,
    )


def only(summary: dict[str, Any]) -> dict[str, Any]:
    assert len(summary["targets"]) == 1, summary["targets"]
    return summary["targets"][0]


# ------------------------------------------------------------ a user's uploads and posts


def test_a_users_uploads_are_theirs_and_complete(tmp_path, emu) -> None:
    name = emu.dataset.named["other_username"]
    user_id = emu.dataset.user_by_username(name).id
    target = only(sync(tmp_path, emu, [f"https://civitai.red/user/{name}"]))
    assert target["ok"] and target["complete"], target
    images = target_images(tmp_path, f"user_images:{name}")
    assert images and target["listed"] == len(images)
    assert {author for _, author, _ in images} == {user_id}
    assert emu.count(procedure="user.getCreator") >= 1


def test_a_users_videos_are_only_videos(tmp_path, emu) -> None:
    name = emu.dataset.named["trap_username"]
    target = only(sync(tmp_path, emu, [f"https://civitai.red/user/{name}/videos"]))
    assert target["ok"], target
    images = target_images(tmp_path, f"user_images:{name}?type=video")
    assert images and {kind for _, _, kind in images} == {"video"}
    stored = rows(tmp_path, "SELECT filters_json, source_name FROM targets")
    assert stored == [('{"type": "video"}', name)]


def test_a_deleted_user_is_an_error_naming_them_and_the_others_go_on(tmp_path, emu) -> None:
    gone = emu.dataset.named["deleted_username"]
    with pytest.raises(TargetError, match=gone):
        sync(tmp_path / "a", emu, [f"https://civitai.red/user/{gone}/posts"])
    post = emu.dataset.named["post_id"]
    summary = sync(tmp_path / "b", emu, [f"user:{gone}", f"post:{post}"])
    failed, archived = summary["targets"]
    assert gone in failed["error"] and not failed["ok"]
    assert archived["ok"] and archived["listed"] > 0
    assert not rows(tmp_path / "b", "SELECT 1 FROM target_items WHERE target_key LIKE 'user%'")


def test_a_users_posts_hold_only_their_images(tmp_path, emu) -> None:
    name = emu.dataset.named["owner_username"]
    owner = emu.dataset.owner.id
    target = only(sync(tmp_path, emu, [f"https://civitai.red/user/{name}/posts"]))
    assert target["ok"] and target["complete"], target
    images = target_images(tmp_path, f"user_posts:{name}")
    assert images and {author for _, author, _ in images} == {owner}
    assert emu.count(procedure="post.getInfinite") >= 1


def test_a_posts_empty_image_listing_is_believed_at_once(tmp_path, emu) -> None:
    # A post may hold only images hidden from the viewer: its empty listing is not
    # asked again (with hundreds of posts, that would double a run's requests).
    name = emu.dataset.named["owner_username"]
    owner = emu.dataset.owner.id
    posts = [p for p in emu.dataset.posts.values() if p.user_id == owner]
    before = emu.count(procedure="image.getInfinite")
    emu.set_faults(Faults(empty_pages=1.0, procedures=frozenset({"image.getInfinite"})))
    try:
        target = only(sync(tmp_path, emu, [f"https://civitai.red/user/{name}/posts"]))
    finally:
        emu.clear_faults()
    asked = emu.count(procedure="image.getInfinite") - before
    assert target["listed"] == 0
    assert 0 < asked <= len(posts)


def test_a_post_longer_than_a_page_comes_back_whole(tmp_path, emu) -> None:
    post = emu.dataset.named["long_post_id"]
    target = only(sync(tmp_path, emu, [f"https://civitai.red/posts/{post}"]))
    assert target["ok"] and target["complete"]
    assert target["listed"] == 230 == len(target_images(tmp_path, f"post:{post}"))


# ------------------------------------------------------------ my reactions


def test_my_reactions_need_a_login_and_are_never_another_feed(tmp_path, emu) -> None:
    me = emu.dataset.named["owner_username"]
    url = f"https://civitai.red/user/{me}/images?section=reactions"
    with pytest.raises(TargetError, match="login"):
        sync(tmp_path / "a", emu, [url], signed_in=False)
    other = emu.dataset.named["other_username"]
    with pytest.raises(TargetError, match=other):
        sync(tmp_path / "b", emu, [f"https://civitai.red/user/{other}/images?section=reactions"])
    assert not (tmp_path / "a" / "vault.db").exists() or not rows(
        tmp_path / "a", "SELECT 1 FROM target_items"
    )


def test_my_reactions_are_archived(tmp_path, emu) -> None:
    me = emu.dataset.named["owner_username"]
    url = f"https://civitai.red/user/{me}/images?section=reactions&reactions=Heart"
    target = only(sync(tmp_path, emu, [url]))
    assert target["ok"] and target["complete"], target
    assert target["key"] == "reactions:me?reactions=Heart"
    assert target["listed"] > 0
    everything = only(sync(tmp_path, emu, ["reactions"]))
    assert everything["listed"] > target["listed"]


# ------------------------------------------------------------ a model's gallery


def test_a_models_gallery_and_one_versions(tmp_path, emu) -> None:
    model = emu.dataset.named["gallery_model_id"]
    version = emu.dataset.named["gallery_version_id"]
    whole = only(sync(tmp_path, emu, [f"https://civitai.red/models/{model}/some-lora"]))
    part = only(
        sync(tmp_path, emu, [f"https://civitai.red/models/{model}?modelVersionId={version}"])
    )
    assert whole["ok"] and part["ok"] and whole["complete"] and part["complete"]
    assert whole["key"] == f"model:{model}" and part["key"] == f"model_version:{version}"
    assert 0 < part["listed"] < whole["listed"]


def test_a_model_that_is_not_there_is_an_error_naming_it_and_the_others_go_on(
    tmp_path, emu
) -> None:
    """Not "0 listed, complete": the model is looked up first (model.getSimple, one call)."""
    assert 999999 not in {v.model_id for v in emu.dataset.model_versions.values()}
    before = {p: emu.count(procedure=p) for p in ("model.getSimple", "image.getInfinite")}
    with pytest.raises(TargetError, match="model 999999"):
        sync(tmp_path / "a", emu, ["model:999999"])
    assert emu.count(procedure="model.getSimple") == before["model.getSimple"] + 1
    assert emu.count(procedure="image.getInfinite") == before["image.getInfinite"]
    post = emu.dataset.named["post_id"]
    summary = sync(tmp_path / "b", emu, ["https://civitai.red/models/999999", f"post:{post}"])
    failed, archived = summary["targets"]
    assert "model 999999" in failed["error"] and not failed["ok"] and not failed["complete"]
    assert archived["ok"] and archived["listed"] > 0
    stored = dict(rows(tmp_path / "b", "SELECT key, complete FROM targets"))
    assert not stored.get("model:999999")


def _version(emu: Any, **status: str) -> Any:
    return next(
        v
        for v in emu.dataset.model_versions.values()
        if all(getattr(v, name) == value for name, value in status.items())
    )


@pytest.mark.parametrize(
    ("target", "says"),
    [
        (lambda emu: "model-version:999999999", "no model version 999999999"),
        (lambda emu: f"model:{_version(emu, model_status='Deleted').model_id}", "deleted"),
        (lambda emu: f"model-version:{_version(emu, status='Unpublished').id}", "unpublished"),
        (lambda emu: f"model-version:{_version(emu, status='Deleted').id}", "deleted"),
        (
            lambda emu: f"model-version:{_version(emu, model_status='Deleted').id}",
            "deleted",
        ),
    ],
    ids=[
        "missing version",
        "deleted model",
        "unpublished version",
        "deleted version",
        "version of a deleted model",
    ],
)
def test_a_gallery_civitai_does_not_show_is_an_error_never_complete(
    tmp_path, emu, target, says
) -> None:
    """The model page shows only a published model's published versions (model.getById,
    civitai/civitai @ ebed6616 model.controller.ts): anything else has no public gallery."""
    name = target(emu)
    post = emu.dataset.named["post_id"]
    summary = sync(tmp_path, emu, [name, f"post:{post}"])
    failed, archived = summary["targets"]
    assert says in failed["error"].lower() and not failed["ok"] and not failed["complete"]
    assert archived["ok"] and archived["complete"]
    assert rows(tmp_path, "SELECT complete FROM targets WHERE key = ?", failed["key"]) != [(1,)]


# ------------------------------------------------------------ on-site generations


def test_my_generations_with_their_files_from_the_generators_host(tmp_path, emu) -> None:
    target = only(sync(tmp_path, emu, ["https://civitai.red/generate"], media=True))
    assert target["ok"] and target["complete"], target
    assert target["listed"] > 0 and target["downloaded"] == target["listed"]
    stored = rows(
        tmp_path,
        """SELECT i.prompt, f.path FROM target_items ti JOIN images i ON i.id = ti.image_id
           JOIN files f ON f.image_id = i.id WHERE ti.target_key = 'generated:me'""",
    )
    assert len(stored) == target["listed"]
    assert all(prompt for prompt, _ in stored)
    assert all((tmp_path / path).is_file() for _, path in stored)
    assert emu.count(listener="generator") >= target["listed"]


# ------------------------------------------------------------ collections of every type


def test_a_post_collection_archives_its_posts_images(tmp_path, emu) -> None:
    collection = emu.dataset.named["post_collection"]
    target = only(sync(tmp_path, emu, [f"collection:{collection}"]))
    assert target["ok"] and target["complete"] and target["listed"] > 0, target


@pytest.mark.parametrize(("name", "holds"), [("model_collection", "models"),
                                             ("article_collection", "articles")])  # fmt: skip
def test_a_model_or_article_collection_is_loud(tmp_path, emu, name, holds) -> None:
    collection = emu.dataset.named[name]
    target = only(sync(tmp_path, emu, [f"collection:{collection}"]))
    assert not target["ok"] and target["listed"] == 0
    assert f"holds {holds}, not images" in target["error"]


# ------------------------------------------------------------ files


def test_a_video_ends_as_a_video_or_as_a_failure(tmp_path, emu) -> None:
    """The trap user's uploads: a TIFF, a video only the transcode serves, a still-only video."""
    name = emu.dataset.named["trap_username"]
    target = only(sync(tmp_path, emu, [f"user:{name}"], media=True))
    named = emu.dataset.named
    files = dict(rows(tmp_path, "SELECT image_id, mime_type FROM files"))
    assert files[named["tiff_image"]] == "image/tiff"
    assert files[named["b2_missing_video_image"]] in ("video/mp4", "video/webm")
    assert named["still_only_video_image"] not in files
    failures = rows(tmp_path, "SELECT image_id, reason FROM failures")
    assert [image for image, _ in failures] == [named["still_only_video_image"]]
    assert "no address served the video" in failures[0][1]
    assert target["failed"] == 1 and not target["ok"]


def test_a_persistent_500_on_one_image_leaves_the_others_archived(tmp_path) -> None:
    with running_emulator(EmulatorConfig(seed=3, images=200, site_mode="red")) as emu:
        broken, fine = emu.dataset.image_ids[5], emu.dataset.image_ids[6]
        emu.set_faults(Faults(persistent_500_images=frozenset({broken})))
        summary = sync(tmp_path, emu, [f"image:{broken}", f"image:{fine}"])
    bad, good = summary["targets"]
    assert not bad["ok"] and str(broken) in bad["key"] and bad["error"]
    assert good["ok"] and good["listed"] == 1
    assert rows(tmp_path, "SELECT image_id, stage FROM failures") == [(broken, "listing")]
    assert not summary["ok"]


def test_a_faulty_server_still_gives_every_source_complete(tmp_path) -> None:
    config = EmulatorConfig(seed=3, images=600, site_mode="red")
    with running_emulator(config) as emu:
        clean = {}
        names = emu.dataset.named
        targets = [
            f"user:{names['other_username']}",
            f"https://civitai.red/user/{names['owner_username']}/posts",
            "reactions",
            f"model:{names['gallery_model_id']}",
            "generated",
            f"collection:{names['post_collection']}",
        ]
        for t in sync(tmp_path / "clean", emu, targets)["targets"]:
            clean[t["key"]] = t["listed"]
        emu.set_faults(Faults(status_500=0.05, status_429=0.05, truncated=0.02, seed=7))
        faulty = sync(tmp_path / "faulty", emu, targets)
    assert faulty["ok"], [t for t in faulty["targets"] if not t["ok"]]
    assert {t["key"]: t["listed"] for t in faulty["targets"]} == clean
