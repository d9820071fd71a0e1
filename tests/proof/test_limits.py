"""Nothing a server sends is trusted to be small: every answer, file and listing is bounded.

A hostile stand-in (the emulator behind `servers.rewriting_proxy` / `cdn_proxy`)
serves one bad thing among ordinary images: an endless, huge or gzip-bombed
body, one byte every 0.2 s, a PNG that declares 144 megapixels, JSON nested
past any sense, a devalue answer whose shared references expand to billions of
values, a listing that never ends. Each test shows what the user would see:
the run goes on, the rest is archived, the bad item fails alone with a one-line
reason naming the setting that raises the limit; and it measures, through the
process's own accounting (tracemalloc, bytes written, request counts), that
memory and disk stayed within the limit while the server offered far more.
"""

from __future__ import annotations

import asyncio
import json
import struct
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.api import CivitaiClient, ClientSettings
from civitai_vault.api.errors import LimitExceeded
from civitai_vault.api.pagination import ImagePages
from civitai_vault.media.verify import InvalidMedia, verify_file
from civitai_vault.sources.listings import FIRST_PAGE_SIZE

from .conftest import sync_args
from .servers import HostileServer, Reply, Request, endless, rewriting_proxy
from .stage import (
    Stage,
    archived,
    assert_failed_alone,
    demo,
    input_of,
    listed_images,
    sync,
    written_bytes,
)

MB = 1024 * 1024
FILE_LIMIT = 2 * MB


@pytest.fixture(scope="module")
def emu() -> Any:
    with running_emulator(EmulatorConfig(seed=71, images=60, site_mode="red")) as emulator:
        yield emulator


# ---------------------------------------------------------------- files


def is_file_of(emu: Any, image_id: int) -> Any:
    uuid = emu.dataset.images[image_id].uuid
    return lambda request: uuid in request.path


def png_signature_then(chunk: bytes) -> Iterator[bytes]:
    return endless(chunk, b"\x89PNG\r\n\x1a\n")


