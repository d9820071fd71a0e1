"""The gallery in a real browser, over the archive a real sync made of the emulator's demo.

Debian's Chromium driven by Playwright. A person searches, narrows by a
facet, opens an image, copies its prompt and its A1111 text, plays a video
and scrolls. Throughout, the `Watch` of every page checks that no script from
Civitai text ran (the hostile prompt calls `alert`: no dialog may open), that
the Content-Security-Policy never had to refuse anything, and that the page
asked nothing of any other host (not even the emulator's CDN).

These tests fail, never skip, when Playwright or Chromium is missing.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from civitai_vault.archive import open_archive
from civitai_vault.archive.queries import get_record
from civitai_vault.media.infotext import build_infotext

pytestmark = pytest.mark.browser


@pytest.fixture
def page(synced_gallery, open_page):
    return open_page(synced_gallery)


@pytest.fixture(scope="module")
def dataset(synced_archive):
    return synced_archive.dataset


def demo_images(synced_archive) -> list[Any]:
    dataset = synced_archive.dataset
    return [dataset.images[i] for i in dataset.collections[synced_archive.collection_id].image_ids]


def tile_ids(page: Any) -> list[int]:
    ids = page.locator("#grid > .tile").evaluate_all("tiles => tiles.map(t => t.dataset.id)")
    return [int(i) for i in ids]


def api_ids(base_url: str, **params: Any) -> list[int]:
    answer = httpx.get(base_url + "/api/images", params={"limit": 500, **params})
    return [item["image_id"] for item in answer.json()["items"]]


def test_search_narrow_by_facet_and_open_an_image(page, synced_gallery, synced_archive, dataset):
    hostile = dataset.images[dataset.named["hostile_image"]]
    page.goto("/")
    assert page.text_content("#total") == str(len(demo_images(synced_archive)))

    page.fill("#q", "quoted")
    page.press("#q", "Enter")
    page.wait_for_url("**/?q=quoted")
    found = tile_ids(page)
    assert hostile.id in found
    assert found == api_ids(synced_gallery, q="quoted")

    # The facet panel arrives after the results; a click narrows them further.
    value = page.locator(f'details[data-facet="base_model"] a[data-value="{hostile.base_model}"]')
    value.wait_for()
    expected = api_ids(synced_gallery, q="quoted", base_model=hostile.base_model)
    assert value.locator(".count").text_content() == str(len(expected))
    value.click()
    page.wait_for_url("**base_model=*")
    assert parse_qs(urlsplit(page.url).query) == {
        "q": ["quoted"],
        "base_model": [hostile.base_model],
    }
    assert tile_ids(page) == expected

    # The URL holds the search: opening it again gives the same page.
    page.goto(page.url)
    assert tile_ids(page) == expected

    page.locator(f'#grid .tile[data-id="{hostile.id}"] a').click()
    page.wait_for_url(f"**/images/{hostile.id}?*")
    # `<script>alert(1)</script>` and `<img onerror=alert(2)>` are shown, not run.
    assert page.text_content("#prompt") == hostile.meta["prompt"]
    assert page.locator("#civitai-link").get_attribute("href") == (
        f"https://civitai.com/images/{hostile.id}"
    )
    page.get_by_text("← Back to results").click()
    page.wait_for_url("**/?q=quoted&base_model=*")


def test_facet_panel_counts_what_the_dataset_holds(page, synced_archive):
    images = demo_images(synced_archive)
    page.goto("/")
    panel = page.locator('details[data-facet="nsfw"]')
    panel.wait_for()
    shown = {
        int(link.get_attribute("data-value")): int(link.locator(".count").text_content())
        for link in panel.locator("a").all()
    }
    assert shown == Counter(image.nsfw_level for image in images)
    types = page.locator('details[data-facet="type"] a[data-value="video"] .count')
    assert int(types.text_content()) == sum(image.type == "video" for image in images)


def test_copy_the_prompt_and_the_a1111_text(page, synced_copy, dataset):
    hostile_id = dataset.named["hostile_image"]
    page.goto(f"/images/{hostile_id}")
    page.click("#copy-prompt")
    page.wait_for_function("() => document.getElementById('copy-status').textContent !== ''")
    assert (
        page.evaluate("navigator.clipboard.readText()") == dataset.images[hostile_id].meta["prompt"]
    )

    with open_archive(synced_copy, create=False) as archive:
        expected = build_infotext(get_record(archive.conn, hostile_id))
    page.click("#copy-infotext")
    page.wait_for_function(
        "() => document.getElementById('copy-status').textContent.includes('A1111')"
    )
    assert page.evaluate("navigator.clipboard.readText()") == expected


def test_a_video_plays_on_its_page_and_on_hover_in_the_grid(page, dataset):
    video_id = dataset.named["video_image"]
    page.goto(f"/images/{video_id}")
    player = page.locator("#player")
    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    assert player.evaluate("v => v.paused") is True
    player.focus()
    page.keyboard.press("Space")
    page.wait_for_function(
        "() => { const v = document.getElementById('player');"
        " return !v.paused && v.currentTime > 0.2; }"
    )

    page.goto("/?type=video")
    tile = f'#grid .tile[data-id="{video_id}"]'
    page.locator(tile).scroll_into_view_if_needed()
    page.hover(tile)
    page.wait_for_function(
        f"() => {{ const v = document.querySelector('{tile} video');"
        " return v && !v.paused && v.currentTime > 0.2; }"
    )
    page.mouse.move(0, 0)
    page.wait_for_function("() => document.querySelector('#grid video') === null")


def test_deleted_models_link_to_the_archive_copy(page, dataset):
    image = dataset.images[dataset.named["deleted_checkpoint_image"]]
    checkpoint = next(r for r in image.resources if r.kind == "checkpoint")
    model_id = dataset.model_versions[checkpoint.model_version_id].model_id
    page.goto(f"/images/{image.id}")
    link = page.locator("a.archive-link")
    assert link.first.get_attribute("href") == f"https://civitaiarchive.com/models/{model_id}"
    assert link.first.is_visible()


def test_filters_apply_on_change_and_scrolling_loads_every_page(page, synced_archive):
    images = demo_images(synced_archive)
    page.goto("/")
    assert len(tile_ids(page)) == 60
    # Scrolling to the end keeps bringing the next page, until there is none.
    while page.locator("#next-page").count():
        shown = len(tile_ids(page))
        page.locator("#next-page").scroll_into_view_if_needed()
        page.wait_for_function(
            f"() => document.querySelectorAll('#grid > .tile').length > {shown}"
            " || !document.getElementById('next-page')"
        )
    assert sorted(tile_ids(page)) == sorted(image.id for image in images)

    page.select_option('select[name="type"]', "video")
    page.wait_for_url("**type=video*")
    assert sorted(tile_ids(page)) == sorted(i.id for i in images if i.type == "video")
    page.check('input[name="nsfw"][value="1"]')
    page.wait_for_url("**nsfw=1*")
    expected = sorted(i.id for i in images if i.type == "video" and i.nsfw_level == 1)
    assert sorted(tile_ids(page)) == expected
