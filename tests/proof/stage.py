"""The emulator behind hostile proxies, a client for them, and what the user would see.

`Stage(emu, api=replace, cdn=replace)` puts `servers.rewriting_proxy` in front of
the emulator's API and `servers.cdn_proxy` in front of its CDN; `sync` runs the
sync engine in this process (so tracemalloc sees it) against a stage's
settings; `assert_failed_alone` checks the result as a user would: the run
finished, every other image has its file, the bad one failed with its reason.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.emulator_sync import run_sync

from civitai_vault.api import ClientSettings
from civitai_vault.api.limits import Limits

from .servers import HostileServer, Request, cdn_proxy, rewriting_proxy


def listed_images(emu: Any) -> list[int]:
    """The demo collection's images a signed-in user sees, newest first, still images only."""
    dataset = emu.dataset
    ids = dataset.collections[emu.dataset.named["demo_collection"]].image_ids
    visible = [i for i in ids if dataset.nsfw_level_of(i) & 31]
    return sorted((i for i in visible if dataset.type_of(i) == "image"), reverse=True)


def written_bytes() -> int:
    """Bytes this process has written through system calls (Linux's own count)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("/proc/self/io has no wchar line")


def input_of(request: Request) -> Any:
    """The `json` input of an unbatched tRPC call, GET or POST."""
    if request.method == "POST":
        return json.loads(request.body)["json"]
    query = parse_qs(urlsplit(request.path).query)
    return json.loads(query["input"][0])["json"]


class Stage:
    """The emulator behind a hostile API proxy and a hostile CDN proxy, and a client for them."""

    def __init__(self, emu: Any, api: Any = None, cdn: Any = None, rewrite: Any = None) -> None:
        self.emu = emu
        self.api = HostileServer(rewriting_proxy(emu, rewrite=rewrite, replace=api))
        self.cdn = HostileServer(cdn_proxy(emu, cdn or (lambda request: None)))

    def __enter__(self) -> Stage:
        self.api.__enter__()
        self.cdn.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cdn.__exit__(*exc)
        self.api.__exit__(*exc)

    def settings(self, image_host: str | None = None, **limits: Any) -> ClientSettings:
        """Settings for a client of this stage; `image_host` names the CDN proxy's host
        differently (it listens on 127.0.0.1)."""
        key_path = self.emu.image_base_url.split("/", 3)[3]
        cdn = self.cdn.url if image_host is None else f"http://{image_host}:{self.cdn.port}"
        return ClientSettings(
            site="red",
            base_url=self.api.url,
            image_base_url=f"{cdn}/{key_path}",
            api_key=self.emu.api_key,
            rate=0,
            cdn_rate=0,
            retry_base=0.001,
            retry_cap=0.01,
            max_retries=2,
            # One call per request, so the stand-in can replace one image's answer.
            batch_size=1,
            limits=Limits(**limits),
        )


def sync(path: Path, settings: ClientSettings, target: str) -> dict[str, Any]:
    return run_sync(path, settings, [target])


def archived(path: Path) -> dict[int, str | None]:
    """image id -> file path, for every image the archive holds."""
    with sqlite3.connect(path / "vault.db") as conn:
        rows = conn.execute(
            "SELECT i.id, f.path FROM images i LEFT JOIN files f ON f.image_id = i.id"
        ).fetchall()
    return {int(image_id): file for image_id, file in rows}


def demo(emu: Any) -> str:
    return f"collection:{emu.dataset.named['demo_collection']}"


def assert_failed_alone(summary: dict[str, Any], path: Path, victim: int, reason: str) -> str:
    """The run finished, every image but `victim` has its file, and the one failure says why."""
    target = summary["targets"][0]
    assert target["failed"] == 1, target
    (failure,) = target["failure_reasons"]
    assert reason in failure and "\n" not in failure, failure
    files = archived(path)
    assert files[victim] is None
    assert all(file for image_id, file in files.items() if image_id != victim), files
    assert not list((path / "media" / ".partial").glob("*"))  # nothing half-written left
    return failure
