"""The adaptive pace (AIMD token bucket) and the back-off rule, on a simulated clock."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

import pytest

from civitai_vault.api import RateLimited, ServerError
from civitai_vault.api.pacing import MIN_RATE, AdaptivePacer
from civitai_vault.api.retry import make_wait


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sends_in(pacer: AdaptivePacer, clock: FakeClock, seconds: float, step: float = 0.01) -> int:
    """How many requests the bucket lets out in `seconds` of simulated time."""
    sent = 0
    end = clock.now + seconds
    while clock.now < end:
        if pacer._take() <= 0:
            sent += 1
        else:
            clock.now += step
    return sent


def test_bucket_holds_the_configured_rate() -> None:
    clock = FakeClock()
    pacer = AdaptivePacer(2.0, clock=clock)
    assert sends_in(pacer, clock, 10.0) in range(20, 23)  # 2/s plus the initial burst


def test_overload_halves_and_success_recovers_additively() -> None:
    pacer = AdaptivePacer(4.0, clock=FakeClock())
    assert pacer.slow_down() and pacer.current == 2.0
    assert pacer.slow_down() and pacer.current == 1.0
    steps = []
    while pacer.current < 4.0:
        pacer.speed_up()
        steps.append(pacer.current)
    assert steps[0] == pytest.approx(1.2) and steps[1] == pytest.approx(1.4)
    assert steps[-1] == 4.0 and len(steps) == 15  # +0.2 per answered request


def test_a_burst_of_overload_answers_halves_once() -> None:
    async def main() -> tuple[float, list[bool]]:
        pacer = AdaptivePacer(8.0, clock=FakeClock())
        rounds = [await pacer.wait() for _ in range(4)]  # four requests in flight
        changed = [pacer.slow_down(r) for r in rounds]  # all four come back 503
        return pacer.current, changed

    current, changed = asyncio.run(main())
    assert current == 4.0 and changed == [True, False, False, False]


def test_pace_stops_at_an_eighth_of_the_configured_rate() -> None:
    pacer = AdaptivePacer(2.0, clock=FakeClock())
    for _ in range(100):
        pacer.slow_down()
    assert pacer.current == pytest.approx(0.25)
    tiny = AdaptivePacer(0.1, clock=FakeClock())
    for _ in range(100):
        tiny.slow_down()
    assert tiny.current == MIN_RATE


def test_unlimited_pace_limits_itself_after_overload_and_lifts_it_again() -> None:
    clock = FakeClock()
    pacer = AdaptivePacer(0, clock=clock)
    for _ in range(11):  # 10 requests per second observed
        pacer._sent.append((clock.now, 1.0))
        clock.now += 0.1
    pacer.slow_down()
    assert pacer.current == pytest.approx(5.0, rel=0.05)
    for _ in range(100):
        pacer.speed_up()
    assert pacer.current == 0  # back to unlimited


def test_waiters_all_get_through() -> None:
    async def main() -> int:
        pacer = AdaptivePacer(1000.0)
        await asyncio.gather(*(pacer.wait() for _ in range(20)))
        return len(pacer._sent)

    assert asyncio.run(main()) == 20


class State:
    """The part of tenacity's RetryCallState the wait rule reads."""

    def __init__(self, attempt_number: int, exc: BaseException) -> None:
        self.attempt_number = attempt_number
        future: Future[Any] = Future()
        future.set_exception(exc)
        self.outcome = _Outcome(future)


class _Outcome:
    def __init__(self, future: Future[Any]) -> None:
        self._future = future
        self.failed = True

    def exception(self) -> BaseException | None:
        return self._future.exception()


def test_backoff_is_full_jitter_within_the_cap() -> None:
    wait = make_wait(base=1.0, cap=8.0, retry_after_cap=60.0)
    error = ServerError("x", status=500)
    for attempt in range(1, 10):
        delays = [wait(State(attempt, error)) for _ in range(200)]  # type: ignore[arg-type]
        ceiling = min(8.0, 2 ** (attempt - 1))
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # spread over the whole range, not a fixed delay


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    wait = make_wait(base=0.001, cap=0.01, retry_after_cap=5.0)
    assert wait(State(1, RateLimited("x", status=429, retry_after=2.0))) >= 2.0  # type: ignore[arg-type]
    assert wait(State(1, RateLimited("x", status=429, retry_after=900.0))) == 5.0  # type: ignore[arg-type]


def test_a_batch_pays_its_calls_on_credit_and_the_next_send_waits_for_them() -> None:
    clock = FakeClock()
    pacer = AdaptivePacer(10.0, clock=clock)
    assert pacer._take(50) == 0  # a 50-call batch goes out at once...
    delay = pacer._take(1)
    assert delay == pytest.approx(4.1, rel=0.01)  # ...and the next waits for the 50 calls
    clock.now += delay
    assert pacer._take(1) == 0


def test_a_wait_for_the_pace_of_two_seconds_or_more_is_said(monkeypatch, caplog):
    """After push-back the pace can fall below one request in two seconds: say so."""
    clock = FakeClock()
    pacer = AdaptivePacer(0.25, clock=clock)  # one request every 4 s

    async def sleep(seconds: float) -> None:  # simulated time: the wait passes at once
        clock.now += seconds

    monkeypatch.setattr("civitai_vault.api.pacing.asyncio.sleep", sleep)
    caplog.set_level("INFO", logger="civitai_vault.waits")

    async def two() -> None:
        await pacer.wait()
        await pacer.wait()

    asyncio.run(two())
    notices = [r.getMessage() for r in caplog.records if r.name == "civitai_vault.waits"]
    assert notices == ["waiting 4 s: the pace of Civitai allows 0.25 requests/s (as set)"]
