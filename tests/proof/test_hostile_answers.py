"""Every procedure the client calls, answered wrongly, as a user runs the command.

For each procedure, the command that depends on it runs (in this process, as
`civitai-vault ...`) against a proxy that spoils that procedure's answers in one
way (`hostile_answers.KINDS`): HTML, a cut body, a tRPC error inside an HTTP
200, nesting far too deep, devalue references past the end, null, a string for
the object, wrong types, every leaf null, half the fields gone, integers past
2^64, lone surrogates. Whatever comes, a user sees:

- no traceback and never exit 2 (nothing the user typed was wrong);
- on failure, exit 1 and stderr holding only one-line `error:` messages;
- an archive that passes SQLite's integrity check and `civitai-vault verify`;
- "done, completely" (exit 0) only when every target holds as many images as
  an unspoiled run archives: a broken answer is never read as an empty one.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import civitai_vault.config
from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.api.settings import ClientSettings
from civitai_vault.cli import app

from .conftest import archive_problems
from .hostile_answers import KINDS, hostile_api, replacing_api
from .servers import HostileServer

CLI = CliRunner()


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    with running_emulator(EmulatorConfig(seed=52, images=60, site_mode="red")) as server:
        yield server


@pytest.fixture(scope="module", autouse=True)
def quick_retries() -> Iterator[None]:
    # The client's back-off is seconds long; the answers here are wrong on every try.
    with pytest.MonkeyPatch.context() as patch:
        quick = functools.partial(ClientSettings, retry_base=0.001, retry_cap=0.004)
        patch.setattr(civitai_vault.config, "ClientSettings", quick)
        yield


def commands(emu: Any) -> dict[str, list[str]]:
    """For each procedure the client calls, a command that cannot do without its answer."""
    named = emu.dataset.named
    collection = named["public_collection"]
    image = emu.dataset.collections[collection].image_ids[0]
    other = named["other_username"]
    version = _most_used_version(emu.dataset)
    return {
        "image.get": ["sync", f"image:{image}"],
        "image.getInfinite": ["sync", f"collection:{collection}"],
        "image.getGenerationData": ["sync", f"collection:{collection}"],
        "tag.getVotableTags": ["image", str(image), "--json"],
        "modelVersion.getById": ["sync", f"model-version:{version.id}"],
        "model.getSimple": ["sync", f"model:{version.model_id}"],
        "post.get": ["sync", f"post:{named['post_id']}"],
        "collection.getById": ["sync", f"collection:{collection}"],
        "collection.getAllUser": ["sync", "me"],
        "collection.getInfinite": ["sync", f"user_collections:{other}"],
        "user.getCreator": ["sync", f"user:{other}"],
        "post.getInfinite": ["sync", f"user_posts:{other}"],
        "orchestrator.queryGeneratedImages": ["sync", "generated"],
    }


def _most_used_version(dataset: Any) -> Any:
    """A published version of a published model with images in its gallery (so a
    spoiled answer that empties the gallery shows)."""
    shown = [
        v
        for v in dataset.model_versions.values()
        if v.status == v.model_status == "Published" and v.model_type == "LORA"
    ]
    return max(shown, key=lambda v: (len(dataset.images_using([v.id])), v.id))


PROCEDURES = (
    "image.get",
    "image.getInfinite",
    "image.getGenerationData",
    "tag.getVotableTags",
    "modelVersion.getById",
    "model.getSimple",
    "post.get",
    "collection.getById",
    "collection.getAllUser",
    "collection.getInfinite",
    "user.getCreator",
    "post.getInfinite",
    "orchestrator.queryGeneratedImages",
)


def test_the_sweep_covers_every_procedure_the_client_calls(emu) -> None:
    import civitai_vault

    package = Path(civitai_vault.__file__).parent
    called: set[str] = set()
    for path in [package / "api" / "client.py", *sorted((package / "sources").glob("*.py"))]:
        for router, name in re.findall(
            r'"([a-zA-Z]+)\.(get[a-zA-Z]*|query[a-zA-Z]*)"', path.read_text()
        ):
            called.add(f"{router}.{name}")
    # Named by the client but called by no command: tag.getById is for library users,
    # image.getImagesAsPostsInfinite only marks a heavy procedure for batching.
    called -= {"tag.getById", "image.getImagesAsPostsInfinite"}
    assert called == set(PROCEDURES) == set(commands(emu))


def run(
    emu: Any, base_url: str, args: list[str], folder: Path, *, media: bool = False
) -> dict[str, Any]:
    """The command as a user runs it, against `base_url`; what they would see."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("CIVITAI")}
    env |= {
        "CIVITAI_BASE_URL": base_url,
        "CIVITAI_IMAGE_BASE_URL": emu.image_base_url,
        "CIVITAI_API_KEY": emu.api_key,
        "CIVITAI_SITE": "red",
        "CIVITAI_VAULT_CONFIG_DIR": str(folder / "config"),
    }
    archive = folder / "archive"
    if args[0] == "sync":
        args = [*args, "--archive", str(archive), "--rate", "0", "--json"]
        args += ["--cdn-rate", "0"] if media else ["--no-media"]
    done = CLI.invoke(app, args, env=env)
    escaped = done.exception if not isinstance(done.exception, SystemExit) else None
    assert escaped is None, f"{args}: {type(escaped).__name__} escaped: {escaped}"
    verified = None
    if (archive / "vault.db").exists():
        verified = CLI.invoke(app, ["verify", "--archive", str(archive)], env=env).exit_code
    return {
        "code": done.exit_code,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "archived": _archived(archive),
        "problems": archive_problems(archive),
        "verified": verified,
    }


