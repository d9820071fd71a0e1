"""Long waits, said as they start: the one home of "waiting 8 s: <why>".

The client announces every wait of two seconds or more (a Retry-After, a retry's
back-off, a slow pace, a host that does not answer yet) on the
`civitai_vault.waits` logger. Whoever shows a command's output takes the notices
with `waits_said_by`: the CLI prints them on stderr, a sync's progress as its
status line, `--quiet` not at all. The library says nothing unless asked (the
logger is there to listen to).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["WAIT_NOTICE_SECONDS", "WaitSay", "announce_wait", "wait_log", "waits_said_by"]

# Waits this long or longer are said.
WAIT_NOTICE_SECONDS = 2.0
wait_log = logging.getLogger("civitai_vault.waits")

# say(message, seconds): seconds None when the wait lasts as long as it takes.
WaitSay = Callable[[str, "float | None"], None]
_saying: list[WaitSay] = []  # the innermost taker of notices is the last


def announce_wait(seconds: float | None, reason: str) -> None:
    """Say a wait long enough to notice, as it starts: "waiting 8 s: <reason>".

    `seconds` None: a wait of unknown length that has already lasted the two
    seconds ("waiting: <reason>")."""
    if seconds is None:
        wait_log.info("waiting: %s", reason, extra={"wait_seconds": None})
    elif seconds >= WAIT_NOTICE_SECONDS:
        wait_log.info("waiting %.0f s: %s", seconds, reason, extra={"wait_seconds": seconds})


class _WaitNotices(logging.Handler):
    """Hands each notice to whoever says waits now (if anyone)."""

    def emit(self, record: logging.LogRecord) -> None:
        seconds = getattr(record, "wait_seconds", None)
        if not _saying:
            return
        # A notice only informs: one that cannot be shown (its stream closed, a
        # broken pipe) must not fail the request that is waiting.
        with contextlib.suppress(OSError, ValueError):
            _saying[-1](record.getMessage(), seconds if isinstance(seconds, int | float) else None)


_NOTICES = _WaitNotices(logging.INFO)


@contextmanager
def waits_said_by(say: WaitSay) -> Iterator[None]:
    """While inside, every long wait announced goes to `say(message, seconds)`.

    Nested ones win: a sync's progress takes over from the command's plain stderr
    line, and gives it back when it closes."""
    if _NOTICES not in wait_log.handlers:
        wait_log.addHandler(_NOTICES)
    wait_log.setLevel(logging.INFO)
    _saying.append(say)
    try:
        yield
    finally:
        for index in range(len(_saying) - 1, -1, -1):
            if _saying[index] is say:
                del _saying[index]
                break
