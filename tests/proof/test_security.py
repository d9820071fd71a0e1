"""Credentials go to the API host only, over https or loopback, and nowhere else: not into
logs, tracebacks, error lines, `--json` output, the archive, exports or the gallery; not to
the CDN; not across a redirect to another host.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from typing import Any

import httpx
import pytest

from civitai_emulator import EmulatorConfig, Faults, running_emulator
from civitai_vault.api import (
    CivitaiClient,
    CivitaiError,
    ClientSettings,
    InsecureBaseURL,
    UnexpectedRedirect,
)

from .conftest import assert_one_line_error, sync_args
from .servers import HostileServer, Reply, Request
from .stage import sync as sync_in_process

# A server that shows a client's credentials back to it, as a careless proxy or a
# compromised server could, in every place an error message is read from.
ECHO_STATUSES = (401, 500, 429, 400)


def secrets_of(emu: Any) -> list[str]:
    return [emu.api_key, emu.session_token, emu.legacy_token]


def assert_free_of(text: str, secrets: list[str], where: str) -> None:
    for secret in secrets:
        assert secret not in text, f"a credential appeared in {where}"


@pytest.fixture(scope="module")
def emu() -> Any:
    config = EmulatorConfig(seed=61, images=80, site_mode="red")
    with running_emulator(config) as emulator:
        yield emulator


def client_settings(emu: Any, base_url: str | None = None, **credentials: Any) -> ClientSettings:
    return ClientSettings(
        site="red",
        base_url=base_url or emu.base_url,
        image_base_url=emu.image_base_url,
        rate=0,
        cdn_rate=0,
        retry_base=0.001,
        retry_cap=0.01,
        max_retries=2,
        **credentials,
    )


# ---------------------------------------------------------------- logs and the CDN


@pytest.mark.parametrize("credential", ["api_key", "token", "legacy"])
def test_no_credential_in_debug_logs_or_on_the_cdn(credential, emu, tmp_path, caplog):
    value = {"api_key": emu.api_key, "token": emu.session_token, "legacy": emu.legacy_token}
    key = "api_key" if credential == "api_key" else "token"
    settings = client_settings(emu, **{key: value[credential]})
    emu.clear_log()
    emu.set_faults(Faults(status_429=0.05, status_500=0.05, cdn_status_500=0.05, seed=3))
    caplog.set_level(logging.DEBUG)
    try:
        summary = sync_in_process(
            tmp_path / "a", settings, f"collection:{emu.dataset.named['demo_collection']}"
        )
    finally:
        emu.clear_faults()
    demo = emu.dataset.collections[emu.dataset.named["demo_collection"]]
    assert summary["targets"][0]["listed"] == len(demo.image_ids)
    assert any("retrying" in record.getMessage() for record in caplog.records)  # logs were made
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "") + repr(record.args)
        assert_free_of(text, secrets_of(emu), f"the log record {record.name}")

    api = [e for e in emu.request_log if e.listener == "api"]
    cdn = [e for e in emu.request_log if e.listener == "cdn"]
    assert api and cdn
    for entry in cdn:
        assert not {"authorization", "cookie"} & {name.lower() for name in entry.headers}
        assert_free_of(json.dumps([entry.path, entry.query, entry.headers]), secrets_of(emu), "CDN")
    for entry in api:  # on the API host, only in the headers meant for them
        assert_free_of(entry.path + entry.query, secrets_of(emu), "an API URL")


# ---------------------------------------------------------------- errors and tracebacks


def echo_answer(status: int) -> Any:
    def answer(request: Request) -> Reply:
        echoed = f"{request.headers.get('authorization')} {request.headers.get('cookie')}"
        error = {
            "message": f"bad session: {echoed}",
            "code": -32001,
            "data": {"code": echoed, "httpStatus": status, "path": echoed},
        }
        return Reply(
            status,
            json.dumps({"error": {"json": error}}).encode(),
            {"content-type": "application/json", "x-echo": echoed},
        )

    return answer


@pytest.mark.parametrize("status", ECHO_STATUSES)
def test_a_server_that_echoes_credentials_cannot_put_them_in_an_error(status, emu):
    with HostileServer(echo_answer(status)) as echo:
        settings = client_settings(emu, echo.url, api_key=emu.api_key, token=emu.session_token)

        async def call() -> None:
            async with CivitaiClient(settings) as client:
                await client.get_image(1)

        with pytest.raises(CivitaiError) as caught:
            asyncio.run(call())
    assert echo.requests  # the credentials were sent to it (it is the API host) and echoed
    assert emu.api_key in echo.requests[0].headers["authorization"]
    shown = "".join(traceback.format_exception(caught.value))
    shown += str(caught.value) + repr(caught.value) + repr(vars(caught.value))
    assert_free_of(shown, secrets_of(emu), "the error or its traceback")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "command",
    [
        ["image", "1", "--json"],
        ["whoami", "--json"],
        ["collections", "--json"],
        ["sync", "me", "--rate", "0"],
    ],
)
def test_commands_never_print_credentials_an_echoing_server_sent(command, emu, cli_for, tmp_path):
    with HostileServer(echo_answer(401)) as echo:
        cli = cli_for(emu, CIVITAI_BASE_URL=echo.url, CIVITAI_TOKEN=emu.session_token)
        args = [*command, "--archive", str(tmp_path / "a")] if command[0] == "sync" else command
        done = cli(*args)
    # A 401 to a request that carried credentials is a rejected login: every command,
    # whoami included, fails with one error line.
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) <= 1
    assert_free_of(done.stdout + done.stderr, secrets_of(emu), f"`{' '.join(command)}` output")


# ---------------------------------------------------------------- archive, exports, gallery


@pytest.fixture(scope="module")
def signed_in_archive(emu: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The demo collection synced by the command with both an API key and a session token."""
    from .conftest import Cli, cli_env

    root = tmp_path_factory.mktemp("signed")
    cli = Cli(cli_env(emu, root / "config", CIVITAI_TOKEN=emu.session_token))
    target = f"collection:{emu.dataset.named['demo_collection']}"
    done = cli(*sync_args(root / "archive", target, "--json", "--sidecars"))
    assert done.returncode == 0, done.stderr
    return root / "archive", cli, done