def _archived(archive: Path) -> dict[str, set[int]]:
    if not (archive / "vault.db").exists():
        return {}
    conn = sqlite3.connect(archive / "vault.db")
    try:
        found: dict[str, set[int]] = {
            key: set() for (key,) in conn.execute("SELECT key FROM targets")
        }
        for key, image_id in conn.execute("SELECT target_key, image_id FROM target_items"):
            found[key].add(image_id)
        return found
    finally:
        conn.close()


@pytest.fixture(scope="module")
def baselines(emu: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What each command archives (or prints) when every answer is sound."""
    out = {}
    for procedure, args in commands(emu).items():
        seen = run(emu, emu.base_url, args, tmp_path_factory.mktemp("baseline"))
        assert seen["code"] == 0, (procedure, seen["stderr"])
        out[procedure] = seen
    return out


def check(seen: dict[str, Any], baseline: dict[str, Any], what: str) -> None:
    assert "Traceback" not in seen["stdout"] + seen["stderr"], what
    assert seen["code"] in (0, 1), f"{what}: exit {seen['code']}: {seen['stderr']}"
    assert seen["problems"] == [], what
    assert seen["verified"] in (None, 0), f"{what}: verify failed after the run"
    if seen["code"] == 1:
        lines = [line for line in seen["stderr"].splitlines() if line.strip()]
        assert lines, f"{what}: exit 1 without a word"
        assert all(line.startswith("error: ") for line in lines), f"{what}: {seen['stderr']}"
        return
    # "Done, completely": only with as many images under every target as a sound run
    # archives (a generation's id comes from its blob id's text, which a spoiled answer
    # changes, so the count is what must match).
    counts = {key: len(ids) for key, ids in seen["archived"].items()}
    expected = {key: len(ids) for key, ids in baseline["archived"].items()}
    assert counts == expected, f"{what}: complete, yet {seen['stdout']}"
    if not baseline["archived"]:  # `image`: as many tags as a sound answer has
        assert _tags(seen["stdout"]) == _tags(baseline["stdout"]), what


def _tags(stdout: str) -> int:
    tags = json.loads(stdout).get("tags")
    assert isinstance(tags, list), stdout
    return len(tags)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("procedure", PROCEDURES)
def test_a_spoiled_answer_is_loud_and_leaves_the_archive_sound(
    emu, baselines, tmp_path, procedure, kind
) -> None:
    with HostileServer(hostile_api(emu, procedure, kind)) as proxy:
        seen = run(emu, proxy.url, commands(emu)[procedure], tmp_path)
    check(seen, baselines[procedure], f"{procedure} answered with {kind}")


@pytest.mark.parametrize("kind", ["truncated", "integers past 2^64", "lone surrogates"])
@pytest.mark.parametrize("procedure", ["image.getInfinite", "image.getGenerationData"])
def test_with_files_the_archive_still_verifies(emu, tmp_path, procedure, kind) -> None:
    with HostileServer(hostile_api(emu, procedure, kind)) as proxy:
        seen = run(emu, proxy.url, commands(emu)[procedure], tmp_path, media=True)
    # A broken character in a file's address makes that file fail (404); in the
    # generation data it is archived as U+FFFD, with every file in place.
    whole = kind == "lone surrogates" and procedure == "image.getGenerationData"
    assert seen["code"] == (0 if whole else 1), seen["stderr"]
    assert seen["problems"] == [] and seen["verified"] in (None, 0), seen
    if whole:
        media = tmp_path / "archive" / "media"
        files = [f for f in media.rglob("*.*") if f.is_file() and ".partial" not in f.parts]
        assert len(files) == len(seen["archived"][f"collection:{_collection(emu)}"]) > 0
        assert seen["verified"] == 0


def _collection(emu: Any) -> int:
    return int(commands(emu)["image.getInfinite"][1].split(":")[1])


# Procedures whose sound answer is a bare list.
LIST_ANSWERS = ("collection.getAllUser", "tag.getVotableTags")

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(procedure=st.sampled_from(PROCEDURES), value=JSON_VALUES)
def test_any_value_in_place_of_an_answer_is_loud_or_harmless(
    emu, baselines, tmp_path_factory, procedure, value
) -> None:
    # An empty list is a sound answer from a procedure that answers a list ("you
    # have no collections", "no tags"): the client cannot tell it from the truth.
    assume(not (value == [] and procedure in LIST_ANSWERS))
    with HostileServer(replacing_api(emu, procedure, value)) as proxy:
        seen = run(emu, proxy.url, commands(emu)[procedure], tmp_path_factory.mktemp("any"))
    check(seen, baselines[procedure], f"{procedure} answered {value!r}")


def test_a_creator_answer_without_an_id_is_not_read_as_no_such_user(emu, tmp_path) -> None:
    # "not found" would send the user to check a name that is right.
    with HostileServer(hostile_api(emu, "user.getCreator", "every leaf null")) as proxy:
        seen = run(emu, proxy.url, commands(emu)["user.getCreator"], tmp_path)
    assert seen["code"] == 1
    assert "could not be read" in seen["stderr"] and "not found" not in seen["stderr"]


def test_text_that_cannot_be_encoded_is_a_failure_not_bad_input() -> None:
    # UnicodeError is a ValueError, which otherwise means "input that can never work"
    # (exit 2); text that cannot be encoded comes from Civitai or a file.
    from civitai_vault.errors import describe_error

    try:
        "cut \ud83d".encode()
    except UnicodeError as exc:
        message, code = describe_error(exc)
    assert code == 1 and "UTF-8" in message and "surrogates not allowed" in message
