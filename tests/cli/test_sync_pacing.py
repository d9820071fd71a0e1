"""`sync --rate` and `--concurrency` reach the client: a run takes at least as long as they imply.

Only lower bounds are checked (a slow machine makes a run longer, never shorter),
so these tests cannot fail for lack of speed.
"""

from __future__ import annotations

from typing import Any


def sync_summary(cli: Any, tmp_path: Any, *args: str) -> dict[str, Any]:
    done = cli("sync", "--archive", str(tmp_path / "archive"), "--json", "--no-media", *args)
    assert done.code == 0, done.stderr
    return done.json()


def test_rate_limits_api_requests_per_second(red_cli, red_emulator, tmp_path):
    rate = 20
    target = f"collection:{red_emulator.dataset.named['demo_collection']}"
    summary = sync_summary(red_cli, tmp_path, "--rate", str(rate), "--limit", "12", target)
    requests = summary["api_requests"]
    assert requests > 2 * rate
    # A bucket of `rate` tokens to start with, then `rate` a second.
    assert summary["seconds"] >= (requests - rate) / rate


def test_concurrency_one_sends_one_request_at_a_time(cli, slow_emulator, tmp_path):
    user = cli.pointing_at(slow_emulator, signed_in=True)
    post = slow_emulator.dataset.named["post_id"]
    summary = sync_summary(user, tmp_path, "--rate", "0", "--concurrency", "1", f"post:{post}")
    assert summary["ok"] is True
    latency = slow_emulator.config.faults.latency
    assert latency > 0
    assert summary["seconds"] >= summary["api_requests"] * latency
