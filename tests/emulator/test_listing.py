"""`image.getInfinite`: the NSFW clamp, private collections, cursors and the boundary skip."""

from __future__ import annotations

from typing import Any

import pytest


def visible(emu: Any, collection_key: str, level: int) -> list[int]:
    """The ids a listing must show, newest first, computed from the dataset alone."""
    dataset = emu.dataset
    ids = dataset.collections[dataset.named[collection_key]].image_ids
    return sorted((i for i in ids if dataset.images[i].nsfw_level & level), reverse=True)


def walk(api: Any, query: dict[str, Any], bump: int = 0) -> tuple[list[int], list[Any]]:
    """All pages of a listing; returns (ids in order, the cursors seen)."""
    ids: list[int] = []
    cursors: list[Any] = []
    cursor = None
    for _ in range(500):
        payload = dict(query)
        if cursor is not None:
            payload["cursor"] = cursor
        answer = api.call("image.getInfinite", payload)
        assert answer.status == 200, answer.error
        ids.extend(item["id"] for item in answer.data["items"])
        cursor = answer.data.get("nextCursor")
        if cursor is None:
            return ids, cursors
        cursors.append(cursor)
        cursor = cursor + bump if isinstance(cursor, int) else cursor
    raise AssertionError("the listing never ended")


@pytest.mark.parametrize(
    ("site", "auth", "level"),
    [("green", None, 1), ("green", "key", 3), ("red", None, 1), ("red", "key", 31)],
)
def test_nsfw_clamp_by_site_and_session(own_emu, api_for, site, auth, level) -> None:
    server = own_emu(site_mode=site, images=200, boundary_skip=False)
    api = api_for(server, auth=auth)
    ids, _ = walk(
        api, {"collectionId": server.dataset.named["public_collection"], "sort": "Newest"}
    )
    assert ids == visible(server, "public_collection", level)
    # Asking for less than the cap narrows it; asking for more never widens it.
    narrow, _ = walk(
        api, {"collectionId": server.dataset.named["public_collection"], "browsingLevel": 1}
    )
    assert narrow == visible(server, "public_collection", 1)


def test_the_clamp_applies_to_the_owners_private_collection(own_emu, api_for) -> None:
    server = own_emu(site_mode="green", images=200, boundary_skip=False)
    api = api_for(server)
    ids, _ = walk(api, {"collectionId": server.dataset.named["demo_collection"], "limit": 200})
    assert ids == visible(server, "demo_collection", 3)
    assert len(ids) < len(
        server.dataset.collections[server.dataset.named["demo_collection"]].image_ids
    )


def test_a_red_host_header_makes_any_emulator_red(own_emu, api_for) -> None:
    server = own_emu(site_mode="green", images=200, boundary_skip=False)
    api = api_for(server)
    query = {"collectionId": server.dataset.named["demo_collection"], "limit": 200}
    red, _ = walk_with_headers(api, query, {"Host": "civitai.red"})
    assert red == visible(server, "demo_collection", 31)
    red_prefix, _ = walk_with_headers(api, query, {"Host": "red.localhost"})
    assert red_prefix == red
    server.config.site_mode = "red"
    switched, _ = walk(api, query)
    assert switched == red


def walk_with_headers(
    api: Any, query: dict[str, Any], headers: dict[str, str]
) -> tuple[list[int], list]:
    original = dict(api.client.headers)
    api.client.headers.update(headers)
    try:
        return walk(api, query)
    finally:
        api.client.headers.clear()
        api.client.headers.update(original)


def test_others_private_collection_is_empty_not_an_error(api, emu) -> None:
    collection_id = emu.dataset.named["others_private_collection"]
    page = api.call("image.getInfinite", {"collectionId": collection_id})
    assert page.status == 200 and page.data == {"items": []}
    raw = api.get("image.getInfinite", {"json": {"collectionId": collection_id}}).json()
    assert raw["result"]["data"] == {
        "json": {"nextCursor": None, "items": []},
        "meta": {"values": {"nextCursor": ["undefined"]}, "v": 1},
    }
    detail = api.call("collection.getById", {"id": collection_id})
    assert detail.status == 200 and detail.data["collection"] is None
    permissions = detail.data["permissions"]
    assert not any(permissions[k] for k in ("read", "write", "manage", "isOwner", "follow"))
    missing = api.call("collection.getById", {"id": 1})
    assert missing.data["collection"] is None and missing.data["permissions"]["read"] is False


def test_public_and_unlisted_collections_of_anyone_are_readable(anon, api, emu) -> None:
    named = emu.dataset.named
    others = anon.call("collection.getById", {"id": named["others_public_collection"]})
    assert others.data["collection"]["read"] == "Public"
    assert others.data["permissions"]["read"] and not others.data["permissions"]["isOwner"]
    assert anon.call("image.getInfinite", {"collectionId": named["unlisted_collection"]}).data[
        "items"
    ]
    own = api.call("collection.getById", {"id": named["demo_collection"]})
    assert own.data["collection"]["name"] == emu.dataset.collections[named["demo_collection"]].name
    assert own.data["permissions"]["isOwner"] and own.data["permissions"]["manage"]
    assert "itemCount" not in own.data["collection"] and "_count" not in own.data["collection"]
    # The owner's private collection is invisible to anyone else.
    assert (
        anon.call("collection.getById", {"id": named["demo_collection"]}).data["collection"] is None
    )