def test_no_credential_in_the_archive_json_output_or_exports(emu, signed_in_archive, tmp_path):
    archive, cli, sync_done = signed_in_archive
    outputs = {"sync --json": sync_done.stdout + sync_done.stderr}
    for args in (["status", "--json"], ["stats", "--json"], ["stats", "--html", "r.html"]):
        done = cli(*args, "--archive", str(archive))
        assert done.returncode == 0, done.stderr
        outputs[" ".join(args)] = done.stdout + done.stderr
    for fmt in ("json", "jsonl", "csv", "parquet"):
        out = tmp_path / f"export.{fmt}"
        done = cli("export", "--archive", str(archive), "-o", str(out))
        assert done.returncode == 0, done.stderr
        outputs[f"export {fmt}"] = out.read_bytes().decode("latin-1")
    for name, text in outputs.items():
        assert_free_of(text, secrets_of(emu), name)
    for file in archive.rglob("*"):  # the database, the files and their sidecars
        if file.is_file():
            assert_free_of(file.read_bytes().decode("latin-1"), secrets_of(emu), str(file.name))


def test_no_credential_in_the_gallery(emu, signed_in_archive, monkeypatch):
    from civitai_vault.web.server import running_gallery

    archive = signed_in_archive[0]
    monkeypatch.setenv("CIVITAI_API_KEY", emu.api_key)
    monkeypatch.setenv("CIVITAI_TOKEN", emu.session_token)
    hostile = emu.dataset.named["hostile_image"]
    paths = ["/", "/stats", "/api/images?limit=200", "/api/facets", "/fragments/facets"]
    paths += [f"/images/{hostile}", "/openapi.json", "/docs", "/nope", "/images/1"]
    with running_gallery(archive) as url, httpx.Client(base_url=url) as http:
        for path in paths:
            answer = http.get(path)
            text = answer.text + json.dumps(dict(answer.headers))
            assert_free_of(text, secrets_of(emu), f"the gallery page {path}")


