"""The live API of late 2026: devalue by default, batches with failing calls, the search-index
page, post tags, and the zod schema edges (civitai-api.md, first section)."""

from __future__ import annotations

import json
from typing import Any

from tests.emulator.conftest import decode_payload, read_answer

from civitai_emulator import Faults


def test_answers_are_devalue_by_default_and_superjson_on_request(own_emu, api_for) -> None:
    for encoding, kind in (("devalue", str), ("superjson", dict)):
        emu = own_emu(encoding=encoding)
        answer = api_for(emu).get("image.get", {"json": {"id": emu.dataset.image_ids[0]}})
        assert isinstance(answer.json()["result"]["data"], kind)
    mixed = own_emu(encoding="mixed")
    api = api_for(mixed)
    kinds = {
        type(api.get("image.get", {"json": {"id": i}}).json()["result"]["data"])
        for i in mixed.dataset.image_ids[:20]
    }
    assert kinds == {str, dict}


def test_one_failing_call_makes_a_batch_207_and_the_others_answer(own_emu, api_for) -> None:
    emu = own_emu()
    emu.set_faults(Faults(call_500=1.0, limit=1))
    ids = emu.dataset.image_ids[:3]
    payload = {str(n): {"json": {"id": i}} for n, i in enumerate(ids)}
    response = api_for(emu).client.post(
        "/api/trpc/" + ",".join(["image.getGenerationData"] * 3) + "?batch=1", json=payload
    )
    assert response.status_code == 207
    items = response.json()
    assert "error" in items[0] and "result" in items[1] and "result" in items[2]
    error = decode_payload(items[0]["error"])
    assert error["data"]["httpStatus"] == 500 and "prisma" in error["message"]


def test_index_path_pages_carry_string_dates_the_search_fields_and_source(api, emu) -> None:
    username = emu.dataset.named["other_username"]
    answer = read_answer(
        api.get("image.getInfinite", {"json": {"username": username, "sort": "Newest"}})
    )
    page = answer.data
    assert page["source"] == "meili"
    item = page["items"][0]
    assert isinstance(item["createdAt"], str) and item["createdAt"].endswith("Z")
    assert isinstance(item["sortAt"], str) and "mimeType" not in item
    for field in ("userId", "reactionCount", "combinedNsfwLevel", "sortAtUnix", "baseModel"):
        assert field in item
    assert item["tags"] == []  # no include: the index path still says []


def test_database_path_tags_are_the_unfiltered_rows_with_source(api, emu) -> None:
    collection = emu.dataset.named["all_collection"]
    answer = read_answer(
        api.get(
            "image.getInfinite",
            {"json": {"collectionId": collection, "include": ["tags"], "limit": 50}},
        )
    )
    rows = [row for item in answer.data["items"] for row in item.get("tags", [])]
    assert rows and {"imageId", "source", "concrete", "lastUpvote", "score"} <= set(rows[0])
    assert {row["source"] for row in rows} >= {"WD14", "User", "Rekognition"}


def test_post_get_carries_its_tags(api, emu) -> None:
    post_id = emu.dataset.named["post_id"]
    post = read_answer(api.get("post.get", {"json": {"id": post_id}})).data
    assert post["tags"] and all(set(tag) == {"id", "name", "isCategory"} for tag in post["tags"])


def test_schema_edges_follow_the_real_zod_schemas(api, emu) -> None:
    bad_name = read_answer(api.get("user.getCreator", {"json": {"username": "no spaces"}}))
    assert bad_name.status == 400
    issues = json.loads(bad_name.error["message"])  # zod's issue list, as the real server
    assert issues[0]["message"] == 'The "username" field can only contain letters, numbers, and _.'

    owner = emu.dataset.owner.id
    for limit, status in ((0, 400), (201, 400), (200, 200), ("5", 200)):
        payload: dict[str, Any] = {"userId": owner, "limit": limit}
        answer = read_answer(api.get("collection.getInfinite", {"json": payload}))
        assert answer.status == status, (limit, answer.error)
    not_a_number = read_answer(
        api.get("collection.getInfinite", {"json": {"userId": owner, "limit": "x"}})
    )
    assert not_a_number.status == 400 and "NaN" in not_a_number.error["message"]
