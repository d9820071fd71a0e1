"""Every source a person archives, answered as civitai.com answers it: a user's uploads
and posts, reactions, model galleries, on-site generations, typed collections."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from tests.emulator.conftest import read_answer

from civitai_emulator import Faults
from civitai_emulator.generations import RETENTION
from civitai_emulator.posts import post_metrics

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def big(request: pytest.FixtureRequest) -> Any:
    """A 600-image emulator (the smallest that holds the 230-image post)."""
    from civitai_emulator import EmulatorConfig, running_emulator

    manager = running_emulator(EmulatorConfig(seed=3, images=600, boundary_skip=False, now=NOW))
    server = manager.__enter__()
    request.addfinalizer(lambda: manager.__exit__(None, None, None))
    return server


RED = {"Host": "civitai.red"}  # a signed-in caller on civitai.red sees every level


def walk(
    api: Any, procedure: str, query: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[list[Any], list[Any]]:
    """Every item of a cursor listing, and the cursors it handed out."""
    items: list[Any] = []
    cursors: list[Any] = []
    cursor = None
    for _ in range(200):
        payload = dict(query)
        if cursor is not None:
            payload["cursor"] = cursor
        answer = api.call(procedure, payload, headers=headers or {})
        assert answer.status == 200, answer.error
        items.extend(answer.data["items"])
        cursor = answer.data.get("nextCursor")
        if cursor is None:
            return items, cursors
        cursors.append(cursor)
    raise AssertionError("the listing never ended")


# ------------------------------------------------------------ a user's uploads


def test_a_users_uploads_and_videos_by_username(big, api_for) -> None:
    api = api_for(big)
    dataset = big.dataset
    other = dataset.user_by_username(dataset.named["other_username"])
    items, cursors = walk(
        api, "image.getInfinite", {"username": other.username, "sort": "Newest", "limit": 50}
    )
    expected = {i for i in dataset.images_of_user(other.id) if dataset.nsfw_level_of(i) & 3}
    assert {item["id"] for item in items} == expected
    assert all(isinstance(c, str) and "|" in c for c in cursors)  # the index path
    videos, _ = walk(api, "image.getInfinite", {"userId": other.id, "types": ["video"]})
    assert {item["id"] for item in videos} == {i for i in expected if dataset.type_of(i) == "video"}


@pytest.mark.parametrize("which", ["nobody_here", "deleted"])
def test_an_unknown_or_deleted_username_is_404_user_not_found(emu, api, which) -> None:
    name = emu.dataset.named["deleted_username"] if which == "deleted" else "nobody_here"
    answer = api.call("image.getInfinite", {"username": name})
    assert answer.status == 404
    assert answer.error["message"] == "User not found"
    assert answer.error["data"]["code"] == "NOT_FOUND"
    creator = api.call("user.getCreator", {"username": name})
    assert creator.status == 404 and creator.error["message"] == "Could not find user"


def test_username_is_ignored_when_user_id_is_given(emu, api) -> None:
    owner = emu.dataset.owner
    answer = api.call("image.getInfinite", {"userId": owner.id, "username": "nobody_here"})
    assert answer.status == 200 and answer.data["items"]
    assert {i["user"]["id"] for i in answer.data["items"]} == {owner.id}


# -------------------------------------------------------------------- posts


def test_a_users_posts_page_by_date_and_id_and_lose_nothing(big, api_for) -> None:
    api = api_for(big)
    dataset = big.dataset
    owner = dataset.owner
    query = {"username": owner.username, "sort": "Newest", "limit": 20}
    items, cursors = walk(api, "post.getInfinite", query, RED)
    own_posts = {p.id for p in dataset.posts.values() if p.user_id == owner.id}
    assert {item["id"] for item in items} == own_posts
    assert len(items) == len(own_posts)  # no post twice, none lost at a boundary
    assert all(item["user"]["id"] == owner.id for item in items)
    assert all(c.endswith(f"|{c.split('|')[1]}") and c[:4].isdigit() for c in cursors)
    dates = [item["publishedAt"] for item in items]
    assert dates == sorted(dates, reverse=True)
    long_post = next(item for item in items if item["id"] == dataset.named["long_post_id"])
    assert long_post["imageCount"] == 230 and len(long_post["images"]) == 8


def test_a_deleted_users_name_is_ignored_and_strangers_posts_come_back(big, api_for) -> None:
    """gallery-dl gh#8299: getPostsInfinite adds no filter for a name it cannot find."""
    api = api_for(big)
    deleted = big.dataset.named["deleted_username"]
    answer = api.call("post.getInfinite", {"username": deleted, "sort": "Newest", "limit": 30})
    assert answer.status == 200 and len(answer.data["items"]) >= 20
    authors = {item["user"]["id"] for item in answer.data["items"]}
    assert len(authors) > 3  # everyone's posts, not an error, not an empty page


