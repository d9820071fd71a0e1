"""The shape of what the project ships: SQL stays inside the archive package, and no shipped
file points a reader at a document the project does not contain."""

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
# Nothing is left outside; a module listed here would be let off.
_SQL_STILL_OUTSIDE: set[str] = set()

_SHIPPED = ("src", "docs", "benchmarks", "README.md", "pyproject.toml")
_TEXT_SUFFIXES = {".py", ".md", ".html", ".js", ".css", ".toml", ".txt", ".cfg", ".ini", ".json"}
_MD_NAME = re.compile(r"[\w./-]*\w\.md\b")


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


def _shipped_text_files() -> list[Path]:
    files: list[Path] = []
    for name in _SHIPPED:
        path = ROOT / name
        if path.is_file():
            files.append(path)
            continue
        for item in sorted(path.rglob("*")):
            parts = item.relative_to(ROOT).parts
            if any(part.startswith(".") or part.endswith(".egg-info") for part in parts):
                continue
            if any(part == "__pycache__" for part in parts):
                continue
            if item.is_file() and item.suffix in _TEXT_SUFFIXES:
                files.append(item)
    return files


def _markdown_in_repo() -> set[str]:
    """Every .md file's path below the repository, as a relative POSIX path."""
    found = set()
    for item in ROOT.rglob("*.md"):
        parts = item.relative_to(ROOT).parts
        if any(part.startswith(".") or part == "node_modules" for part in parts):
            continue
        found.add(item.relative_to(ROOT).as_posix())
    return found


def _names_a_present_file(name: str, present: set[str]) -> bool:
    name = name.lstrip("./")
    return any(path == name or path.endswith("/" + name) for path in present)


def test_no_shipped_file_names_a_markdown_file_the_project_does_not_contain() -> None:
    present = _markdown_in_repo()
    assert "docs/internals.md" in present  # the walk sees the repository it runs in
    missing = [
        f"{path.relative_to(ROOT)}:{number}: {name}"
        for path in _shipped_text_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for name in _MD_NAME.findall(line)
        if not _names_a_present_file(name, present)
    ]
    assert missing == []
