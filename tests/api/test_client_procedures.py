"""Every procedure against the emulator, in both response encodings (superjson and devalue)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from civitai_vault.api import CivitaiClient, NotFound
from civitai_vault.api.cdn import image_url


def test_get_image(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    image_id = dataset.named["video_image"]
    record = dataset.images[image_id]
    info = helpers.call(lambda c: c.get_image(image_id))
    assert info.id == image_id
    assert info.url == record.uuid
    assert info.type == "video"
    assert (info.width, info.height, info.nsfw_level) == (
        record.width,
        record.height,
        record.nsfw_level,
    )
    assert info.post_id == record.post_id
    assert info.created_at == record.created_at and info.created_at.tzinfo is not None
    assert info.user is not None and info.user.id == record.user_id
    assert info.raw["id"] == image_id


def test_get_image_missing_is_not_found(encoding_emu: Any, helpers: Any) -> None:
    with pytest.raises(NotFound) as caught:
        helpers.call(lambda c: c.get_image(1))
    assert "image.get" in str(caught.value)


def test_get_generation_data(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    image_id = dataset.named["deleted_lora_image"]
    record = dataset.images[image_id]
    data = helpers.call(lambda c: c.get_generation_data(image_id))
    assert data.meta is not None
    assert data.meta.prompt == record.meta["prompt"]
    assert data.process == record.process
    assert [r.model_version_id for r in data.resources] == [
        ref.model_version_id for ref in record.resources
    ]
    lora_strengths = [ref.strength for ref in record.resources if ref.kind == "lora"]
    assert [r.strength for r in data.resources if r.strength is not None] == lora_strengths


def test_hidden_meta_reads_as_absent(encoding_emu: Any, helpers: Any) -> None:
    image_id = encoding_emu.dataset.named["hidden_meta_image"]
    data = helpers.call(lambda c: c.get_generation_data(image_id))
    assert data.meta is None
    assert "meta" not in data.raw  # undefined on the wire = key absent


def test_get_votable_tags_in_score_order(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    image_id = dataset.named["a1111_png_image"]
    record = dataset.images[image_id]
    tags = helpers.call(lambda c: c.get_votable_tags(image_id))
    assert [t.id for t in tags] == list(record.tag_scores)
    assert [t.score for t in tags] == list(record.tag_scores.values())
    assert all(t.name == dataset.tags[t.id].name for t in tags)


def test_get_tag_and_missing_tag(encoding_emu: Any, helpers: Any) -> None:
    tag = next(iter(encoding_emu.dataset.tags.values()))

    async def work(client: CivitaiClient) -> tuple[Any, Any]:
        return await client.get_tag(tag.id), await client.get_tag(999_999_999)

    found, missing = helpers.call(work)
    assert (found.id, found.name, found.type) == (tag.id, tag.name, tag.type)
    assert missing is None


def test_get_model_version_and_not_found(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    version = next(v for v in dataset.model_versions.values() if v.model_status == "Deleted")
    missing_id = next(iter(dataset.missing_version_ids))
    found = helpers.call(lambda c: c.get_model_version(version.id))
    assert found.id == version.id and found.name == version.name
    assert found.model is not None and found.model.id == version.model_id
    assert found.model.status == "Deleted"
    with pytest.raises(NotFound):
        helpers.call(lambda c: c.get_model_version(missing_id))


def test_get_post(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    post = dataset.posts[dataset.named["post_id"]]
    found = helpers.call(lambda c: c.get_post(post.id))
    assert found.id == post.id
    assert found.user is not None and found.user.id == post.user_id
    assert isinstance(found.published_at, datetime)


def test_get_collection_mine_and_others_private(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    mine = dataset.collections[dataset.named["demo_collection"]]

    async def work(client: CivitaiClient) -> tuple[Any, Any]:
        return (
            await client.get_collection(mine.id),
            await client.get_collection(dataset.named["others_private_collection"]),
        )

    found, hidden = helpers.call(work)
    assert found.collection is not None
    assert (found.collection.id, found.collection.name) == (mine.id, mine.name)
    assert found.collection.read == "Private"
    assert found.permissions is not None and found.permissions.read is True
    assert hidden.collection is None
    assert hidden.permissions is not None and hidden.permissions.read is False


def test_get_user_collections(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    owned = {c.id for c in dataset.collections.values() if c.owner_id == dataset.owner.id}
    collections = helpers.call(lambda c: c.get_user_collections())
    assert {c.id for c in collections} == owned
    assert all(c.user_id == dataset.owner.id for c in collections)


def test_get_creator(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset

    async def work(client: CivitaiClient) -> tuple[Any, Any, Any]:
        return (
            await client.get_creator(username=dataset.named["other_username"]),
            await client.get_creator(user_id=dataset.owner.id),
            await client.get_creator(username=dataset.named["deleted_username"]),
        )

    other, owner, deleted = helpers.call(work)
    assert other.username == dataset.named["other_username"]
    assert owner.id == dataset.owner.id and owner.username == dataset.owner.username
    assert deleted is None


def test_whoami(encoding_emu: Any, helpers: Any) -> None:
    me = helpers.call(lambda c: c.whoami())
    assert me.signed_in and me.user_id == encoding_emu.dataset.owner.id
    assert me.username == encoding_emu.dataset.owner.username
    assert me.site == "red" and me.nsfw_visible
    anonymous = helpers.call(lambda c: c.whoami(), auth=None)
    assert not anonymous.signed_in and anonymous.username is None


def test_full_collection_listing(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    collection = dataset.collections[dataset.named["demo_collection"]]
    visible = [i for i in collection.image_ids if dataset.nsfw_level_of(i)]

    async def work(client: CivitaiClient) -> tuple[list[int], Any]:
        pages = client.iter_image_pages(collection_id=collection.id, limit=50)
        ids = [item.id async for page in pages for item in page.items]
        return ids, pages

    ids, pages = helpers.call(work)
    assert ids == sorted(visible, reverse=True)
    assert pages.ended_normally is True


def test_listing_items_are_typed(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    post = dataset.posts[dataset.named["post_id"]]

    async def work(client: CivitaiClient) -> list[Any]:
        return [
            item async for page in client.iter_image_pages(post_id=post.id) for item in page.items
        ]

    items = helpers.call(work)
    assert sorted(item.id for item in items) == sorted(post.image_ids)
    for item in items:
        record = dataset.images[item.id]
        assert item.url == record.uuid and item.post_id == post.id
        assert isinstance(item.created_at, datetime)
        url = image_url(encoding_emu.image_base_url, item.url, item.name, item.type, item.id)
        assert url.startswith(encoding_emu.image_base_url)


def test_user_images_listing_with_string_cursor(encoding_emu: Any, helpers: Any) -> None:
    dataset = encoding_emu.dataset
    user = dataset.user_by_username(dataset.named["other_username"])
    expected = {i for i in dataset.images_of_user(user.id) if dataset.nsfw_level_of(i)}

    async def work(client: CivitaiClient) -> tuple[list[int], list[Any]]:
        pages = client.iter_image_pages(username=user.username, limit=7)
        ids, cursors = [], []
        async for page in pages:
            ids.extend(item.id for item in page.items)
            cursors.append(page.next_cursor)
        return ids, cursors

    ids, cursors = helpers.call(work)
    assert len(ids) == len(set(ids)) and set(ids) == expected
    assert all(isinstance(c, str) for c in cursors[:-1]) and cursors[-1] is None