def test_default_post_sort_keeps_only_posts_with_reactions(big, api_for) -> None:
    api = api_for(big)
    items, cursors = walk(api, "post.getInfinite", {"username": big.dataset.owner.username})
    counts = [sum(item["stats"][k] for k in ("likeCount", "heartCount")) for item in items]
    assert items and all(c.split("|")[0].isdigit() for c in cursors)
    assert len(counts) <= len(
        [p for p in big.dataset.posts.values() if p.user_id == big.dataset.owner.id]
    )


def test_a_long_posts_images_page_by_position(big, api_for) -> None:
    api = api_for(big)
    dataset = big.dataset
    post = dataset.posts[dataset.named["long_post_id"]]
    items, cursors = walk(api, "image.getInfinite", {"postId": post.id, "limit": 200}, RED)
    assert [item["id"] for item in items] == list(post.image_ids)  # post order, none lost
    assert len(cursors) == 1 and isinstance(cursors[0], int)
    assert cursors[0] == items[200]["index"]  # the cursor is a position, not an id


# ---------------------------------------------------------------- reactions


def test_reactions_filter_to_the_callers_and_need_a_session(big, api_for) -> None:
    dataset = big.dataset
    signed_in = api_for(big)
    items, _ = walk(signed_in, "image.getInfinite", {"reactions": ["Heart", "Laugh"]})
    expected = {
        i for i in dataset.reacted_images(["Heart", "Laugh"]) if dataset.nsfw_level_of(i) & 3
    }
    assert {item["id"] for item in items} == expected
    assert {item["reactions"][0]["reaction"] for item in items} == {"Heart", "Laugh"}
    kinds = {dataset.reaction_of(i) for i in dataset.reacted_images()}
    assert kinds == {"Like", "Heart", "Laugh", "Cry", "Dislike"}
    anonymous = api_for(big, auth=None)
    answer = anonymous.call("image.getInfinite", {"reactions": ["Heart"], "limit": 100})
    ids = [item["id"] for item in answer.data["items"]]
    assert len(ids) == 100 and not set(ids) <= set(dataset.reacted_images(["Heart"]))


# ----------------------------------------------------------- model galleries


def test_a_models_gallery_by_model_and_by_version(big, api_for) -> None:
    api = api_for(big)
    dataset = big.dataset
    model_id = dataset.named["gallery_model_id"]
    version_id = dataset.named["gallery_version_id"]
    by_model, model_cursors = walk(api, "image.getInfinite", {"modelId": model_id, "limit": 20})
    using_model = dataset.images_using(dataset.versions_of_model(model_id))
    assert {i["id"] for i in by_model} == {i for i in using_model if dataset.nsfw_level_of(i) & 3}
    assert all(isinstance(c, int) for c in model_cursors)  # the database path
    by_version, _ = walk(api, "image.getInfinite", {"modelVersionId": version_id})
    using = dataset.images_using([version_id])
    assert {i["id"] for i in by_version} == {i for i in using if dataset.nsfw_level_of(i) & 3}
    assert set(using) < set(using_model)
    record = dataset.images[using[0]]
    assert version_id in {r.model_version_id for r in record.resources}


def test_model_get_simple_finds_a_model_by_id_or_answers_not_found(emu, api) -> None:
    # model.getSimple (civitai/civitai @ ebed6616, model.router.ts): getModel selects
    # id, name, createdAt, locked, status and the user; no model is throwNotFoundError().
    dataset = emu.dataset
    model_id = dataset.named["gallery_model_id"]
    version = dataset.model_versions[dataset.versions_of_model(model_id)[0]]
    found = api.call("model.getSimple", {"id": model_id})
    assert found.status == 200
    assert set(found.data) == {"id", "name", "createdAt", "locked", "status", "user"}
    assert (found.data["id"], found.data["name"], found.data["status"]) == (
        model_id,
        version.model_name,
        "Published",
    )
    assert found.data["user"]["id"] == version.user_id
    assert isinstance(found.data["createdAt"], datetime)
    deleted = next(v for v in dataset.model_versions.values() if v.model_status == "Deleted")
    gone = api.call("model.getSimple", {"id": deleted.model_id})
    assert gone.status == 200 and gone.data["status"] == "Deleted"  # getSimple does not hide it
    model_ids = {v.model_id for v in dataset.model_versions.values()}
    assert 999999 not in model_ids
    missing = api.call("model.getSimple", {"id": 999999})
    assert missing.status == 404
    assert missing.error["message"] == "Could not find entity"
    assert missing.error["data"]["code"] == "NOT_FOUND"
    assert api.call("model.getSimple", {"id": "1"}).status == 400  # z.number()


