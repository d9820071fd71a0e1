"""kill -9 at any moment, run again: the archive ends identical to an uninterrupted run.

A moment is a number of answers the emulator gave the run (its request log),
never a time: the first run always has more to ask than the largest moment, so
the kills land on a fast machine and on a loaded one alike.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from civitai_emulator import EmulatorConfig, Faults, running_emulator

KILLS = int(os.environ.get("CIVITAI_VAULT_TEST_KILLS", "4"))
# Far fewer answers than a first run of the 300-image collection needs (listing
# pages, detail batches, one file each).
LAST_MOMENT = 60
POLLS = 150_000  # a bound on waiting for one moment: five minutes or more


def cli_env(emu, config_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CIVITAI_BASE_URL=emu.base_url,
        CIVITAI_IMAGE_BASE_URL=emu.image_base_url,
        CIVITAI_API_KEY=emu.api_key,
        CIVITAI_SITE="red",
        CIVITAI_VAULT_CONFIG_DIR=str(config_dir),
    )
    return env


def sync_command(archive: Path, collection: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "civitai_vault.cli",
        "sync",
        f"collection:{collection}",
        "--archive",
        str(archive),
        "--rate",
        "0",
        "--quiet",
    ]


def test_kill_nine_then_resume_matches_a_clean_run(tmp_path, sync, archive_snapshot):
    rng = random.Random(20261129)
    with running_emulator(EmulatorConfig(seed=11, images=300, site_mode="red")) as emu:
        collection = emu.dataset.named["demo_collection"]
        sync(tmp_path / "clean", emu, [f"collection:{collection}"])
        # Slow the server a little so kills land mid-listing, mid-download, mid-commit.
        emu.set_faults(Faults(latency=0.015))
        env = cli_env(emu, tmp_path / "config")
        crashed = tmp_path / "crashed"
        kills_landed = 0
        for _ in range(KILLS):
            kills_landed += kill_after(
                emu, sync_command(crashed, collection), env, rng.randint(1, LAST_MOMENT)
            )
            if (crashed / "vault.db").exists():
                conn = sqlite3.connect(crashed / "vault.db")
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                conn.close()
            _assert_no_partial_file_under_a_final_name(crashed)
        emu.clear_faults()
        final = subprocess.run(
            sync_command(crashed, collection), env=env, capture_output=True, text=True
        )
    assert kills_landed >= 1
    assert final.returncode == 0, final.stderr
    assert archive_snapshot(crashed) == archive_snapshot(tmp_path / "clean")


def kill_after(emu, command: list[str], env: dict[str, str], answers: int) -> bool:
    """Run `command` and SIGKILL it once the emulator has answered it `answers` times;
    False when it finished first."""
    since = len(emu.request_log)
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(POLLS):
            if len(emu.request_log) - since >= answers:
                process.send_signal(signal.SIGKILL)
                return True
            if process.poll() is not None:
                return False
            time.sleep(0.002)  # polling the log; no outcome depends on how long this takes
        raise AssertionError(f"the sync neither finished nor got {answers} answers")
    finally:
        process.kill()
        process.wait()


def _assert_no_partial_file_under_a_final_name(archive: Path) -> None:
    """Every file the database names is whole: its hash is the one recorded."""
    import hashlib

    if not (archive / "vault.db").exists():
        return
    conn = sqlite3.connect(archive / "vault.db")
    for path, sha in conn.execute("SELECT path, sha256 FROM files"):
        data = (archive / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
    conn.close()
