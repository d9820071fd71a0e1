"""An image's tags from its listing item, exactly as `tag.getVotableTags` would give them.

`image.getInfinite` with `include: ["tags"]` carries every tag row of each image
(civitai/civitai @ ebed6616, image.service.ts `getImageTagsForImages`: the
`imageTagsCache` rows, ordered score desc then tag id, with the viewer's vote
merged in). `tag.getVotableTags` reads the same cache and only filters it
(src/server/services/tag.service.ts `getVotableTags`, type "image"):

1. the first `take` rows (100 by default);
2. when one of those comes from WD14, Rekognition rows are dropped, except
   Moderation tags and the names in `styleTags` + `subjectTags`
   (src/libs/tags.ts);
3. a row is kept when it is `concrete`, or its `lastUpvote` is later than
   now + `constants.tagVoting.voteDuration` (one day: the cutoff lies in the
   future, so this never holds for a real vote, but it is the server's rule),
   or the viewer up-voted it (`vote > 0`), or it needs review and the viewer is
   a moderator (we never assume we are one);
4. the output rows lack the listing's `imageId` and `source`.

Applying the same filter to the listing's rows makes the per-image tags call
unnecessary, with the same tags in the same order.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["votable_tags_from_listing"]

DEFAULT_TAKE = 100
VOTE_DURATION = timedelta(days=1)  # constants.tagVoting.voteDuration
KEPT_REKOGNITION_NAMES = frozenset(
    {"anime", "cartoon", "comics", "manga", "man", "woman", "men", "women"}
)
LISTING_ONLY_KEYS = ("imageId", "source")


def votable_tags_from_listing(
    rows: Iterable[Any],
    *,
    take: int = DEFAULT_TAKE,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The `tag.getVotableTags` answer for one image, from its listing tag rows (raw dicts)."""
    first = [row for row in rows if isinstance(row, dict)][: max(take, 0)]
    has_wd14 = any(row.get("source") == "WD14" for row in first)
    cutoff = (now or datetime.now(UTC)) + VOTE_DURATION
    shown = []
    for row in first:
        if has_wd14 and row.get("source") == "Rekognition" and not _kept_rekognition(row):
            continue
        if _shown(row, cutoff):
            shown.append({k: v for k, v in row.items() if k not in LISTING_ONLY_KEYS})
    return shown


def _kept_rekognition(row: dict[str, Any]) -> bool:
    return row.get("type") == "Moderation" or row.get("name") in KEPT_REKOGNITION_NAMES


def _shown(row: dict[str, Any], cutoff: datetime) -> bool:
    if row.get("concrete"):
        return True
    last_upvote = _instant(row.get("lastUpvote"))
    if last_upvote is not None and last_upvote > cutoff:
        return True
    vote = row.get("vote")
    return isinstance(vote, int | float) and not isinstance(vote, bool) and vote > 0


def _instant(value: Any) -> datetime | None:
    """A decoded Date, or the ISO string a search-index page carries."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