# ----------------------------------------------------------- generations


def test_generations_are_protected(big, api_for) -> None:
    answer = api_for(big, auth=None).call("orchestrator.queryGeneratedImages", {})
    assert answer.status == 401 and answer.error["message"] == "UNAUTHORIZED"


def test_generations_list_the_last_30_days_with_prompt_params_and_resources(big, api_for) -> None:
    api = api_for(big)
    items, cursors = walk(api, "orchestrator.queryGeneratedImages", {"take": 7})
    dataset = big.dataset
    kept = [
        g
        for g in dataset.generations
        if g.age_seconds < RETENTION.total_seconds() and "green" in g.tags
    ]
    assert [w["id"] for w in items] == [g.id for g in kept]
    assert len(kept) < len(dataset.generations)  # older ones and red ones are not listed
    assert all(isinstance(c, str) for c in cursors)
    for workflow in items:
        assert NOW - workflow["createdAt"] < RETENTION
        params = workflow["metadata"]["params"]
        assert params["prompt"] and params["seed"] and params["sampler"]
        resources = workflow["metadata"]["resources"]
        assert resources and all(r["model"]["id"] and r["baseModel"] for r in resources)
    red = api.call(
        "orchestrator.queryGeneratedImages", {"take": 100}, headers={"Host": "civitai.red"}
    )
    assert len(red.data["items"]) > len(items)


def test_generated_files_come_from_the_generator_host(big, api_for) -> None:
    api = api_for(big)
    answer = api.call("orchestrator.queryGeneratedImages", {"take": 100})
    outputs = [o for w in answer.data["items"] for s in w["steps"] for o in s["output"]]
    image = next(o for o in outputs if o["type"] == "image")
    video = next(o for o in outputs if o["type"] == "video")
    assert image["url"].startswith(big.generator_base_url + "/v2/consumer/blobs/")
    picture = httpx.get(image["url"])
    assert picture.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(picture.content)).size == (image["width"], image["height"])
    clip = httpx.get(video["url"])
    assert video["url"].endswith(".mp4") and clip.content[4:8] == b"ftyp"
    assert big.count(listener="generator") == 2
    gone = next(g for g in big.dataset.generations if g.age_seconds > 31 * 86400 and g.outputs)
    missing = httpx.get(
        f"{big.generator_base_url}/v2/consumer/blobs/{gone.outputs[0].blob_id}.jpeg"
    )
    assert missing.status_code == 404


def test_generations_filter_by_date_and_failure(big, api_for) -> None:
    api = api_for(big)
    since = NOW - timedelta(days=7)
    payload = {
        "json": {
            "take": 100,
            "fromDate": since.isoformat().replace("+00:00", "Z"),
            "excludeFailed": True,
        },
        "meta": {"values": {"fromDate": ["Date"]}},
    }
    answer = read_answer(api.get("orchestrator.queryGeneratedImages", payload))
    assert answer.status == 200, answer.error
    assert all(w["createdAt"] >= since and w["status"] == "succeeded" for w in answer.data["items"])


# -------------------------------------------------------------- collections


def test_collections_of_every_type(big, api_for) -> None:
    api = api_for(big)
    named = big.dataset.named
    mine = api.call("collection.getAllUser", {})
    types = {c["id"]: c["type"] for c in mine.data}
    assert types[named["post_collection"]] == "Post"
    assert types[named["model_collection"]] == "Model"
    assert types[named["article_collection"]] == "Article"
    only_posts = api.call("collection.getAllUser", {"type": "Post"})
    assert [c["id"] for c in only_posts.data] == [named["post_collection"]]
    detail = api.call("collection.getById", {"id": named["model_collection"]})
    assert detail.data["collection"]["type"] == "Model"
    # a Post collection's items are posts: image.getInfinite finds no image rows
    images = api.call("image.getInfinite", {"collectionId": named["post_collection"]})
    assert images.status == 200 and images.data["items"] == []
    posts, _ = walk(
        api, "post.getInfinite", {"collectionId": named["post_collection"], "sort": "Newest"}
    )
    expected = big.dataset.collections[named["post_collection"]].post_ids
    assert named["post_id"] in expected
    visible = {p for p in expected if big.dataset.posts[p].nsfw_level & 3}
    assert {p["id"] for p in posts} == visible
    anonymous = api_for(big, auth=None)
    hidden = anonymous.call("post.getInfinite", {"collectionId": named["post_collection"]})
    assert hidden.status == 200 and hidden.data == {"items": []}


