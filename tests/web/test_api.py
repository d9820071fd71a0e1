"""The JSON API over real HTTP: search results, facets, paging, records, schema."""

from __future__ import annotations

import httpx
import pytest

from civitai_vault.archive import open_archive
from civitai_vault.archive.queries import get_record
from civitai_vault.records import EXPORT_FIELDS

from .conftest import HOSTILE_TAG


@pytest.fixture(scope="module")
def client(mini_gallery: str):
    with httpx.Client(base_url=mini_gallery) as http:
        yield http


def ids(answer: httpx.Response) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [item["image_id"] for item in answer.json()["items"]]


def search(client: httpx.Client, **params) -> dict:
    answer = client.get("/api/images", params={"limit": 500, **params})
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "cat"}, {101, 103}),
        ({"q": "castle"}, {101, 102}),
        ({"q": "alice"}, {101, 103}),  # author names are searchable
        ({"q": "ghibli"}, {102}),  # LoRA names too
        ({"q": "juggernaut"}, {102}),  # and checkpoints
        ({"q": "lowres"}, {101}),  # and the negative prompt
        ({"q": "cat", "type": "video"}, {103}),
        ({"collection": 7001}, {101, 102}),
        ({"collection": 7002}, {102, 103}),
        ({"base_model": "pony"}, {101, 103}),
        ({"model": "Juggernaut XL"}, {102}),
        ({"lora": "detail"}, {101}),
        ({"lora": "22"}, {102}),  # a LoRA's model id
        ({"tag": "anime"}, {101, 102}),
        ({"author": "ALICE"}, {101, 103}),
        ({"nsfw": [4, 8]}, {102, 104}),
        ({"since": "2024-05", "until": "2024-06-30"}, {102, 103}),
        ({"q": "castle", "nsfw": 1}, {101}),
        ({"q": "no-such-word-anywhere"}, set()),
    ],
)
def test_search_finds_exactly_the_matching_images(client, params, expected):
    answer = search(client, **params)
    found = {item["image_id"] for item in answer["items"]}
    assert found == expected
    assert answer["total"] == len(expected)


def test_everything_is_listed_newest_first(client, mini_archive):
    answer = search(client)
    assert answer["total"] == len(mini_archive.all_ids)
    listed = [item["image_id"] for item in answer["items"]]
    assert sorted(listed) == sorted(mini_archive.all_ids)
    assert listed[:5] == [103, 102, 101, 104, 105]
    dates = [item["created_at"] for item in answer["items"]]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("sort", ["newest", "oldest", "id", "id_asc"])
def test_pages_cover_every_image_once_in_order(client, mini_archive, sort):
    whole = ids(client.get("/api/images", params={"sort": sort, "limit": 500}))
    pages: list[int] = []
    for offset in range(0, len(whole) + 7, 7):
        answer = client.get("/api/images", params={"sort": sort, "limit": 7, "offset": offset})
        assert answer.json()["total"] == len(mini_archive.all_ids)
        pages += ids(answer)
    assert pages == whole
    if sort == "id_asc":
        assert whole == sorted(mini_archive.all_ids)


def test_random_order_is_stable_for_a_seed_and_pages_without_repeats(client, mini_archive):
    first = ids(client.get("/api/images", params={"sort": "random", "seed": 42, "limit": 500}))
    again = ids(client.get("/api/images", params={"sort": "random", "seed": 42, "limit": 500}))
    other = ids(client.get("/api/images", params={"sort": "random", "seed": 7, "limit": 500}))
    assert first == again
    assert sorted(first) == sorted(mini_archive.all_ids)
    assert other != first
    paged = []
    for offset in range(0, len(first), 20):
        params = {"sort": "random", "seed": 42, "limit": 20, "offset": offset}
        paged += ids(client.get("/api/images", params=params))
    assert paged == first


def test_a_record_is_the_export_record(client, mini_archive):
    answer = client.get("/api/images/101")
    assert answer.status_code == 200
    record = answer.json()
    assert list(record) == list(EXPORT_FIELDS)
    with open_archive(mini_archive.path, create=False) as archive:
        assert record == get_record(archive.conn, 101)
    assert record["loras"][0] == {
        "name": "detail",
        "weight": 0.8,
        "model_id": 11,
        "model_version_id": 111,
        "version_name": "v1",
        "base_model": None,
    }
    # Search results carry the same records.
    assert search(client, q="castle", nsfw=1)["items"] == [record]


