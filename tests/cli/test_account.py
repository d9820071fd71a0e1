"""Signing in and out as a user does: login, logout, whoami, collections.

A login is checked against the server before anything is saved; the config
file is the user's only, and holds a session Civitai upgraded or rolled.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from typing import Any

import pytest

from civitai_vault.config import CredentialStore

COOKIE_LINE = "{prefix}.civitai.com\tTRUE\t/\tTRUE\t1999999999\t{name}\t{value}\n"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def cookies_file(path: Any, name: str, value: str) -> Any:
    """A cookies.txt as browser exporters write it, with unrelated cookies around ours."""
    path.write_text(
        "# Netscape HTTP Cookie File\n# This is a generated file!  Do not edit.\n\n"
        + COOKIE_LINE.format(prefix="", name="_ga", value="GA1.1.123")
        + COOKIE_LINE.format(prefix="#HttpOnly_", name=name, value=value)
        + ".example.com\tTRUE\t/\tFALSE\t0\t__Secure-civ-token\tnot-civitai\n",
        encoding="utf-8",
    )
    return path


def test_login_with_an_api_key_checks_it_and_saves_it_owner_only(cli, red_emulator):
    user = cli.pointing_at(red_emulator)
    done = user.process("login", "--api-key", red_emulator.api_key)
    assert done.code == 0, done.stderr
    assert f"Signed in as {red_emulator.dataset.named['owner_username']}" in done.stdout
    assert user.saved()["api_key"] == red_emulator.api_key
    assert stat.S_IMODE(user.config_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(user.config_dir.stat().st_mode) == 0o700


def test_a_wrong_key_saves_nothing(cli, red_emulator):
    user = cli.pointing_at(red_emulator)
    done = user("login", "--api-key-file", "-", input="0123456789abcdef0123456789abcdef\n")
    assert done.code != 0
    assert "nothing was saved" in done.error_line
    assert user.saved() == {}


@pytest.mark.parametrize("secret", ["session_token", "legacy_token"])
def test_login_with_a_session_token(cli, red_emulator, secret):
    """A legacy next-auth token is upgraded by the server; the upgraded one is what is kept."""
    user = cli.pointing_at(red_emulator)
    done = user("login", "--token", getattr(red_emulator, secret))
    assert done.code == 0, done.stderr
    assert user.saved()["token"] == red_emulator.session_token
    assert "api_key" not in user.saved()


@pytest.mark.parametrize(
    ("cookie", "secret"),
    [("__Secure-civ-token", "session_token"), ("__Secure-civitai-token", "legacy_token")],
)
def test_login_from_a_browser_cookies_file(cli, red_emulator, tmp_path, cookie, secret):
    user = cli.pointing_at(red_emulator)
    path = cookies_file(tmp_path / "cookies.txt", cookie, getattr(red_emulator, secret))
    done = user("login", "--cookies", str(path))
    assert done.code == 0, done.stderr
    assert user.saved()["token"] == red_emulator.session_token


def test_a_cookies_file_without_a_civitai_session_is_refused(cli, red_emulator, tmp_path):
    user = cli.pointing_at(red_emulator)
    path = cookies_file(tmp_path / "cookies.txt", "_other", "x")
    done = user("login", "--cookies", str(path))
    assert done.code == 2
    assert "no Civitai session cookie" in done.error_line
    missing = user("login", "--cookies", str(tmp_path / "nowhere.txt"))
    assert missing.code == 2
    assert "cannot read the cookies file" in missing.error_line
    assert user.saved() == {}


def test_login_without_a_credential_on_a_pipe_refuses_to_ask(cli, red_emulator):
    user = cli.pointing_at(red_emulator)
    done = user("login", input=red_emulator.api_key + "\n")
    assert done.code == 2
    assert "--api-key" in done.error_line
    assert user.saved() == {}


def test_login_asks_for_the_key_on_a_terminal_without_echoing_it(cli, red_emulator):
    user = cli.pointing_at(red_emulator)
    leader, follower = os.openpty()
    process = subprocess.Popen(
        [*user.command, "login"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=user.environment(),
        cwd=user.cwd,
        start_new_session=True,  # no controlling terminal: the prompt reads the pty on stdin
    )
    os.close(follower)
    try:
        shown = read_until(leader, b": ")
        assert "API key or session token" in shown
        os.write(leader, red_emulator.api_key.encode() + b"\n")
        shown += read_until(leader, None)
    finally:
        os.close(leader)
        code = process.wait()
    assert code == 0, shown
    text = ANSI.sub("", shown)
    assert red_emulator.api_key not in text
    assert "Signed in as" in text
    assert user.saved()["api_key"] == red_emulator.api_key


def read_until(fd: int, marker: bytes | None) -> str:
    """Read a pty until `marker` shows up, or to the end (the process closed it)."""
    data = b""
    while marker is None or marker not in data:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is gone
            break
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", errors="replace")


def test_a_saved_login_is_replaced_only_with_force(cli, red_emulator):
    user = cli.pointing_at(red_emulator)
    assert user("login", "--api-key", red_emulator.api_key).code == 0
    again = user("login", "--token", red_emulator.session_token)
    assert again.code == 2
    assert "--force" in again.error_line
    assert user.saved()["api_key"] == red_emulator.api_key
    forced = user("login", "--token", red_emulator.session_token, "--force")
    assert forced.code == 0, forced.stderr
    assert user.saved().get("token") == red_emulator.session_token
    assert "api_key" not in user.saved()
    assert stat.S_IMODE(user.config_file.stat().st_mode) == 0o600


def test_logout_forgets_the_credentials(cli, red_emulator):
    user = cli.pointing_at(red_emulator)
    assert user("login", "--api-key", red_emulator.api_key).code == 0
    done = user("logout")
    assert done.code == 0
    assert "Removed the saved login" in done.stdout
    assert not {"api_key", "token"} & set(user.saved())
    assert red_emulator.api_key not in user.config_file.read_text()
    assert "Not signed in" in user("whoami").stdout
    assert "No login was saved" in user("logout").stdout


def test_whoami_on_civitai_com_says_r_and_x_are_hidden(cli, green_emulator):
    user = cli.pointing_at(green_emulator)
    assert user("login", "--api-key", green_emulator.api_key).code == 0
    done = user("whoami")
    assert done.code == 0, done.stderr
    owner = green_emulator.dataset.named["owner_username"]
    assert f"as {owner}" in done.stdout
    assert "civitai.com" in done.stdout
    assert "hidden" in done.stdout and "--site red" in done.stdout
    answer = user("whoami", "--json").json()
    assert answer["signed_in"] is True
    assert answer["username"] == owner
    assert answer["user_id"] == green_emulator.dataset.owner.id
    assert answer["site"] == "com"
    assert answer["nsfw_visible"] is False


def test_whoami_on_civitai_red_says_r_and_x_are_visible(cli, red_emulator):
    user = cli.pointing_at(red_emulator, site="red")
    assert user("login", "--api-key", red_emulator.api_key).code == 0
    done = user("whoami")
    assert done.code == 0, done.stderr
    assert "civitai.red" in done.stdout
    assert "are visible" in done.stdout
    answer = user("whoami", "--json").json()
    assert (answer["site"], answer["nsfw_visible"]) == ("red", True)


def test_whoami_signed_out(cli, red_emulator):
    done = cli.pointing_at(red_emulator)("whoami")
    assert done.code == 0
    assert "Not signed in" in done.stdout and "civitai-vault login" in done.stdout
    answer = cli.pointing_at(red_emulator)("whoami", "--json").json()
    assert (answer["signed_in"], answer["username"], answer["nsfw_visible"]) == (
        False,
        None,
        False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["whoami"],
        ["collections", "--json"],
        ["sync", "image:{image}", "--no-media", "--quiet", "--rate", "0"],
    ],
)
def test_a_legacy_session_in_the_config_is_saved_upgraded(cli, red_emulator, command):
    """A config written with a legacy next-auth token: the first command saves the new cookie."""
    user = cli.pointing_at(red_emulator)
    store = CredentialStore(user.config_dir)
    store.save(token=red_emulator.legacy_token, credential_site=red_emulator.base_url)
    image = red_emulator.dataset.named["hostile_image"]
    done = user(*[part.format(image=image) for part in command])
    assert done.code == 0, done.stderr
    assert user.saved()["token"] == red_emulator.session_token
    assert stat.S_IMODE(user.config_file.stat().st_mode) == 0o600


def test_a_token_given_on_the_command_line_leaves_the_saved_one_alone(cli, red_emulator):
    """A flag's token is the user's to manage: its upgrade must not overwrite the saved login."""
    user = cli.pointing_at(red_emulator)
    CredentialStore(user.config_dir).save(token="saved-token-of-another-account")
    image = red_emulator.dataset.named["hostile_image"]
    done = user(
        "sync",
        f"image:{image}",
        "--no-media",
        "--quiet",
        "--rate",
        "0",
        "--token",
        red_emulator.legacy_token,
    )
    assert done.code == 0, done.stderr
    assert user.saved()["token"] == "saved-token-of-another-account"


def test_collections_lists_mine_with_type_and_privacy(cli, red_emulator):
    user = cli.pointing_at(red_emulator)
    assert user("login", "--api-key", red_emulator.api_key).code == 0
    dataset = red_emulator.dataset
    mine = sorted(
        (c for c in dataset.collections.values() if c.owner_id == dataset.owner.id),
        key=lambda c: c.id,
    )
    assert {c.read for c in mine} == {"Private", "Public", "Unlisted"}

    listed = user("collections", "--json").json()
    assert sorted((c["id"], c["name"], c["type"], c["read"]) for c in listed) == [
        (c.id, c.name, c.type, c.read) for c in mine
    ]
    others = {c.id for c in dataset.collections.values() if c.owner_id != dataset.owner.id}
    assert not others & {c["id"] for c in listed}

    table = user("collections")
    assert table.code == 0, table.stderr
    for collection in mine:
        row = next(line for line in table.stdout.splitlines() if str(collection.id) in line)
        assert collection.type in row and collection.read in row
        assert f"collection:{collection.id}" in row
    hostile = dataset.collections[dataset.named["demo_collection"]].name
    assert "<b>faves</b>" in hostile and "<b>faves</b>" in table.stdout
