"""From what the user types or pastes to a Target, by the sources' own declarations.

Accepted: civitai.com / civitai.red URLs (with or without `www.` and scheme;
the query string is read, the fragment ignored) of every declared source,
`kind:REF` forms (`collection:12`, `user:NAME`, `model-version:5`), the bare
words `me`, `reactions` and `generated`, and a bare number (an image id).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from civitai_vault.sources.base import MAX_ID, SOURCES, Site, Source, Target

__all__ = ["ACCEPTED_FORMS", "parse_target"]

SITES: dict[str, Site] = {"civitai.com": "com", "civitai.red": "red"}
_ID = re.compile(r"[0-9]{1,16}")
_USERNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
_PREFIXED = re.compile(r"([A-Za-z][A-Za-z_-]*)\s*:\s*([^?]*)(?:\?(.*))?", re.DOTALL)

ACCEPTED_FORMS = (
    "a civitai.com or civitai.red URL (/collections/N, /images/N, /posts/N, /models/N, "
    "/user/NAME, /user/NAME/images|videos|posts|collections, /generate), "
    "collection:N, image:N, post:N, user:NAME, model:N, model-version:N, me, reactions, "
    "generated, or an image id"
)


def parse_target(text: str) -> Target:
    """A Target from user input; ValueError with a one-line message when it is not one."""
    raw = (text or "").strip()
    if not raw:
        raise ValueError(f"no target given: use {ACCEPTED_FORMS}")
    if _ID.fullmatch(raw):
        return Target("image", _checked_id(raw, raw))
    bare = _by_prefix(raw.lower())
    if bare is not None and bare.takes == "none":
        return bare.target({}, None, {})
    prefixed = _PREFIXED.fullmatch(raw)
    if prefixed and "//" not in raw and not raw.lower().startswith(("http", "civitai.", "www.")):
        return _from_prefixed(raw, prefixed)
    url_target = _from_url(raw)
    if url_target is not None:
        return url_target
    raise ValueError(f"not a Civitai target: {_shown(raw)}; use {ACCEPTED_FORMS}")


def _by_prefix(word: str) -> type[Source] | None:
    for source in SOURCES.values():
        if word in source.prefixes:
            return source
    return None


def _from_prefixed(raw: str, match: re.Match[str]) -> Target:
    source = _by_prefix(match.group(1).lower())
    if source is None:
        raise ValueError(f"not a Civitai target: {_shown(raw)}; use {ACCEPTED_FORMS}")
    ref = match.group(2).strip()
    query = parse_qs(match.group(3) or "", keep_blank_values=True)
    if source.takes == "id":
        return source.target({"id": str(_checked_id(ref, raw))}, None, query)
    if source.takes == "name":
        return source.target({"name": _checked_username(ref, raw)}, None, query)
    if ref:
        raise ValueError(f"{source.kind} takes no id or name: {_shown(raw)}")
    return source.target({}, None, query)


def _from_url(raw: str) -> Target | None:
    candidate = raw if "://" in raw else f"https://{raw}"
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme not in ("http", "https"):
        return None
    site = SITES.get(host.removeprefix("www."))
    if site is None:
        return None
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    query = parse_qs(parts.query, keep_blank_values=True)
    for source in SOURCES.values():
        match = source.match_path(path)
        if match is None:
            continue
        groups = match.groupdict()
        if groups.get("id") is not None:
            groups["id"] = str(_checked_id(groups["id"] or "", raw))
        if groups.get("name") is not None:
            groups["name"] = _checked_username(groups["name"] or "", raw)
        return source.target(groups, site, query)
    raise ValueError(
        f"not a Civitai page that can be archived: {_shown(raw)}; use {ACCEPTED_FORMS}"
    )


def _checked_id(digits: str, raw: str) -> int:
    if not _ID.fullmatch(digits) or not 0 < int(digits) <= MAX_ID:
        raise ValueError(
            f"not a valid Civitai id in {_shown(raw)} (ids are positive whole numbers); "
            f"use {ACCEPTED_FORMS}"
        )
    return int(digits)


def _checked_username(text: str, raw: str) -> str:
    name = unquote(text)
    if not _USERNAME.fullmatch(name):
        raise ValueError(
            f"not a Civitai user name in {_shown(raw)} (names are letters, digits and _); "
            f"use {ACCEPTED_FORMS}"
        )
    return name


def _shown(raw: str) -> str:
    """The input as it may appear in a one-line message: short, no control characters."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in raw)
    return repr(clean if len(clean) <= 80 else clean[:77] + "...")
