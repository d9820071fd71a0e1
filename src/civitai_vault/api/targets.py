"""What the user asks to archive, from what they type or paste.

Accepted forms:

- Civitai URLs, on civitai.com or civitai.red (with or without `www.`, scheme,
  query string or fragment): `/collections/N`, `/images/N`, `/posts/N`,
  `/user/NAME/collections`, `/user/NAME/images`;
- `collection:N`, `image:N`, `post:N`;
- `me` (every collection the signed-in user owns);
- a bare number, meaning an image id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

__all__ = ["ACCEPTED_FORMS", "Target", "TargetKind", "parse_target"]

TargetKind = Literal["collection", "image", "post", "user_images", "user_collections", "me"]

ACCEPTED_FORMS = (
    "a civitai.com or civitai.red URL (/collections/N, /images/N, /posts/N, "
    "/user/NAME/collections, /user/NAME/images), collection:N, image:N, post:N, me, "
    "or an image id"
)

SITES = {"civitai.com": "com", "civitai.red": "red"}
MAX_ID = 2**53 - 1  # ids are JS numbers on the wire
_ID = r"[0-9]{1,16}"
_USERNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
_PREFIXED = re.compile(rf"(collection|image|post)s?\s*:\s*({_ID})", re.IGNORECASE)
_PATHS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"/collections/({_ID})(?:/.*)?"), "collection"),
    (re.compile(rf"/images/({_ID})(?:/.*)?"), "image"),
    (re.compile(rf"/posts/({_ID})(?:/.*)?"), "post"),
    (re.compile(r"/user/([^/]+)/collections/?"), "user_collections"),
    (re.compile(r"/user/([^/]+)/images/?"), "user_images"),
]


@dataclass(frozen=True)
class Target:
    """One thing to archive. `site` is set when it came from a URL ("com" or "red")."""

    kind: TargetKind
    id: int | None = None
    username: str | None = None
    site: Literal["com", "red"] | None = None

    def __str__(self) -> str:
        if self.kind == "me":
            return "me"
        if self.username is not None:
            return f"{self.kind}:{self.username}"
        return f"{self.kind}:{self.id}"


def parse_target(text: str) -> Target:
    """A Target from user input; ValueError with a one-line message when it is not one."""
    raw = (text or "").strip()
    if not raw:
        raise ValueError(f"no target given: use {ACCEPTED_FORMS}")
    if raw.lower() == "me":
        return Target("me")
    if re.fullmatch(_ID, raw):
        return Target("image", _checked_id(raw, raw))
    prefixed = _PREFIXED.fullmatch(raw)
    if prefixed:
        kind = prefixed.group(1).lower()
        return Target(kind, _checked_id(prefixed.group(2), raw))  # type: ignore[arg-type]
    url_target = _from_url(raw)
    if url_target is not None:
        return url_target
    raise ValueError(f"not a Civitai target: {_shown(raw)}; use {ACCEPTED_FORMS}")


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
    for pattern, kind in _PATHS:
        match = pattern.fullmatch(path)
        if not match:
            continue
        value = match.group(1)
        if kind in ("user_images", "user_collections"):
            return Target(kind, username=_checked_username(value, raw), site=site)  # type: ignore[arg-type]
        return Target(kind, _checked_id(value, raw), site=site)  # type: ignore[arg-type]
    raise ValueError(
        f"not a Civitai page that can be archived: {_shown(raw)}; use {ACCEPTED_FORMS}"
    )


def _checked_id(digits: str, raw: str) -> int:
    value = int(digits)
    if not 0 < value <= MAX_ID:
        raise ValueError(
            f"not a valid Civitai id in {_shown(raw)} (ids are positive whole numbers); "
            f"use {ACCEPTED_FORMS}"
        )
    return value


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
