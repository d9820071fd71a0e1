"""One writer per archive: a second one is told who holds it, readers never wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from civitai_vault.archive import open_archive
from civitai_vault.archive.lock import ArchiveBusy, Holder

# A writer in another process: opens the archive, says so, holds it until told to stop.
HOLDER = """
import sys
from civitai_vault.archive import open_archive
sys.argv = ["civitai-vault", "embed", "--api-key", "secret-key"]
with open_archive({archive!r}):
    print("holding", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def _start_holder(archive: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(archive=str(archive))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "holding"
    return process


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        assert process.stdin is not None
        process.stdin.write("\n")
        process.stdin.flush()
    process.wait(timeout=60)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    open_archive(tmp_path / "a").close()
    holder = _start_holder(tmp_path / "a")
    try:
        with pytest.raises(ArchiveBusy) as refused:
            open_archive(tmp_path / "a", create=False)
    finally:
        _stop(holder)
    message = str(refused.value)
    assert f"pid {holder.pid}" in message
    assert "`civitai-vault embed`" in message and " since " in message
    assert "secret-key" not in message and "--api-key" not in message
    assert "--wait" in message
    # Once the holder is done, the archive is free again.
    open_archive(tmp_path / "a", create=False).close()


def test_readers_keep_working_while_a_writer_holds_the_archive(tmp_path):
    with open_archive(tmp_path / "a") as writer:
        writer.conn.execute("INSERT INTO runs (started_at, command) VALUES ('x', 'sync')")
        with open_archive(tmp_path / "a", create=False, reading=True) as reader:
            assert [tuple(r) for r in reader.conn.execute("SELECT command FROM runs")] == [
                ("sync",)
            ]
        with pytest.raises(ArchiveBusy):  # even from the same process
            open_archive(tmp_path / "a", create=False)


def test_a_lock_left_by_a_killed_writer_is_free(tmp_path):
    open_archive(tmp_path / "a").close()
    holder = _start_holder(tmp_path / "a")
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=60)
    with open_archive(tmp_path / "a", create=False) as archive:
        assert archive.lock is not None and archive.lock.held
    assert "pid" not in (tmp_path / "a" / "vault.lock").read_text()  # released: says nothing


def test_a_waiting_writer_says_for_whom_and_starts_when_the_holder_is_done(tmp_path):
    open_archive(tmp_path / "a").close()
    holder = _start_holder(tmp_path / "a")
    waited_for: list[Holder] = []

    def told(who: Holder) -> None:
        waited_for.append(who)
        _stop(holder)  # the holder finishes while we wait

    opened: list[object] = []
    thread = threading.Thread(
        target=lambda: opened.append(
            open_archive(tmp_path / "a", create=False, wait=None, on_wait=told)
        )
    )
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert [w.pid for w in waited_for] == [holder.pid]
    (archive,) = opened
    archive.close()  # type: ignore[attr-defined]
