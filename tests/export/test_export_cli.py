"""`civitai-vault export` as a user runs it: filters, stdout, files, errors."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest
from tests.support.archive_builder import ArchiveBuilder

from civitai_vault.archive import open_archive
from civitai_vault.export import write_records
from civitai_vault.export.output import atomic_file


def exported_ids(cli, archive, *options: str) -> list[int]:
    done = cli("export", "--archive", str(archive), "--format", "jsonl", *options)
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line)["image_id"] for line in done.stdout.splitlines()]


@pytest.mark.parametrize(
    ("options", "ids"),
    [
        ((), [103, 102, 101]),
        (("--tag", "CAT"), [103]),
        (("--tag", "pipe|tag"), [101]),
        (("--author", "carol"), [103]),
        (("--collection", "9"), [101]),
        (("--collection", "5"), [103, 102, 101]),
        (("--model", "pony diffusion v6 xl"), [101]),
        (("--model", "471120"), [103]),
        (("--lora", "rainy"), [103]),
        (("--lora", "121"), [101]),
        (("--base-model", "sdxl 1.0"), [103]),
        (("--since", "2024-06"), [103]),
        (("--until", "2024-05"), [102, 101]),
        (("--since", "2024-05-31", "--until", "2024-05-31"), [102]),
        # 01:00 at +02:00 is 23:00 UTC the day before.
        (("--since", "2024-06-01T01:00+02:00"), [103, 102]),
        (("--until", "2024-06-01T01:00+02:00"), [101]),
        (("--tag", "cat", "--author", "alice"), []),
    ],
)
def test_filters_select_the_right_images(cli, hostile_archive, options, ids):
    assert exported_ids(cli, hostile_archive.path, *options) == ids


def test_stdout_carries_only_data_and_stderr_a_summary(cli, hostile_archive):
    done = cli("export", "--archive", str(hostile_archive.path), "-o", "-", "--format", "json")
    assert done.returncode == 0
    assert json.loads(done.stdout) == hostile_archive.expected
    assert done.stderr.decode().strip() == "exported 3 records as json to stdout"


def test_parquet_to_a_pipe_is_binary_safe(cli, hostile_archive):
    done = cli("export", "--archive", str(hostile_archive.path), "--format", "parquet")
    assert done.returncode == 0, done.stderr.decode()
    table = pq.read_table(io.BytesIO(done.stdout))
    assert table.column("image_id").to_pylist() == [103, 102, 101]


def test_parquet_is_refused_on_a_terminal(cli, hostile_archive):
    leader, follower = os.openpty()
    try:
        done = cli(
            "export",
            "--archive",
            str(hostile_archive.path),
            "--format",
            "parquet",
            capture_output=False,
            stdout=follower,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2
    message = done.stderr.decode()
    assert "terminal" in message and "-o" in message
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1


def test_file_output_with_format_from_the_extension(cli, hostile_archive, tmp_path):
    out = tmp_path / "cats.parquet"
    done = cli("export", "--archive", str(hostile_archive.path), "-o", str(out), "--tag", "cat")
    assert done.returncode == 0, done.stderr.decode()
    assert pq.read_table(out).column("image_id").to_pylist() == [103]
    assert done.stdout == b""
    assert done.stderr.decode().strip() == f"exported 1 record as parquet to {out}"
    assert [p.name for p in tmp_path.iterdir()] == ["cats.parquet"]  # no temporary left


def test_a_failed_export_leaves_the_previous_file_alone(tmp_path):
    out = tmp_path / "export.jsonl"
    out.write_bytes(b"previous export\n")

    def records_then_failure():
        yield {"image_id": 1}
        raise OSError("the archive disk went away")

    with pytest.raises(OSError), atomic_file(out) as stream:
        write_records(records_then_failure(), "jsonl", stream)
    assert out.read_bytes() == b"previous export\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.jsonl"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (("--since", "31/12/2024"), "--since '31/12/2024' is not a date"),
        (("--until", "2024-13"), "--until '2024-13' is not a date"),
        (("--format", "xml"), "unknown --format 'xml'"),
        (("--format", "json", "--excel"), "--excel applies to CSV only"),
        (("--format", "jsonl", "--allow-formulas"), "--allow-formulas applies to CSV only"),
        (("-o", "/nonexistent-folder/out.csv"), "folder /nonexistent-folder does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, hostile_archive, tmp_path, options, expected):
    done = cli("export", "--archive", str(hostile_archive.path), *options)
    message = done.stderr.decode()
    assert done.returncode == 2, message
    assert expected in message
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1


def test_a_missing_archive_is_one_line(cli, tmp_path):
    done = cli("export", "--archive", str(tmp_path / "nowhere"))
    message = done.stderr.decode()
    assert done.returncode == 1
    assert "no archive at" in message and "Traceback" not in message


def test_export_while_a_sync_is_writing(cli, hostile_archive, tmp_path):
    # A sync holds its write transaction open while it stores a batch; an export must
    # neither wait for it nor see half of it.
    archive_copy = shutil.copytree(hostile_archive.path, tmp_path / "archive")
    with open_archive(archive_copy, create=False) as archive:
        archive.conn.execute("BEGIN IMMEDIATE")
        archive.conn.execute("UPDATE images SET prompt = 'half written' WHERE id = 101")
        done = cli("export", "--archive", str(archive_copy), "--format", "jsonl", "--tag", "anime")
        archive.conn.execute("ROLLBACK")
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout)["prompt"] == hostile_archive.hostile_prompt


def test_a_reader_that_stops_early_is_not_an_error(cli_command, tmp_path):
    # `civitai-vault export | head -1` must end quietly with exit 0.
    archive_path = tmp_path / "archive"
    builder = ArchiveBuilder(archive_path)
    for image_id in range(1, 501):
        builder.image(image_id, details=False, prompt="long prompt " * 100)
    builder.build()
    reader = subprocess.Popen(
        [*cli_command, "export", "--archive", str(archive_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert json.loads(reader.stdout.readline())["image_id"] == 500
    reader.stdout.close()
    stderr = reader.stderr.read().decode()
    assert reader.wait() == 0, stderr
    assert stderr == ""
