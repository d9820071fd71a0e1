"""Embedding never destroys what a file already carries, and leaves videos alone."""

from __future__ import annotations

import json
import os
import stat

import piexif
import piexif.helper
import pytest
from PIL import Image, ImageSequence
from sd_parsers import ParserManager

from civitai_vault.media.embed import embed_metadata
from civitai_vault.media.infotext import build_infotext
from civitai_vault.media.png import read_text_chunks, split_chunks

FOREIGN_XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    b' xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:CreatorTool="Photoshop">'
    b"<dc:subject><rdf:Bag><rdf:li>edited</rdf:li></rdf:Bag></dc:subject>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    b'<?xpacket end="w"?>'
)


def test_comfyui_chunks_survive_byte_for_byte(files, decoded, record):
    path = files.comfy_png()
    comfy_before = [c for c in split_chunks(path.read_bytes())[0] if c.type == b"tEXt"]
    pixels_before = decoded(path)

    assert embed_metadata(path, record).changed

    chunks = split_chunks(path.read_bytes())[0]
    assert [c for c in chunks if c.keyword in ("prompt", "workflow")] == comfy_before
    with Image.open(path) as image:
        assert json.loads(image.info["prompt"])["3"]["class_type"] == "KSampler"
        assert json.loads(image.info["workflow"])["nodes"][0]["type"] == "KSampler"
        assert image.info["parameters"] == build_infotext(record)
    assert decoded(path) == pixels_before


def test_existing_a1111_parameters_stay_and_nothing_competes(files, exif_tool, record):
    original = (
        "a red fox\nNegative prompt: blurry\nSteps: 12, Sampler: Euler a, CFG scale: 5, Seed: 9"
    )
    path = files.a1111_png(original)

    result = embed_metadata(path, record)

    assert result.changed  # the XMP tags were still added
    texts = [c.keyword for c in split_chunks(path.read_bytes())[0] if c.keyword]
    assert texts.count("parameters") == 1
    assert read_text_chunks(path.read_bytes())["parameters"] == original
    info = ParserManager().parse(path)
    assert info is not None and str(info.samplers[0].prompts[0]) == "a red fox"
    assert exif_tool.list(path, "XMP:Subject") == record["tags"]


def test_an_existing_jpeg_user_comment_stays(files, exif_tool, record):
    path = files.image("jpeg")
    comment = piexif.helper.UserComment.dump("their own words, 日本", encoding="unicode")
    piexif.insert(piexif.dump({"Exif": {piexif.ExifIFD.UserComment: comment}}), str(path))

    assert embed_metadata(path, record).changed

    tags = exif_tool.tags(path)
    assert tags["EXIF:UserComment"] == "their own words, 日本"
    assert exif_tool.list(path, "XMP:Subject") == record["tags"]


def test_camera_exif_is_kept_and_a_blank_comment_filled(files, exif_tool, decoded, record):
    path = files.image("jpeg")
    camera = {
        "0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"EOS R5"},
        "Exif": {
            piexif.ExifIFD.ExposureTime: (1, 250),
            piexif.ExifIFD.UserComment: b"\x00" * 8 + b" " * 20,
        },
    }
    piexif.insert(piexif.dump(camera), str(path))
    before = decoded(path)

    assert embed_metadata(path, record).changed

    tags = exif_tool.tags(path)
    assert (tags["EXIF:Make"], tags["EXIF:Model"]) == ("Canon", "EOS R5")
    assert tags["EXIF:ExposureTime"] == 0.004
    assert tags["EXIF:UserComment"] == build_infotext(record)
    assert decoded(path) == before


def test_a_foreign_xmp_packet_is_kept_and_only_completed(files, exif_tool, record):
    path = files.image("jpeg")
    data = path.read_bytes()
    segment = b"http://ns.adobe.com/xap/1.0/\x00" + FOREIGN_XMP
    app1 = b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment
    path.write_bytes(data[:2] + app1 + data[2:])

    embed_metadata(path, record)

    tags = exif_tool.tags(path)
    assert tags["XMP:CreatorTool"] == "Photoshop"
    assert exif_tool.list(path, "XMP:Subject") == ["edited"]  # theirs, not merged into
    assert "Civitai/user/alice" in exif_tool.list(path, "XMP:TagsList")  # ours, added
    assert not embed_metadata(path, record).changed