# -------------------------------------------------------------------- files


def test_video_origins(big) -> None:
    dataset = big.dataset

    def cdn(record: Any, params: str) -> httpx.Response:
        return httpx.get(f"{big.image_base_url}/{record.uuid}/{params}/x.mp4")

    def b2(record: Any) -> httpx.Response:
        return httpx.get(f"{big.video_base_url}/{record.uuid}/original")

    video = dataset.images[dataset.named["video_image"]]
    assert cdn(video, "original=true").headers["content-type"] == "image/webp"
    assert b2(video).headers["content-type"] == "video/mp4"
    assert cdn(video, "transcode=true,original=true,quality=100").content[4:8] == b"ftyp"
    missing = dataset.images[dataset.named["b2_missing_video_image"]]
    assert b2(missing).status_code == 404
    assert cdn(missing, "transcode=true,original=true,quality=100").content[4:8] == b"ftyp"
    stubborn = dataset.images[dataset.named["still_only_video_image"]]
    assert b2(stubborn).headers["content-type"] == "image/webp"
    assert cdn(stubborn, "transcode=true,original=true,quality=100").content[:4] == b"RIFF"
    tiff = dataset.images[dataset.named["tiff_image"]]
    original = httpx.get(f"{big.image_base_url}/{tiff.uuid}/original=true/x.tif")
    assert original.headers["content-type"] == "image/tiff" and tiff.mime_type == "image/tiff"
    assert Image.open(io.BytesIO(original.content)).size == (tiff.width, tiff.height)
    trapped = {
        dataset.named[k] for k in ("tiff_image", "b2_missing_video_image", "still_only_video_image")
    }
    assert all(dataset.user_of(i) == dataset.trap_user.id for i in trapped)
    assert not trapped & set(dataset.collections[dataset.named["all_collection"]].image_ids)


# ------------------------------------------------------------------- faults


def test_a_persistent_500_on_one_images_image_get(own_emu, api_for) -> None:
    server = own_emu(images=120)
    broken = server.dataset.named["a1111_png_image"]
    server.set_faults(Faults(persistent_500_images=frozenset({broken})))
    api = api_for(server)
    for _ in range(3):
        response = api.get("image.get", {"json": {"id": broken}})
        assert response.status_code == 500
    assert response.json() == {
        "error": {
            "json": {
                "message": "\nInvalid `prisma.$queryRaw()` invocation:\n\n\nRaw query failed. "
                'Code: `42703`. Message: `column "undefined" does not exist`',
                "code": -32603,
                "data": {"code": "INTERNAL_SERVER_ERROR", "httpStatus": 500, "path": "image.get"},
            }
        }
    }
    other = server.dataset.named["hostile_image"]
    assert api.call("image.get", {"id": other}).status == 200
    assert api.call("image.getGenerationData", {"id": broken}).status == 200
    batch = api.client.get(
        "/api/trpc/image.get,image.get",
        params={
            "batch": "1",
            "input": json.dumps({"0": {"json": {"id": other}}, "1": {"json": {"id": broken}}}),
        },
    )
    assert batch.status_code == 207
    assert [("result" in part) for part in batch.json()] == [True, False]


def test_new_procedures_get_injected_faults(own_emu, api_for) -> None:
    server = own_emu(images=120)
    server.set_faults(Faults(status_503=1.0, procedures=frozenset({"post.getInfinite"})))
    api = api_for(server)
    assert api.call("post.getInfinite", {}).status == 503
    assert api.call("orchestrator.queryGeneratedImages", {}).status == 200


# ------------------------------------------------------------------ schemas


def test_unknown_keys_are_stripped_and_filters_apply(emu, api) -> None:
    dataset = emu.dataset
    owner = dataset.owner
    query = {
        "userId": owner.id,
        "authed": True,
        "useIndex": True,
        "someFutureKey": {"x": 1},
        "types": ["image"],
        "baseModels": ["SD 1.5"],
        "browsingLevel": 1,
        "limit": 200,
    }
    answer = api.call("image.getInfinite", query)
    assert answer.status == 200, answer.error
    ids = [item["id"] for item in answer.data["items"]]
    assert ids and all(dataset.nsfw_level_of(i) == 1 and dataset.type_of(i) == "image" for i in ids)
    assert all(dataset.user_of(i) == owner.id for i in ids)
    assert all(
        "SD 1.5"
        in {
            dataset.model_versions[r.model_version_id].base_model
            for r in dataset.images[i].resources
            if r.model_version_id in dataset.model_versions
        }
        for i in ids
    )
    bad = api.call("image.getInfinite", {"username": "not a name!"})
    assert bad.status == 400 and "can only contain letters" in bad.error["message"]


