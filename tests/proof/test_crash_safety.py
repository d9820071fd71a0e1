"""kill -9 in the middle of the listing, of the downloads and of the writer's commits, run
again each time: the archive stays sound after every kill and ends identical to a clean one.

Each kill moment is picked by watching the emulator's request log (the real
command runs in a child process), with latency set so that the work in
question is in flight when the signal lands. Moments are counted in the work
the run still has to do (read from the archive before each run), never in
time, and the server stalls new requests once a moment is reached: the test
proves the same on a fast machine and on a loaded one. `benchmarks/crash_soak.py` does
20 kills at random moments over a larger collection.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civitai_emulator import EmulatorConfig, Faults, running_emulator

from .conftest import cli_command, sync_args


@dataclass(frozen=True)
class KillMoment:
    """Kill once `count(left)` answers to `procedure` went out in this run, plus `after`
    seconds, while the server adds `faults`' latency.

    `left` is what the run still has to do, read from the archive before it starts
    ({"listed": ..., "details": ..., "files": ...} images), so every moment falls
    inside work the run really does, however far earlier runs got. `procedure` is a
    tRPC procedure, "cdn" (files served) or "any" (every answer).
    """

    name: str
    procedure: str
    count: Callable[[dict[str, int]], int]
    after: float
    faults: Faults


def third(phase: str) -> Callable[[dict[str, int]], int]:
    """A third of what is left of `phase`: work done, and work still to do, on any machine."""
    return lambda left: max(1, left[phase] // 3)


MOMENTS = [
    # The first listing page is in flight (the collection was just looked up).
    KillMoment("listing", "collection.getById", lambda left: 1, 0.05, Faults(latency=0.2)),
    # The first page was answered: it is being stored, or the next one is asked.
    KillMoment("listing", "image.getInfinite", lambda left: 1, 0.005, Faults(latency=0.02)),
    # Details (generation data, tags) are fetched and committed in batches.
    KillMoment("details", "image.getGenerationData", third("details"), 0.0, Faults(latency=0.01)),
    # Downloads in flight, slow CDN: files are half written into .partial.
    KillMoment("downloads", "cdn", third("files"), 0.03, Faults(cdn_latency=0.08)),
    # Downloads finishing fast: renames and file rows committed all the time.
    KillMoment("commits", "cdn", third("files"), 0.0, Faults()),
    # Nothing slowed down: whatever the run is doing a third of the way through its work.
    KillMoment(
        "commits", "any", lambda left: max(1, (left["details"] + left["files"]) // 3), 0.0, Faults()
    ),
]

# From the kill moment on, every new request waits this long: what the run has in
# flight completes, nothing more starts, so the signal lands inside the phase even
# when this process is slow to notice the moment on a loaded machine.
STALL = Faults(latency=10.0, cdn_latency=10.0)


def answered(emu: Any, procedure: str, since: int) -> int:
    entries = emu.request_log[since:]
    if procedure == "cdn":
        return sum(1 for e in entries if e.listener == "cdn" and e.status == 200)
    if procedure == "any":
        return len(entries)
    # A batched request names each of its procedures.
    return sum((e.procedure or "").split(",").count(procedure) for e in entries)


def kill_at(
    emu: Any, command: list[str], env: dict[str, str], moment: KillMoment, left: dict[str, int]
) -> bool:
    """Run `command`, SIGKILL it at `moment`; False when it finished before that moment."""
    count = moment.count(left)
    since = len(emu.request_log)
    emu.set_faults(moment.faults)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while answered(emu, moment.procedure, since) < count:
            if process.poll() is not None:
                return False
            time.sleep(0.002)
        emu.set_faults(STALL)
        time.sleep(moment.after)
        if process.poll() is not None:
            return False
        process.send_signal(signal.SIGKILL)
        return True
    finally:
        process.wait()
        emu.clear_faults()


def progress(archive: Path) -> dict[str, int]:
    """How far the killed runs got, read from the database as they left it."""
    if not (archive / "vault.db").exists():
        return {"listed": 0, "details": 0, "files": 0}
    conn = sqlite3.connect(f"{(archive / 'vault.db').as_uri()}?mode=ro", uri=True)
    try:
        listed, details = conn.execute("SELECT count(*), count(details_at) FROM images").fetchone()
        files = conn.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        conn.close()
    return {"listed": listed, "details": details, "files": files}


def test_kills_in_every_phase_then_resume_matches_a_clean_run(
    tmp_path, sync, cli_for, archive_health, archive_snapshot
):
    with running_emulator(EmulatorConfig(seed=41, images=200, site_mode="red")) as emu:
        collection = emu.dataset.named["demo_collection"]
        size = len(emu.dataset.collections[collection].image_ids)
        sync(tmp_path / "clean", emu, [f"collection:{collection}"])
        cli = cli_for(emu)
        crashed = tmp_path / "crashed"
        command = cli_command(*sync_args(crashed, f"collection:{collection}", "--quiet"))
        seen: list[tuple[str, bool, dict[str, int]]] = []
        for moment in MOMENTS:
            before = progress(crashed)
            left = {phase: size - before[phase] for phase in ("listed", "details", "files")}
            landed = kill_at(emu, command, cli.env, moment, left)
            state = progress(crashed)
            seen.append((moment.name, landed, state))
            assert archive_health(crashed) == [], (moment, state)
        final = cli(*sync_args(crashed, f"collection:{collection}", "--quiet"))
    assert final.returncode == 0, final.stderr
    assert archive_snapshot(crashed) == archive_snapshot(tmp_path / "clean")

    # Every kill landed, and between them they caught each phase unfinished.
    assert all(landed for _, landed, _ in seen), seen
    assert any(s["listed"] < size for name, _, s in seen if name == "listing"), seen
    assert any(0 < s["files"] < size for name, _, s in seen if name == "downloads"), seen
    assert any(s["details"] < size for name, _, s in seen if name == "details"), seen