@pytest.mark.parametrize("limit", [7, 50, 100])
def test_descending_pages_skip_the_cursor_image(own_emu, api_for, limit) -> None:
    server = own_emu(site_mode="red", images=160, boundary_skip=True)
    api = api_for(server)
    query = {
        "collectionId": server.dataset.named["demo_collection"],
        "sort": "Newest",
        "limit": limit,
    }
    ids, cursors = walk(api, query)
    expected = visible(server, "demo_collection", 31)
    assert cursors and set(cursors) <= set(expected)
    assert not set(cursors) & set(ids)  # each popped image is lost
    assert ids == [i for i in expected if i not in set(cursors)]
    # Asking from cursor + 1 recovers every image (the client's workaround).
    recovered, _ = walk(api, query, bump=1)
    assert sorted(set(recovered), reverse=True) == expected


def test_boundary_skip_off_returns_everything(own_emu, api_for) -> None:
    server = own_emu(site_mode="red", images=160, boundary_skip=False)
    api = api_for(server)
    query = {"collectionId": server.dataset.named["demo_collection"], "limit": 13}
    ids, cursors = walk(api, query)
    assert ids == visible(server, "demo_collection", 31) and len(cursors) > 5
    server.config.boundary_skip = True
    skipped, _ = walk(api, query)
    assert len(skipped) < len(ids)


def test_oldest_first_loses_nothing(own_emu, api_for) -> None:
    server = own_emu(site_mode="red", images=160)
    ids, cursors = walk(
        api_for(server),
        {"collectionId": server.dataset.named["demo_collection"], "sort": "Oldest", "limit": 9},
    )
    assert ids == list(reversed(visible(server, "demo_collection", 31)))
    assert all(isinstance(c, int) for c in cursors)


def test_limit_default_and_maximum(own_emu, api_for) -> None:
    server = own_emu(site_mode="red", images=600, boundary_skip=False)
    api = api_for(server)
    all_id = server.dataset.named["all_collection"]
    assert len(api.call("image.getInfinite", {"collectionId": all_id}).data["items"]) == 100
    assert (
        len(api.call("image.getInfinite", {"collectionId": all_id, "limit": 200}).data["items"])
        == 200
    )
    assert api.call("image.getInfinite", {"collectionId": all_id, "limit": 201}).status == 400


def test_listing_items_have_the_wire_fields(api, emu) -> None:
    page = api.call(
        "image.getInfinite", {"collectionId": emu.dataset.named["demo_collection"], "limit": 50}
    )
    for item in page.data["items"]:
        record = emu.dataset.images[item["id"]]
        assert item["tagIds"] == list(record.tag_scores)
        assert item["url"] == record.uuid and item["name"] == record.name
        assert (item["width"], item["height"]) == (record.width, record.height)
        assert item["collectionItemStatus"] == "ACCEPTED"
        assert "userId" not in item and "mimeType" not in item
        assert item["user"]["id"] == record.user_id
        assert item["publishedAt"] == item["sortAt"]
        assert item["meta"] is None
        if record.type == "video":
            assert isinstance(item["thumbnailUrl"], str)
    with_meta = api.call(
        "image.getInfinite",
        {"collectionId": emu.dataset.named["demo_collection"], "include": ["metaSelect", "tags"]},
    )
    item = next(i for i in with_meta.data["items"] if i["hasMeta"])
    assert item["meta"]["prompt"] and item["tags"][0]["name"]


def test_post_and_image_filters(api, emu) -> None:
    post = emu.dataset.posts[emu.dataset.named["post_id"]]
    page = api.call("image.getInfinite", {"postId": post.id, "sort": "Oldest"})
    shown = [i for i in post.image_ids if emu.dataset.images[i].nsfw_level & 3]
    assert [item["id"] for item in page.data["items"]] == shown
    image_id = emu.dataset.named["hostile_image"]
    single = api.call("image.getInfinite", {"imageId": image_id})
    assert [item["id"] for item in single.data["items"]] == [image_id]


def test_user_listing_uses_string_offset_cursors(own_emu, api_for) -> None:
    server = own_emu(site_mode="red", images=160)
    api = api_for(server)
    username = server.dataset.named["owner_username"]
    ids, cursors = walk(api, {"username": username.upper(), "sort": "Newest", "limit": 10})
    expected = server.dataset.images_of_user(server.dataset.owner.id)
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    assert cursors and all(isinstance(c, str) and "|" in c for c in cursors)
    by_id, _ = walk(api, {"userId": server.dataset.owner.id, "sort": "Oldest", "limit": 25})
    assert sorted(by_id) == sorted(expected)
    page = api.call("image.getInfinite", {"username": username, "limit": 3})
    assert all(item["name"] is None for item in page.data["items"])  # index-path items
    bad = api.call("image.getInfinite", {"username": username, "cursor": "nonsense"})
    assert bad.status == 400 and bad.error["message"].startswith("Invalid cursor")


def test_random_sort_needs_a_collection(api, emu) -> None:
    answer = api.call("image.getInfinite", {"sort": "Random"})
    assert answer.status == 400 and answer.error["message"] == "Random sort requires a collectionId"
    ids, cursors = walk(
        api, {"sort": "Random", "collectionId": emu.dataset.named["public_collection"], "limit": 5}
    )
    assert sorted(ids) == sorted(visible(emu, "public_collection", 3))
    assert all(isinstance(c, str) and c.count(":") == 2 for c in cursors)
