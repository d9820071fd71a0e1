"""What we write into files, read back by programs we did not write: sd-parsers and exiftool."""

from __future__ import annotations

import piexif
import piexif.helper
import pytest
from sd_parsers import ParserManager

from civitai_vault.media.embed import embed_metadata
from civitai_vault.media.infotext import build_infotext, parse_infotext

A1111_KINDS = [
    "png_rgb",
    "png_rgba",
    "png_palette",
    "jpeg",
    "webp_lossy",
    "webp_lossy_alpha",
    "webp_lossless",
]
ALL_KINDS = [*A1111_KINDS, "gif"]
TEXT_TAG = {".png": "PNG:Parameters", ".jpg": "EXIF:UserComment", ".webp": "EXIF:UserComment"}


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_pixels_are_identical_after_embedding(files, decoded, record, kind):
    path = files.image(kind)
    before = decoded(path)

    result = embed_metadata(path, record)

    assert result.changed
    assert decoded(path) == before
    assert result.size == path.stat().st_size


@pytest.mark.parametrize("kind", A1111_KINDS)
def test_sd_parsers_reads_the_generation_data(files, record, kind):
    path = files.image(kind)
    embed_metadata(path, record)

    info = ParserManager().parse(path)

    assert info is not None, "sd-parsers found no generation data"
    assert info.generator.name == "AUTOMATIC1111"
    [sampler] = info.samplers
    assert sampler.name == "DPM++ 2M Karras"
    assert sampler.parameters["steps"] == "28"
    assert sampler.parameters["cfg_scale"] == "6.5"
    assert sampler.parameters["seed"] == "3141592653"
    assert sampler.model is not None
    assert (sampler.model.name, sampler.model.hash) == ("PonyDiffusionV6XL", "a1b2c3d4e5")
    assert info.metadata["Size"] == "64x48"
    assert [prompt.value for prompt in sampler.prompts] == [record["prompt"]]
    assert [prompt.value for prompt in sampler.negative_prompts] == [record["negative_prompt"]]


@pytest.mark.parametrize("kind", A1111_KINDS)
def test_exiftool_reads_the_exact_text_and_the_tags(files, exif_tool, record, kind):
    path = files.image(kind)
    embed_metadata(path, record)

    tags = exif_tool.tags(path)

    assert tags[TEXT_TAG[path.suffix]] == build_infotext(record)
    assert exif_tool.list(path, "XMP:Subject") == record["tags"]
    assert exif_tool.list(path, "XMP:TagsList") == [
        "Civitai/tag/anime",
        'Civitai/tag/tag, with "comma"',
        "Civitai/tag/猫 🐱",
        "Civitai/tag/a<b>&c",
        "Civitai/tag/slash\u2215tag",
        "Civitai/model/PonyDiffusionV6XL",
        'Civitai/lora/detail, tweaker "x" 🌸',
        "Civitai/embedding/easynegative",
        "Civitai/user/alice",
    ]
    assert not [key for key in tags if key.endswith((":Warning", ":Error"))], tags


@pytest.mark.parametrize("kind", A1111_KINDS)
def test_hostile_text_round_trips_exactly(files, exif_tool, record, kind):
    path = files.image(kind)
    embed_metadata(path, record)

    parsed = parse_infotext(exif_tool.tags(path)[TEXT_TAG[path.suffix]])

    assert parsed["prompt"] == record["prompt"]
    assert parsed["negative_prompt"] == record["negative_prompt"]
    params = parsed["params"]
    assert params["Steps"] == "28"
    assert params["Sampler"] == "DPM++ 2M Karras"
    assert params["CFG scale"] == "6.5"
    assert params["Seed"] == "3141592653"
    assert params["Size"] == "64x48"
    assert params["Model"] == "PonyDiffusionV6XL"
    assert params["Clip skip"] == "2"
    checkpoint, lora, embedding = params["Civitai resources"]
    assert checkpoint == {
        "type": "checkpoint",
        "modelVersionId": 290640,
        "modelName": "PonyDiffusionV6XL",
        "modelVersionName": "V6 (start with this one)",
    }
    assert (lora["type"], lora["weight"]) == ("lora", 0.8)
    assert lora["modelName"] == 'detail, tweaker "x" 🌸'
    assert lora["modelVersionName"] == "v1: β"
    assert (embedding["type"], embedding["modelName"]) == ("embed", "easynegative")


def test_a_gif_carries_the_text_as_its_comment(files, exif_tool, record):
    path = files.image("gif")
    embed_metadata(path, record)
    assert exif_tool.tags(path)["File:Comment"] == build_infotext(record)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_embedding_twice_gives_the_same_bytes(files, record, kind):
    path = files.image(kind)
    first = embed_metadata(path, record)
    after_first = path.read_bytes()

    second = embed_metadata(path, record)

    assert not second.changed
    assert path.read_bytes() == after_first
    assert second.sha256 == first.sha256


@pytest.mark.parametrize("kind", ["png_rgb", "jpeg", "webp_lossy"])
def test_new_tags_replace_the_tags_we_wrote_before(files, exif_tool, record, kind):
    path = files.image(kind)
    embed_metadata(path, record)

    result = embed_metadata(path, {**record, "tags": ["retagged"]})

    assert result.changed
    assert exif_tool.list(path, "XMP:Subject") == ["retagged"]
    assert path.read_bytes().count(b"x:xmptk=") == 1


@pytest.mark.parametrize("kind", ["jpeg", "webp_lossy"])
def test_user_comment_is_unicode_big_endian_like_a1111s(files, record, kind):
    path = files.image(kind)
    embed_metadata(path, record)

    exif = piexif.load(str(path))
    raw = exif["Exif"][piexif.ExifIFD.UserComment]
    assert raw.startswith(b"UNICODE\x00")
    assert raw[8:] == build_infotext(record).encode("utf-16-be")
    assert piexif.helper.UserComment.load(raw) == build_infotext(record)
    assert b"MM\x00\x2a" in path.read_bytes()
