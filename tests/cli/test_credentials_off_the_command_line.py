"""Credentials can stay off the command line (where `ps` shows them to every user)."""

from __future__ import annotations

import os


def _whoami_user(done) -> str:
    return done.json()["username"]


def test_the_api_key_comes_from_a_file_or_stdin_without_a_warning(cli, red_emulator, tmp_path):
    anonymous = cli.pointing_at(red_emulator)
    key_file = tmp_path / "key"
    key_file.write_text(red_emulator.api_key + "\n")
    os.chmod(key_file, 0o600)
    from_file = anonymous("whoami", "--json", "--api-key-file", str(key_file))
    from_stdin = anonymous("whoami", "--json", "--api-key-file", "-", input=red_emulator.api_key)
    signed_in = cli.pointing_at(red_emulator, signed_in=True)("whoami", "--json")
    for done in (from_file, from_stdin):
        assert done.code == 0, done.stderr
        assert done.stderr == ""  # no warning: nothing on the command line
        assert _whoami_user(done) == _whoami_user(signed_in)


def test_the_environment_gives_no_warning_and_the_flag_warns(cli, red_emulator):
    from_env = cli.pointing_at(red_emulator, signed_in=True)("whoami", "--json")
    assert from_env.code == 0 and from_env.stderr == ""
    flag = cli.pointing_at(red_emulator)("whoami", "--json", "--api-key", red_emulator.api_key)
    assert flag.code == 0  # still works
    (warning,) = flag.stderr.strip().splitlines()
    assert warning.startswith("warning: --api-key on the command line is visible")
    assert "--api-key-file" in warning and "CIVITAI_API_KEY" in warning
    assert red_emulator.api_key not in flag.stderr + flag.stdout


def test_a_key_file_others_can_read_is_used_with_a_warning(cli, red_emulator, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(red_emulator.api_key)
    os.chmod(key_file, 0o644)
    done = cli.pointing_at(red_emulator)("whoami", "--json", "--api-key-file", str(key_file))
    assert done.code == 0
    assert "can be read by other users" in done.stderr and "chmod 600" in done.stderr


def test_an_unreadable_or_empty_key_file_is_bad_input(cli, red_emulator, tmp_path):
    anonymous = cli.pointing_at(red_emulator)
    missing = anonymous("whoami", "--api-key-file", str(tmp_path / "nope"))
    assert missing.code == 2 and "cannot read --api-key-file" in missing.error_line
    empty = anonymous("whoami", "--api-key-file", "-", input="\n")
    assert empty.code == 2 and "holds no api key" in empty.error_line


def test_login_reads_the_key_from_stdin_and_a_pipe_is_told_how(cli, red_emulator):
    anonymous = cli.pointing_at(red_emulator)
    asked = anonymous("login")
    assert asked.code == 2 and "--api-key-file" in asked.error_line
    done = anonymous("login", "--api-key-file", "-", input=red_emulator.api_key + "\n")
    assert done.code == 0, done.stderr
    assert "warning" not in done.stderr
    assert anonymous("whoami", "--json").json()["username"]
