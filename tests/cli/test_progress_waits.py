"""What a sync prints while it runs: totals where the server says them, and every long wait.

The waits are made to happen, not timed: the emulator answers 429/503 with a
Retry-After of 2 s (the threshold for saying a wait), so the back-off is at least
that long and must be said; what is asserted is the printed text.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from civitai_emulator import EmulatorConfig, Faults, running_emulator

from .test_sync_command import visible

TRIES = 7  # the first try and the client's 6 retries


def _stderr_lines(done: Any) -> list[str]:
    return [line.strip() for line in done.stderr.splitlines()]


def test_a_public_collection_says_its_size_up_front_for_one_more_request(
    red_cli, red_emulator, tmp_path
):
    dataset = red_emulator.dataset
    collection = dataset.collections[dataset.named["public_collection"]]
    before = red_emulator.count(procedure="collection.getInfinite")
    done = red_cli("sync", "--archive", str(tmp_path / "a"), "--rate", "0", "--no-media",
                   f"collection:{collection.id}")  # fmt: skip
    assert done.code == 0, done.stderr
    asked = red_emulator.count(procedure="collection.getInfinite") - before
    lines = _stderr_lines(done)
    assert lines[0] == (
        f"syncing {collection.name} (collection {collection.id}): "
        f"about {len(collection.image_ids)} images"
    )
    assert asked == 1
    counts = [line for line in lines if line.startswith("listing ")]
    assert counts and all(" so far" not in line.split(",")[0] for line in counts), counts
    assert f"of about {len(collection.image_ids)}" in counts[0]
    shown = len(visible(dataset, collection.image_ids))
    assert lines[-1].startswith(f"{collection.name} (collection {collection.id}): listed {shown},")


def test_a_private_collection_has_no_total_and_costs_no_count_request(
    red_cli, red_emulator, tmp_path
):
    dataset = red_emulator.dataset
    collection_id = dataset.named["demo_collection"]
    before = red_emulator.count(procedure="collection.getInfinite")
    done = red_cli("sync", "--archive", str(tmp_path / "a"), "--rate", "0", "--no-media",
                   f"collection:{collection_id}")  # fmt: skip
    assert done.code == 0, done.stderr
    # collection.getInfinite never answers a Private collection, not even to its owner.
    assert red_emulator.count(procedure="collection.getInfinite") == before
    lines = _stderr_lines(done)
    assert lines[0].startswith("syncing ") and "about" not in lines[0]
    counts = [line for line in lines if line.startswith("listing ")]
    assert counts and counts[0].startswith("listing ") and " so far" in counts[0]
    assert " left" not in counts[0]  # no time remaining without a total


@pytest.fixture
def faulty() -> Iterator[Any]:
    config = EmulatorConfig(seed=11, images=60, site_mode="red")
    with running_emulator(config) as emu:
        yield emu


def test_an_api_retry_after_is_said_as_the_wait_starts(cli, faulty, tmp_path):
    faulty.set_faults(
        Faults(status_429=1.0, limit=1, retry_after=2, procedures={"image.getInfinite"})
    )
    post_id = faulty.dataset.named["post_id"]
    done = cli.pointing_at(faulty, signed_in=True)(
        "sync", "--archive", str(tmp_path / "a"), "--rate", "0", "--no-media", f"post:{post_id}"
    )
    assert done.code == 0, done.stderr
    assert (
        "waiting 2 s: Civitai answered 429 for image.getInfinite and asked to wait 2 s, "
        f"try 2 of {TRIES}"
    ) in _stderr_lines(done)


def test_a_cdn_retry_after_is_said_with_the_image_it_is_for(cli, faulty, tmp_path):
    faulty.set_faults(Faults(cdn_status_503=1.0, limit=1, cdn_retry_after=2))
    image_id = faulty.dataset.named["exif_jpeg_image"]
    done = cli.pointing_at(faulty, signed_in=True)(
        "sync", "--archive", str(tmp_path / "a"), "--rate", "0", f"image:{image_id}"
    )
    assert done.code == 0, done.stderr
    assert (
        f"waiting 2 s: the CDN answered 503 for image {image_id} and asked to wait 2 s, "
        f"try 2 of {TRIES}"
    ) in _stderr_lines(done)
    assert "downloaded 1 files" in done.stderr


def test_a_quiet_sync_says_no_wait(cli, faulty, tmp_path):
    faulty.set_faults(Faults(cdn_status_503=1.0, limit=1, cdn_retry_after=2))
    image_id = faulty.dataset.named["exif_jpeg_image"]
    done = cli.pointing_at(faulty, signed_in=True)(
        "sync", "--archive", str(tmp_path / "a"), "--rate", "0", "--quiet", f"image:{image_id}"
    )
    assert done.code == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    assert faulty.count(listener="cdn") == 2  # the wait happened: one refused, one fetched


def test_a_wait_outside_a_sync_is_one_line_on_stderr(cli, faulty, tmp_path):
    """whoami has no progress of its own: its back-off is still said."""
    faulty.set_faults(
        Faults(status_503=1.0, limit=1, retry_after=2, procedures={"collection.getAllUser"})
    )
    done = cli.pointing_at(faulty, signed_in=True)("whoami")
    assert done.code == 0, done.stderr
    assert _stderr_lines(done) == [
        "waiting 2 s: Civitai answered 503 for collection.getAllUser and asked to wait 2 s, "
        f"try 2 of {TRIES}"
    ]


@pytest.fixture
def silent_host() -> Iterator[int]:
    """A port that takes connections and never answers (a proxy that swallows them)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        for _ in range(3000):  # bounded: at most ten minutes
            if stop.is_set():
                return
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=10)
    for conn in held:
        conn.close()
    server.close()


