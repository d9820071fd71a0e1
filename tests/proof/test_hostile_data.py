"""Civitai's text is untrusted: user names, file names and CDN ids cannot steer where files go,
one unusable image cannot stop a run, and the gallery shows all of it as inert text.

A proxy in front of the emulator rewrites the listing so every image carries a
hostile user name and file name (and one a CDN id that is a path), then the
real command syncs through it.
"""

from __future__ import annotations

import json
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from civitai_emulator import EmulatorConfig, running_emulator

from .conftest import sync_args
from .servers import HostileServer, rewriting_proxy

HOSTILE_NAMES = [
    "..",
    "../..",
    "../../../../../../tmp/pwned",
    "/etc/passwd",
    "a/../../b",
    "a\\..\\..\\b",
    "C:\\Windows\\win.ini",
    "CON",
    "nul.txt",
    ".",
    ".hidden",
    "~root",
    "$(touch pwned)",
    "x\x00y",
    "\u202egnp.exe",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    "a" * 5000,
    " ",
    "",
]
BROKEN_CDN_ID = "../../../outside"


_BROKEN: list[int] = []  # the one image given BROKEN_CDN_ID: the first page's fourth


def make_hostile(procedure: str, data: Any) -> None:
    if procedure != "image.getInfinite":
        return
    _BROKEN[:] = _BROKEN or [data["items"][3]["id"]]
    for index, item in enumerate(data["items"]):
        name = HOSTILE_NAMES[index % len(HOSTILE_NAMES)]
        if item.get("user"):
            item["user"]["username"] = name
        item["name"] = HOSTILE_NAMES[(index + 7) % len(HOSTILE_NAMES)] + ".png"
        if item["id"] == _BROKEN[0]:
            item["url"] = BROKEN_CDN_ID


@pytest.fixture(scope="module")
def hostile_sync(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An archive synced through the rewriting proxy, with a template that uses every name."""
    from .conftest import Cli, cli_env

    root = tmp_path_factory.mktemp("hostile")
    config = EmulatorConfig(seed=51, images=60, site_mode="red")
    with (
        running_emulator(config) as emu,
        HostileServer(rewriting_proxy(emu, make_hostile)) as proxy,
    ):
        cli = Cli(cli_env(emu, root / "config", CIVITAI_BASE_URL=proxy.url))
        collection = emu.dataset.named["demo_collection"]
        template = "{username}/{name_stem}/{model}-{image_id}.{ext}"
        done = cli(
            *sync_args(root / "archive", f"collection:{collection}", "--json"),
            "--template",
            template,
        )
        size = len(emu.dataset.collections[collection].image_ids)
    return {"root": root, "archive": root / "archive", "done": done, "size": size}


def test_no_name_from_civitai_puts_a_file_outside_media(hostile_sync):
    root, archive = hostile_sync["root"], hostile_sync["archive"]
    media = (archive / "media").resolve()
    for file in (p for p in root.rglob("*") if p.is_file()):
        if file.resolve().is_relative_to(media):
            continue
        relative = file.relative_to(root)
        # Besides media/, only the database (archive/vault.db*), the writer lock and the
        # config folder.
        assert relative.parts[0] == "config" or (
            relative.parent == Path("archive")
            and relative.name.startswith(("vault.db", "vault.lock"))
        ), relative
    assert not list(Path("/tmp").glob("pwned*"))
    conn = sqlite3.connect(archive / "vault.db")
    paths = [row[0] for row in conn.execute("SELECT path FROM files")]
    conn.close()
    assert len(paths) == hostile_sync["size"] - 1  # every image but the broken CDN id's
    for path in paths:
        file = (archive / path).resolve()
        assert file.is_file() and file.is_relative_to(media), path
        assert "\x00" not in path and "\u202e" not in path and ".." not in Path(path).parts
        assert all(0 < len(part.encode()) <= 128 for part in Path(path).parts), path


def test_one_unusable_image_is_reported_and_the_rest_is_archived(hostile_sync):
    done = hostile_sync["done"]
    assert done.returncode == 1, done.stderr  # loud: not everything was archived
    summary = json.loads(done.stdout)
    target = summary["targets"][0]
    assert target["complete"] and target["listed"] == hostile_sync["size"]
    assert target["failed"] == 1
    (reason,) = target["failure_reasons"]
    assert "\n" not in reason and "file address" in reason
    conn = sqlite3.connect(hostile_sync["archive"] / "vault.db")
    (unfiled,) = conn.execute(
        "SELECT id, uuid, details_at FROM images WHERE id NOT IN (SELECT image_id FROM files)"
    ).fetchall()
    stages = conn.execute("SELECT stage FROM failures WHERE image_id = ?", (unfiled[0],)).fetchall()
    conn.close()
    assert unfiled[1] == BROKEN_CDN_ID and unfiled[2] is not None  # everything but the file
    assert stages == [("download",)]


class Inert(HTMLParser):
    """What a browser would run or load from a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, Any]] = []
        self.handlers: list[str] = []
        self.loaded: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
        self.handlers += [name for name, _ in attrs if name.lower().startswith("on")]
        for name, value in attrs:
            if not value:
                continue
            if name in ("src", "poster", "data-src", "data-video", "action") or (
                tag == "link" and name == "href"
            ):
                self.loaded.append(value)
            elif name == "href":
                self.links.append(value)


def test_the_gallery_shows_hostile_text_as_text(hostile_sync):
    from civitai_vault.web.server import running_gallery

    archive = hostile_sync["archive"]
    conn = sqlite3.connect(archive / "vault.db")
    ids = [row[0] for row in conn.execute("SELECT id FROM images ORDER BY id")]
    conn.close()
    pages = ["/", "/stats", "/fragments/facets", "/?q=script", "/?author=..%2F.."]
    pages += [f"/images/{image_id}" for image_id in ids]
    escaped_seen = 0
    with running_gallery(archive) as url, httpx.Client(base_url=url) as http:
        for page in pages:
            answer = http.get(page)
            assert answer.status_code == 200, page
            html = answer.text
            assert "<script>alert" not in html and "<img src=x" not in html, page
            escaped_seen += "&lt;script&gt;alert(1)&lt;/script&gt;" in html
            parsed = Inert()
            parsed.feed(html)
            assert parsed.handlers == [], page
            assert all(s.get("src") == "/static/gallery.js" for s in parsed.scripts), page
            for link in parsed.loaded:
                assert link.startswith(("/", "#", "?")) and not link.startswith("//"), (page, link)
        listing = http.get("/api/images", params={"limit": 100}).json()
    assert escaped_seen  # the name is on the page, as text
    authors = {item["author"] for item in listing["items"]}
    assert "<script>alert(1)</script>" in authors  # shown, as data, not dropped