def test_a_post_cursor_sent_as_a_date_is_refused(big, api_for) -> None:
    """gallery-dl gh#8955: the cursor union is number | string, so a Date is a 400."""
    api = api_for(big)
    payload = {
        "json": {"username": big.dataset.owner.username, "cursor": "2024-08-14T19:10:27.421Z|1"},
        "meta": {"values": {"cursor": ["Date"]}},
    }
    answer = read_answer(api.get("post.getInfinite", payload))
    assert answer.status == 400 and answer.error["data"]["code"] == "BAD_REQUEST"


def test_a_mixed_post_shows_its_safe_images_on_civitai_com(big, api_for) -> None:
    """A post's nsfwLevel is the bitwise OR of its images' levels (updatePostNsfwLevels)."""
    dataset = big.dataset
    mixed = next(
        p
        for p in dataset.posts.values()
        if len({dataset.nsfw_level_of(i) for i in p.image_ids} & {1, 4, 8, 16}) >= 2
        and any(dataset.nsfw_level_of(i) == 1 for i in p.image_ids)
    )
    assert mixed.nsfw_level & 1 and mixed.nsfw_level & 28
    owner = dataset.users[mixed.user_id]
    items, _ = walk(
        api_for(big), "post.getInfinite", {"username": owner.username, "sort": "Newest"}
    )
    shown = next(item for item in items if item["id"] == mixed.id)
    safe = [i for i in mixed.image_ids if dataset.nsfw_level_of(i) & 3]
    assert shown["imageCount"] == len(safe) < len(mixed.image_ids)
    assert [image["id"] for image in shown["images"]] == safe[:8]


def test_posts_by_id_are_one_more_filter_of_get_posts_infinite(big, api_for) -> None:
    """`ids` is AND'ed to every other condition of getPostsInfinite (civitai/civitai @
    ebed6616, post.service.ts): the sort's own filter, the browsing level, `limit + 1`
    rows for the next cursor; an id it does not know is simply not there."""
    dataset = big.dataset
    posts = sorted(dataset.posts.values(), key=lambda p: p.id)
    reacted = [p for p in posts if post_metrics(dataset, p)["reactionCount"] > 0][:6]
    unreacted = [p for p in posts if post_metrics(dataset, p)["reactionCount"] == 0][:6]
    unsafe = [p for p in posts if not p.nsfw_level & 1 and p not in reacted + unreacted][:3]
    assert reacted and unreacted and unsafe
    every = reacted + unreacted + unsafe
    chosen = sorted(every, key=lambda p: (p.published_at, p.id), reverse=True)
    asked = [p.id for p in chosen] + [10**9]
    api = api_for(big)
    query = {"ids": asked, "limit": len(asked), "sort": "Newest"}
    newest = api.call("post.getInfinite", query, headers=RED)
    assert [item["id"] for item in newest.data["items"]] == [p.id for p in chosen]
    assert newest.data.get("nextCursor") is None
    by_reactions = api.call("post.getInfinite", {"ids": asked, "limit": len(asked)}, headers=RED)
    shown = {item["id"] for item in by_reactions.data["items"]}
    # The default sort keeps reactionCount > 0.
    assert shown == {p.id for p in every if post_metrics(dataset, p)["reactionCount"] > 0}
    first = api.call("post.getInfinite", {**query, "limit": 3}, headers=RED)
    assert [item["id"] for item in first.data["items"]] == asked[:3]
    assert first.data["nextCursor"].endswith(f"|{asked[3]}")
    rest, _ = walk(api, "post.getInfinite", {**query, "limit": 3}, RED)
    assert [item["id"] for item in rest] == [p.id for p in chosen]
    # Anonymous callers see PG: a post without a PG image is left out.
    anonymous = api_for(big, auth=None)
    safe = anonymous.call("post.getInfinite", query).data["items"]
    assert {item["id"] for item in safe} == {p.id for p in chosen if p.nsfw_level & 1}
    assert not {p.id for p in unsafe} & {item["id"] for item in safe}
    empty = api.call("post.getInfinite", {"ids": [], "sort": "Newest"}, headers=RED)
    assert empty.status == 500 and "join([])" in empty.error["message"]
