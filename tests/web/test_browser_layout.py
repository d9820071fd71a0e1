"""The gallery as a person sees it on a phone (390 x 844) and on a desktop, in Chromium.

Over the archive a real sync made of the emulator's demo. What is asserted is
what a person notices: where the search box and the first image are on the
screen and how big, whether the page scrolls sideways, what is blurred or
hidden, where the arrow keys lead, and what the downloads hold.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from civitai_vault.archive import open_archive
from civitai_vault.export.exporter import export_archive
from civitai_vault.web.params import SearchParams

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def phone(synced_gallery, open_page):
    return open_page(synced_gallery, viewport=PHONE, is_mobile=True, has_touch=True)


@pytest.fixture
def desktop(synced_gallery, open_page):
    return open_page(synced_gallery, viewport=DESKTOP)


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return found


def scrolls_sideways(page: Any) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )


def api_ids(base_url: str, **params: Any) -> list[int]:
    answer = httpx.get(base_url + "/api/images", params={"limit": 500, **params})
    assert answer.status_code == 200, answer.text
    return [item["image_id"] for item in answer.json()["items"]]


def tile_ids(page: Any) -> list[int]:
    ids = page.locator("#grid > .tile").evaluate_all("tiles => tiles.map(t => t.dataset.id)")
    return [int(i) for i in ids]


def test_on_a_phone_the_search_box_and_the_first_images_come_first(phone):
    phone.goto("/")
    search = box(phone, "#q")
    assert search["y"] < 120 and search["width"] >= 250  # it was 31 px wide
    first, second = (
        box(phone, "#grid > .tile:nth-child(1)"),
        box(phone, "#grid > .tile:nth-child(2)"),
    )
    assert first["y"] < 320  # it started 2,415 px down, below the filters
    assert first["y"] + first["height"] <= PHONE["height"]  # the whole first row is on screen
    # Two tiles a row, each big enough to see.
    assert second["y"] == first["y"] and first["width"] >= 150
    assert not scrolls_sideways(phone)

    # The filters wait behind a button, and open in place.
    assert not phone.locator("#filters").is_visible()
    phone.click("#filters-button")
    assert phone.locator('select[name="sort"]').is_visible()
    assert phone.get_attribute("#filters-button", "aria-expanded") == "true"
    assert not scrolls_sideways(phone)
    phone.select_option('select[name="sort"]', "oldest")
    phone.wait_for_url("**sort=oldest*")


def test_the_search_syntax_is_explained_next_to_the_box(phone):
    phone.goto("/")
    search, help_summary = box(phone, "#q"), box(phone, "#search-help summary")
    assert 0 <= help_summary["y"] - (search["y"] + search["height"]) < 40
    assert not phone.get_by_text("leaves out images with it").is_visible()
    phone.click("#search-help summary")
    explanation = phone.locator("#search-help dl")
    assert explanation.is_visible()
    for example in ("-word", '"exact phrase"', "cat OR fox", "model:", "lora:", "tag:", "sampler:"):
        assert example in explanation.inner_text()
    assert not scrolls_sideways(phone)


def test_typing_the_syntax_in_the_box_gives_what_the_api_gives(phone, synced_gallery):
    query = 'quoted OR sampler:euler -"no such phrase"'
    phone.goto("/")
    phone.fill("#q", query)
    phone.press("#q", "Enter")
    phone.wait_for_url("**/?q=*")
    expected = api_ids(synced_gallery, q=query)
    assert expected
    shown = int(phone.text_content("#total").replace(",", ""))
    assert shown == len(expected)
    assert tile_ids(phone) == expected[:60]


def test_on_a_desktop_filters_sit_beside_the_results(desktop):
    desktop.goto("/")
    search, filters, first = (
        box(desktop, "#q"),
        box(desktop, "#filters"),
        box(desktop, "#grid > .tile"),
    )
    assert search["width"] >= 400
    assert filters["x"] + filters["width"] <= first["x"]  # the filters are to the left
    assert first["y"] < 300
    assert not desktop.locator("#filters-button").is_visible()
    assert not scrolls_sideways(desktop)


@pytest.fixture(scope="module")
def dataset(synced_archive):
    return synced_archive.dataset


def test_no_detail_page_scrolls_sideways_on_a_phone(phone, dataset, synced_gallery):
    ids = [
        dataset.named["hostile_image"],
        dataset.named["video_image"],
        dataset.named["deleted_checkpoint_image"],
        *api_ids(synced_gallery, sort="id")[:5],
    ]
    for image_id in ids:
        phone.goto(f"/images/{image_id}")
        assert not scrolls_sideways(phone), image_id
        viewer = box(phone, ".viewer")
        assert viewer["x"] >= 0 and viewer["x"] + viewer["width"] <= PHONE["width"]
        assert phone.locator("#next-link, #prev-link").first.is_visible()


def blur_of(page: Any, selector: str) -> str:
    return page.locator(selector).first.evaluate("e => getComputedStyle(e).filter")


def test_x_images_are_blurred_until_the_browser_is_told_otherwise(
    synced_gallery, open_page, dataset
):
    adult = api_ids(synced_gallery, nsfw=[8, 16], type="image")
    mild = api_ids(synced_gallery, nsfw=1, type="image")
    assert adult and mild
    page = open_page(synced_gallery, viewport=PHONE)
    page.goto("/?" + "&".join(f"nsfw={n}" for n in (1, 8, 16)))
    tile = f'#grid .tile[data-id="{adult[0]}"] img'
    assert "blur" in blur_of(page, tile)
    assert blur_of(page, f'#grid .tile[data-id="{mild[0]}"] img') == "none"

    page.select_option("#adult-mode", "hide")
    assert not page.locator(f'#grid .tile[data-id="{adult[0]}"]').is_visible()
    assert page.locator(f'#grid .tile[data-id="{mild[0]}"]').is_visible()
    # Remembered by this browser: after a reload, and on an image's own page.
    page.reload()
    assert not page.locator(f'#grid .tile[data-id="{adult[0]}"]').is_visible()
    page.goto(f"/images/{adult[0]}")
    assert page.input_value("#adult-mode") == "hide"
    assert "blur" in blur_of(page, "#picture")
    page.click("#reveal")
    assert blur_of(page, "#picture") == "none"

    page.select_option("#adult-mode", "show")
    page.goto("/?nsfw=8&nsfw=16")
    assert blur_of(page, tile) == "none"

    # Another browser (its own storage) starts from the default: blurred.
    other = open_page(synced_gallery, viewport=DESKTOP)
    other.goto(f"/images/{adult[0]}")
    assert "blur" in blur_of(other, "#picture")
    assert other.locator("#reveal").is_visible()


def test_arrow_keys_step_through_the_search_and_escape_goes_back(phone, synced_gallery):
    search = {"type": "image", "sort": "oldest"}
    expected = api_ids(synced_gallery, **search)
    assert len(expected) > 62
    phone.goto("/?type=image&sort=oldest")
    phone.locator(f'#grid .tile[data-id="{expected[1]}"] a').click()
    phone.wait_for_url(f"**/images/{expected[1]}?*")

    phone.keyboard.press("ArrowRight")
    phone.wait_for_url(f"**/images/{expected[2]}?*")
    query = parse_qs(urlsplit(phone.url).query)
    assert query["type"] == ["image"] and query["sort"] == ["oldest"]  # the search is kept
    assert phone.text_content("#position") == f"3 of {len(expected)}"
    phone.keyboard.press("ArrowLeft")
    phone.wait_for_url(f"**/images/{expected[1]}?*")
    phone.click("#prev-link")
    phone.wait_for_url(f"**/images/{expected[0]}?*")
    assert phone.locator("#prev-link").count() == 0  # the first has no previous

    # Across a page boundary of the grid, and back to the page that holds the image.
    phone.goto(f"/images/{expected[59]}?type=image&sort=oldest&at=59")
    phone.keyboard.press("ArrowRight")
    phone.wait_for_url(f"**/images/{expected[60]}?*")
    phone.keyboard.press("Escape")
    phone.wait_for_url("**/?*page=2*")
    assert parse_qs(urlsplit(phone.url).query)["sort"] == ["oldest"]
    assert expected[60] in tile_ids(phone)

    # A link without its place (typed, or the archive changed) still finds its neighbours.
    phone.goto(f"/images/{expected[10]}?type=image&sort=oldest&at=3")
    phone.click("#next-link")
    phone.wait_for_url(f"**/images/{expected[11]}?*")


def test_the_arrow_keys_leave_text_fields_alone(phone, synced_gallery):
    first = api_ids(synced_gallery, sort="id")[1]
    phone.goto(f"/images/{first}?sort=id&at=1")
    phone.fill("#q", "abc")
    phone.press("#q", "ArrowLeft")
    assert urlsplit(phone.url).path == f"/images/{first}"


def test_download_this_view_gives_the_export_of_the_search(phone, synced_gallery, synced_copy):
    search = {"type": "image", "nsfw": "1"}
    phone.goto("/?type=image&nsfw=1")
    with phone.expect_download() as csv_download:
        phone.click("#download-csv")
    with phone.expect_download() as json_download:
        phone.click("#download-json")
    got_csv = Path(csv_download.value.path()).read_bytes()
    got_json = Path(json_download.value.path()).read_bytes()

    expected: dict[str, bytes] = {}
    with open_archive(synced_copy, create=False) as archive:
        for fmt in ("csv", "json"):
            out = io.BytesIO()
            f = SearchParams(type="image", nsfw=[1]).to_filter()
            export_archive(archive.conn, f, fmt, None, stdout=out)
            expected[fmt] = out.getvalue()
    assert got_csv == expected["csv"]
    assert got_json == expected["json"]
    rows = list(csv.DictReader(io.StringIO(got_csv.decode("utf-8"))))
    ids = api_ids(synced_gallery, **search)
    assert sorted(int(r["image_id"]) for r in rows) == sorted(ids)
    assert sorted(r["image_id"] for r in json.loads(got_json)) == sorted(ids)
    assert csv_download.value.suggested_filename.endswith(".csv")


def test_the_json_api_is_linked_and_explained(desktop, synced_gallery):
    desktop.goto("/?type=video")
    desktop.click("#api-link")
    desktop.wait_for_url("**/api?type=video")
    text = desktop.inner_text("main")
    for endpoint in ("GET /api/images", "GET /api/images/{id}", "GET /api/facets"):
        assert endpoint in text
    assert "sampler:" in text  # the q parameter explains the syntax
    example = desktop.get_attribute("#api-example", "href")
    answer = httpx.get(synced_gallery + example).json()
    assert answer["total"] == len(api_ids(synced_gallery, type="video"))
    assert httpx.get(synced_gallery + desktop.get_attribute("#openapi-link", "href")).is_success


def test_the_other_pages_fit_a_phone_too(phone):
    for path in ("/stats", "/api", "/?q=no-such-word-anywhere", "/images/999999999"):
        phone.goto(path)
        assert not scrolls_sideways(phone), path
        assert box(phone, "#q")["width"] >= 250, path
