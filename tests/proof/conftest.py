"""Helpers for the proof tests: the real command in a child process, real small filesystems.

`cli`: run `civitai-vault ...` against an emulator in a child process, as a user
would (exit code, stdout, stderr). `archive_health`: what must hold of an
archive after any failure: SQLite's integrity check passes and every file the
database names is whole. `small_disk`: a size-limited tmpfs that can be
resized and remounted read-only (needs root and `mount`; a test that cannot
get one fails and says why, it is never skipped).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from civitai_vault.media.verify import InvalidMedia, verify_file


def cli_env(emu: Any, config_dir: Path, **extra: str) -> dict[str, str]:
    """The environment that points the command at `emu`, with its own (empty) config folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVITAI_")}
    env.update(
        CIVITAI_BASE_URL=emu.base_url,
        CIVITAI_IMAGE_BASE_URL=emu.image_base_url,
        CIVITAI_API_KEY=emu.api_key,
        CIVITAI_SITE="red",
        CIVITAI_VAULT_CONFIG_DIR=str(config_dir),
    )
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "civitai_vault.cli", *args]


def sync_args(archive: Path, target: str, *extra: str) -> list[str]:
    """`sync TARGET` without pacing (the emulator is local) and without progress output."""
    return ["sync", target, "--archive", str(archive), "--rate", "0", "--cdn-rate", "0", *extra]


@dataclass
class Cli:
    env: dict[str, str]

    def __call__(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            cli_command(*args), env=env or self.env, capture_output=True, text=True, timeout=300
        )


@pytest.fixture
def cli_for(tmp_path: Path) -> Any:
    """`cli_for(emu)` -> a `Cli` whose calls run the command against that emulator."""

    def make(emu: Any, **extra: str) -> Cli:
        return Cli(cli_env(emu, tmp_path / "config", **extra))

    return make


def assert_one_line_error(done: subprocess.CompletedProcess, code: int = 1) -> str:
    """The command failed with `code` and said why in one line, without a traceback."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def archive_problems(archive: Path) -> list[str]:
    """What is wrong with an archive after a failure: a damaged database or a partial file.

    A file the database does not (yet) name is fine if it is whole: a run killed
    between the rename and the commit leaves one, and the next run adopts it.
    """
    db = archive / "vault.db"
    if not db.exists():
        return []
    problems: list[str] = []
    recorded: set[str] = set()
    with tempfile.TemporaryDirectory() as scratch:
        # Check a copy: opening the original could write to it (WAL recovery),
        # and it may sit on a read-only filesystem.
        for name in ("vault.db", "vault.db-wal"):
            if (archive / name).exists():
                shutil.copy2(archive / name, Path(scratch) / name)
        conn = sqlite3.connect(Path(scratch) / "vault.db")
        try:
            check = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                problems.append(f"integrity_check: {check}")
            for path, sha, size in conn.execute("SELECT path, sha256, size FROM files"):
                recorded.add(path)
                file = archive / path
                if not file.is_file():
                    continue  # a missing file is fetched again by the next run
                data = file.read_bytes()
                if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
                    problems.append(f"{path}: not the bytes the database recorded")
        finally:
            conn.close()
    media = archive / "media"
    for file in media.rglob("*") if media.is_dir() else []:
        relative = str(file.relative_to(archive))
        if not file.is_file() or ".partial" in file.parts or relative in recorded:
            continue
        try:
            verify_file(file, None)
        except InvalidMedia as exc:
            problems.append(f"{relative}: a partial file under its final name ({exc})")
    return problems


@pytest.fixture
def archive_health() -> Any:
    """`archive_health(path)` -> the list of problems (empty when the archive is sound)."""
    return archive_problems


class SmallDisk:
    """A tmpfs mounted at `path`: a real filesystem that fills up and can turn read-only."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self._mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))

    def resize(self, size: str) -> None:
        self._mount("-o", f"remount,size={size}", str(self.path))

    def read_only(self) -> None:
        self._mount("-o", "remount,ro", str(self.path))

    def writable(self) -> None:
        self._mount("-o", "remount,rw", str(self.path))

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)

    def _mount(self, *args: str) -> None:
        try:
            done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
        except FileNotFoundError:
            pytest.fail("these tests need the `mount` command (util-linux) to make a small disk")
        if done.returncode != 0:
            pytest.fail(
                f"`mount {' '.join(args)}` failed ({done.stderr.strip()}): disk-full and "
                "read-only tests need root (or CAP_SYS_ADMIN) to mount a small tmpfs"
            )


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Any]:
    """`small_disk(size)` -> a SmallDisk of that size (e.g. "2m"), unmounted afterwards."""
    disks: list[SmallDisk] = []

    def make(size: str, name: str = "disk") -> SmallDisk:
        disk = SmallDisk(tmp_path / name, size)
        disks.append(disk)
        return disk

    yield make
    for disk in disks:
        disk.unmount()
