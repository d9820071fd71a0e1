"""The A1111 text: layout, quoting, Civitai's fields, and reading it back."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from civitai_vault.media.infotext import build_infotext, parse_infotext
from civitai_vault.records import empty_record

# A1111's own reader (modules/infotext_utils.py): a parameter line needs 3 matches of this.
A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def simple_record(**fields):
    record = empty_record()
    record.update(
        image_id=1,
        prompt="a cat",
        negative_prompt="blurry",
        steps=20,
        sampler="Euler a",
        cfg_scale=7,
        seed=1,
        width=512,
        height=768,
        clip_skip=1,
        model="dreamshaper",
        model_version="8",
        model_version_id=128713,
    )
    record.update(fields)
    return record


def a1111_values(line: str) -> dict[str, str]:
    """Parameter values the way A1111 reads them (quoted ones unquoted)."""
    values = {}
    for key, value in A1111_PARAM.findall(line):
        values[key.strip()] = json.loads(value) if value.startswith('"') else value
    return values


def test_layout_is_exactly_a1111s():
    assert build_infotext(simple_record()) == (
        "a cat\n"
        "Negative prompt: blurry\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x768, Model: dreamshaper, "
        'Civitai resources: [{"type":"checkpoint","modelVersionId":128713,'
        '"modelName":"dreamshaper","modelVersionName":"8"}]'
    )


def test_the_parameter_line_satisfies_a1111_and_civitai_readers():
    text = build_infotext(simple_record())
    last = text.split("\n")[-1]
    assert len(A1111_PARAM.findall(last)) >= 3
    assert last.startswith("Steps: ")  # Civitai's uploader insists on it


def test_no_negative_prompt_means_no_negative_line():
    text = build_infotext(simple_record(negative_prompt=None))
    assert "Negative prompt" not in text
    assert text.startswith("a cat\nSteps: 20,")


def test_values_with_commas_colons_or_newlines_are_json_quoted():
    text = build_infotext(simple_record(sampler='odd, "sampler": x\ny'))
    assert 'Sampler: "odd, \\"sampler\\": x\\ny",' in text
    assert a1111_values(text.split("\n")[-1])["Sampler"] == 'odd, "sampler": x\ny'
    assert parse_infotext(text)["params"]["Sampler"] == 'odd, "sampler": x\ny'


def test_clip_skip_only_when_above_one():
    assert "Clip skip" not in build_infotext(simple_record(clip_skip=1))
    assert "Clip skip" not in build_infotext(simple_record(clip_skip=None))
    assert ", Clip skip: 2," in build_infotext(simple_record(clip_skip=2))


def test_nothing_to_write_without_generation_data():
    listed = empty_record()
    listed.update(image_id=5, width=512, height=512, model="dreamshaper", tags=["cat"])
    assert build_infotext(listed) is None


def test_seeds_beyond_double_precision_stay_exact():
    text = build_infotext(simple_record(seed=2**53 + 1))
    assert parse_infotext(text)["params"]["Seed"] == str(2**53 + 1)


def test_civitai_generation_data_fills_what_the_record_lacks():
    meta = {
        "prompt": "from meta",
        "negativePrompt": "neg from meta",
        "steps": 25,
        "sampler": "DPM++ SDE",
        "cfgScale": 4.5,
        "seed": 77,
        "Size": "832x1216",
        "Model": "juggernautXL_v9",
        "Model hash": "c9e3e68f89",
        "hashes": {"model": "c9e3e68f89", "lora:add_detail": "7c6bad76eb", "embed:bad": "1a2b"},
        "Hires upscale": 2,
        "Hires upscaler": "4x-UltraSharp",
        "Denoising strength": 0.4,
        "ADetailer model": "face_yolov8n.pt",
        "Created Date": "2024-05-01T10:00:00.0000000Z",
        "comfy": '{"prompt": {}}',
        "civitaiResources": [{"type": "checkpoint", "modelVersionId": 288982}],
    }
    record = empty_record()
    record.update(image_id=9, raw_meta_json=json.dumps(meta))

    parsed = parse_infotext(build_infotext(record))

    assert parsed["prompt"] == "from meta"
    assert parsed["negative_prompt"] == "neg from meta"
    params = parsed["params"]
    assert params["Steps"] == "25" and params["Sampler"] == "DPM++ SDE"
    assert params["CFG scale"] == "4.5" and params["Seed"] == "77"
    assert params["Size"] == "832x1216"
    assert params["Model hash"] == "c9e3e68f89"
    assert params["Model"] == "juggernautXL_v9"
    assert params["Lora hashes"] == "add_detail: 7c6bad76eb"
    assert params["TI hashes"] == "bad: 1a2b"
    assert params["Hashes"] == meta["hashes"]
    assert params["Hires upscale"] == "2"
    assert params["Hires upscaler"] == "4x-UltraSharp"
    assert params["Denoising strength"] == "0.4"
    assert params["ADetailer model"] == "face_yolov8n.pt"
    assert params["Created Date"] == "2024-05-01T10:00:00.0000000Z"
    assert params["Civitai resources"] == meta["civitaiResources"]
    assert "comfy" not in params


def test_record_values_win_over_generation_data():
    record = simple_record(raw_meta_json=json.dumps({"steps": 99, "sampler": "Other"}))
    params = parse_infotext(build_infotext(record))["params"]
    assert (params["Steps"], params["Sampler"]) == ("20", "Euler a")


def test_resource_names_are_ascii_json_like_civitais():
    lora = {
        "name": "🌿 leaf, lora",
        "weight": 0.65,
        "model_id": 3,
        "model_version_id": 33,
        "version_name": "v2",
        "base_model": None,
    }
    text = build_infotext(simple_record(loras=[lora]))
    assert "\\ud83c\\udf3f leaf, lora" in text
    resources = parse_infotext(text)["params"]["Civitai resources"]
    assert resources[1] == {
        "type": "lora",
        "weight": 0.65,
        "modelVersionId": 33,
        "modelName": "🌿 leaf, lora",
        "modelVersionName": "v2",
    }


def test_a_last_line_with_too_few_pairs_is_part_of_the_prompt():
    parsed = parse_infotext("a cat\nstyle: watercolor, mood: calm")
    assert parsed == {"prompt": "a cat\nstyle: watercolor, mood: calm", "negative_prompt": None,
                      "params": {}}  # fmt: skip


def _no_negative_line(text: str) -> bool:
    return not any(line.startswith("Negative prompt:") for line in text.split("\n"))


prompts = st.text(min_size=1).map(str.strip).filter(lambda t: t and _no_negative_line(t))
values = st.text(min_size=1).map(str.strip).filter(bool)


@settings(max_examples=300, deadline=None)
@given(prompt=prompts, negative=st.none() | prompts, sampler=values, model=values)
def test_any_text_round_trips(prompt, negative, sampler, model):
    record = simple_record(prompt=prompt, negative_prompt=negative, sampler=sampler, model=model)

    parsed = parse_infotext(build_infotext(record))

    assert parsed["prompt"] == prompt
    assert parsed["negative_prompt"] == negative
    assert parsed["params"]["Sampler"] == sampler
    assert parsed["params"]["Model"] == model
    assert parsed["params"]["Civitai resources"][0]["modelName"] == model
