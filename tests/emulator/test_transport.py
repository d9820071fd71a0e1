"""The tRPC transport: every procedure in both encodings, batching, and the real error bodies."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

PROCEDURE_INPUTS = {
    "image.get": lambda n: {"id": n["hostile_image"]},
    "image.getGenerationData": lambda n: {"id": n["a1111_png_image"]},
    "image.getInfinite": lambda n: {"collectionId": n["demo_collection"], "limit": 5},
    "tag.getVotableTags": lambda n: {"id": n["a1111_png_image"], "type": "image"},
    "tag.getById": None,
    "modelVersion.getById": None,
    "post.get": lambda n: {"id": n["post_id"]},
    "collection.getById": lambda n: {"id": n["demo_collection"]},
    "collection.getAllUser": lambda n: {},
    "user.getCreator": lambda n: {"username": n["owner_username"]},
}


def input_for(emu: Any, procedure: str) -> dict[str, Any]:
    dataset = emu.dataset
    if procedure == "tag.getById":
        return {"id": next(iter(dataset.tags))}
    if procedure == "modelVersion.getById":
        return {"id": next(iter(dataset.model_versions))}
    return PROCEDURE_INPUTS[procedure](dataset.named)


@pytest.mark.parametrize("procedure", sorted(PROCEDURE_INPUTS))
@pytest.mark.parametrize("devalue_share", [0.0, 1.0])
def test_every_procedure_answers_in_both_encodings(
    own_emu, api_for, procedure, devalue_share
) -> None:
    server = own_emu(devalue_share=devalue_share)
    api = api_for(server)
    answer = api.call(procedure, input_for(server, procedure))
    assert answer.status == 200, answer.error
    assert answer.encoding == ("devalue" if devalue_share else "superjson")
    assert answer.data is not None
    # Both encodings carry the same data.
    server.config.devalue_share = 1.0 - devalue_share
    other = api.call(procedure, input_for(server, procedure))
    assert other.encoding != answer.encoding
    assert other.data == answer.data


def test_dates_and_undefined_come_back_typed(api, emu) -> None:
    page = api.call(
        "image.getInfinite", {"collectionId": emu.dataset.named["demo_collection"], "limit": 3}
    ).data
    item = page["items"][0]
    assert isinstance(item["createdAt"], datetime) and item["createdAt"].tzinfo is not None
    assert "baseModel" not in item and "tags" not in item  # undefined on the wire
    raw = api.get(
        "image.getInfinite",
        {"json": {"collectionId": emu.dataset.named["demo_collection"], "limit": 1}},
    ).json()["result"]["data"]
    assert raw["meta"]["v"] == 1
    assert raw["meta"]["values"]["items.0.createdAt"] == ["Date"]
    assert raw["meta"]["values"]["items.0.baseModel"] == ["undefined"]
    assert raw["meta"]["referentialEqualities"] == {"items.0.sortAt": ["items.0.publishedAt"]}


def test_devalue_share_mixes_encodings_and_repeats_per_request(own_emu, api_for) -> None:
    server = own_emu(devalue_share=0.5)
    api = api_for(server)
    encodings = {}
    for tag_id in list(server.dataset.tags)[:30]:
        encodings[tag_id] = api.call("tag.getById", {"id": tag_id}).encoding
    assert set(encodings.values()) == {"superjson", "devalue"}
    for tag_id, encoding in list(encodings.items())[:10]:
        assert api.call("tag.getById", {"id": tag_id}).encoding == encoding


def test_errors_are_devalue_strings_on_a_devalue_pod(own_emu, api_for) -> None:
    server = own_emu(devalue_share=1.0)
    response = api_for(server).get("image.get", {"json": {"id": 1}})
    assert response.status_code == 404
    body = response.json()
    assert isinstance(body["error"], str)
    assert "No image with id 1" in body["error"]


def test_post_with_method_override(api, emu) -> None:
    answer = api.post("image.get", {"id": emu.dataset.named["video_image"]})
    assert answer.status == 200 and answer.data["type"] == "video"


def test_devalue_string_and_plain_array_inputs_are_accepted(api, emu) -> None:
    image_id = emu.dataset.named["video_image"]
    as_string = json.dumps(json.dumps([{"id": 1}, image_id]))
    response = api.get("image.get", raw_input=as_string)
    assert response.status_code == 200
    response = api.get("image.get", raw_input=json.dumps([{"id": 1}, image_id]))
    assert response.status_code == 200


def test_superjson_input_as_the_seed_and_gallery_dl_send_it(api, emu) -> None:
    image_id = emu.dataset.named["hostile_image"]
    payload = {
        "json": {"id": image_id, "authed": True},
        "meta": {"values": {"cursor": ["undefined"]}},
    }
    assert api.get("image.get", payload).status_code == 200
    listing = {
        "json": {
            "collectionId": emu.dataset.named["demo_collection"],
            "period": "AllTime",
            "sort": "Newest",
            "browsingLevel": 31,
            "include": ["cosmetics"],
            "excludedTagIds": [],
            "disablePoi": True,
            "disableMinor": True,
            "useIndex": True,
            "cursor": None,
        },
        "meta": {"values": {"cursor": ["undefined"]}},
    }
    assert api.get("image.getInfinite", listing).status_code == 200
    # Without the annotation, a null cursor is not a valid cursor.
    del listing["meta"]
    answer = api.get("image.getInfinite", listing)
    assert answer.status_code == 400
    assert '"code": "invalid_union"' in answer.json()["error"]["json"]["message"]


def test_batch_answers_an_array_in_order_with_207_for_mixed_results(api, emu) -> None:
    image_id = emu.dataset.named["hostile_image"]
    payload = {"0": {"json": {"id": image_id}}, "1": {"json": {"id": 1}}}
    response = api.client.get(
        "/api/trpc/image.get,image.getGenerationData",
        params={"batch": "1", "input": json.dumps(payload)},
    )
    assert response.status_code == 207
    first, second = response.json()
    assert first["result"]["data"]["json"]["id"] == image_id
    assert second["error"]["json"]["message"] == "Could not find entity"
    assert second["error"]["json"]["data"]["path"] == "image.getGenerationData"

    same = {"0": {"json": {"id": image_id}}, "1": {"json": {"id": image_id}}}
    response = api.client.get(
        "/api/trpc/image.get,tag.getVotableTags",
        params={
            "batch": "1",
            "input": json.dumps({**same, "1": {"json": {"id": image_id, "type": "image"}}}),
        },
    )
    assert response.status_code == 200 and len(response.json()) == 2


def test_batch_needs_an_object_input(api) -> None:
    response = api.client.get("/api/trpc/image.get", params={"batch": "1", "input": "[1]"})
    # tRPC reads inputs lazily inside each call, so the batch still answers an array.
    assert response.status_code == 400
    [item] = response.json()
    assert (
        item["error"]["json"]["message"] == '"input" needs to be an object when doing a batch call'
    )


def test_batch_cannot_mix_queries_and_mutations(api) -> None:
    response = api.client.post(
        "/api/trpc/image.get,reaction.toggle?batch=1", json={"0": {"json": {"id": 1}}}
    )
    assert response.status_code == 400
    assert (
        response.json()["error"]["json"]["message"]
        == "Cannot mix procedure types in call: query, mutation"
    )


def test_error_bodies_and_statuses(api, anon, emu) -> None:
    cases = [
        (api.call("image.get", {"id": 1}), 404, "NOT_FOUND", "No image with id 1"),
        (api.call("image.getGenerationData", {"id": 1}), 404, "NOT_FOUND", "Could not find entity"),
        (api.call("post.get", {"id": 1}), 404, "NOT_FOUND", "Could not find entity"),
        (api.call("modelVersion.getById", {"id": 5}), 404, "NOT_FOUND", "No version with id 5"),
        (
            api.call("user.getCreator", {"username": "nobody_here"}),
            404,
            "NOT_FOUND",
            "Could not find user",
        ),
        (api.call("user.getCreator", {}), 400, "BAD_REQUEST", "Must provide username or id"),
        (
            api.call("nope.nothing", {"id": 1}),
            404,
            "NOT_FOUND",
            'No procedure found on path "nope.nothing"',
        ),
        (anon.call("collection.getAllUser", {}), 401, "UNAUTHORIZED", "UNAUTHORIZED"),
    ]
    codes = {"NOT_FOUND": -32004, "BAD_REQUEST": -32600, "UNAUTHORIZED": -32001}
    for answer, status, code, message in cases:
        assert answer.status == status
        assert answer.error["message"] == message
        assert answer.error["code"] == codes[code]
        assert answer.error["data"]["code"] == code and answer.error["data"]["httpStatus"] == status


def test_zod_errors_carry_the_issue_list_indented_by_two(api) -> None:
    answer = api.call("image.get", {"id": "12"})
    assert answer.status == 400
    assert answer.error["message"] == (
        '[\n  {\n    "expected": "number",\n    "code": "invalid_type",\n'
        '    "path": [\n      "id"\n    ],\n'
        '    "message": "Invalid input: expected number, received string"\n  }\n]'
    )
    assert set(answer.error["data"]) == {"code", "httpStatus", "path"}
    too_big = api.call("image.getInfinite", {"limit": 201, "collectionId": 1})
    assert too_big.status == 400
    issues = json.loads(too_big.error["message"])
    assert issues[0]["code"] == "too_big" and issues[0]["maximum"] == 200
    bad_sort = json.loads(api.call("image.getInfinite", {"sort": "Best"}).error["message"])[0]
    assert bad_sort["code"] == "invalid_value" and "Newest" in bad_sort["values"]


def test_missing_input_and_broken_json(api) -> None:
    response = api.get("image.get")
    assert response.status_code == 400
    assert "expected object, received undefined" in response.json()["error"]["json"]["message"]
    response = api.get("image.get", raw_input="{not json")
    assert response.status_code == 400
    assert "is not valid JSON" in response.json()["error"]["json"]["message"]
    response = api.client.post(
        "/api/trpc/image.get", content=b"", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["json"]["message"] == "Unexpected end of JSON input"


def test_get_on_a_mutation_is_405(api) -> None:
    answer = api.call("reaction.toggle", {"entityId": 1, "entityType": "image", "reaction": "Like"})
    assert answer.status == 405
    assert (
        answer.error["message"]
        == 'Unsupported GET-request to mutation procedure at path "reaction.toggle"'
    )
    assert answer.error["data"]["code"] == "METHOD_NOT_SUPPORTED"
    posted = api.post("reaction.toggle", {"entityId": 1, "entityType": "image", "reaction": "Like"})
    assert posted.status == 200


def test_post_without_json_content_type_is_415(api) -> None:
    response = api.client.post(
        "/api/trpc/image.get", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    error = response.json()["error"]["json"]
    assert error["message"] == 'Unsupported content-type "text/plain'
    assert error["data"] == {"code": "UNSUPPORTED_MEDIA_TYPE", "httpStatus": 415}
    response = api.client.post("/api/trpc/image.get", content=b"{}")  # httpx sets no type
    assert response.status_code == 415
    assert response.json()["error"]["json"]["message"] == "Missing content-type header"


def test_headers_cache_control_and_head(api, anon, emu) -> None:
    tag_id = next(iter(emu.dataset.tags))
    signed_in = api.get("tag.getById", {"json": {"id": tag_id}})
    assert signed_in.headers["content-type"] == "application/json"
    assert signed_in.headers["vary"] == "trpc-accept, accept"
    assert signed_in.headers["cache-control"] == "max-age=0, private, no-cache"
    anonymous = anon.get("tag.getById", {"json": {"id": tag_id}})
    assert anonymous.headers["cache-control"].startswith("public, max-age=60")
    creator = api.get(
        "user.getCreator", {"json": {"username": emu.dataset.named["owner_username"]}}
    )
    assert "max-age=180" in creator.headers["cache-control"]
    assert api.client.head("/api/trpc/image.get").status_code == 204


def test_home_page_names_the_emulator(emu) -> None:
    import httpx

    page = httpx.get(emu.base_url + "/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "civitai-emulator" in page.text and emu.image_base_url in page.text
    assert httpx.get(emu.base_url + "/nothing").status_code == 404
