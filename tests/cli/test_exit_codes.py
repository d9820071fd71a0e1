"""Exit codes as the README's table says: 2 for input that can never work, 1 for what
was tried and failed (not found and no access included), each with one line."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "args",
    [
        ("sync", "collection:abc"),
        ("sync", "https://example.com/collections/5"),
        ("image", "not-an-id"),
        ("export", "--format", "xml"),
    ],
)
def test_input_that_can_never_work_is_2(red_cli, args):
    done = red_cli(*args)
    assert done.code == 2
    assert done.error_line.startswith("error: ")


def test_an_unknown_option_is_one_line_and_2(red_cli):
    done = red_cli.process("sync", "--bogus", "me")
    assert done.code == 2
    assert done.error_line.startswith("error: No such option: --bogus")
    assert "-h" in done.error_line


def test_not_found_is_1(red_cli):
    done = red_cli("image", "999999999")
    assert done.code == 1
    assert "not found on Civitai" in done.error_line


def test_a_user_that_does_not_exist_is_1_and_leaves_no_archive(red_cli, tmp_path):
    archive = tmp_path / "nobody"
    done = red_cli(
        "sync",
        "--archive",
        str(archive),
        "--quiet",
        "https://civitai.com/user/nobody_at_all/images",
    )
    assert done.code == 1
    assert "not found" in done.stderr
    assert not archive.exists()


def test_readme_table_says_which_is_which():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("| exit code |", 1)[1].split("\n\n", 1)[0]
    assert "| 2 |" in table and "| 1 |" in table and "| 0 |" in table
    assert "not found" in table and "unknown option" in table


def test_an_unreachable_base_url_fails_at_once_with_one_clear_line(cli, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = cli(
        "whoami", "--base-url", f"http://127.0.0.1:{port}", env={"CIVITAI_API_KEY": "k" * 32}
    )
    assert done.code == 1
    line = done.error_line
    assert "Civitai (127.0.0.1) could not be reached" in line and "--base-url" in line
    assert "attempts" not in line  # tried once, not retried with back-off for half a minute
