"""`civitai-vault embed` turns a --no-embed archive into one whose files carry their data."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess

from typer.testing import CliRunner

from civitai_vault.cli import app
from civitai_vault.sync.files import FileOptions


def test_embed_rewrites_files_of_a_no_embed_archive(tmp_path, emulator, sync):
    collection = emulator.dataset.named["demo_collection"]
    sync(
        tmp_path,
        emulator,
        [f"collection:{collection}"],
        limit=40,
        files=FileOptions(embed=False),
    )
    conn = sqlite3.connect(tmp_path / "vault.db")
    before = conn.execute(
        "SELECT image_id, path, sha256, served_sha256, kind FROM files WHERE kind = 'image'"
    ).fetchall()
    assert before and all(row[2] == row[3] for row in before)  # byte-identical to Civitai's

    result = CliRunner().invoke(app, ["embed", "--archive", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output

    after = dict(
        (row[0], row[1:])
        for row in conn.execute("SELECT image_id, sha256, served_sha256, embedded FROM files")
    )
    changed = [i for i, *_ in before if after[i][0] != after[i][1]]
    assert changed, "no file got its generation data written"
    for image_id, path, *_ in before:
        data = (tmp_path / path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == after[image_id][0]
    # A prompt reader now sees the prompt of one rewritten image (one that has a prompt:
    # an image whose prompt is hidden still gets its tags written).
    prompts = dict(conn.execute("SELECT id, prompt FROM images WHERE prompt IS NOT NULL"))
    image_id = next(i for i in changed if i in prompts)
    path = next(row[1] for row in before if row[0] == image_id)
    prompt = prompts[image_id]
    shown = subprocess.run(
        ["exiftool", "-s3", "-Parameters", "-UserComment", str(tmp_path / path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert prompt.splitlines()[0][:40] in shown

    again = CliRunner().invoke(app, ["embed", "--archive", str(tmp_path), "--json"])
    assert '"changed": 0' in again.output  # idempotent
