"""The HTML pages over real HTTP: content, escaping, headers, errors."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from civitai_vault.web.security import CONTENT_SECURITY_POLICY

from .conftest import HOSTILE_TAG


class PageParser(HTMLParser):
    """Collects what a browser would act on: script tags, event handlers, URLs loaded."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[str] = []
        self.loaded: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if attributes.get("id"):
            self.ids.add(attributes["id"] or "")
        for name in ("src", "poster", "data-src", "data-video"):
            if attributes.get(name):
                self.loaded.append(attributes[name] or "")
        if tag == "link" and attributes.get("href"):
            self.loaded.append(attributes["href"] or "")
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"] or "")


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
def client(mini_gallery: str):
    with httpx.Client(base_url=mini_gallery) as http:
        yield http


def assert_inert(html: str) -> PageParser:
    """Only our own script file, no event handler, nothing loaded from elsewhere."""
    page = parse(html)
    whole_page = html.startswith("<!doctype html>")
    assert page.scripts == ([{"src": "/static/gallery.js", "defer": None}] if whole_page else [])
    assert page.handlers == []
    for url in page.loaded:
        assert url.startswith("/") and not url.startswith("//"), url
    return page


def test_grid_lists_the_newest_images_and_pages(client, mini_archive):
    answer = client.get("/")
    assert answer.status_code == 200
    page = assert_inert(answer.text)
    tiles = re.findall(r'<li class="tile[^"]*" data-id="(\d+)"', answer.text)
    assert [int(t) for t in tiles[:3]] == [103, 102, 101]
    assert len(tiles) == 60
    assert f'<strong id="total">{len(mini_archive.all_ids)}</strong>' in answer.text
    assert "/?page=2" in page.links
    second = client.get("/?page=2")
    more = [int(t) for t in re.findall(r'data-id="(\d+)"', second.text)]
    assert len(more) == len(mini_archive.all_ids) - 60
    assert not set(more) & {int(t) for t in tiles}


def test_video_tiles_carry_their_file_for_hover_play(client):
    answer = client.get("/", params={"type": "video"})
    assert 'data-video="/media/alice/103.mp4"' in answer.text
    assert 'src="/thumbs/103?v=' in answer.text


def test_search_and_facets_live_in_the_url(client):
    answer = client.get("/", params={"q": "castle", "nsfw": "1"})
    tiles = re.findall(r'data-id="(\d+)"', answer.text)
    assert tiles == ["101"]
    page = parse(answer.text)
    # The facet panel and the detail links keep the search.
    panel = re.search(r'data-src="([^"]+)"', answer.text)
    assert panel is not None
    assert parse_qs(urlsplit(panel.group(1).replace("&amp;", "&")).query) == {
        "q": ["castle"],
        "nsfw": ["1"],
    }
    assert any(link.startswith("/images/101?q=castle") for link in page.links)
    # Each active filter can be removed on its own.
    assert 'href="/?nsfw=1"' in answer.text
    assert 'href="/?q=castle"' in answer.text


def test_the_facet_panel_links_toggle_values(client):
    answer = client.get("/fragments/facets", params={"q": "castle"})
    assert answer.status_code == 200
    assert 'href="/?q=castle&amp;base_model=Pony"' in answer.text
    chosen = client.get("/fragments/facets", params={"q": "castle", "base_model": "Pony"})
    # The selected value is marked, and clicking it again removes it.
    assert re.search(r'<a href="/\?q=castle" class="selected"[^>]*data-value="Pony"', chosen.text)


def test_hostile_text_is_shown_as_text_everywhere(client):
    for url in (
        "/",
        "/?q=cat",
        "/images/101",
        "/fragments/facets",
        "/stats",
        "/?tag=" + HOSTILE_TAG,
    ):
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert_inert(answer.text)
        assert "<script>window" not in answer.text
        assert "<b onmouseover" not in answer.text
        assert "<i>x</i>" not in answer.text
    detail = client.get("/images/101").text
    assert "&lt;script&gt;window.__pwned = 1; alert(&#39;xss&#39;)&lt;/script&gt;" in detail
    assert "&lt;/pre&gt;&lt;script&gt;window.__pwned = 3&lt;/script&gt;" in detail


def test_detail_shows_every_generation_field_and_resource(client):
    answer = client.get("/images/101")
    text = answer.text
    page = assert_inert(text)
    for shown in ("DPM++ 2M Karras", "30", "7.0", "1234", "Pony", "Pony Diffusion V6 XL"):
        assert f"<td>{shown}</td>" in text
    # Generation data beyond the record's fields.
    assert '<th scope="row">Hires upscale</th><td>2</td>' in text
    assert "face_yolov8n.pt" in text
    # Links out: the image on Civitai, the deleted checkpoint's archive copy.
    assert "https://civitai.com/images/101" in page.links
    assert "https://civitaiarchive.com/models/257749" in page.links
    assert "https://civitai.com/models/11?modelVersionId=111" in page.links
    assert "https://civitaiarchive.com/models/11" not in page.links  # still available
    assert "<td>0.8</td>" in text  # LoRA weight
    assert {"prompt", "negative-prompt", "copy-prompt"} <= page.ids
    assert "/?tag=anime" in page.links
    assert "/?collection=7001" in page.links