def gzip_bomb(decoded_mb: int) -> bytes:
    """A gzip body that inflates to a PNG signature and `decoded_mb` MB of zeros."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b"\x89PNG\r\n\x1a\n")]
    zeros = bytes(MB)
    parts += [packer.compress(zeros) for _ in range(decoded_mb)]
    return b"".join([*parts, packer.flush()])


BOMB = gzip_bomb(64)  # 64 KB that would become 64 MB


@pytest.mark.parametrize("kind", ["endless", "gzip bomb"])
def test_a_file_larger_than_the_limit_fails_alone_and_the_disk_stays_bounded(
    emu, tmp_path, small_disk, kind
):
    """The archive lives on a 16 MB disk: the bad file alone would fill it (and end the
    run with "disk full"); held to its 2 MB limit, it fails and the rest fits."""
    victim = listed_images(emu)[2]
    hit = is_file_of(emu, victim)
    if kind == "endless":
        bad = Reply(200, chunks=png_signature_then(bytes(64 * 1024)))
    else:
        bad = Reply(200, BOMB, {"content-encoding": "gzip", "content-type": "image/png"})
    disk = small_disk("16m")
    with Stage(emu, cdn=lambda request: bad if hit(request) else None) as stage:
        summary = sync(disk.path / "a", stage.settings(file_bytes=FILE_LIMIT), demo(emu))
        offered = stage.cdn.sent
    failure = assert_failed_alone(summary, disk.path / "a", victim, "larger than the 2 MB limit")
    assert "--max-file-mb" in failure
    if kind == "gzip bomb":
        assert len(BOMB) < 100 * 1024  # inflating to 64 MB, four times the disk
    else:
        assert offered > 2 * MB  # the server sent more than the limit (and had no end)


def test_a_download_stops_at_the_limit_with_bounded_memory(emu, tmp_path):
    """The client alone: one gzip bomb and one endless body, bytes written and memory counted."""
    answers = iter([Reply(200, BOMB, {"content-encoding": "gzip"})])
    endless_body = Reply(200, chunks=png_signature_then(bytes(64 * 1024)))
    with Stage(emu, cdn=lambda request: next(answers, endless_body)) as stage:
        settings = stage.settings(file_bytes=1 * MB)

        async def download_twice() -> list[str]:
            reasons = []
            async with CivitaiClient(settings) as client:
                for n in range(2):
                    with pytest.raises(LimitExceeded) as caught:
                        await client.download(f"{settings.image_base_url}/u/original=true/{n}.png",
                                              tmp_path / f"{n}.part")  # fmt: skip
                    reasons.append(str(caught.value))
            return reasons

        before = written_bytes()
        tracemalloc.start()
        try:
            reasons = asyncio.run(download_twice())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        # This process wrote the files and, as the stand-in server, the bodies it sent.
        written = written_bytes() - before - stage.cdn.sent
        requests = len(stage.cdn.requests)
    assert all("larger than the 1 MB limit" in reason for reason in reasons)
    assert requests == 2  # a limit is not retried: the same request brings the same bytes
    assert written <= 2 * (1 * MB + 256 * 1024)  # the limit and one chunk, per file
    assert peak < 8 * MB  # a 64 KB bomb chunk never became 64 MB in memory
    assert not list(tmp_path.glob("*.part"))


def test_a_file_announced_larger_than_the_limit_is_not_downloaded(emu, tmp_path):
    announced = Reply(200, bytes(3 * MB), {"content-type": "image/png"})
    with Stage(emu, cdn=lambda request: announced) as stage:
        settings = stage.settings(file_bytes=1 * MB)

        async def download() -> str:
            async with CivitaiClient(settings) as client:
                with pytest.raises(LimitExceeded) as caught:
                    await client.download(f"{settings.image_base_url}/u/original=true/1.png",
                                          tmp_path / "1.part")  # fmt: skip
                return str(caught.value)

        before = written_bytes()
        reason = asyncio.run(download())
        written = written_bytes() - before - stage.cdn.sent
        assert written < 64 * 1024  # not one chunk of the file was written
    assert "announced 3,145,728 bytes" in reason


def test_a_trickling_file_fails_at_the_download_deadline_and_the_run_goes_on(emu, tmp_path):
    victim = listed_images(emu)[4]
    hit = is_file_of(emu, victim)
    trickle = Reply(200, chunks=png_signature_then(b"\0"), pause=0.2)
    # The trickle never ends, so it meets any deadline; this one is long beside a whole
    # file of the emulator's even on a loaded machine, so no other file can meet it.
    with Stage(emu, cdn=lambda request: trickle if hit(request) else None) as stage:
        summary = sync(tmp_path / "a", stage.settings(download_seconds=6), demo(emu))
        tries = sum(hit(request) for request in stage.cdn.requests)
    failure = assert_failed_alone(summary, tmp_path / "a", victim, "took more than 6 s")
    assert "--download-timeout" in failure
    assert tries == 1  # not retried: a deadline is a limit, not a hiccup


def test_a_trickling_api_answer_fails_at_the_deadline(emu):
    trickle = Reply(200, chunks=endless(b" ", b'{"result":{"data":{"json":'), pause=0.2)
    with Stage(emu, api=lambda procedure, request: trickle) as stage:
        settings = stage.settings(api_seconds=1)

        async def call() -> str:
            async with CivitaiClient(settings) as client:
                with pytest.raises(LimitExceeded) as caught:
                    await client.get_tag(1)
                return str(caught.value)

        reason = asyncio.run(call())
        assert len(stage.api.requests) == 1
    assert "took more than 1 s to answer" in reason and "--api-timeout" in reason


# ---------------------------------------------------------------- pixels


def png_declaring(width: int, height: int) -> bytes:
    """A valid grey PNG of width x height black pixels: tiny on disk, huge decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    packer = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then the pixels
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    return png_declaring(12_000, 12_000)  # 144 megapixels


def test_an_image_of_too_many_pixels_fails_alone(emu, tmp_path, huge_png):
    assert len(huge_png) < 600 * 1024
    victim = listed_images(emu)[1]
    hit = is_file_of(emu, victim)
    bomb = Reply(200, huge_png, {"content-type": "image/png"})
    with Stage(emu, cdn=lambda request: bomb if hit(request) else None) as stage:
        summary = sync(tmp_path / "a", stage.settings(), demo(emu))
    failure = assert_failed_alone(summary, tmp_path / "a", victim, "12,000 x 12,000 pixels")
    assert "144 megapixels" in failure and "--max-image-mpx" in failure


