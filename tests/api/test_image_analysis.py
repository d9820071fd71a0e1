"""The single-image flow: everything about one image, flattened into the export record."""

from __future__ import annotations

import json
from typing import Any

from civitai_vault.api import CivitaiClient
from civitai_vault.api.image_analysis import CivitaiAPI, CivitaiImage, fetch_image_analysis
from civitai_vault.records import EXPORT_FIELDS, RESOURCE_FIELDS


def analyse(helpers: Any, image_id: int) -> CivitaiImage:
    async def work(client: CivitaiClient) -> CivitaiImage:
        return await fetch_image_analysis(client, image_id)

    return helpers.call(work)


def test_image_record_matches_the_dataset(emu: Any, helpers: Any) -> None:
    dataset = emu.dataset
    record = dataset.images[dataset.named["a1111_png_image"]]
    image = analyse(helpers, record.id)
    out = image.to_record()
    assert tuple(out) == EXPORT_FIELDS
    assert out["image_id"] == record.id and out["uuid"] == record.uuid
    assert out["image_url"].startswith(emu.image_base_url + "/" + record.uuid + "/original=true/")
    assert out["author"] == dataset.users[record.user_id].username
    assert out["author_id"] == record.user_id
    assert out["prompt"] == record.meta["prompt"]
    assert out["negative_prompt"] == record.meta.get("negativePrompt")
    assert out["steps"] == record.meta["steps"] and out["seed"] == record.meta["seed"]
    assert out["cfg_scale"] == record.meta["cfgScale"]
    assert out["sampler"] == record.meta["sampler"]
    assert out["created_at"] == record.created_at.isoformat()
    # highest score first, equal scores by name (as the archive orders them)
    ranked = sorted(record.tag_scores.items(), key=lambda t: (-t[1], dataset.tags[t[0]].name))
    expected_tags = [dataset.tags[t].name for t, _ in ranked]
    assert out["tags"] == expected_tags
    checkpoint = dataset.model_versions[record.resources[0].model_version_id]
    assert (out["model"], out["model_version_id"], out["model_id"]) == (
        checkpoint.model_name,
        checkpoint.id,
        checkpoint.model_id,
    )
    assert out["collections"] == [] and out["file_path"] is None and out["sha256"] is None
    assert json.loads(out["raw_meta_json"]) == record.meta
    for lora in out["loras"]:
        assert tuple(lora) == RESOURCE_FIELDS
    assert len(out["loras"]) == sum(1 for r in record.resources if r.kind == "lora")
    assert len(out["embeddings"]) == sum(1 for r in record.resources if r.kind == "embedding")


def test_video(emu: Any, helpers: Any) -> None:
    record = emu.dataset.images[emu.dataset.named["video_image"]]
    out = analyse(helpers, record.id).to_record()
    assert out["type"] == "video"
    assert "/transcode=true,original=true/" in out["image_url"]
    assert out["image_url"].endswith(f"/{record.id}.mp4")


def test_deleted_lora_points_to_the_archive(emu: Any, helpers: Any) -> None:
    dataset = emu.dataset
    record = dataset.images[dataset.named["deleted_lora_image"]]
    image = analyse(helpers, record.id)
    deleted = image.deleted_models
    assert deleted, "the deleted LoRA must be reported"
    for availability in deleted:
        version = dataset.model_versions[availability.model_version_id]
        assert "Deleted" in (version.status, version.model_status)
        assert availability.archive_url == (f"https://civitaiarchive.com/models/{version.model_id}")
    lora_ids = {lora["model_version_id"] for lora in image.to_record()["loras"]}
    assert {a.model_version_id for a in deleted} & lora_ids


def test_missing_and_unpublished_resources(emu: Any, helpers: Any) -> None:
    dataset = emu.dataset
    missing = analyse(helpers, dataset.named["missing_resource_image"])
    states = {a.availability for a in missing.model_availability.values()}
    assert "not_found" in states
    unpublished = analyse(helpers, dataset.named["unpublished_resource_image"])
    assert "unpublished" in {a.availability for a in unpublished.model_availability.values()}


def test_deleted_author(emu: Any, helpers: Any) -> None:
    record = emu.dataset.images[emu.dataset.named["deleted_author_image"]]
    image = analyse(helpers, record.id)
    out = image.to_record()
    assert image.author_deleted
    assert out["author"] is None and out["author_id"] == record.user_id


def test_hostile_text_is_kept_verbatim_but_never_reaches_the_url(emu: Any, helpers: Any) -> None:
    record = emu.dataset.images[emu.dataset.named["hostile_image"]]
    out = analyse(helpers, record.id).to_record()
    assert out["prompt"] == record.meta["prompt"]
    assert out["name"] == record.name
    url = out["image_url"]
    assert url.rsplit("/", 1)[1].startswith(f"{record.id}.")
    assert ".." not in url and "<" not in url and '"' not in url


def test_no_meta_gives_nulls_not_unknown(emu: Any, helpers: Any) -> None:
    out = analyse(helpers, emu.dataset.named["no_meta_image"]).to_record()
    assert out["prompt"] is None and out["raw_meta_json"] is None
    assert "Unknown" not in json.dumps(out)


def test_seed_flow_through_the_synchronous_facade(emu: Any, helpers: Any) -> None:
    dataset = emu.dataset
    image_id = dataset.named["deleted_lora_image"]
    with CivitaiAPI(helpers.settings("cookie")) as api:
        basic_info = api.fetch_basic_info(image_id)
        generation_data = api.fetch_generation_data(image_id)
        tags = api.fetch_image_tags(image_id)
        image = CivitaiImage.from_single_image(basic_info, generation_data, api=api)
        assert api.fetch_basic_info(1) is None
        deleted = image.deleted_models[0]
        answer = api.check_model_availability(deleted.model_id, deleted.model_version_id)
        missing_id = next(iter(dataset.missing_version_ids))
        missing = api.check_model_availability(None, missing_id)
    assert basic_info["id"] == image_id and "user" in basic_info
    assert "resources" in generation_data
    assert tags == image.tags and tags
    assert image.author == dataset.users[dataset.images[image_id].user_id].username
    assert image.image_url and image.loras and all(lora["name"] for lora in image.loras)
    assert answer["available"] is False and answer["archive_url"].endswith(
        f"/models/{deleted.model_id}"
    )
    assert missing == {
        "available": False,
        "availability": "not_found",
        "status": None,
        "model_id": None,
        "model_version_id": missing_id,
        "error": "Not found",
    }