def test_an_unknown_image_is_a_404_with_a_reason(client):
    answer = client.get("/api/images/999999")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "image 999999 is not in this archive"}


def facet(answer: dict, name: str) -> dict[str, int]:
    return {v["value"]: v["count"] for v in answer["facets"][name]["values"]}


def test_facet_counts_cover_the_whole_archive(client, mini_archive):
    answer = client.get("/api/facets").json()
    assert answer["total"] == len(mini_archive.all_ids)
    assert facet(answer, "base_model") == {"Pony": 2, "SDXL 1.0": 1, "SD 1.5": 1}
    assert facet(answer, "collection") == {"7001": 2, "7002": 2}
    assert facet(answer, "tag") == {"cat": 2, "anime": 2, "landscape": 1, HOSTILE_TAG: 1}
    assert facet(answer, "lora") == {"detail": 1, "Ghibli Style": 1}
    assert facet(answer, "model") == {"Pony Diffusion V6 XL": 2, "Juggernaut XL": 1}
    assert facet(answer, "author")["filler"] == 70
    assert facet(answer, "nsfw") == {"2": 70, "1": 3, "4": 1, "8": 1}
    assert facet(answer, "type") == {"image": 74, "video": 1}
    labels = {v["value"]: v["label"] for v in answer["facets"]["collection"]["values"]}
    assert labels == {"7001": "Favourites <i>x</i>", "7002": "Landscapes"}


def test_facets_count_within_the_search_but_not_their_own_filter(client):
    answer = client.get("/api/facets", params={"q": "cat", "base_model": "Pony"}).json()
    assert answer["total"] == 2
    # Other facets count only what the whole search selects...
    assert facet(answer, "type") == {"image": 1, "video": 1}
    assert facet(answer, "collection") == {"7001": 1, "7002": 1}
    # ...while base model ignores its own filter, so alternatives stay visible.
    assert facet(answer, "base_model") == {"Pony": 2}
    assert answer["facets"]["base_model"]["selected"] == ["Pony"]
    answer = client.get("/api/facets", params={"q": "castle", "base_model": "Pony"}).json()
    assert facet(answer, "base_model") == {"Pony": 1, "SDXL 1.0": 1}


def test_facets_list_the_top_values_and_say_when_there_are_more(client):
    answer = client.get("/api/facets", params={"top": 1}).json()
    authors = answer["facets"]["author"]
    assert [v["value"] for v in authors["values"]] == ["filler"]
    assert authors["more"] is True
    # A chosen value outside the top list is still listed, with its count.
    answer = client.get("/api/facets", params={"top": 1, "author": "bob"}).json()
    assert facet(answer, "author") == {"filler": 70, "bob": 1}


@pytest.mark.parametrize(
    "query",
    [
        {"collection": "abc"},
        {"nsfw": "x"},
        {"since": "last tuesday"},
        {"sort": "sideways"},
        {"limit": 0},
        {"limit": 100000},
        {"offset": -1},
    ],
)
def test_bad_parameters_are_refused_with_a_reason(client, query):
    answer = client.get("/api/images", params=query)
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert detail and all("msg" in error for error in detail)


def test_empty_form_fields_mean_any(client, mini_archive):
    answer = client.get("/api/images?q=&collection=&author=&nsfw=&since=&limit=500")
    assert answer.json()["total"] == len(mini_archive.all_ids)


def test_openapi_schema_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/images", "/api/images/{image_id}", "/api/facets"} <= set(schema["paths"])
    parameters = {p["name"] for p in schema["paths"]["/api/images"]["get"]["parameters"]}
    assert {"q", "collection", "base_model", "model", "lora", "tag", "author", "nsfw"} <= parameters
    assert {"type", "since", "until", "sort", "limit", "offset"} <= parameters
    record = schema["components"]["schemas"]["ExportRecord"]["properties"]
    assert list(record) == list(EXPORT_FIELDS)
    # Pages of the HTML gallery are not part of the API.
    assert not any(path.startswith(("/media", "/thumbs", "/images/")) for path in schema["paths"])


def test_every_answer_says_its_server_wall_and_cpu_time(client):
    # What the gallery benchmark reads; values only, no duration is asserted.
    for path in ("/api/images?q=cat", "/", "/api/nothing-here"):
        timing = client.get(path).headers["server-timing"]
        metrics = dict(part.strip().split(";dur=") for part in timing.split(","))
        assert set(metrics) == {"app", "cpu"}, timing
        assert all(float(value) >= 0 for value in metrics.values()), timing
