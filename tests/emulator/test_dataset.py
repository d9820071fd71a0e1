"""The dataset is deterministic, realistic, and its named entries are what their names say."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from civitai_emulator import Dataset
from civitai_emulator.dataset import NAMED_IMAGE_ROLES, TRAP_IMAGE_ROLES


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset(seed=5, images=600)


def fingerprint(dataset: Dataset) -> tuple:
    records = [dataset.images[i] for i in dataset.image_ids]
    return (
        dataset.named,
        dataset.owner,
        dataset.users,
        dataset.collections,
        dataset.model_versions,
        dataset.missing_version_ids,
        dataset.posts,
        dataset.tags,
        records,
    )


def test_same_seed_same_data_and_other_seed_other_data(dataset: Dataset) -> None:
    assert fingerprint(Dataset(seed=5, images=600)) == fingerprint(dataset)
    other = Dataset(seed=6, images=600)
    assert other.image_ids != dataset.image_ids
    assert other.owner.username != dataset.owner.username or other.named != dataset.named


def test_a_record_is_the_same_however_often_and_in_whatever_order_it_is_built() -> None:
    first, second = Dataset(seed=5, images=600), Dataset(seed=5, images=600)
    ids = first.image_ids
    forward = [first.images[i] for i in ids]
    backward = [second.images[i] for i in reversed(ids)]
    assert forward == list(reversed(backward))


def test_image_ids_are_large_ascending_and_not_contiguous(dataset: Dataset) -> None:
    ids = dataset.image_ids
    assert len(ids) == len(dataset.images) == 600
    assert ids == sorted(ids) and ids[0] > 100_000_000
    assert len({b - a for a, b in itertools.pairwise(ids)}) > 50
    assert list(dataset.images) == ids


def test_named_images_are_in_the_demo_collection_and_distinct(dataset: Dataset) -> None:
    named = [dataset.named[role] for role in NAMED_IMAGE_ROLES]
    assert len(set(named)) == len(named)
    demo = dataset.collections[dataset.named["demo_collection"]]
    assert set(named) <= set(demo.image_ids)
    assert len(demo.image_ids) == 300 - len(TRAP_IMAGE_ROLES)
    assert demo.read == "Private" and demo.owner_id == dataset.owner.id
    assert "<b>" in demo.name
    assert any(dataset.images[i].type == "video" for i in demo.image_ids)


def test_collections_have_the_owners_and_visibility_their_names_promise(dataset: Dataset) -> None:
    c = dataset.collections
    n = dataset.named
    traps = {n[role] for role in TRAP_IMAGE_ROLES}
    assert set(c[n["all_collection"]].image_ids) == set(dataset.image_ids) - traps
    assert c[n["all_collection"]].read == "Private"
    assert (c[n["public_collection"]].read, c[n["unlisted_collection"]].read) == (
        "Public",
        "Unlisted",
    )
    for key in ("public_collection", "unlisted_collection"):
        assert c[n[key]].owner_id == dataset.owner.id
    for key, read in (
        ("others_private_collection", "Private"),
        ("others_public_collection", "Public"),
    ):
        assert c[n[key]].read == read and c[n[key]].owner_id != dataset.owner.id
    public_owner = dataset.users[c[n["others_public_collection"]].owner_id]
    assert public_owner.username == n["other_username"]
    assert dataset.images_of_user(public_owner.id)


def test_named_images_have_their_properties(dataset: Dataset) -> None:
    image = lambda role: dataset.images[dataset.named[role]]  # noqa: E731
    versions = dataset.model_versions

    video = image("video_image")
    assert (video.type, video.mime_type) == ("video", "video/mp4")

    def kinds(record, kind):
        return [versions.get(r.model_version_id) for r in record.resources if r.kind == kind]

    assert any(
        v and v.model_status == "Deleted" for v in kinds(image("deleted_lora_image"), "lora")
    )
    checkpoint = kinds(image("deleted_checkpoint_image"), "checkpoint")[0]
    assert checkpoint.model_status == "Deleted" or checkpoint.status == "Deleted"
    unpublished = image("unpublished_resource_image")
    assert any(
        versions[r.model_version_id].status == "Unpublished"
        for r in unpublished.resources
        if r.model_version_id in versions
    )
    missing = image("missing_resource_image")
    absent = [r.model_version_id for r in missing.resources if r.model_version_id not in versions]
    assert absent and set(absent) <= dataset.missing_version_ids

    author = dataset.users[image("deleted_author_image").user_id]
    assert author.username is None and author.deleted_at is not None
    assert author.former_username == dataset.named["deleted_username"]

    hostile = image("hostile_image")
    assert "<script>alert(1)</script>" in hostile.meta["prompt"]
    assert "\n" in hostile.meta["prompt"] and "🦊" in hostile.meta["prompt"]
    assert "../" in hostile.name and "/" in hostile.name

    assert (image("comfy_png_image").mime_type, image("comfy_png_image").embedded_kind) == (
        "image/png",
        "comfy",
    )
    assert (image("a1111_png_image").mime_type, image("a1111_png_image").embedded_kind) == (
        "image/png",
        "a1111",
    )
    assert (image("exif_jpeg_image").mime_type, image("exif_jpeg_image").embedded_kind) == (
        "image/jpeg",
        "exif",
    )
    assert image("no_meta_image").meta is None and image("no_meta_image").embedded_kind is None
    assert image("hidden_meta_image").hide_meta and image("hidden_meta_image").meta
    assert image("r_rated_image").nsfw_level == 4
    post = dataset.posts[dataset.named["post_id"]]
    assert len(post.image_ids) >= 2


def test_the_data_looks_like_civitai(dataset: Dataset) -> None:
    records = [dataset.images[i] for i in dataset.image_ids]
    levels = Counter(r.nsfw_level for r in records)
    assert levels[1] > len(records) / 2 and set(levels) <= {1, 2, 4, 8, 16} and len(levels) == 5
    videos = sum(r.type == "video" for r in records)
    assert 0.03 * len(records) < videos < 0.15 * len(records)
    assert {r.mime_type for r in records} == {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/tiff",
        "video/mp4",
    }
    assert {r.base_model for r in records} >= {
        "Pony",
        "SDXL 1.0",
        "Illustrious",
        "SD 1.5",
        "Flux.1 D",
    }
    samplers = {r.meta["sampler"] for r in records if r.meta}
    assert {"Euler a", "DPM++ 2M Karras"} <= samplers
    checkpoints = Counter(r.resources[0].model_version_id for r in records)
    assert checkpoints.most_common(1)[0][1] > 10  # shared across many images
    loras = [r for r in records if any(x.kind == "lora" and x.strength for x in r.resources)]
    assert len(loras) > len(records) / 3
    assert len({r.uuid for r in records}) == len(records)
    statuses = {(v.status, v.model_status) for v in dataset.model_versions.values()}
    assert {
        ("Published", "Published"),
        ("Deleted", "Published"),
        ("Unpublished", "Published"),
    } <= statuses
    assert ("Published", "Deleted") in statuses
    for record in records:
        assert record.user_id in dataset.users
        assert record.id in dataset.posts[record.post_id].image_ids
        assert record.published_at >= record.created_at
        assert set(record.tag_scores) <= set(dataset.tags)
        assert list(record.tag_scores.values()) == sorted(record.tag_scores.values(), reverse=True)


def test_small_and_large_datasets_build() -> None:
    small = Dataset(seed=1, images=20)
    assert len(small.images) == 20
    assert len(small.collections[small.named["demo_collection"]].image_ids) == 20 - 3
    assert all(small.named[role] in small.images for role in NAMED_IMAGE_ROLES)
    large = Dataset(seed=1, images=100_000)
    assert len(large.images) == 100_000
    assert len(large.collections[large.named["all_collection"]].image_ids) == 100_000 - 3
    last = large.images[large.image_ids[-1]]
    assert last.id == large.image_ids[-1]
    with pytest.raises(ValueError):
        Dataset(seed=1, images=5)
