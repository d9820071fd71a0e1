"""Sidecars: the A1111 text where Diffusion Toolkit and IIB look for it, and the whole record."""

from __future__ import annotations

import json
import re

from civitai_vault.media.infotext import build_infotext, parse_infotext
from civitai_vault.media.sidecars import write_sidecars


def iib_txt_path(path):
    """Infinite Image Browsing's rule (tool.py get_img_geninfo_txt_path)."""
    return re.sub(r"\.\w+$", ".txt", str(path))


def test_text_and_json_beside_an_image(files, record):
    image = files.image("png_rgb", name="4242")

    written = write_sidecars(image, record)

    txt, document = image.with_name("4242.txt"), image.with_name("4242.json")
    assert written == [txt, document]
    assert str(txt) == iib_txt_path(image)
    assert txt.read_text(encoding="utf-8") == build_infotext(record)
    assert parse_infotext(txt.read_text(encoding="utf-8"))["prompt"] == record["prompt"]
    raw = document.read_text(encoding="utf-8")
    assert json.loads(raw) == record
    assert "猫耳" in raw and "\n  " in raw  # readable UTF-8, indented


def test_videos_get_sidecars_too(files, record):
    video = files.mp4(name="4243")
    write_sidecars(video, {**record, "type": "video"})
    text = video.with_suffix(".txt").read_text(encoding="utf-8")
    assert parse_infotext(text)["params"]["Seed"] == "3141592653"
    assert json.loads(video.with_suffix(".json").read_text(encoding="utf-8"))["type"] == "video"


def test_each_sidecar_can_be_switched_off(files, record):
    image = files.image("jpeg", name="1")
    assert write_sidecars(image, record, txt=False) == [image.with_suffix(".json")]
    other = files.image("jpeg", name="2")
    assert write_sidecars(other, record, json=False) == [other.with_suffix(".txt")]
    assert not other.with_suffix(".json").exists()


def test_no_text_file_without_generation_data(files, record):
    image = files.image("webp_lossy", name="5")
    listed = {**record, "prompt": None, "negative_prompt": None, "raw_meta_json": None}
    listed.update(sampler=None, steps=None, cfg_scale=None, seed=None)
    assert write_sidecars(image, listed) == [image.with_suffix(".json")]


def test_rewriting_replaces_and_leaves_no_temporary_files(files, record):
    image = files.image("png_rgb", name="6")
    write_sidecars(image, record)
    write_sidecars(image, {**record, "prompt": "changed"})
    assert parse_infotext(image.with_suffix(".txt").read_text())["prompt"] == "changed"
    assert sorted(p.name for p in image.parent.iterdir()) == ["6.json", "6.png", "6.txt"]
