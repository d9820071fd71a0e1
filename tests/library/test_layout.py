"""The shape of what the project ships: SQL stays inside the archive package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "civitai_vault"

# A string that starts an SQL statement, and the calls that run one.
_SQL_TEXT = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|PRAGMA|CREATE|"
    r"DROP|ALTER|WITH)\b"
)
_SQL_CALLS = {"execute", "executemany", "executescript"}
# The gallery's streamed download still opens its own read transaction.
_SQL_STILL_OUTSIDE = {"web/download.py"}


def _sql_outside_archive(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _SQL_TEXT.match(node.value):
                found.append(f"line {node.lineno}: {node.value.strip()[:40]!r}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _SQL_CALLS
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}(...)")
    return found


def test_sql_is_written_and_run_only_inside_the_archive_package() -> None:
    offenders: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("archive/") or relative in _SQL_STILL_OUTSIDE:
            continue
        if found := _sql_outside_archive(path):
            offenders[relative] = found
    assert offenders == {}


def test_the_sql_check_sees_sql_in_plain_and_formatted_strings(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'def f(conn, where):\n    return conn.execute(f"SELECT id FROM images WHERE {where}")\n'
    )
    assert len(_sql_outside_archive(sample)) == 2