def test_a_base_url_that_does_not_answer_is_said_before_it_times_out(cli, silent_host):
    done = cli(
        "whoami",
        "--base-url",
        f"http://127.0.0.1:{silent_host}",
        "--api-timeout",
        "3",
        env={"CIVITAI_API_KEY": "k" * 32},
    )
    assert done.code == 1
    lines = _stderr_lines(done)
    assert lines[0] == (
        "waiting: Civitai (127.0.0.1) has not answered for 2 s; giving up after 3 s at most "
        "(check --base-url and your network)"
    )
    assert len(lines) == 2 and lines[1].startswith("error: ")


def test_check_models_refresh_says_how_far_it_is_and_its_waits(cli, faulty, tmp_path):
    signed_in = cli.pointing_at(faulty, signed_in=True)
    archive = str(tmp_path / "a")
    post_id = faulty.dataset.named["post_id"]
    synced = signed_in("sync", "--archive", archive, "--rate", "0", "--no-media", f"post:{post_id}")
    assert synced.code == 0, synced.stderr
    faulty.set_faults(
        Faults(status_503=1.0, limit=1, retry_after=2, procedures={"modelVersion.getById"})
    )
    done = signed_in("check-models", "--refresh", "--archive", archive, "--rate", "0")
    assert done.code == 0, done.stderr
    lines = _stderr_lines(done)
    assert lines[0].startswith("looked up 0/") and lines[-1].startswith("looked up ")
    said = [line for line in lines if line.startswith("waiting 2 s: Civitai answered 503 for ")]
    assert len(said) == 1 and said[0].endswith(f" and asked to wait 2 s, try 2 of {TRIES}")
    assert "modelVersion.getById" in said[0]


def test_a_batch_retry_says_its_wait(faulty):
    """Details are asked in batches: a batch the server refuses is waited for, and said."""
    from civitai_vault.api import CivitaiClient, ClientSettings
    from civitai_vault.waits import waits_said_by

    faulty.set_faults(Faults(status_503=1.0, limit=1, retry_after=2, procedures={"image.get"}))
    ids = sorted(faulty.dataset.images)[:3]
    settings = ClientSettings(site="red", base_url=faulty.base_url, rate=0, batch_size=10)
    said: list[str] = []

    async def run() -> list[Any]:
        async with CivitaiClient(settings) as client:
            return await client.call_many([("image.get", {"id": i}) for i in ids])

    import asyncio

    with waits_said_by(lambda message, seconds: said.append(message)):
        answers = asyncio.run(run())
    assert [a["id"] for a in answers] == ids
    assert said == [
        "waiting 2 s: Civitai answered 503 for 3 batched calls (image.get) and asked to wait "
        f"2 s, try 2 of {TRIES}"
    ]


def test_waiting_for_the_writer_lock_says_who_holds_it(capsys):
    from civitai_vault.archive.lock import Holder
    from civitai_vault.cli.core import writer_waiting

    told = writer_waiting(True)
    assert told["wait"] is None  # --wait: as long as it takes
    told["on_wait"](Holder(4242, "civitai-vault sync me", "2026-12-01T13:05:09.123456+00:00"))
    said = capsys.readouterr().err.strip()
    assert said == (
        "waiting for another civitai-vault (pid 4242, `civitai-vault sync me`, since "
        "2026-12-01 13:05:09 UTC) to finish writing to the archive..."
    )
