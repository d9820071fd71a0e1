"""`civitai-vault demo` and `civitai-vault emulator`: the tool tried with nothing else running."""

from __future__ import annotations

import signal
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from civitai_emulator import Dataset
from civitai_emulator.auth import Credentials

DEMO_SEED = 1  # the seed `demo` runs its emulator with
DEMO_IMAGES = 60


def test_demo_archives_the_sample_collection_into_the_working_folder(cli):
    dataset = Dataset(seed=DEMO_SEED, images=DEMO_IMAGES)
    collection = dataset.collections[dataset.named["demo_collection"]]
    secrets = Credentials.for_seed(DEMO_SEED)

    done = cli.process("demo", "--images", str(DEMO_IMAGES))
    assert done.code == 0, done.stderr
    for secret in (secrets.api_key, secrets.session_token, secrets.legacy_token):
        assert secret not in done.stdout + done.stderr
    assert "sync summary" in done.stdout
    assert f"Archived {len(collection.image_ids)} images" in done.stdout
    assert "civitai-vault serve --archive civitai-demo" in done.stdout

    archive = cli.cwd / "civitai-demo"
    assert (archive / "vault.db").is_file()
    status = cli("status", "--archive", str(archive), "--json").json()
    assert status["totals"]["images"] == len(collection.image_ids)
    assert status["totals"]["files"] == len(collection.image_ids)
    assert status["totals"]["failures"] == 0
    [target] = status["targets"]
    assert (target["target"], target["complete"]) == (f"collection:{collection.id}", True)
    assert target["images"] == len(collection.image_ids)
    assert not cli.config_file.exists(), "the demo signs in without saving a login"


def test_the_emulator_command_serves_until_ctrl_c(cli):
    """Start it, sign in with what it prints, stop it with Ctrl+C: the README's first steps."""
    seed = 5
    process = start_emulator(cli, "--seed", str(seed), "--images", "40")
    try:
        printed = read_until(process, "Press Ctrl+C")
        exports = dict(
            line.strip().removeprefix("export ").split("=", 1)
            for line in printed.splitlines()
            if line.strip().startswith("export CIVITAI_")
        )
        assert set(exports) == {"CIVITAI_BASE_URL", "CIVITAI_IMAGE_BASE_URL", "CIVITAI_API_KEY"}
        assert exports["CIVITAI_API_KEY"] == Credentials.for_seed(seed).api_key
        who = cli("whoami", env=exports)
        assert who.code == 0, who.stderr
        owner = Dataset(seed=seed, images=40).owner.username
        assert f"as {owner}" in who.stdout
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate()
    assert process.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_the_emulator_injects_the_faults_it_is_given(cli):
    """`--fault status_503=1`: every API request answers 503, as the header line says."""
    process = start_emulator(cli, "--fault", "status_503=1")
    try:
        printed = read_until(process, "Press Ctrl+C")
        assert "injecting: status_503=1.0" in printed
        [base_url] = [
            line.strip().split("=", 1)[1]
            for line in printed.splitlines()
            if line.strip().startswith("export CIVITAI_BASE_URL=")
        ]
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(f"{base_url}/api/trpc/tag.getVotableTags", timeout=30)
        assert answer.value.code == 503
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate()
    assert process.returncode == 0


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("nosuch=1", "--fault takes NAME=VALUE"),
        ("status_500", "--fault takes NAME=VALUE"),
        ("status_500=2", "must be <= 1"),
        ("latency=soon", "'soon' is not a valid value"),
    ],
)
def test_a_fault_the_emulator_cannot_inject_is_refused_in_one_line(cli, fault, said):
    done = cli.process("emulator", "--port", "0", "--fault", fault)
    assert done.code == 2
    assert said in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def start_emulator(cli: Any, *args: str) -> subprocess.Popen[str]:
    """`civitai-vault emulator --port 0 ARGS` in the background, its output readable."""
    return subprocess.Popen(
        [*cli.command, "emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli.environment(),
        text=True,
    )


def read_until(process: Any, marker: str) -> str:
    """Lines of the process's stdout up to the one holding `marker` (or to its end)."""
    seen = ""
    for line in process.stdout:
        seen += line
        if marker in line:
            break
    return seen
