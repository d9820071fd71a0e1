"""The search box's language, and the SQL condition it stands for.

    cat castle          both words (each matches from its start: `cat` finds "cats")
    "red hair"          the words next to each other, in this order
    cat OR fox          either (OR binds closer than the space: `a b OR c` is a and (b or c))
    -fox                not this word (also `-"red hair"`, `-tag:nsfw`)
    field:value         the field contains value, ignoring case: model:, lora:, tag:,
                        sampler:, author:, base: (`base:"sd 1.5"` for a value with spaces)

Free words search the full-text index (prompt, negative prompt, tags, checkpoint
and LoRA names, author); a `field:` term reads that field alone. Anything that
is not this syntax is searched as words, so no input is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


def _values_containing(table: str, column: str, where: str = "") -> str:
    """The distinct values of `column` that contain `?` (a LIKE pattern), from its index.

    A loose index scan: one index seek per distinct value (a few dozen samplers
    or base models, a few thousand checkpoints), then LIKE on each value once,
    instead of LIKE on every image's row.
    """
    scope = f"{where} AND " if where else ""
    return f"""WITH RECURSIVE v(x) AS (
            SELECT min({column}) FROM {table} WHERE {scope}{column} IS NOT NULL
            UNION ALL
            SELECT (SELECT min({column}) FROM {table} WHERE {scope}{column} > v.x)
            FROM v WHERE v.x IS NOT NULL)
        SELECT x FROM v WHERE x LIKE ? ESCAPE '\\'"""


# What `field:` names, and the images whose field contains the value (the `?`).
# Columns of the gallery's covering index are tested on it directly ("IS NOT
# NULL AND" so that a negated term keeps the images without a value).
_FIELD_SQL: dict[str, str] = {
    "model": "(i.model IS NOT NULL AND i.model IN ("
    + _values_containing("images INDEXED BY images_model", "model")
    + "))",
    "base": "(i.base_model IS NOT NULL AND i.base_model IN ("
    + _values_containing("images INDEXED BY images_base_model", "base_model")
    + "))",
    "author": "(i.author IS NOT NULL AND i.author IN ("
    + _values_containing("images INDEXED BY images_author", "author")
    + "))",
    "sampler": "i.id IN (SELECT id FROM images INDEXED BY images_sampler WHERE sampler IN ("
    + _values_containing("images INDEXED BY images_sampler", "sampler")
    + "))",
    # `COLLATE NOCASE` lets the covering (kind, name, image) index answer; a name
    # equal to a matching one but for case contains the (case-blind) LIKE pattern too.
    "lora": "i.id IN (SELECT image_id FROM image_resources "
    "INDEXED BY image_resources_kind_name_image "
    "WHERE kind = 'lora' AND name COLLATE NOCASE IN ("
    + _values_containing(
        "image_resources INDEXED BY image_resources_kind_name", "name", "kind = 'lora'"
    )
    + "))",
    "tag": "i.id IN (SELECT it.image_id FROM image_tags it INDEXED BY image_tags_tag_image "
    "WHERE it.tag_id IN (SELECT id FROM tags WHERE name LIKE ? ESCAPE '\\'))",
}
# Other spellings people reach for.
_FIELD_ALIASES = {
    "checkpoint": "model",
    "base_model": "base",
    "basemodel": "base",
    "tags": "tag",
    "user": "author",
    "by": "author",
}
SEARCH_FIELDS: tuple[str, ...] = tuple(_FIELD_SQL)

# One term: optional "-", optional "field:", then a "quoted phrase" or a bare word.
_TERM = re.compile(r'(-?)(?:([A-Za-z_]+):)?(?:"([^"]*)"?|(\S+))')


@dataclass(frozen=True)
class Term:
    """One thing to look for. `field` None: free text; `phrase`: the words must be adjacent."""

    text: str
    field: str | None = None
    negated: bool = False
    phrase: bool = False


# A query: every group must match; a group matches when any of its terms does.
Query = list[list[Term]]


def parse_query(text: str) -> Query:
    """`cat OR fox -dog` -> [[cat, fox], [-dog]]."""
    groups: Query = []
    join_next = False
    for match in _TERM.finditer(text):
        minus, field, quoted, bare = match.groups()
        if bare == "OR" and not minus and not field:
            join_next = bool(groups)
            continue
        term = _term(minus == "-", field, quoted, bare)
        if term is None:
            continue
        if join_next:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    return groups


def _term(negated: bool, field: str | None, quoted: str | None, bare: str | None) -> Term | None:
    name = _FIELD_ALIASES.get((field or "").lower(), (field or "").lower()) or None
    value = quoted if quoted is not None else bare or ""
    if name is not None and name not in _FIELD_SQL:
        # `masterpiece:1.2`, `http://...`: not a field, just text.
        value, name = f"{field}:{value}", None
    if name is not None:
        value = value.strip()
        return Term(value, name, negated, quoted is not None) if value else None
    if not re.search(r"\w", value):
        return None
    return Term(value, None, negated, quoted is not None)


def _fts_term(term: Term) -> str:
    """One FTS5 expression: `"cat"*` (prefix), `"red hair"` (phrase), `"semi realistic"*`."""
    words = re.findall(r"\w+", term.text, flags=re.UNICODE)
    phrase = '"' + " ".join(words) + '"'
    return phrase if term.phrase else phrase + "*"


def _like(value: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", value) + "%"


FTS_MATCH = "i.id IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)"


def _group_condition(group: list[Term]) -> tuple[str, list[Any]]:
    """SQL for "any of these terms"; free words that are not negated share one FTS match."""
    parts: list[str] = []
    params: list[Any] = []
    free = [t for t in group if t.field is None and not t.negated]
    if free:
        parts.append(FTS_MATCH)
        params.append(" OR ".join(_fts_term(t) for t in free))
    for term in group:
        if term.field is None and not term.negated:
            continue
        if term.field is None:
            sql, value = FTS_MATCH, _fts_term(term)
        else:
            sql, value = _FIELD_SQL[term.field], _like(term.text)
        parts.append(f"NOT ({sql})" if term.negated else sql)
        params.append(value)
    sql = parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
    return sql, params


def split_query(text: str) -> tuple[str | None, tuple[str, list[Any]] | None]:
    """What was typed as (one FTS5 expression every result matches, the condition on the rest).

    Groups of plain words and phrases (the usual search, and `cat OR fox`)
    join into the FTS expression; negations and `field:` terms make the
    condition on alias `i` (images). Either part may be None.
    """
    groups = parse_query(text)
    # Groups of plain words and phrases only: `cat`, `cat OR fox`.
    plain = [g for g in groups if all(t.field is None and not t.negated for t in g)]
    matches = [
        _fts_term(g[0]) if len(g) == 1 else "(" + " OR ".join(_fts_term(t) for t in g) + ")"
        for g in plain
    ]
    match = " AND ".join(matches) if matches else None
    parts: list[str] = []
    params: list[Any] = []
    for group in groups:
        if group in plain:
            continue
        sql, values = _group_condition(group)
        parts.append(sql)
        params.extend(values)
    return match, ((" AND ".join(parts), params) if parts else None)


def query_condition(text: str) -> tuple[str, list[Any]] | None:
    """SQL condition on alias `i` (images) for what was typed, or None when it asks nothing."""
    match, rest = split_query(text)
    parts: list[str] = []
    params: list[Any] = []
    if match is not None:
        parts.append(FTS_MATCH)
        params.append(match)
    if rest is not None:
        parts.append(rest[0])
        params.extend(rest[1])
    return (" AND ".join(parts), params) if parts else None
