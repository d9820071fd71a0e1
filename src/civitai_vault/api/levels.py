"""Which NSFW levels a listing can show: Civitai's browsing-level clamp.

Levels are bit flags (PG=1, PG13=2, R=4, X=8, XXX=16); an image is listed when
its level shares a bit with the request's `browsingLevel` after the server has
clamped it: anonymous callers get PG only, a session on civitai.com (a host
without `canViewNsfw`) PG and PG-13, a session on civitai.red everything
(civitai/civitai src/server/trpc.ts applyDomainFeature @ ebed661630).
"""

from __future__ import annotations

PG, PG13, R, X, XXX = 1, 2, 4, 8, 16
ALL = PG | PG13 | R | X | XXX
ANONYMOUS_CAP = PG
GREEN_SESSION_CAP = PG | PG13


def listing_levels(*, signed_in: bool, site: str, requested: int = ALL) -> int:
    """The levels a listing asked for with `requested` can show, after the server's clamp."""
    if not signed_in:
        cap = ANONYMOUS_CAP
    elif site == "com":
        cap = GREEN_SESSION_CAP
    else:
        cap = ALL
    return (requested & cap) or cap


def could_list(nsfw_level: int | None, levels: int) -> bool:
    """Could a listing showing `levels` have shown an image of `nsfw_level`?

    An unknown or unrated level (None, 0) counts as listable: nothing says the
    site hides it, so its absence is taken at face value.
    """
    return not nsfw_level or bool(nsfw_level & levels)
