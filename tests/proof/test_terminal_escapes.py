"""Server text never drives the terminal: escapes print as escapes, markup as text.

A proxy in front of the emulator puts terminal escape sequences (window title,
clear screen, an OSC 52 clipboard write, an 8-bit CSI, a bidirectional
override) and Rich markup (`[/x]`, which crashes Rich's markup parser, and
`[bold]`) into every name, prompt, tag and model Civitai sends. Every command
that prints them, in text and in --json, and their error lines, must show them
as inert text: no control byte reaches stdout or stderr.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from civitai_emulator import EmulatorConfig, running_emulator

from .conftest import Cli, cli_env, sync_args
from .servers import HostileServer, rewriting_proxy

HOSTILE = (
    "\x1b]0;pwned-title\x07 \x1b[2J\x1b[H \x1b]52;c;cHduZWQ=\x07 \x9b31m "
    "\u202eevil [/x] [bold]loud[/bold] :smile:"
)
CONTROL = ("\x1b", "\x07", "\x9b", "\u202e")


def _spoil(procedure: str, data: Any) -> None:
    if procedure == "collection.getById" and data.get("collection"):
        data["collection"]["name"] = HOSTILE
    elif procedure == "collection.getAllUser":
        for collection in data:
            collection["name"] = HOSTILE
    elif procedure == "image.getInfinite":
        for item in data["items"]:
            item["name"] = HOSTILE
            if item.get("user"):
                item["user"]["username"] = HOSTILE
        data["items"][0]["url"] = None  # one image fails: the error line quotes the target
    elif procedure == "image.get":
        data["name"] = HOSTILE
        if data.get("user"):
            data["user"]["username"] = HOSTILE
    elif procedure == "image.getGenerationData":
        if data.get("meta"):
            data["meta"].update(prompt=HOSTILE, sampler=HOSTILE, hostileKey=HOSTILE)
        for resource in data.get("resources") or []:
            resource["modelName"] = HOSTILE
    elif procedure == "tag.getVotableTags":
        for tag in data:
            tag["name"] = HOSTILE
    elif procedure == "modelVersion.getById" and data.get("model"):
        data["name"] = HOSTILE
        data["model"]["name"] = HOSTILE


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    """What each command printed, synced and read through the hostile proxy."""
    root = tmp_path_factory.mktemp("escapes")
    archive = str(root / "archive")
    config = EmulatorConfig(seed=53, images=40, site_mode="red", devalue_share=0.0)
    with running_emulator(config) as emu, HostileServer(rewriting_proxy(emu, _spoil)) as proxy:
        # COLUMNS: wide enough that a table never folds a cell, so what is seen is what is sent.
        cli = Cli(cli_env(emu, root / "config", CIVITAI_BASE_URL=proxy.url, COLUMNS="400"))
        target = f"collection:{emu.dataset.named['demo_collection']}"
        image = f"image:{next(iter(emu.dataset.images))}"
        return {
            "sync": cli(*sync_args(root / "archive", target)),
            "sync --json": cli(*sync_args(root / "archive", target, "--json")),
            "status": cli("status", "--archive", archive),
            "status --json": cli("status", "--archive", archive, "--json"),
            "stats": cli("stats", "--archive", archive),
            "check-models": cli("check-models", "--archive", archive, "--all", "--rate", "0"),
            "export": cli("export", "--archive", archive, "-o", str(root / "out.csv")),
            "image": cli("image", image),
            "image --json": cli("image", image, "--json"),
            "collections": cli("collections"),
        }


def test_no_control_character_reaches_the_terminal(printed):
    for name, done in printed.items():
        assert "Traceback" not in done.stderr, (name, done.stderr)
        assert done.returncode in (0, 1), (name, done.returncode, done.stderr)
        for stream in (done.stdout, done.stderr):
            leaked = [c for c in CONTROL if c in stream]
            assert not leaked, (name, leaked, stream[:2000])


def test_hostile_text_is_shown_as_inert_text(printed):
    sync = printed["sync"]
    assert sync.returncode == 1  # the image without a file address
    error_lines = [line for line in sync.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1
    # The target's name (the collection's) is quoted in the error line, escaped, markup and all.
    assert "\\x1b]0;pwned-title\\x07" in error_lines[0]
    assert "[/x] [bold]loud[/bold] :smile:" in error_lines[0]
    assert "\\u202eevil" in error_lines[0]
    for name in ("sync", "status", "stats", "image", "collections", "check-models"):
        assert "pwned-title" in printed[name].stdout + printed[name].stderr, name
    assert "[/x] [bold]loud[/bold]" in printed["image"].stdout  # the prompt, as written


def test_json_output_keeps_the_text_exactly(printed):
    record = json.loads(printed["image --json"].stdout)
    assert record["prompt"] == HOSTILE  # escaped in the JSON text, exact once decoded
    status = json.loads(printed["status --json"].stdout)
    assert any(t["label"].startswith(HOSTILE) for t in status["targets"])
    summary = json.loads(printed["sync --json"].stdout)
    assert summary["targets"][0]["label"].startswith(HOSTILE)
