"""The README's Sources table says what the source declarations say (one row each)."""

from __future__ import annotations

from pathlib import Path

from civitai_vault.sources import SOURCES

README = Path(__file__).resolve().parents[2] / "README.md"


def sources_rows() -> dict[str, list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Sources\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return {
        cells[0]: cells for cells in ([c.strip() for c in r.strip("|").split(" | ")] for r in rows)
    }


def test_every_source_has_its_row_with_its_procedure_cost_login_and_filters() -> None:
    rows = sources_rows()
    assert set(rows) == {source.title for source in SOURCES.values()}
    for source in SOURCES.values():
        _, _, procedure, cost, login, filters = rows[source.title]
        assert procedure == source.procedure
        assert cost == source.cost
        assert login == ("yes" if source.needs_login else "no")
        assert filters == (", ".join(f"`--{n}`" for n in sorted(source.filters)) or "none")