# ---------------------------------------------------------------- where credentials may go


ELSEWHERE = [
    "http://civitai.com",
    "http://192.168.1.20:8765",
    "http://10.0.0.1",
    "http://0.0.0.0:8765",
    "http://127.0.0.1.nip.io",
    "http://localhost.evil.example",
    "http://[fe80::1]",
    "http://2130706433",
]


def test_plain_http_to_another_machine_is_refused_while_signed_in(emu, cli_for):
    for base_url in ELSEWHERE:
        for credentials in ({"api_key": emu.api_key}, {"token": emu.session_token}):
            with pytest.raises(InsecureBaseURL) as caught:
                ClientSettings(base_url=base_url, **credentials)
            assert_free_of(str(caught.value), secrets_of(emu), "the refusal")
        ClientSettings(base_url=base_url)  # without credentials there is nothing to protect
    done = cli_for(emu, CIVITAI_BASE_URL=ELSEWHERE[0])("whoami")
    line = assert_one_line_error(done, done.returncode)
    assert done.returncode in (1, 2)
    assert "https" in line and "plain http" in line
    assert_free_of(done.stdout + done.stderr, secrets_of(emu), "the refusal")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_plain_http_to_this_machine_is_allowed(host, emu, cli_for):
    port = emu.base_url.rsplit(":", 1)[1]
    done = cli_for(emu, CIVITAI_BASE_URL=f"http://{host}:{port}")("whoami", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["signed_in"]


def redirect_to(target: HostileServer) -> Any:
    def answer(request: Request) -> Reply:
        return Reply(302, b"", {"location": target.url + request.path})

    return answer


@pytest.mark.parametrize("credential", ["api_key", "token"])
def test_an_api_redirect_to_another_host_is_refused_with_credentials(credential, emu):
    secret = emu.api_key if credential == "api_key" else emu.session_token
    elsewhere = HostileServer(lambda request: Reply(200, b'{"result":{"data":{"json":null}}}'))
    with elsewhere, HostileServer(redirect_to(elsewhere)) as redirecting:
        settings = client_settings(emu, redirecting.url, **{credential: secret})

        async def call() -> Any:
            async with CivitaiClient(settings) as client:
                return await client.get_tag(1)

        with pytest.raises(UnexpectedRedirect) as caught:
            asyncio.run(call())
    assert redirecting.requests and not elsewhere.requests
    assert "\n" not in str(caught.value)
    assert_free_of(str(caught.value), secrets_of(emu), "the redirect error")


def test_without_credentials_a_redirect_is_followed(emu):
    elsewhere = HostileServer(lambda request: Reply(200, b'{"result":{"data":{"json":null}}}'))
    with elsewhere, HostileServer(redirect_to(elsewhere)) as redirecting:

        async def call() -> Any:
            async with CivitaiClient(client_settings(emu, redirecting.url)) as client:
                return await client.get_tag(1)

        assert asyncio.run(call()) is None
    assert elsewhere.requests
    assert "authorization" not in elsewhere.requests[0].headers


def test_a_cdn_redirect_carries_no_credentials(emu, tmp_path):
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # the downloader checks no content
    elsewhere = HostileServer(
        lambda request: Reply(200, picture, {"content-type": "application/octet-stream"})
    )
    with elsewhere, HostileServer(redirect_to(elsewhere)) as redirecting:
        settings = client_settings(emu, api_key=emu.api_key, token=emu.session_token)

        async def download() -> Any:
            async with CivitaiClient(settings) as client:
                return await client.download(f"{redirecting.url}/uuid/original=true/1.png",
                                             tmp_path / "file.part")  # fmt: skip

        result = asyncio.run(download())
    assert result.size == len(picture)
    for request in redirecting.requests + elsewhere.requests:
        assert not {"authorization", "cookie"} & set(request.headers)
        assert_free_of(json.dumps(request.headers) + request.path, secrets_of(emu), "a CDN hop")
