"""collection.getInfinite {ids}: which collections it answers and the `_count` it gives.

As getAllCollectionsInfiniteHandler and getAllCollections (civitai/civitai @ ebed6616,
collection.controller.ts and collection.service.ts): only Public collections, for
their owner too; `_count.items` counts accepted items whatever the viewer may see.
"""

from __future__ import annotations

import json
from typing import Any

NAMED = (
    "public_collection",
    "unlisted_collection",
    "demo_collection",
    "others_private_collection",
    "others_public_collection",
)


def _ids(emu: Any) -> dict[str, int]:
    return {name: emu.dataset.named[name] for name in NAMED}


def test_ids_answer_only_the_public_collections_with_their_item_counts(emu, api, anon) -> None:
    ids = _ids(emu)
    public = {ids["public_collection"], ids["others_public_collection"]}
    for caller in (api, anon):  # the owner of the private ones gets no more than a stranger
        answer = caller.call("collection.getInfinite", {"ids": list(ids.values()), "limit": 200})
        assert answer.status == 200, answer.error
        items = answer.data["items"]
        assert {item["id"] for item in items} == public
        for item in items:
            collection = emu.dataset.collections[item["id"]]
            assert item["_count"] == {"items": len(collection.image_ids), "contributors": 1}
        created = [item["createdAt"] for item in items]
        assert created == sorted(created, reverse=True)  # newest first


def test_the_count_includes_what_the_site_hides_from_the_viewer(emu, anon) -> None:
    collection_id = emu.dataset.named["public_collection"]
    collection = emu.dataset.collections[collection_id]
    counted = anon.call("collection.getInfinite", {"ids": [collection_id]}).data["items"][0]
    listed = anon.call("image.getInfinite", {"collectionId": collection_id, "limit": 200}).data
    assert counted["_count"]["items"] == len(collection.image_ids)
    # An anonymous viewer on civitai.com sees the PG images only: fewer than the count.
    assert len(listed["items"]) < counted["_count"]["items"]


def test_ids_may_be_a_comma_delimited_string_and_must_be_numbers(emu, anon) -> None:
    ids = _ids(emu)
    text = f"{ids['public_collection']}, {ids['demo_collection']}"
    answer = anon.call("collection.getInfinite", {"ids": text})
    assert [item["id"] for item in answer.data["items"]] == [ids["public_collection"]]
    refused = anon.call("collection.getInfinite", {"ids": ["x"]})
    assert refused.status == 400
    (issue,) = json.loads(refused.error["message"])
    assert issue["path"] == ["ids", 0] and "NaN" in issue["message"]


def test_an_empty_ids_list_filters_nothing_and_other_filters_apply(emu, anon) -> None:
    owner = emu.dataset.owner.id
    every = anon.call("collection.getInfinite", {"userId": owner, "ids": [], "limit": 200})
    assert {item["id"] for item in every.data["items"]} == {
        c.id for c in emu.dataset.collections.values() if c.owner_id == owner and c.read == "Public"
    }
    public = emu.dataset.collections[emu.dataset.named["public_collection"]]
    by_name = anon.call("collection.getInfinite", {"query": f"  {public.name.upper()}  "})
    assert public.id in {item["id"] for item in by_name.data["items"]}
    none = anon.call("collection.getInfinite", {"ids": [public.id], "types": ["Model"]})
    assert none.data["items"] == []
    # privacy is forced to Public for everyone but moderators (the emulator has none).
    asked = anon.call("collection.getInfinite", {"ids": [public.id], "privacy": ["Private"]})
    assert [item["id"] for item in asked.data["items"]] == [public.id]
    too_long = anon.call("collection.getInfinite", {"query": "x" * 101})
    assert too_long.status == 400
