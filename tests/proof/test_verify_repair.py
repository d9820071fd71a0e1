"""`verify` finds files cut short, altered or deleted; `sync --repair` fetches them again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.conftest import snapshot_archive

from civitai_emulator import EmulatorConfig, running_emulator

from .conftest import Cli, cli_env, sync_args


def _file_hashes(archive: Path) -> dict[str, str]:
    return {
        str(p.relative_to(archive)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (archive / "media").rglob("*")
        if p.is_file() and ".partial" not in p.parts
    }


def _damage(archive: Path) -> dict[str, str]:
    """Cut one file short, overwrite one with bytes of its own size, delete one."""
    files = sorted(
        p for p in (archive / "media").rglob("*") if p.is_file() and ".partial" not in p.parts
    )
    truncated, altered, missing = files[0], files[1], files[2]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    altered.write_bytes(bytes(altered.stat().st_size))
    missing.unlink()
    return {
        str(p.relative_to(archive)): kind
        for p, kind in ((truncated, "truncated"), (altered, "altered"), (missing, "missing"))
    }


def test_verify_finds_damaged_files_and_repair_restores_them(tmp_path):
    config = EmulatorConfig(seed=55, images=40, site_mode="red")
    with running_emulator(config) as emu:
        cli = Cli(cli_env(emu, tmp_path / "config"))
        archive = tmp_path / "archive"
        target = f"collection:{emu.dataset.named['demo_collection']}"
        assert cli(*sync_args(archive, target, "--quiet")).returncode == 0
        clean_rows, clean_files = snapshot_archive(archive), _file_hashes(archive)

        sound = cli("verify", "--archive", str(archive))
        assert sound.returncode == 0, sound.stderr
        assert "all match" in sound.stdout

        damaged = _damage(archive)
        found = cli("verify", "--archive", str(archive), "--json")
        assert found.returncode == 1
        assert "sync --repair" in found.stderr.strip().splitlines()[-1]
        problems = {p["path"]: p["problem"] for p in json.loads(found.stdout)["problems"]}
        assert problems == damaged
        text = cli("verify", "--archive", str(archive))
        assert text.returncode == 1 and "1 altered, 1 missing, 1 truncated" in text.stdout

        before = emu.count(listener="cdn")
        repaired = cli(*sync_args(archive, "--repair", "--json"))
        assert repaired.returncode == 0, repaired.stderr
        assert emu.count(listener="cdn") - before == 3  # the three files, nothing else
        assert cli("verify", "--archive", str(archive)).returncode == 0
    assert snapshot_archive(archive) == clean_rows
    assert _file_hashes(archive) == clean_files


def test_repair_with_a_target_walks_it_and_fetches_its_broken_files(tmp_path):
    config = EmulatorConfig(seed=56, images=40, site_mode="red")
    with running_emulator(config) as emu:
        cli = Cli(cli_env(emu, tmp_path / "config"))
        archive = tmp_path / "archive"
        target = f"collection:{emu.dataset.named['demo_collection']}"
        assert cli(*sync_args(archive, target, "--quiet")).returncode == 0
        clean_files = _file_hashes(archive)
        _damage(archive)
        plain = cli(*sync_args(archive, target, "--quiet"))
        assert plain.returncode == 0
        assert _file_hashes(archive) != clean_files  # a plain sync fetches only the missing one
        repaired = cli(*sync_args(archive, target, "--quiet", "--repair"))
        assert repaired.returncode == 0, repaired.stderr
    assert _file_hashes(archive) == clean_files
