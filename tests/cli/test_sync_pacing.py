"""How long a run takes: --rate and --concurrency reach the client; Ctrl+C ends it cleanly.

Only lower bounds are checked (a slow machine makes a run longer, never shorter),
so these tests cannot fail for lack of speed.
"""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def sync_summary(cli: Any, tmp_path: Any, *args: str) -> dict[str, Any]:
    done = cli("sync", "--archive", str(tmp_path / "archive"), "--json", "--no-media", *args)
    assert done.code == 0, done.stderr
    return done.json()


def test_rate_limits_api_requests_per_second(red_cli, red_emulator, tmp_path):
    rate = 10
    target = f"collection:{red_emulator.dataset.named['demo_collection']}"
    # One call per request, so that a dozen images make enough requests to measure.
    flags = ("--rate", str(rate), "--batch-size", "1", "--limit", "12")
    summary = sync_summary(red_cli, tmp_path, *flags, target)
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


def test_ctrl_c_stops_a_run_in_one_line_and_the_next_run_completes(
    cli, slow_emulator, red_emulator, tmp_path
):
    """Interrupted mid-run (the slow emulator guarantees it is mid-run), then run again."""
    dataset = slow_emulator.dataset
    collection = dataset.collections[dataset.named["demo_collection"]]
    archive = tmp_path / "archive"
    args = ["sync", "--archive", str(archive), "--rate", "0", "--no-media"]
    user = cli.pointing_at(slow_emulator, signed_in=True)
    process = subprocess.Popen(
        [*user.command, *args, f"collection:{collection.id}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=user.environment(),
        text=True,
    )
    first_line = process.stderr.readline()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate()
    assert first_line.startswith("syncing ")
    assert process.returncode == 130
    assert err.strip().splitlines()[-1] == (
        "error: interrupted; run the same command again to continue where it stopped"
    )
    assert "Traceback" not in out + err

    again = cli.pointing_at(red_emulator, signed_in=True)(
        *args, "--json", f"collection:{collection.id}"
    )
    assert again.code == 0, again.stderr
    status = cli("status", "--archive", str(archive), "--json").json()
    assert status["totals"]["images"] == len(collection.image_ids)
    assert status["totals"]["with_details"] == len(collection.image_ids)
