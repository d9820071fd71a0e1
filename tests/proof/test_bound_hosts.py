"""Credentials go only to the site they were checked against; files only to the image hosts.

- A saved login is sent only when the base URL in force is the site `login`
  checked it against; a one-off `--base-url` / CIVITAI_BASE_URL (another port on
  this machine included) gets no credential unless the user passes one.
- A Set-Cookie from a one-off host never replaces the saved session, and a
  `__Secure-` cookie over plain http is refused (as a browser refuses it).
- File addresses and redirects go only to the configured image hosts, and never
  to a link-local, private or reserved address, whatever a host name resolves to.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from civitai_emulator import EmulatorConfig, running_emulator
from civitai_vault.api import CivitaiClient, ClientSettings

from .conftest import Cli, cli_env, sync_args
from .servers import HostileServer, Reply, Request, rewriting_proxy
from .stage import Stage, archived, assert_failed_alone, demo, listed_images, sync


@pytest.fixture(scope="module")
def emu() -> Any:
    with running_emulator(EmulatorConfig(seed=73, images=40, site_mode="red")) as emulator:
        yield emulator


def secrets_of(emu: Any) -> list[str]:
    return [emu.api_key, emu.session_token, emu.legacy_token]


def carried_credentials(requests: list[Request], emu: Any) -> list[str]:
    """Every request that carried an Authorization header, a cookie or a known secret."""
    found = []
    for request in requests:
        text = json.dumps([request.path, request.headers]) + request.body.decode("latin-1")
        if {"authorization", "cookie"} & set(request.headers) or any(
            secret in text for secret in secrets_of(emu)
        ):
            found.append(request.path)
    return found


ENV_OF = {"api_key": "CIVITAI_API_KEY", "token": "CIVITAI_TOKEN"}


def logged_in(emu: Any, tmp_path: Path, **credential: str) -> Cli:
    """`login` against the emulator (as the command does it), then the command with that
    config folder, pointed at the emulator, with no credential in its environment."""
    from civitai_vault.account import Credentials, login
    from civitai_vault.config import CredentialStore

    store = CredentialStore(tmp_path / "config")
    asyncio.run(login(store, Credentials(**credential), "red", emu.base_url, None))
    assert store.load()["credential_site"] == emu.base_url  # login says which site it checked
    environment = cli_env(emu, tmp_path / "config")
    environment.pop("CIVITAI_API_KEY")
    return Cli(environment)


# ---------------------------------------------------------------- saved credentials


@pytest.mark.parametrize("credential", ["api_key", "token"])
def test_a_saved_login_is_not_sent_to_a_one_off_base_url(emu, tmp_path, credential):
    secret = emu.api_key if credential == "api_key" else emu.session_token
    cli = logged_in(emu, tmp_path, **{credential: secret})
    image = listed_images(emu)[0]
    with HostileServer(rewriting_proxy(emu)) as other:  # another port on this machine
        elsewhere = {**cli.env, "CIVITAI_BASE_URL": other.url}
        who = cli("whoami", "--json", env=elsewhere)
        synced = cli(*sync_args(tmp_path / "a", f"image:{image}", "--no-media"), env=elsewhere)
        sent = list(other.requests)
        explicit = cli("whoami", "--json", env={**elsewhere, ENV_OF[credential]: secret})
    assert who.returncode == 0, who.stderr
    answer = json.loads(who.stdout)
    assert answer["signed_in"] is False
    assert f"belongs to {emu.base_url}" in answer["withheld"]
    assert other.url in answer["withheld"] and "--api-key" in answer["withheld"]
    assert synced.returncode == 0, synced.stderr  # the public image, anonymously
    assert sent and carried_credentials(sent, emu) == []
    # Passed explicitly, the credential goes where the user points it.
    assert json.loads(explicit.stdout)["signed_in"] is True
    # And at the site it was checked against, the saved login is used as before.
    assert json.loads(cli("whoami", "--json").stdout)["signed_in"] is True


def test_the_environment_cannot_redirect_a_saved_key_to_another_machine_either(emu, tmp_path):
    cli = logged_in(emu, tmp_path, api_key=emu.api_key)
    with HostileServer(lambda request: Reply(401, b"{}")) as other:
        for host in ("127.0.0.1", "localhost"):
            url = other.url.replace("127.0.0.1", host)
            cli("collections", "--json", env={**cli.env, "CIVITAI_BASE_URL": url})
        assert carried_credentials(other.requests, emu) == []


# ---------------------------------------------------------------- cookies


class CookieSetter:
    """An API that answers every call with an empty list and these Set-Cookie headers,
    and remembers the Cookie header of each request."""

    def __init__(self, *cookies: str) -> None:
        self.cookies = cookies
        self.seen: list[str | None] = []

    def __call__(self, request: Request) -> Reply:
        self.seen.append(request.headers.get("cookie"))
        body = json.dumps({"result": {"data": {"json": []}}}).encode()
        more = [("Set-Cookie", cookie) for cookie in self.cookies]
        return Reply(200, body, {"content-type": "application/json"}, more_headers=more)


def test_a_one_off_host_cannot_replace_the_saved_session(emu, tmp_path):
    cli = logged_in(emu, tmp_path, token=emu.session_token)
    answer = CookieSetter("civ-token=planted-by-another-host; Path=/; HttpOnly")
    with HostileServer(answer) as other:
        elsewhere = {**cli.env, "CIVITAI_BASE_URL": other.url}
        for extra in ({}, {"CIVITAI_TOKEN": emu.session_token}):  # saved, then explicit
            done = cli("collections", "--json", env={**elsewhere, **extra})
            assert "Traceback" not in done.stderr
    assert answer.seen[-1] == f"civ-token={emu.session_token}"  # the explicit one was sent
    saved = json.loads((tmp_path / "config" / "config.json").read_text())
    assert saved["token"] == emu.session_token
    assert json.loads(cli("whoami", "--json").stdout)["signed_in"] is True


def test_a_secure_cookie_over_plain_http_is_refused(emu):
    answer = CookieSetter(
        "__Secure-civ-token=planted-over-http; Path=/; Secure; HttpOnly",
        "__Host-civ-device=planted-too; Path=/; Secure",
        "civ-token=rolled; Path=/",
    )
    saved: list[tuple[str, str]] = []
    with HostileServer(answer) as server:
        settings = ClientSettings(
            base_url=server.url, token="first", rate=0, on_session_cookie=lambda *c: saved.append(c)
        )

        async def two_calls() -> None:
            async with CivitaiClient(settings) as client:
                await client.get_user_collections()
                await client.get_user_collections()

        asyncio.run(two_calls())
    assert answer.seen == ["civ-token=first", "civ-token=rolled"]
    assert saved == [("civ-token", "rolled")]


# ---------------------------------------------------------------- file hosts


def pointing_one_file_at(emu: Any, victim: int, url: str) -> Any:
    def rewrite(procedure: str, data: Any) -> None:
        if procedure == "image.getInfinite":
            for item in data["items"]:
                if item["id"] == victim:
                    item["url"] = url

    return rewrite


@pytest.mark.parametrize(
    "address",
    [
        "http://localhost:{port}/stolen.png",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://10.0.0.7/internal.png",
        "http://[fe80::1]/x.png",
        "https://evil.example/x.png",
    ],
)
def test_an_image_address_off_the_image_hosts_is_never_requested(emu, tmp_path, address):
    victim = listed_images(emu)[1]
    with HostileServer(lambda request: Reply(200, b"\x89PNG\r\n\x1a\n")) as evil:
        url = address.format(port=evil.port)
        with Stage(emu, rewrite=pointing_one_file_at(emu, victim, url)) as stage:
            summary = sync(tmp_path / "a", stage.settings(), demo(emu))
        assert evil.requests == []
    failure = assert_failed_alone(summary, tmp_path / "a", victim, "refused")
    assert "configured image host" in failure or "private or reserved address" in failure


@pytest.mark.parametrize(
    "location",
    ["http://localhost:{port}/x.png", "http://169.254.169.254/", "http://[::ffff:10.1.2.3]/x"],
)
def test_a_cdn_redirect_off_the_image_hosts_is_not_followed(emu, tmp_path, location):
    victim = listed_images(emu)[2]
    uuid = emu.dataset.images[victim].uuid
    with HostileServer(lambda request: Reply(200, b"\x89PNG\r\n\x1a\n")) as evil:
        moved = Reply(302, b"", {"location": location.format(port=evil.port)})
        with Stage(emu, cdn=lambda request: moved if uuid in request.path else None) as stage:
            summary = sync(tmp_path / "a", stage.settings(), demo(emu))
        assert evil.requests == []
    assert_failed_alone(summary, tmp_path / "a", victim, "refused a redirect to")


def test_a_cdn_that_redirects_in_a_circle_fails_that_file_alone(emu, tmp_path):
    victim = listed_images(emu)[2]
    uuid = emu.dataset.images[victim].uuid

    def answer(request):
        if uuid not in request.path:
            return None
        return Reply(302, b"", {"location": request.path})  # back to itself, on an image host

    with Stage(emu, cdn=answer) as stage:
        summary = sync(tmp_path / "a", stage.settings(), demo(emu))
        asked = [request for request in stage.cdn.requests if uuid in request.path]
    assert_failed_alone(summary, tmp_path / "a", victim, "redirected more than 5 times")
    assert len(asked) % 6 == 0  # the address and five redirects, on each try


def test_a_host_name_that_resolves_to_a_private_address_is_not_reached(emu, tmp_path):
    """The image host is given by name; the name resolves to this machine (or a private
    network), which only a loopback host configured as such may reach."""
    name = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    assert addresses, f"this machine's name {name!r} does not resolve"
    with Stage(emu) as stage:
        summary = sync(tmp_path / "a", stage.settings(image_host=name), demo(emu))
        reached = len(stage.cdn.requests)
    target = summary["targets"][0]
    assert target["listed"] == len(archived(tmp_path / "a")) > 0  # the metadata is archived
    assert reached == 0
    assert target["failed"] == target["listed"]
    (reason,) = target["failure_reasons"]
    assert f"refused the download: {name} resolves to" in reason and "\n" not in reason


def test_loopback_is_reachable_when_the_image_host_is_loopback(emu, tmp_path):
    with Stage(emu) as stage:
        summary = sync(tmp_path / "a", stage.settings(), demo(emu))
    assert summary["targets"][0]["failed"] == 0
    assert all(archived(tmp_path / "a").values())