def test_detail_offers_the_a1111_text(client):
    text = client.get("/images/101").text
    infotext = re.search(r'<pre id="infotext" class="prompt">(.*?)</pre>', text, re.S)
    assert infotext is not None
    assert "Steps: 30, Sampler: DPM++ 2M Karras" in infotext.group(1)
    assert "Negative prompt: &lt;/pre&gt;" in infotext.group(1)


def test_detail_of_a_deleted_lora_links_to_the_archive_copy(client):
    page = parse(client.get("/images/102").text)
    assert "https://civitaiarchive.com/models/22" in page.links


def test_detail_of_a_video_plays_the_archived_file(client):
    text = client.get("/images/103").text
    assert re.search(
        r'<video id="player" src="/media/alice/103.mp4" '
        r'poster="/thumbs/103\?v=\w+&amp;size=poster" controls',
        text,
    )


def test_detail_without_a_file_says_so(client):
    assert "The file of this image is not in the archive." in client.get("/images/104").text
    assert "The file of this image is not in the archive." in client.get("/images/105").text


def test_an_unknown_image_is_a_404_page(client):
    answer = client.get("/images/999999")
    assert answer.status_code == 404
    assert "Image 999999 is not in this archive." in answer.text


def test_a_bad_filter_is_a_400_page_that_says_which(client):
    answer = client.get("/", params={"collection": "abc"})
    assert answer.status_code == 400
    assert "collection" in answer.text and "integer" in answer.text
    assert "Traceback" not in answer.text


def test_stats_page_summarises_the_current_filter(client):
    answer = client.get("/stats", params={"author": "alice"})
    assert answer.status_code == 200
    assert_inert(answer.text)
    assert '<strong id="total">2</strong>' in answer.text
    # The analysis charts for these two images, styled by a stylesheet the CSP allows.
    assert 'class="cv-report"' in answer.text
    assert '<link rel="stylesheet" href="/assets/charts.css">' in answer.text
    assert "Pony Diffusion V6 XL" in answer.text
    assert "Juggernaut XL" not in answer.text  # bob's checkpoint
    css = client.get("/assets/charts.css")
    assert css.headers["content-type"].startswith("text/css")


def test_every_answer_carries_the_security_headers(client):
    for url in ("/", "/images/101", "/api/images", "/static/gallery.css", "/nope", "/thumbs/101"):
        headers = client.get(url).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY


def test_requests_for_another_host_name_are_refused(client):
    # A web page that points its own DNS name at 127.0.0.1 cannot read the gallery.
    answer = client.get("/api/images", headers={"Host": "evil.example:8000"})
    assert answer.status_code == 421
    assert "items" not in answer.text
    assert client.get("/api/images", headers={"Host": "localhost"}).status_code == 200


def test_no_credential_reaches_any_page(mini_archive, monkeypatch, tmp_path):
    from civitai_vault.web.server import running_gallery

    secrets = ["sk-test-api-key-1234567890", "civ-session-token-abcdef"]
    monkeypatch.setenv("CIVITAI_API_KEY", secrets[0])
    monkeypatch.setenv("CIVITAI_TOKEN", secrets[1])
    with running_gallery(mini_archive.path) as url, httpx.Client(base_url=url) as http:
        bodies = [
            http.get(path).text
            for path in (
                "/",
                "/images/101",
                "/stats",
                "/api/images?limit=500",
                "/api/facets",
                "/fragments/facets",
                "/openapi.json",
                "/nope",
            )
        ]
    for body in bodies:
        for secret in secrets:
            assert secret not in body


def test_static_files_are_small_and_self_contained(client):
    script = client.get("/static/gallery.js")
    style = client.get("/static/gallery.css")
    assert script.status_code == style.status_code == 200
    for body in (script.text, style.text):
        assert "http://" not in body and "https://" not in body
        assert "@import" not in body
    assert "innerHTML" not in script.text  # markup from the server is parsed inertly


@pytest.mark.parametrize(
    ("allow_hosts", "answered", "refused"),
    [
        ((), ["localhost", "127.0.0.1:8000", "[::1]:8000"], ["evil.example", "192.168.1.5:8000"]),
        (
            ("gallery.lan", "192.168.1.5"),
            ["gallery.lan:8000", "GALLERY.LAN", "192.168.1.5:8000", "localhost"],
            ["evil.example", "nas.lan", "192.168.1.6"],
        ),
    ],
)
def test_listening_on_every_address_keeps_the_host_check(
    mini_archive, allow_hosts, answered, refused
):
    from starlette.testclient import TestClient

    from civitai_vault.web import create_app

    app = create_app(mini_archive.path, listen_host="0.0.0.0", allow_hosts=allow_hosts)
    with TestClient(app) as http:
        for host in answered:
            assert http.get("/api/images", headers={"Host": host}).status_code == 200, host
        for host in refused:
            answer = http.get("/api/images", headers={"Host": host})
            assert answer.status_code == 421, host
            assert "--allow-host" in answer.text
