"""Every format gives back exactly the stored records, hostile text included, in the readers
people use: json, csv, pandas, pyarrow and DuckDB."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from civitai_vault.archive import open_archive
from civitai_vault.archive.queries import RecordFilter, iter_records
from civitai_vault.export import export_archive, split_list, write_records
from civitai_vault.export.parquet_format import write_parquet
from civitai_vault.records import EXPORT_FIELDS


def export(archive_path: Path, fmt: str, out: Path, **options) -> int:
    with open_archive(archive_path, create=False) as archive:
        return export_archive(archive.conn, RecordFilter(), fmt, out, **options).count


def archive_records(archive_path: Path) -> list[dict]:
    with open_archive(archive_path, create=False) as archive:
        return list(iter_records(archive.conn))


def test_the_archive_reads_back_as_stored(hostile_archive):
    # The baseline every format is compared with.
    assert archive_records(hostile_archive.path) == hostile_archive.expected


def test_json_is_the_records_in_order(hostile_archive, tmp_path):
    assert export(hostile_archive.path, "json", tmp_path / "out.json") == 3
    loaded = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert loaded == hostile_archive.expected
    assert all(list(record) == list(EXPORT_FIELDS) for record in loaded)
    assert loaded[2]["seed"] == 1234567890 and loaded[0]["seed"] == 2**53 + 1


def test_jsonl_is_one_record_per_line(hostile_archive, tmp_path):
    export(hostile_archive.path, "jsonl", tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a newline
    assert [json.loads(line) for line in lines[:-1]] == hostile_archive.expected
    # Readable as UTF-8 text, not \\u escapes.
    assert "猫耳 <script>" in lines[2].decode("utf-8")


def csv_expected_cell(name: str, value) -> str:
    if name in ("tags", "collections"):
        return "|".join(str(v).replace("\\", "\\\\").replace("|", "\\|") for v in value)
    if name in ("loras", "embeddings"):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@", "\t", "\r")):
        return "'" + value  # a formula, neutralised
    return "" if value is None else str(value)


def test_csv_round_trips_through_the_csv_module(hostile_archive, tmp_path):
    export(hostile_archive.path, "csv", tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(EXPORT_FIELDS)
    for row, record in zip(rows[1:], hostile_archive.expected, strict=True):
        cells = dict(zip(EXPORT_FIELDS, row, strict=True))
        for name in EXPORT_FIELDS:
            assert cells[name] == csv_expected_cell(name, record[name]), name
        assert split_list(cells["tags"]) == record["tags"]
        assert [int(c) for c in split_list(cells["collections"])] == record["collections"]
        assert json.loads(cells["loras"]) == record["loras"]
    assert rows[3][EXPORT_FIELDS.index("prompt")] == hostile_archive.hostile_prompt


def test_csv_reads_in_pandas(hostile_archive, tmp_path):
    export(hostile_archive.path, "csv", tmp_path / "out.csv")
    frame = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(EXPORT_FIELDS)
    assert len(frame) == 3
    rich = frame[frame["image_id"] == "101"].iloc[0]
    assert rich["prompt"] == hostile_archive.hostile_prompt
    assert rich["negative_prompt"] == "'" + '=HYPERLINK("http://evil.example","click")'
    assert split_list(rich["tags"]) == list(hostile_archive.hostile_tags)
    assert json.loads(rich["loras"])[1]["name"] == "cjk 風 🌸|pipe"
    # Typed read: numbers come back as numbers, missing values as NaN.
    typed = pd.read_csv(tmp_path / "out.csv")
    assert typed["image_id"].tolist() == [103, 102, 101]
    assert typed["seed"].isna().tolist() == [False, True, False]
    assert typed.loc[typed["image_id"] == 101, "cfg_scale"].item() == 7.5
    assert typed["tags"].fillna("").str.split("|").iloc[0] == ["cat"]


def test_csv_keeps_formulas_only_when_allowed(hostile_archive, tmp_path):
    export(hostile_archive.path, "csv", tmp_path / "out.csv", allow_formulas=True)
    frame = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    rich = frame[frame["image_id"] == "101"].iloc[0]
    assert rich["negative_prompt"] == '=HYPERLINK("http://evil.example","click")'


def test_csv_for_excel_has_a_bom_and_defused_formulas(hostile_archive, tmp_path):
    export(hostile_archive.path, "csv", tmp_path / "out.csv", excel=True)
    data = (tmp_path / "out.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfimage_id,")
    frame = pd.read_csv(
        tmp_path / "out.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    rich = frame[frame["image_id"] == "101"].iloc[0]
    assert rich["negative_prompt"] == "'" + '=HYPERLINK("http://evil.example","click")'
    assert rich["prompt"] == hostile_archive.hostile_prompt
    assert frame.columns[0] == "image_id"


def parquet_columns() -> list[str]:
    """The export record's fields, with the seed's exact text right after `seed`."""
    names = list(EXPORT_FIELDS)
    names.insert(names.index("seed") + 1, "seed_exact")
    return names


def parquet_expected(record: dict) -> dict:
    """A record as pyarrow gives it back: dates as aware datetimes, the seed also as text."""
    out = {name: record.get(name) for name in parquet_columns()}
    out["seed_exact"] = None if record["seed"] is None else str(record["seed"])
    for name in ("created_at", "published_at"):
        if out[name] is not None:
            out[name] = datetime.fromisoformat(out[name])
    return out


def test_parquet_has_typed_columns_and_the_records(hostile_archive, tmp_path):
    export(hostile_archive.path, "parquet", tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet")
    schema = table.schema
    assert schema.names == parquet_columns()
    assert schema.field("image_id").type == pa.int64()
    assert schema.field("seed").type == pa.int64()
    assert schema.field("seed_exact").type == pa.string()
    assert schema.field("cfg_scale").type == pa.float64()
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("tags").type == pa.list_(pa.string())
    assert schema.field("collections").type == pa.list_(pa.int64())
    lora_type = schema.field("loras").type.value_type
    assert lora_type.field("weight").type == pa.float64()
    assert lora_type.field("model_version_id").type == pa.int64()
    assert table.to_pylist() == [parquet_expected(r) for r in hostile_archive.expected]


def test_parquet_reads_in_pandas_and_duckdb(hostile_archive, tmp_path):
    path = tmp_path / "out.parquet"
    export(hostile_archive.path, "parquet", path)
    frame = pd.read_parquet(path)
    assert len(frame) == 3
    assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
    assert frame["prompt"].iloc[2] == hostile_archive.hostile_prompt
    assert list(frame["tags"].iloc[2]) == list(hostile_archive.hostile_tags)

    rows = duckdb.sql(
        f"""SELECT image_id, loras[1].name, loras[2].weight, list_contains(tags, 'pipe|tag'),
                   seed, year(created_at), prompt
            FROM read_parquet('{path}') ORDER BY image_id"""
    ).fetchall()
    assert rows[0] == (
        101,
        'detail, tweaker "x"',
        -0.5,
        True,
        1234567890,
        2024,
        hostile_archive.hostile_prompt,
    )
    assert rows[1][1:5] == (None, None, False, None)
    assert rows[2][4] == 2**53 + 1


def test_parquet_keeps_every_seed_exactly():
    # ComfyUI seeds run to 2**64-1; int64 stops at 2**63-1. `seed` stays int64 (null where
    # it cannot hold the value), `seed_exact` has every seed as its decimal digits.
    seeds = [2**64 - 1, 2**63, 2**63 - 1, -1, 0, 42, None, 2**70, "17"]
    records = [{"image_id": i, "seed": seed} for i, seed in enumerate(seeds)]
    buffer = io.BytesIO()
    write_records(records, "parquet", buffer)
    table = pq.read_table(io.BytesIO(buffer.getvalue()))
    assert table.column("seed").to_pylist() == [None, None, 2**63 - 1, -1, 0, 42, None, None, 17]
    exact = table.column("seed_exact").to_pylist()
    assert exact == [
        "18446744073709551615",
        "9223372036854775808",
        "9223372036854775807",
        "-1",
        "0",
        "42",
        None,
        "1180591620717411303424",
        "17",
    ]
    # Read back as pandas and DuckDB users would: the text gives the exact integer.
    frame = table.to_pandas()
    assert [int(text) for text in frame["seed_exact"].iloc[:2]] == [2**64 - 1, 2**63]
    rows = duckdb.sql("SELECT seed_exact::HUGEINT FROM frame ORDER BY image_id").fetchall()
    assert [row[0] for row in rows] == [2**64 - 1, 2**63, 2**63 - 1, -1, 0, 42, None, 2**70, 17]


def test_parquet_is_written_in_row_groups():
    records = [{"image_id": i, "tags": [f"t{i}"]} for i in range(5)]
    buffer = io.BytesIO()
    assert write_parquet(records, buffer, row_group_size=2) == 5
    parquet = pq.ParquetFile(io.BytesIO(buffer.getvalue()))
    assert parquet.metadata.num_row_groups == 3
    assert parquet.read().column("tags").to_pylist() == [[f"t{i}"] for i in range(5)]


def test_nothing_selected_still_gives_valid_files(hostile_archive, tmp_path):
    nothing = RecordFilter(author="nobody")
    with open_archive(hostile_archive.path, create=False) as archive:
        for fmt in ("json", "jsonl", "csv", "parquet"):
            result = export_archive(archive.conn, nothing, fmt, tmp_path / f"empty.{fmt}")
            assert result.count == 0
    assert json.loads((tmp_path / "empty.json").read_text()) == []
    assert (tmp_path / "empty.jsonl").read_bytes() == b""
    assert pd.read_csv(tmp_path / "empty.csv").columns.tolist() == list(EXPORT_FIELDS)
    assert pq.read_table(tmp_path / "empty.parquet").num_rows == 0


def test_values_sqlite_stores_loosely_do_not_break_parquet():
    # SQLite columns keep whatever they were given; typed columns get null, not a crash.
    odd = {"image_id": 1, "steps": "30", "seed": "not a number", "cfg_scale": "7", "width": 2**70}
    odd |= {"created_at": "2024-08-31T01:11:47.021Z", "published_at": "yesterday"}
    buffer = io.BytesIO()
    write_records([odd], "parquet", buffer)
    row = pq.read_table(io.BytesIO(buffer.getvalue())).to_pylist()[0]
    assert (row["steps"], row["seed"], row["cfg_scale"], row["width"]) == (30, None, 7.0, None)
    assert row["created_at"].isoformat() == "2024-08-31T01:11:47.021000+00:00"
    assert row["published_at"] is None


def test_infinite_numbers_become_null_in_json():
    # SQLite keeps an infinite REAL; JSON has no way to write it, and readers reject NaN.
    buffer = io.BytesIO()
    write_records(
        [{"image_id": 1, "cfg_scale": float("inf"), "loras": [{"weight": 1.5}]}], "json", buffer
    )
    assert json.loads(buffer.getvalue()) == [
        {"image_id": 1, "cfg_scale": None, "loras": [{"weight": 1.5}]}
    ]
