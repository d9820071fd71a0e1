"""A sync may write to the archive while the gallery serves it: answers follow the archive."""

from __future__ import annotations

import shutil

import httpx

from civitai_vault.archive import open_archive
from civitai_vault.archive.writer import TagRow, mark_listed, store_details, transaction
from civitai_vault.records import empty_record
from civitai_vault.web.server import running_gallery


def test_counts_and_results_follow_writes_made_while_serving(mini_archive, tmp_path):
    copy = shutil.copytree(mini_archive.path, tmp_path / "archive", symlinks=True)
    with running_gallery(copy) as url, httpx.Client(base_url=url) as http:
        before = http.get("/api/facets", params={"q": "castle"}).json()
        assert before["total"] == 2
        stats_before = http.get("/stats", params={"q": "castle"}).text
        assert '<strong id="total">2</strong>' in stats_before

        # Another process (a sync) adds an image and commits.
        record = empty_record()
        record.update(
            image_id=5555, type="image", nsfw_level=1, prompt="a new castle at night",
            base_model="Flux.1 D", created_at="2025-01-01T00:00:00+00:00", author="dora",
        )  # fmt: skip
        with open_archive(copy, create=False) as archive, transaction(archive.conn) as conn:
            store_details(conn, record, resources=[], tags=[TagRow(9, "night")], raw={})
            mark_listed(conn, "collection:7001", [5555])

        after = http.get("/api/facets", params={"q": "castle"}).json()
        assert after["total"] == 3
        bases = {v["value"]: v["count"] for v in after["facets"]["base_model"]["values"]}
        assert bases["Flux.1 D"] == 1
        assert (
            http.get("/api/images", params={"q": "castle"}).json()["items"][0]["image_id"] == 5555
        )
        assert '<strong id="total">3</strong>' in http.get("/stats", params={"q": "castle"}).text
