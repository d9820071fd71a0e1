"""File names from untrusted text can never leave the archive, on any platform."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civitai_vault.errors import UsageError
from civitai_vault.media.naming import (
    DEFAULT_TEMPLATE,
    MAX_SEGMENT_BYTES,
    TEMPLATE_FIELDS,
    check_template,
    render_relpath,
    safe_join,
)

WINDOWS_FORBIDDEN = set('<>:"|?*\\')
HOSTILE_NAMES = [
    "../../etc/passwd",
    "..",
    ".",
    "/abs/olute",
    "C:\\Windows\\system32",
    "CON",
    "nul.txt",
    "COM1",
    ".hidden",
    "trailing. ",
    "new\nline\r\x00nul",
    "\u202egnp.exe",
    "x" * 500,
    "猫" * 200,
    "🌸" * 100,
    "",
]


def full_record(**fields):
    record = {
        "image_id": 4242,
        "author": "alice",
        "post_id": 77,
        "collections": [5, 9],
        "base_model": "SDXL 1.0",
        "model": "Juggernaut XL",
        "created_at": "2024-03-05T10:20:30+00:00",
        "name": "00001.png",
    }
    record.update(fields)
    return record


def assert_safe(relpath: str, ext: str = "png") -> None:
    assert relpath and not relpath.startswith("/")
    parts = PurePosixPath(relpath).parts
    assert "/".join(parts) == relpath
    for part in parts:
        assert part not in (".", "..") and not part.startswith(".")
        assert not (set(part) & WINDOWS_FORBIDDEN), part
        assert not any(ord(char) < 32 or ord(char) == 127 for char in part), part
        assert part == part.strip() and not part.endswith(".")
        assert part.split(".")[0].upper() not in ("CON", "PRN", "AUX", "NUL", "COM1", "LPT1")
        assert len(part.encode("utf-8")) <= MAX_SEGMENT_BYTES
    assert relpath.endswith(f".{ext}")


def test_the_default_template():
    assert DEFAULT_TEMPLATE == "{username}/{image_id}.{ext}"
    assert render_relpath(DEFAULT_TEMPLATE, full_record(), "png") == "alice/4242.png"
    assert render_relpath(DEFAULT_TEMPLATE, full_record(), ".webp") == "alice/4242.webp"


def test_a_missing_username_becomes_unknown():
    assert render_relpath(DEFAULT_TEMPLATE, full_record(author=None), "jpg") == "_unknown/4242.jpg"


def test_every_field_can_be_used():
    template = "/".join("{" + name + "}" for name in TEMPLATE_FIELDS if name != "ext")
    record = full_record(uuid="0a22f1f0-b4ed", collection_name="Cats", type="video")
    relpath = render_relpath(template + ".{ext}", record, "mp4")
    assert relpath == (
        "4242/0a22f1f0-b4ed/alice/77/5/Cats/video/SDXL 1.0/Juggernaut XL/2024-03-05/00001.mp4"
    )


def test_format_specs_work_on_numbers():
    assert render_relpath("{date}/{image_id:08d}.{ext}", full_record(), "png") == (
        "2024-03-05/00004242.png"
    )


def test_a_template_without_ext_still_gets_the_extension():
    assert render_relpath("{username}/{image_id}", full_record(), "gif") == "alice/4242.gif"


@pytest.mark.parametrize("template", ["{nope}/{image_id}", "{image_id!r}", "{image_id", "{0}"])
def test_bad_templates_are_usage_errors(template):
    with pytest.raises(UsageError):
        render_relpath(template, full_record(), "png")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_usernames_and_names_stay_one_segment(name):
    record = full_record(author=name, name=name)
    relpath = render_relpath("{username}/{name_stem}-{image_id}.{ext}", record, "png")
    assert_safe(relpath)
    assert len(PurePosixPath(relpath).parts) == 2


@pytest.mark.parametrize("template", ["../{image_id}.{ext}", "/etc/{image_id}", "a/./../../b/{ext}",
                                      ".{username}/{image_id}", "CON/aux.{ext}"])  # fmt: skip
def test_the_template_itself_cannot_escape(template, tmp_path):
    relpath = render_relpath(template, full_record(), "png")
    assert_safe(relpath)
    assert safe_join(tmp_path, relpath).is_relative_to(tmp_path.resolve())


text_fields = st.one_of(st.none(), st.text(), st.sampled_from(HOSTILE_NAMES))


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    author=text_fields,
    name=text_fields,
    model=text_fields,
    base_model=text_fields,
    literal=st.text(alphabet="./\\ab{}", max_size=8).filter(
        lambda t: "{" not in t and "}" not in t
    ),
    ext=st.sampled_from(["png", ".jpg", "mp4", "webm"]),
)
def test_no_input_can_leave_the_root(author, name, model, base_model, literal, ext, tmp_path):
    record = full_record(author=author, name=name, model=model, base_model=base_model)
    template = literal + "{username}/{base_model}/{model}/{name_stem}" + literal + ".{ext}"

    relpath = render_relpath(template, record, ext)

    assert_safe(relpath, ext.lstrip("."))
    assert safe_join(tmp_path, relpath).is_relative_to(tmp_path.resolve())


@pytest.mark.parametrize(
    "relpath", ["../x.png", "a/../../x.png", "/etc/passwd", "", "a\\..\\x", "a/\x00.png", "."]
)
def test_safe_join_refuses_paths_outside_the_root(relpath, tmp_path):
    with pytest.raises(ValueError):
        safe_join(tmp_path, relpath)


def test_safe_join_refuses_to_follow_a_symlink_out(tmp_path):
    root, outside = tmp_path / "archive", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "alice")
    os.symlink(outside / "target.png", root / "linked.png")

    with pytest.raises(ValueError):
        safe_join(root, "alice/4242.png")
    with pytest.raises(ValueError):
        safe_join(root, "linked.png")


def test_safe_join_accepts_a_normal_path(tmp_path):
    assert safe_join(tmp_path, "alice/4242.png") == tmp_path.resolve() / "alice" / "4242.png"


def test_safe_join_follows_links_that_stay_inside(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert safe_join(tmp_path, "alias/1.png") == Path(tmp_path.resolve(), "real", "1.png")


def test_safe_join_refuses_a_symlink_loop(tmp_path):
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    with pytest.raises(ValueError):
        safe_join(tmp_path, "loop/1.png")


@pytest.mark.parametrize(
    "template", ["{username}.{ext}", "{username}/{name_stem}.{ext}", "{date}/{model}-{post_id}"]
)
def test_a_template_that_can_give_two_images_one_name_is_refused(template):
    with pytest.raises(UsageError, match=r"same name.*include \{image_id\}"):
        check_template(template)


@pytest.mark.parametrize("template", [DEFAULT_TEMPLATE, "{uuid}.{ext}", "{date}/{image_id:08d}"])
def test_a_template_with_a_unique_field_is_accepted(template):
    check_template(template)


@pytest.mark.parametrize(
    "template",
    ["{name_stem}-{image_id}.{ext}", "{image_id}-{name_stem}", "{model}{uuid}{name_stem}"],
)
def test_cutting_a_long_name_never_cuts_the_unique_field(template):
    names = set()
    for image_id, uuid in ((4242, "0a22f1f0-aaaa"), (4243, "0a22f1f0-bbbb")):
        record = full_record(image_id=image_id, uuid=uuid, name="x" * 5000, model="m" * 300)
        relpath = render_relpath(template, record, "png")
        assert_safe(relpath, "png")
        assert (str(image_id) if "image_id" in template else uuid) in relpath
        names.add(relpath)
    assert len(names) == 2
