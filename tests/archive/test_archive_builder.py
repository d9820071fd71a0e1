"""The shared test-archive builder writes what it is told, whatever its batch size."""

from __future__ import annotations

import hashlib

import pytest
from tests.conftest import snapshot_archive
from tests.support.archive_builder import ArchiveBuilder, Media, ResourceRow, TagRow

from civitai_vault.archive import open_archive
from civitai_vault.archive.queries import get_record


def build(path, batch_size: int):
    builder = ArchiveBuilder(path, batch_size=batch_size).collection(5, "Favourites")
    for image_id in range(1, 8):
        builder.image(
            image_id,
            prompt=f"a cat, number {image_id}",
            author="alice",
            resources=[ResourceRow("lora", "detail", 0.8, 11, 111)],
            tags=["cat", TagRow(2, "anime", 0.5)],
            collections=[5],
            file=Media(f"media/alice/{image_id}.png", bytes([image_id]) * 10, "image/png"),
        )
    builder.image(100, details=False, author="bob", failures={"download": "the CDN said 404"})
    return builder.finished(5).build()


def test_batches_of_one_and_one_batch_make_the_same_archive(tmp_path):
    one_by_one = build(tmp_path / "small", batch_size=1)
    all_at_once = build(tmp_path / "large", batch_size=1000)
    assert snapshot_archive(one_by_one) == snapshot_archive(all_at_once)
    assert len(snapshot_archive(one_by_one)["images"]) == 8


def test_what_it_was_told_is_in_the_archive_and_on_disk(tmp_path):
    path = build(tmp_path / "archive", batch_size=3)
    with open_archive(path, create=False, reading=True) as archive:
        record = get_record(archive.conn, 3)
        listed_only = get_record(archive.conn, 100)
    data = (path / "media/alice/3.png").read_bytes()
    assert data == bytes([3]) * 10
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["prompt"] == "a cat, number 3"
    assert record["tags"] == ["anime", "cat"]  # a tag named without a score comes last
    assert [lora["name"] for lora in record["loras"]] == ["detail"]
    assert record["collections"] == [5]
    assert listed_only["author"] == "bob" and listed_only["prompt"] is None


def test_a_misspelt_field_is_refused():
    with pytest.raises(TypeError, match="promt"):
        ArchiveBuilder("unused").image(1, promt="a cat")