def test_the_pixel_limit_is_checked_before_decoding(tmp_path, huge_png):
    path = tmp_path / "big.png"
    path.write_bytes(huge_png)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidMedia, match="more than the 90 megapixel limit"):
            verify_file(path, len(huge_png))
        with pytest.raises(InvalidMedia, match="more than the 100 megapixel limit"):
            verify_file(path, len(huge_png), max_pixels=100_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MB
    small = tmp_path / "small.png"
    small.write_bytes(png_declaring(300, 200))
    assert verify_file(small, None, max_pixels=60_000).ext == ".png"  # at the limit is fine
    with pytest.raises(InvalidMedia, match="megapixel limit"):
        verify_file(small, None, max_pixels=59_999)


# ---------------------------------------------------------------- API answers


def generation_data_of(image_id: int, answer: Reply) -> Any:
    def replace(procedure: str, request: Request) -> Reply | None:
        if procedure == "image.getGenerationData" and input_of(request).get("id") == image_id:
            return answer
        return None

    return replace


def json_reply(document: bytes) -> Reply:
    return Reply(200, document, {"content-type": "application/json"})


def test_a_huge_api_answer_fails_that_image_alone_in_bounded_memory(emu, tmp_path):
    victim = listed_images(emu)[3]
    huge = Reply(
        200,
        chunks=endless(b"a" * 65536, b'{"result":{"data":{"json":{"meta":{"prompt":"'),
        headers={"content-type": "application/json"},
    )
    with Stage(emu, api=generation_data_of(victim, huge)) as stage:
        tracemalloc.start()
        try:
            summary = sync(tmp_path / "a", stage.settings(answer_bytes=4 * MB), demo(emu))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        offered = stage.api.sent
    failure = assert_failed_alone(summary, tmp_path / "a", victim, "larger than the 4 MB limit")
    assert "image.getGenerationData" in failure and "--max-answer-mb" in failure
    assert offered > 4 * MB
    assert peak < 48 * MB  # the whole sync, the one answer held to its 4 MB


@pytest.mark.parametrize("depth", [150, 200_000])
def test_json_nested_too_deep_fails_that_image_alone(emu, tmp_path, depth):
    victim = listed_images(emu)[5]
    nested = b"[" * depth + b"]" * depth
    document = b'{"result":{"data":{"json":{"meta":{"x":' + nested + b"}}}}}"
    with Stage(emu, api=generation_data_of(victim, json_reply(document))) as stage:
        summary = sync(tmp_path / "a", stage.settings(), demo(emu))
        tries = sum(
            procedure_is(request, "image.getGenerationData", victim)
            for request in stage.api.requests
        )
    failure = assert_failed_alone(summary, tmp_path / "a", victim, "nested")
    assert "--max-json-depth" in failure
    assert tries == 1


def procedure_is(request: Request, procedure: str, image_id: int) -> bool:
    return (
        request.path.startswith(f"/api/trpc/{procedure}?") and input_of(request)["id"] == image_id
    )


def devalue_bomb(levels: int) -> str:
    """A devalue pool where each array holds the next one twice: 2**levels leaves once copied."""
    pool: list[Any] = [{"meta": 1}]
    for level in range(levels):
        pool.append([level + 2, level + 2])
    pool.append("boom")
    return json.dumps(pool, separators=(",", ":"))


def test_devalue_shared_references_cannot_expand_without_bound(emu, tmp_path):
    bomb = devalue_bomb(40)
    document = json.dumps({"result": {"data": bomb}}).encode()
    assert len(document) < 400  # 2**40 values once every reference is its own copy
    victim = listed_images(emu)[6]
    with Stage(emu, api=generation_data_of(victim, json_reply(document))) as stage:
        tracemalloc.start()
        try:
            summary = sync(tmp_path / "a", stage.settings(), demo(emu))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    failure = assert_failed_alone(summary, tmp_path / "a", victim, "1,000,000 values")
    assert "--max-answer-values" in failure
    assert peak < 160 * MB  # the default limit's worth of values, not 2**40 of them


def test_the_devalue_budget_counts_copies_not_pool_entries():
    from civitai_vault.api.codec import Budget, CodecLimit, decode_devalue

    tracemalloc.start()
    try:
        with pytest.raises(CodecLimit, match="more than 10,000 values"):
            decode_devalue(devalue_bomb(30), Budget(max_values=10_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * MB
    assert decode_devalue(devalue_bomb(8), Budget(max_values=1_000)) == {"meta": _tree(8)}
    with pytest.raises(CodecLimit, match="nested deeper than 5"):
        decode_devalue(devalue_bomb(8), Budget(max_depth=5))


def _tree(levels: int) -> Any:
    return "boom" if levels == 0 else [_tree(levels - 1), _tree(levels - 1)]


# ---------------------------------------------------------------- listings


def test_a_cursor_that_never_moves_ends_the_listing_not_complete(emu, cli_for, tmp_path):
    """The real command: the listing says why it stopped, the images it saw are archived,
    and the run exits 1 because the target is not complete."""

    first: list[Any] = []

    def stuck(procedure: str, data: Any) -> None:
        if procedure == "image.getInfinite" and data.get("nextCursor") is not None:
            first[:] = first or [data["nextCursor"]]
            data["nextCursor"] = first[0]  # every page points where the first one did

    config = EmulatorConfig(seed=72, images=650, site_mode="red")
    with running_emulator(config) as big, HostileServer(rewriting_proxy(big, rewrite=stuck)) as api:
        cli = cli_for(big, CIVITAI_BASE_URL=api.url)
        target = f"collection:{big.dataset.named['all_collection']}"  # pages of 50, 200, ...
        done = cli(*sync_args(tmp_path / "a", target, "--no-media", "--json"))
        pages = sum(
            request.path.startswith("/api/trpc/image.getInfinite") for request in api.requests
        )
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)["targets"][0]
    assert summary["complete"] is False
    assert f"the server sent the cursor '{first[0]}' again" in " ".join(summary["notes"])
    assert pages == 2  # the second page named the first one's cursor again
    assert len(archived(tmp_path / "a")) == summary["listed"] == FIRST_PAGE_SIZE + 200


class EndlessListing:
    """image.getInfinite from a server that always has more: fresh ids, and a cursor that
    moves (`moving`) or stays put."""

    def __init__(self, *, moving: bool) -> None:
        self.moving = moving
        self.calls = 0

    async def fetch(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        start = self.calls * 10
        cursor = 10**9 - start if self.moving else 42
        return {"items": [{"id": start + i} for i in range(10)], "nextCursor": cursor}


@pytest.mark.parametrize("moving", [False, True])
def test_a_listing_that_never_ends_stops_and_says_why(moving):
    server = EndlessListing(moving=moving)

    async def walk() -> tuple[int, ImagePages]:
        pages = ImagePages(server.fetch, {"collectionId": 1}, limit=10, max_pages=25)
        return sum([len(page.items) async for page in pages]), pages

    images, pages = asyncio.run(walk())
    assert pages.ended_normally is False
    if moving:
        assert server.calls == 25 and images == 250
        assert "limit of 25 pages" in str(pages.stop_reason)
        assert "--max-pages" in str(pages.stop_reason)
    else:
        assert server.calls == 2 and images == 20  # the second page named cursor 42 again
        assert "cursor '42' again" in str(pages.stop_reason)


def test_collections_of_a_user_stop_when_cursors_go_round(emu):
    calls = []

    def answer(request: Request) -> Reply:
        calls.append(request)
        cursor = input_of(request).get("cursor")
        page = {"items": [{"id": len(calls), "name": "c"}], "nextCursor": 2 if cursor == 1 else 1}
        return json_reply(json.dumps({"result": {"data": {"json": page}}}).encode())

    with HostileServer(answer) as server:
        settings = ClientSettings(base_url=server.url, rate=0)

        async def list_them() -> Any:
            async with CivitaiClient(settings) as client:
                return await client.get_public_collections(7)

        found = asyncio.run(list_them())
    assert len(calls) == 3 and len(found) == 3


# ---------------------------------------------------------------- flags, environment, file


@pytest.mark.parametrize("where", ["flag", "env", "settings file"])
def test_the_real_command_takes_the_file_limit_from_flag_environment_or_file(
    emu, cli_for, tmp_path, where
):
    victim = listed_images(emu)[2]
    hit = is_file_of(emu, victim)
    bad = Reply(200, chunks=png_signature_then(bytes(64 * 1024)))
    with Stage(emu, cdn=lambda request: bad if hit(request) else None) as stage:
        key_path = emu.image_base_url.split("/", 3)[3]
        env = {
            "CIVITAI_BASE_URL": stage.api.url,
            "CIVITAI_IMAGE_BASE_URL": f"{stage.cdn.url}/{key_path}",
        }
        extra: list[str] = []
        if where == "flag":
            extra = ["--max-file-mb", "2"]
        elif where == "env":
            env["CIVITAI_VAULT_MAX_FILE_MB"] = "2"
        cli = cli_for(emu, **env)
        if where == "settings file":
            config = Path(cli.env["CIVITAI_VAULT_CONFIG_DIR"])
            config.mkdir(parents=True, exist_ok=True)
            (config / "settings.toml").write_text("max_file_mb = 2\n")
        done = cli(*sync_args(tmp_path / "a", demo(emu), "--quiet", *extra))
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "larger than the 2 MB limit" in lines[0] and "--max-file-mb" in lines[0]
    files = archived(tmp_path / "a")
    assert files[victim] is None and sum(1 for f in files.values() if f) == len(files) - 1


def test_a_limit_of_zero_is_a_usage_error(emu, cli_for, tmp_path):
    done = cli_for(emu)(*sync_args(tmp_path / "a", demo(emu), "--max-pages", "0"))
    assert done.returncode == 2
    assert "max_pages (--max-pages, from the flag) must be more than 0" in done.stderr
