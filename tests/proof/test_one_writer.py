"""One writer per archive, with the real command: racing syncs end as one sync would.

Two `sync` runs started together on one archive, with realistic latency, used
to interleave their writes (files hashed while the other replaced them, rows
written twice). Now the second waits for the first (--wait) or stops at once
naming it, and readers go on reading meanwhile.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import snapshot_archive

from civitai_emulator import EmulatorConfig, Faults, running_emulator

from .conftest import Cli, cli_command, cli_env, sync_args

HOLD = """
import sys
from civitai_vault.archive import open_archive
sys.argv = ["civitai-vault", "embed"]
with open_archive({archive!r}):
    print("holding", flush=True)
    sys.stdin.readline()
"""


def _file_hashes(archive: Path) -> dict[str, str]:
    media = archive / "media"
    return {
        str(p.relative_to(archive)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in media.rglob("*")
        if p.is_file() and ".partial" not in p.parts
    }


@pytest.fixture(scope="module")
def emu() -> Any:
    config = EmulatorConfig(seed=54, images=80, site_mode="red", faults=Faults(latency=0.01))
    with running_emulator(config) as running:
        yield running


def test_two_racing_syncs_leave_what_one_sync_leaves(emu, tmp_path, sync):
    target = f"collection:{emu.dataset.named['demo_collection']}"
    sync(tmp_path / "single", emu, [target])
    env = cli_env(emu, tmp_path / "config")
    racing = tmp_path / "racing"
    runs = [
        subprocess.Popen(
            cli_command(*sync_args(racing, target, "--quiet", "--wait")),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outcomes
    assert snapshot_archive(racing) == snapshot_archive(tmp_path / "single")
    assert _file_hashes(racing) == _file_hashes(tmp_path / "single")


def test_a_second_writer_stops_naming_the_first_or_waits_saying_for_whom(emu, tmp_path):
    cli = Cli(cli_env(emu, tmp_path / "config"))
    archive = tmp_path / "archive"
    target = f"collection:{emu.dataset.named['demo_collection']}"
    assert cli(*sync_args(archive, target, "--quiet", "--limit", "5")).returncode == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(archive=str(archive))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        refused = cli(*sync_args(archive, target, "--quiet"))
        assert refused.returncode == 1
        (line,) = refused.stderr.strip().splitlines()
        assert line.startswith("error: another civitai-vault is writing to ")
        assert f"pid {holder.pid}" in line and "`civitai-vault embed`" in line and "--wait" in line
        for writer in (["embed"], ["check-models"]):
            done = cli(*writer, "--archive", str(archive))
            assert done.returncode == 1 and f"pid {holder.pid}" in done.stderr, writer
        # Readers are not held up.
        assert cli("status", "--archive", str(archive)).returncode == 0
        assert cli("export", "--archive", str(archive), "-f", "jsonl").stdout.count("\n") == 5
        waiting = subprocess.Popen(
            cli_command(*sync_args(archive, target, "--quiet", "--wait")),
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stderr is not None
        said = waiting.stderr.readline()
        assert said.startswith("waiting for another civitai-vault (pid ")
        assert str(holder.pid) in said
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=60)
    waiting.wait(timeout=600)
    assert waiting.returncode == 0, waiting.stderr.read()
