"""The search box's syntax (`-word`, `OR`, `"phrase"`, `field:value`) over the API and the grid."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
from tests.support.archive_builder import ArchiveBuilder, ResourceRow, TagRow

from civitai_vault.archive.search import parse_query
from civitai_vault.web.server import running_gallery

# id: (prompt, sampler, base model, checkpoint, LoRA, tags, author)
# fmt: off
IMAGES = {
    1: ("a cat on a sofa", "Euler a", "SDXL 1.0", "Juggernaut XL", None, ["cat"], "alice"),
    2: ("a red fox in snow", "DPM++ 2M Karras", "SD 1.5", "DreamShaper", "FoxLora", ["fox"], "bob"),
    3: ("a cat and a fox, red hair", "Euler", "Pony", "Pony Diffusion V6 XL", "detail",
        ["cat", "fox"], "alice"),
    4: ("a dog, hair red", "DDIM", "SDXL 1.0", "Juggernaut XL", "detail",
        ["dog", "long hair"], "carol"),
    5: ("(masterpiece:1.2) 50% off_sale", None, None, None, None, [], "dave_x"),
}
# fmt: on
TAG_IDS = {"cat": 1, "fox": 2, "dog": 3, "long hair": 4}


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory):
    path: Path = tmp_path_factory.mktemp("search") / "archive"
    builder = ArchiveBuilder(path)
    for image_id, (prompt, sampler, base, model, lora, tags, author) in IMAGES.items():
        resources = [ResourceRow("lora", lora, 0.7, 900 + image_id, 990 + image_id, "v1")]
        builder.image(
            image_id, prompt=prompt, sampler=sampler, base_model=base, model=model,
            author=author, type="image", created_at=f"2024-01-0{image_id}T00:00:00+00:00",
            resources=resources if lora else [],
            tags=[TagRow(TAG_IDS[t], t, 0.5) for t in tags],
            raw={},
        )  # fmt: skip
    builder.build()
    with running_gallery(path) as url, httpx.Client(base_url=url) as client:
        yield client


def found(client: httpx.Client, q: str) -> set[int]:
    answer = client.get("/api/images", params={"q": q, "limit": 500})
    assert answer.status_code == 200, answer.text
    return {item["image_id"] for item in answer.json()["items"]}


# (what is typed, the images it finds)
SYNTAX_CASES = [
    ("cat", {1, 3}),
    ("cat fox", {3}),
    ("cat -fox", {1}),  # the case: it used to return the cat-and-fox image
    ("cat OR fox", {1, 2, 3}),  # and this returned nothing
    ("dog OR cat -fox", {1, 4}),
    ("-cat", {2, 4, 5}),
    ('"red hair"', {3}),  # adjacent, in order
    ("red hair", {3, 4}),
    ('-"red hair" hair', {4}),
    ("model:pony", {3}),
    ("model:juggernaut", {1, 4}),
    ("checkpoint:dreamshaper", {2}),
    ("lora:detail", {3, 4}),
    ("lora:fox", {2}),
    ("tag:fox", {2, 3}),
    ("tag:hair", {4}),  # a tag that contains the word
    ('tag:"long hair"', {4}),
    ("sampler:euler", {1, 3}),
    ("sampler:dpm++", {2}),
    ("author:alice", {1, 3}),
    ("author:ALICE -tag:fox", {1}),
    ("base:sdxl", {1, 4}),
    ('base:"sd 1.5"', {2}),
    ("base:1.5 OR base:pony", {2, 3}),
    ("tag:fox OR author:carol", {2, 3, 4}),
    ("author:dave_x", {5}),  # _ and % are literal
    ("-model:juggernaut", {2, 3, 5}),  # images without a checkpoint are kept
    ("-sampler:euler", {2, 4, 5}),
    ("-lora:detail", {1, 2, 5}),
    ("-base:sdxl -author:bob", {3, 5}),
    ("50%", {5}),
    ("masterpiece:1.2", {5}),  # not a field: searched as text
    ("nosuchfield:cat", set()),
    ('"unclosed phrase', set()),
    ("OR", {1, 2, 3, 4, 5}),
    ("-", {1, 2, 3, 4, 5}),
]


@pytest.mark.parametrize(("q", "expected"), SYNTAX_CASES)
def test_search_syntax_finds_exactly_the_matching_images(gallery, q, expected):
    assert found(gallery, q) == expected


@pytest.mark.parametrize(("q", "expected"), SYNTAX_CASES)
def test_the_total_counts_exactly_the_matching_images(gallery, q, expected):
    # One image a page: the total is counted, not taken from a short last page.
    answer = gallery.get("/api/images", params={"q": q, "limit": 1})
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] == len(expected)


@pytest.mark.parametrize(
    "q", ["cat", "cat OR fox", "red hair", "cat -fox", "hair lora:detail", "a -tag:cat"]
)
def test_facets_count_the_images_the_search_finds(gallery, q):
    images = found(gallery, q)
    answer = gallery.get("/api/facets", params={"q": q})
    assert answer.status_code == 200, answer.text
    facets = answer.json()["facets"]
    shown = {name: {v["value"]: v["count"] for v in facets[name]["values"]} for name in facets}
    tags: dict[str, int] = {}
    authors: dict[str, int] = {}
    for image_id in images:
        *_, image_tags, author = IMAGES[image_id]
        for tag in image_tags:
            tags[tag] = tags.get(tag, 0) + 1
        authors[author] = authors.get(author, 0) + 1
    assert shown["tag"] == tags
    assert shown["author"] == authors
    assert answer.json()["total"] == len(images)


def test_the_grid_uses_the_same_syntax_and_explains_it(gallery):
    page = gallery.get("/", params={"q": "cat -fox"}).text
    assert re.findall(r'<li class="tile[^"]*" data-id="(\d+)"', page) == ["1"]
    help_text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    for example in ("-word", " OR ", '"exact phrase"', "model:", "lora:", "tag:", "sampler:"):
        assert example in help_text, example


def test_a_query_is_parsed_into_groups_of_alternatives():
    groups = parse_query('cat OR fox -dog tag:"long hair"')
    assert [[(t.text, t.field, t.negated) for t in g] for g in groups] == [
        [("cat", None, False), ("fox", None, False)],
        [("dog", None, True)],
        [("long hair", "tag", False)],
    ]