def test_comfyui_webp_exif_survives_and_gains_a_comment(files, exif_tool, decoded, record):
    path = files.image("webp_lossy")
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps({"3": {"class_type": "KSampler"}})
    exif[0x010F] = "workflow:" + json.dumps({"nodes": []})
    with Image.open(path) as image:
        image.save(path.with_name("comfy.webp"), "WEBP", quality=80, exif=exif.tobytes())
    path = path.with_name("comfy.webp")
    before = decoded(path)

    assert embed_metadata(path, record).changed

    tags = exif_tool.tags(path)
    assert tags["EXIF:Model"].startswith("prompt:{")
    assert tags["EXIF:Make"] == 'workflow:{"nodes": []}'
    assert tags["EXIF:UserComment"] == build_infotext(record)
    assert decoded(path) == before


def test_videos_are_left_untouched(files, record):
    path = files.mp4()
    before = path.read_bytes()

    result = embed_metadata(path, record)

    assert not result.changed
    assert path.read_bytes() == before
    assert result.size == len(before)


def test_the_type_comes_from_the_bytes_not_the_name(files, exif_tool, record):
    path = files.image("webp_lossy")
    download = path.rename(path.with_name("4242.part"))

    assert embed_metadata(download, record).changed

    assert exif_tool.tags(download)["EXIF:UserComment"] == build_infotext(record)


def test_a_record_without_generation_data_still_gets_its_tags(files, exif_tool, record):
    path = files.image("png_rgb")
    listed_only = {
        **record,
        **dict.fromkeys(["prompt", "negative_prompt", "sampler", "steps", "cfg_scale", "seed"]),
        "raw_meta_json": None,
    }

    assert embed_metadata(path, listed_only).changed

    tags = exif_tool.tags(path)
    assert "PNG:Parameters" not in tags
    assert exif_tool.list(path, "XMP:Subject") == record["tags"]


def test_a_prompt_too_long_for_a_jpeg_segment_leaves_a_sound_file(files, decoded, record):
    path = files.image("jpeg")
    before = decoded(path)

    embed_metadata(path, {**record, "prompt": "long prompt " * 4000})

    assert decoded(path) == before
    assert b"UNICODE\x00" not in path.read_bytes()  # a 64 KiB segment cannot hold it


def test_the_file_is_replaced_atomically_keeping_its_permissions(files, record):
    path = files.image("png_rgb")
    os.chmod(path, 0o640)

    embed_metadata(path, record)

    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_latin1_text_goes_in_tEXt_and_anything_else_in_iTXt(files, record):
    latin = files.image("png_rgb", name="latin")
    embed_metadata(latin, {**record, "prompt": "café", "negative_prompt": None, "loras": []})
    unicode = files.image("png_rgb", name="unicode")
    embed_metadata(unicode, record)

    def parameters_chunk_type(path):
        chunks = split_chunks(path.read_bytes())[0]
        return next(c.type for c in chunks if c.keyword == "parameters")

    assert parameters_chunk_type(latin) == b"tEXt"
    assert parameters_chunk_type(unicode) == b"iTXt"


def every_frame(path):
    with Image.open(path) as image:
        return [frame.convert("RGBA").tobytes() for frame in ImageSequence.Iterator(image)]


@pytest.mark.parametrize("suffix", [".webp", ".gif", ".png"])
def test_every_frame_of_an_animation_is_unchanged(tmp_path, record, suffix):
    path = tmp_path / f"anim{suffix}"
    frames = [Image.new("RGB", (32, 24), (index * 60, 255 - index * 60, 9)) for index in range(4)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    before = every_frame(path)

    assert embed_metadata(path, record).changed

    assert every_frame(path) == before
    assert len(before) == 4
