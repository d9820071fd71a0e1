"""`civitai-vault image`: one image fully analysed, as text and as one export record.

Expectations come from the emulator's dataset, never from our own client, so a
wrong mapping anywhere between the wire and the screen shows up here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from rich.console import Console

from civitai_vault.api.image_analysis import CivitaiImage
from civitai_vault.render import print_image

# The export record (docs/internals.md), in its order: spelled out here so the test checks the spec.
EXPORT_FIELDS = [
    "image_id", "image_url", "uuid", "name", "type", "mime_type", "width", "height",
    "nsfw_level", "created_at", "published_at", "post_id", "author", "author_id", "prompt",
    "negative_prompt", "sampler", "steps", "cfg_scale", "seed", "clip_skip", "base_model",
    "process", "engine", "workflow", "model", "model_version", "model_id",
    "model_version_id", "loras", "embeddings", "tags", "collections", "file_path", "sha256",
    "raw_meta_json",
]  # fmt: skip
# Generation meta keys the analysis shows under their own labels.
SHOWN_META = {
    "prompt", "negativePrompt", "sampler", "steps", "cfgScale", "seed", "clipSkip",
    "baseModel", "workflow", "engine", "civitaiResources", "resources", "Model",
}  # fmt: skip
CHECKPOINT_WITH_BRACKETS = "FLUX.1 [dev]"


def availability(version: Any) -> str:
    if version is None:
        return "not found"
    statuses = {version.status, version.model_status}
    if "Deleted" in statuses:
        return "deleted"
    if "Unpublished" in statuses:
        return "unpublished"
    return "available"


def image_with(dataset: Any, wanted: Callable[[Any], bool]) -> int:
    return next(i for i in dataset.image_ids if wanted(dataset.images[i]))


def showcase(dataset: Any) -> dict[str, int]:
    """The images these tests look at, by what they show."""
    named = dataset.named
    flux = {
        v.id for v in dataset.model_versions.values() if v.model_name == CHECKPOINT_WITH_BRACKETS
    }
    kinds = lambda r: {ref.kind for ref in r.resources}  # noqa: E731
    return {
        "deleted_lora": named["deleted_lora_image"],
        "embedding": image_with(
            dataset, lambda r: {"lora", "embedding"} <= kinds(r) and r.meta and not r.hide_meta
        ),
        "video": named["video_image"],
        "deleted_author": named["deleted_author_image"],
        "hostile": named["hostile_image"],
        "brackets": image_with(dataset, lambda r: r.resources[0].model_version_id in flux),
    }


@pytest.fixture(scope="module")
def analyse(new_cli, red_emulator, tmp_path_factory) -> Callable[..., Any]:
    """`analyse(image_id, *options)`: the CLI's answer for one image.

    The command keeps Civitai's polite pace (a few seconds an image), so the
    answers these tests read are asked once, side by side (one process each), up front.
    """
    cli = new_cli(tmp_path_factory.mktemp("image")).pointing_at(red_emulator, signed_in=True)
    images = showcase(red_emulator.dataset)
    wanted = [(str(i),) for i in images.values()]
    wanted += [(str(images[k]), "--json") for k in ("deleted_lora", "video", "deleted_author")]
    wanted += [
        (f"https://civitai.red/images/{images['video']}",),
        (f"image:{images['deleted_author']}",),
    ]
    with ThreadPoolExecutor(len(wanted)) as pool:
        answers = dict(
            zip(wanted, pool.map(lambda key: cli.process("image", *key), wanted), strict=True)
        )

    def run(target: int | str, *options: str) -> Any:
        key = (str(target), *options)
        if key not in answers:
            answers[key] = cli("image", *key)
        return answers[key]

    return run


def resource_line(output: str, name: str) -> str:
    """The output line that describes the resource called `name`."""
    lines = [line for line in output.splitlines() if name in line and "civitai" in line]
    assert len(lines) >= 1, f"no line for resource {name!r} in:\n{output}"
    return lines[0]


def expected_tags(dataset: Any, record: Any) -> list[str]:
    scored = [(-score, dataset.tags[tag_id].name) for tag_id, score in record.tag_scores.items()]
    return [name for _, name in sorted(scored)]


@pytest.mark.parametrize("shows", ["deleted_lora", "embedding"])
def test_an_image_shows_info_model_loras_tags_prompts_and_parameters(analyse, red_emulator, shows):
    dataset = red_emulator.dataset
    image_id = showcase(dataset)[shows]
    record = dataset.images[image_id]
    done = analyse(image_id)
    assert done.code == 0, done.stderr
    out = done.stdout

    assert f"{image_id} (image, {record.width}x{record.height})" in out
    assert dataset.users[record.user_id].username in out
    assert str(record.post_id) in out
    assert record.created_at.isoformat() in out
    assert record.base_model in out

    versions = dataset.model_versions
    for ref in record.resources:
        version = versions[ref.model_version_id]
        line = resource_line(out, version.model_name)
        assert ref.kind in line
        assert version.name in line
        assert availability(version) in line
        if ref.kind == "lora":
            assert f"weight {ref.strength:g}" in line
        if availability(version) == "deleted":
            assert f"https://civitaiarchive.com/models/{version.model_id}" in line
        else:
            assert f"https://civitai.com/models/{version.model_id}" in line
    shown = {(ref.kind, availability(versions[ref.model_version_id])) for ref in record.resources}
    assert (
        ("lora", "deleted") in shown
        if shows == "deleted_lora"
        else ("embedding", "available") in shown
    )

    tag_line = next(line for line in out.splitlines() if line.startswith("tags:"))
    assert tag_line == "tags: " + ", ".join(expected_tags(dataset, record))
    lines = out.splitlines()
    for label, key in (("prompt:", "prompt"), ("negative prompt:", "negativePrompt")):
        start = lines.index(label) + 1
        text = record.meta[key]
        assert "\n".join(lines[start : start + text.count("\n") + 1]) == text

    others = {k: v for k, v in record.meta.items() if k not in SHOWN_META}
    assert others, "the dataset gives this image parameters beyond the usual ones"
    for key, value in others.items():
        if isinstance(value, str | int | float) and len(str(value)) < 100:
            assert f"  {key}: {value}" in lines


def test_every_image_url_and_link_is_printed_whole(analyse, red_emulator):
    """A pipe or a narrow terminal must not cut a URL: it could not be opened any more."""
    image_id = red_emulator.dataset.named["deleted_lora_image"]
    done = analyse(image_id)
    record = analyse(image_id, "--json").json()
    assert done.code == 0
    assert record["image_url"] in done.stdout
    assert f"https://civitai.red/images/{image_id}" in done.stdout  # the site it came from
    assert "…" not in done.stdout


def test_a_video(analyse, red_emulator):
    dataset = red_emulator.dataset
    image_id = dataset.named["video_image"]
    record = dataset.images[image_id]
    done = analyse(f"https://civitai.red/images/{image_id}")
    assert done.code == 0, done.stderr
    assert f"{image_id} (video, {record.width}x{record.height})" in done.stdout
    exported = analyse(image_id, "--json").json()
    assert exported["type"] == "video"
    assert exported["mime_type"] == record.mime_type == "video/mp4"
    assert exported["image_url"].startswith(red_emulator.image_base_url)
    assert exported["image_url"] in done.stdout


def test_a_deleted_author_is_said_so_and_exported_as_null(analyse, red_emulator):
    dataset = red_emulator.dataset
    image_id = dataset.named["deleted_author_image"]
    done = analyse(f"image:{image_id}")
    assert done.code == 0, done.stderr
    assert "(deleted user)" in done.stdout
    assert dataset.named["deleted_username"] not in done.stdout
    exported = analyse(image_id, "--json").json()
    assert exported["author"] is None
    assert exported["author_id"] == dataset.images[image_id].user_id


def test_hostile_text_is_printed_literally(analyse, red_emulator):
    dataset = red_emulator.dataset
    record = dataset.images[dataset.named["hostile_image"]]
    done = analyse(record.id)
    assert done.code == 0, done.stderr
    for text in (record.meta["prompt"], record.meta["negativePrompt"], record.name):
        for line in text.splitlines():
            assert line in done.stdout


def test_rich_markup_in_civitai_text_is_not_interpreted(analyse, red_emulator):
    """A checkpoint called "FLUX.1 [dev]" keeps its "[dev]": square brackets are not markup."""
    done = analyse(showcase(red_emulator.dataset)["brackets"])
    assert done.code == 0, done.stderr
    assert CHECKPOINT_WITH_BRACKETS in done.stdout


def test_json_prints_exactly_one_export_record(analyse, red_emulator):
    dataset = red_emulator.dataset
    image_id = dataset.named["deleted_lora_image"]
    record = dataset.images[image_id]
    done = analyse(image_id, "--json")
    assert done.code == 0, done.stderr
    exported = json.loads(done.stdout)  # the whole of stdout is one JSON value
    assert list(exported) == EXPORT_FIELDS
    assert exported["image_id"] == image_id
    assert exported["author"] == dataset.users[record.user_id].username
    assert exported["prompt"] == record.meta["prompt"]
    assert exported["tags"] == expected_tags(dataset, record)
    loras = [r for r in record.resources if r.kind == "lora"]
    assert [(x["model_version_id"], x["weight"]) for x in exported["loras"]] == [
        (r.model_version_id, r.strength) for r in loras
    ]
    assert [x["model_version_id"] for x in exported["embeddings"]] == [
        r.model_version_id for r in record.resources if r.kind == "embedding"
    ]
    assert json.loads(exported["raw_meta_json"]) == record.meta
    assert exported["file_path"] is None and exported["collections"] == []


def test_a_missing_image_is_one_line_and_exit_1(red_cli):
    done = red_cli.process("image", "99999")
    assert done.code == 1
    assert "not found" in done.error_line
    assert done.stdout == ""


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "0",
        "12abc",
        "collection:5",
        "https://civitai.com/images/abc",
        "https://example.com/images/5",
        "https://civitai.com/models/5",
        "999999999999999999999",
    ],
)
def test_a_malformed_id_or_url_is_exit_2(red_cli, text):
    done = red_cli("image", text)
    assert done.code == 2
    assert done.error_line.startswith("error: ")
    assert done.stdout == ""


def test_collections_without_a_login_says_to_log_in(cli, red_emulator):
    done = cli.pointing_at(red_emulator)("collections")
    assert done.code != 0
    assert "civitai-vault login" in done.error_line
    assert done.stdout == ""


def test_markup_in_any_text_field_is_printed_as_is():
    """The emulator's text has no Rich tags like [bold]; Civitai's may: each field, literally."""
    tagged = {
        "name": "[bold]file[/bold].png",
        "author": "[red]author[/]",
        "prompt": "[bold]not bold[/bold], [link=https://x.invalid]x[/link]",
        "negative_prompt": "[/] stray closing tag",
        "sampler": "[blink]Euler[/blink]",
        "tags": ["[i]tag[/i]"],
        "raw_meta": {"VAE": "[reverse]vae[/reverse]"},
    }
    image = CivitaiImage(image_id=1, type="image", width=8, height=8, **tagged)
    out = io.StringIO()
    print_image(Console(file=out, width=80), image)
    for value in ("[bold]file[/bold].png", "[red]author[/]", tagged["prompt"],
                  "[/] stray closing tag", "[blink]Euler[/blink]", "[i]tag[/i]",
                  "VAE: [reverse]vae[/reverse]"):  # fmt: skip
        assert value in out.getvalue()
