"""When and how long to wait before asking again.

Back-off is "full jitter": the n-th retry waits a uniformly random time in
[0, min(cap, base * 2**(n-1))), which spreads many clients' retries out
instead of synchronising them. When the server names a Retry-After, we wait
at least that long (up to a cap, so a silly value cannot stall a run for
hours).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from tenacity import RetryCallState

from civitai_vault.api.errors import CivitaiError
from civitai_vault.waits import announce_wait

__all__ = ["backoff_delay", "full_jitter", "is_retryable", "make_wait", "say_retry_wait"]


def full_jitter(base: float, cap: float, attempt: int) -> float:
    """Back-off before the n-th retry (1-based)."""
    return random.uniform(0, min(cap, base * 2 ** max(0, attempt - 1)))


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, CivitaiError) and exc.retryable


def backoff_delay(
    attempt: int, exc: BaseException | None, base: float, cap: float, retry_after_cap: float
) -> float:
    """Seconds to wait after the n-th failed try: full jitter, never less than Retry-After."""
    delay = full_jitter(base, cap, attempt)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        delay = max(delay, min(float(retry_after), retry_after_cap))
    return delay


def make_wait(base: float, cap: float, retry_after_cap: float) -> Callable[[Any], float]:
    """A tenacity `wait` callable: full jitter, but never less than Retry-After."""

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        return backoff_delay(state.attempt_number, exc, base, cap, retry_after_cap)

    return wait


def say_retry_wait(
    seconds: float,
    exc: BaseException | None,
    *,
    server: str,
    subject: str,
    next_try: int,
    tries: int,
) -> None:
    """Announce the back-off before a retry, when long enough to notice:
    "waiting 8 s: the CDN answered 503 for image 123, try 2 of 5"."""
    status = getattr(exc, "status", None)
    if status:
        what = f"{server} answered {status} for {subject}"
    elif isinstance(exc, CivitaiError):
        what = f"{exc.what} for {subject}"  # "Civitai (host) did not answer in time", ...
    else:
        what = f"{subject} failed"
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        what += f" and asked to wait {retry_after:g} s"
    announce_wait(seconds, f"{what}, try {next_try} of {tries}")
