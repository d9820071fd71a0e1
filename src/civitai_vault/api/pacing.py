"""One pace for every call of a client: an adaptive token bucket plus a concurrency gate.

The bucket hands out requests at `rate` per second (bursts of at most
`burst`). When the server says it is overloaded (429 or 503) the rate is
halved; every answered request then adds back a small fixed step until the
configured rate is reached again (additive increase, multiplicative
decrease). So a run settles at the rate the server accepts instead of
hammering it or crawling.

Two guards keep the decrease sane:

- Each request carries the "round" it was sent in (`wait()` returns it).
  Overload answers to requests sent before the last decrease are about the
  old pace, so they do not halve it again: a burst of concurrent 503s counts
  once, as in TCP's congestion control.
- The pace never drops below an eighth of the configured one: the back-off
  between retries already protects a struggling server, and a persistent
  outage should end in a clear error, not a crawl.

A rate of 0 means no limit until the first overload answer, after which the
pace starts from half the rate observed just before it and climbs back the
same way; when it has climbed back past that observed rate, the limit is
lifted again.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from civitai_vault.waits import WAIT_NOTICE_SECONDS, announce_wait

__all__ = ["AdaptivePacer"]


# However often the server complains: at most this many halvings below the set pace...
FLOOR_DIVISOR = 8
# ...and never slower than one request every 20 seconds.
MIN_RATE = 0.05
# Sends remembered to estimate the current rate when no limit was set.
WINDOW = 32


class AdaptivePacer:
    """An AIMD token bucket shared by all calls of one client (asyncio, single loop)."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        unit: str = "requests",
        of: str = "Civitai",
    ) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0 requests per second (0 = unlimited)")
        # How a long wait names this pace: "the pace of the CDN allows 2 requests/s".
        self._unit, self._of = unit, of
        self.target = float(rate)  # what the user asked for; 0 = unlimited
        self.current = float(rate)  # what we use now; 0 = unlimited
        self._ceiling = float(rate)  # where additive increase stops
        self._burst = burst
        self._clock = clock
        self._tokens = self._capacity()
        self._stamp = clock()
        self._lock = asyncio.Lock()
        self._sent: deque[tuple[float, float]] = deque(maxlen=WINDOW)  # (when, cost)
        self._round = 0
        self.slowdowns = 0

    @property
    def floor(self) -> float:
        return max(MIN_RATE, self._ceiling / FLOOR_DIVISOR)

    # ------------------------------------------------------------ sending

    async def wait(self, cost: float = 1.0) -> int:
        """Return when `cost` more units (requests, or calls of a batch) may go out.

        A cost above the bucket's capacity is paid on credit: it goes out as soon as
        one unit is available and the debt delays whatever comes next, so the
        average pace holds for batches of any size. The result is the round the
        units were sent in, for `slow_down`.
        """
        async with self._lock:  # first come, first served
            while True:
                delay = self._take(cost)
                if delay <= 0:
                    break
                if delay >= WAIT_NOTICE_SECONDS:
                    # After 429s and 503s the pace can drop below one request in two seconds.
                    why = "after Civitai pushed back" if self.current < self.target else "as set"
                    announce_wait(
                        delay,
                        f"the pace of {self._of} allows {self.current:.2g} {self._unit}/s ({why})",
                    )
                await asyncio.sleep(delay)
            self._sent.append((self._clock(), cost))
            return self._round

    def _take(self, cost: float = 1.0) -> float:
        if self.current <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self._capacity(), self._tokens + (now - self._stamp) * self.current)
        self._stamp = now
        if self._tokens >= min(1.0, cost):
            self._tokens -= cost
            return 0.0
        return (min(1.0, cost) - self._tokens) / self.current

    def _capacity(self) -> float:
        if self._burst is not None:
            return max(1.0, self._burst)
        # Polite by default: about one second's worth, so a slow rate never bursts.
        return max(1.0, self.current)

    # ------------------------------------------------------------ feedback

    def slow_down(self, sent_in_round: int | None = None) -> bool:
        """The server said 429/503 to a request sent in `sent_in_round`: halve the pace.

        Returns whether the pace changed (answers to older rounds do not count).
        """
        if sent_in_round is not None and sent_in_round < self._round:
            return False
        if self.current <= 0:
            observed = self.observed_rate()
            if observed is None:
                return False  # nothing sent yet that we could measure: back-off alone must do
            self._ceiling = observed
            self.current = max(self.floor, observed / 2)
        else:
            self.current = max(self.floor, self.current / 2)
        self._round += 1
        self.slowdowns += 1
        self._tokens = min(self._tokens, self._capacity())
        return True

    def speed_up(self) -> None:
        """A request was answered: creep back towards the configured pace."""
        if self.current <= 0 or self.current >= self._ceiling:
            return
        step = max(MIN_RATE, self._ceiling / 20)
        self.current = min(self._ceiling, self.current + step)
        if self.target == 0 and self.current >= self._ceiling:
            self.current = 0.0  # fully recovered: unlimited again
            self._ceiling = 0.0

    def observed_rate(self) -> float | None:
        """Units (requests or calls) per second over the last few sends, or None with too few."""
        if len(self._sent) < 2:
            return None
        span = self._sent[-1][0] - self._sent[0][0]
        if span <= 0:
            return None
        return sum(cost for _, cost in list(self._sent)[1:]) / span
