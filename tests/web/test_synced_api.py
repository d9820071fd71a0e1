"""The JSON API over the archive a real sync made of the emulator's demo collection.

Expectations come from the emulator's dataset, never from our own queries:
which images exist, their type, NSFW level, base model, author and tags.
"""

from __future__ import annotations

import http.client
import re
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest


@pytest.fixture(scope="module")
def client(synced_gallery: str):
    with httpx.Client(base_url=synced_gallery) as http:
        yield http


@pytest.fixture(scope="module")
def images(synced_archive) -> list[Any]:
    dataset = synced_archive.dataset
    return [dataset.images[i] for i in dataset.collections[synced_archive.collection_id].image_ids]


def username(synced_archive, image: Any) -> str | None:
    return synced_archive.dataset.users[image.user_id].username


def found(client: httpx.Client, **params: Any) -> tuple[int, set[int]]:
    answer = client.get("/api/images", params={"limit": 500, **params})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return body["total"], {item["image_id"] for item in body["items"]}


def test_everything_synced_is_listed(client, images):
    total, ids = found(client)
    assert total == len(images) == len(ids)
    assert ids == {image.id for image in images}


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"type": "video"}, lambda image, ds: image.type == "video"),
        ({"nsfw": [4, 8]}, lambda image, ds: image.nsfw_level in (4, 8)),
        ({"base_model": "pony"}, lambda image, ds: image.base_model == "Pony"),
        (
            {"type": "image", "nsfw": 1, "base_model": "SDXL 1.0"},
            lambda image, ds: (
                image.type == "image" and image.nsfw_level == 1 and image.base_model == "SDXL 1.0"
            ),
        ),
    ],
)
def test_facet_filters_select_what_the_dataset_says(client, synced_archive, images, params, keep):
    expected = {image.id for image in images if keep(image, synced_archive.dataset)}
    assert expected
    total, ids = found(client, **params)
    assert ids == expected
    assert total == len(expected)


def test_author_and_collection_filters(client, synced_archive, images):
    owner = synced_archive.dataset.named["owner_username"]
    expected = {image.id for image in images if username(synced_archive, image) == owner}
    assert found(client, author=owner.upper())[1] == expected
    total, ids = found(client, collection=synced_archive.collection_id)
    assert total == len(images) and ids == {image.id for image in images}


def test_full_text_finds_prompt_words(client, synced_archive, images):
    dataset = synced_archive.dataset
    hostile = dataset.named["hostile_image"]
    assert found(client, q="quoted") == (1, {hostile})
    assert found(client, q="injection etc passwd") == (1, {hostile})
    # A prompt word that no tag, model or username contains: exactly the prompts with it.
    names = " ".join(
        [t.name for t in dataset.tags.values()]
        + [v.model_name for v in dataset.model_versions.values()]
        + [u.username or "" for u in dataset.users.values()]
    ).lower()
    prompts = {image.id: (image.meta or {}).get("prompt") or "" for image in images}
    words = Counter(
        w.lower() for text in prompts.values() for w in re.findall(r"[A-Za-z]{5,}", text)
    )
    word = next(w for w, n in words.most_common() if 3 <= n <= 40 and w not in names)
    expected = {
        image_id
        for image_id, text in prompts.items()
        if re.search(rf"\b{word}", text, re.IGNORECASE) and not dataset.images[image_id].hide_meta
    }
    total, ids = found(client, q=word)
    assert ids == expected and total == len(expected)


def test_facet_counts_match_the_dataset(client, synced_archive, images):
    answer = client.get("/api/facets", params={"top": 500}).json()
    assert answer["total"] == len(images)

    def counts(name: str) -> dict[str, int]:
        return {v["value"]: v["count"] for v in answer["facets"][name]["values"]}

    assert counts("type") == Counter(image.type for image in images)
    assert counts("nsfw") == {str(k): v for k, v in Counter(i.nsfw_level for i in images).items()}
    assert counts("base_model") == Counter(image.base_model for image in images)
    authors = Counter(username(synced_archive, image) for image in images)
    authors.pop(None, None)  # the deleted user's images have no author name
    assert counts("author") == authors
    assert counts("collection") == {str(synced_archive.collection_id): len(images)}
    tags = Counter(
        synced_archive.dataset.tags[tag_id].name for image in images for tag_id in image.tag_scores
    )
    assert counts("tag") == tags
    labels = [v["label"] for v in answer["facets"]["collection"]["values"]]
    assert labels == [synced_archive.dataset.collections[synced_archive.collection_id].name]


def test_pages_cover_the_archive_once(client, images):
    seen: list[int] = []
    offset = 0
    while True:
        answer = client.get("/api/images", params={"limit": 45, "offset": offset}).json()
        assert answer["total"] == len(images)
        if not answer["items"]:
            break
        seen += [item["image_id"] for item in answer["items"]]
        offset += 45
    assert len(seen) == len(set(seen)) == len(images)
    by_date = sorted(images, key=lambda image: (image.created_at, image.id), reverse=True)
    assert seen == [image.id for image in by_date]


def test_archived_files_are_served_and_nothing_else(client, synced_gallery, synced_copy):
    record = client.get("/api/images", params={"type": "video", "limit": 1}).json()["items"][0]
    answer = client.get("/" + record["file_path"])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "video/mp4"
    assert answer.content == (synced_copy / record["file_path"]).read_bytes()
    parts = urlsplit(synced_gallery)
    for raw in ("/media/../vault.db", "/media/%2e%2e/vault.db", "/media//etc/passwd"):
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        conn.request("GET", raw)
        response = conn.getresponse()
        assert response.status == 404
        assert b"SQLite format 3" not in response.read()
        conn.close()
