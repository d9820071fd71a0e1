"""Which of an image's tag rows `tag.getVotableTags` shows, as Civitai's server decides.

civitai/civitai @ ebed6616, src/server/services/tag.service.ts `getVotableTags` (type
"image"): take the first `take` (default 100) rows of `imageTagsCache` (ordered score
desc, tag id asc); when any of them comes from WD14, drop the Rekognition ones unless
they are Moderation tags or one of `styleTags`/`subjectTags` (src/libs/tags.ts); merge
the viewer's votes (`vote` 1 or -1); keep a row when it is `concrete`, or its
`lastUpvote` is later than now + `tagVoting.voteDuration` (one day: a cutoff in the
future, so in practice never), or the viewer up-voted it, or it needs review and the
viewer is a moderator (the emulator has no moderators).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from civitai_emulator.models import ImageTagRow, Tag

ALWAYS_INCLUDE = frozenset({"anime", "cartoon", "comics", "manga", "man", "woman", "men", "women"})
VOTE_DURATION = timedelta(days=1)


def visible_rows(
    rows: Iterable[ImageTagRow],
    tags: dict[int, Tag],
    *,
    viewer_is_owner: bool,
    take: int = 100,
    now: datetime | None = None,
) -> list[ImageTagRow]:
    """The rows getVotableTags returns, in order (votes are the owner's, if they are the viewer)."""
    first = list(rows)[: max(take, 0)]
    has_wd14 = any(row.source == "WD14" for row in first)
    cutoff = (now or datetime.now(UTC)) + VOTE_DURATION
    kept = []
    for row in first:
        tag = tags[row.tag_id]
        kept_anyway = tag.type == "Moderation" or tag.name in ALWAYS_INCLUDE
        if row.source == "Rekognition" and has_wd14 and not kept_anyway:
            continue
        vote = row.owner_vote if viewer_is_owner else None
        if (
            row.concrete
            or (row.last_upvote is not None and row.last_upvote > cutoff)
            or (vote is not None and vote > 0)
        ):
            kept.append(row)
    return kept
