"""Numbers no archive can hold, and other malformed values, in gallery URLs: 400, never 500."""

from __future__ import annotations

import httpx
import pytest

HUGE = 2**64  # SQLite integers stop at 2**63 - 1
EDGE = 2**63


@pytest.fixture(scope="module")
def client(mini_gallery: str):
    with httpx.Client(base_url=mini_gallery) as http:
        yield http


@pytest.mark.parametrize(
    "url",
    [
        f"/images/{HUGE}",
        f"/images/{EDGE}",
        f"/images/{HUGE}?collection=1",
        f"/thumbs/{HUGE}",
        f"/thumbs/{EDGE}?size=poster",
        f"/?collection={HUGE}",
        f"/?nsfw={HUGE}",
        f"/?page={HUGE}",
        f"/fragments/facets?collection={HUGE}",
        f"/fragments/facets?nsfw={EDGE}",
        f"/stats?collection={HUGE}",
        f"/download.csv?collection={HUGE}",
        "/images/1.5",
        "/images/-1",
        "/images/abc",
        f"/?seed={HUGE}&sort=random",
    ],
)
def test_a_page_with_an_impossible_number_is_a_400_page(client, url):
    answer = client.get(url)
    assert answer.status_code == 400, (url, answer.text[:300])
    assert "Traceback" not in answer.text
    assert "<!doctype html>" in answer.text


@pytest.mark.parametrize(
    "url",
    [
        f"/api/images/{HUGE}",
        f"/api/images/{EDGE}",
        f"/api/images?collection={HUGE}",
        f"/api/images?nsfw={HUGE}",
        f"/api/images?offset={HUGE}",
        f"/api/images?limit={HUGE}",
        f"/api/facets?collection={HUGE}",
        f"/api/facets?top={HUGE}",
    ],
)
def test_the_api_answers_an_impossible_number_with_400_and_the_reason(client, url):
    answer = client.get(url)
    assert answer.status_code == 400, (url, answer.text[:300])
    detail = answer.json()["detail"]
    assert detail and all("msg" in error for error in detail)


@pytest.mark.parametrize("name", ["model", "lora"])
def test_a_huge_number_as_a_model_name_simply_matches_nothing(client, name):
    answer = client.get("/api/images", params={name: str(HUGE)})
    assert answer.status_code == 200
    assert answer.json()["total"] == 0
    assert client.get("/", params={name: str(HUGE)}).status_code == 200
    assert client.get("/fragments/facets", params={name: str(HUGE)}).status_code == 200


def test_a_64_bit_seed_is_shown_and_answered_exactly(tmp_path):
    from tests.support.archive_builder import ArchiveBuilder

    from civitai_vault.web.server import running_gallery

    seed = 2**64 - 1  # ComfyUI's largest
    ArchiveBuilder(tmp_path / "archive").image(
        1, prompt="big seed", seed=seed, type="image", raw={}
    ).build()
    with running_gallery(tmp_path / "archive") as url:
        page = httpx.get(f"{url}/images/1")
        api = httpx.get(f"{url}/api/images/1")
        listing = httpx.get(f"{url}/api/images")
        download = httpx.get(f"{url}/download.json")
    assert page.status_code == 200 and f"<td>{seed}</td>" in page.text
    assert api.json()["seed"] == seed
    assert listing.json()["items"][0]["seed"] == seed
    assert f'"seed": {seed}' in download.text
