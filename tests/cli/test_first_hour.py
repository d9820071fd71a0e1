"""A newcomer's first hour with the command line (issue 15): the basics are there,
help reads as English, the settings file is honoured, a wrong key says so."""

from __future__ import annotations

import re

import pytest

COMMANDS = [
    "sync",
    "status",
    "embed",
    "collections",
    "login",
    "logout",
    "whoami",
    "demo",
    "image",
    "export",
    "stats",
    "check-models",
    "serve",
    "emulator",
]


def test_version_and_short_help(cli):
    from civitai_vault import __version__

    done = cli("--version")
    assert (done.code, done.stdout.strip()) == (0, f"civitai-vault {__version__}")
    short, long = cli("-h"), cli("--help")
    assert short.code == 0 and short.stdout == long.stdout and "sync" in short.stdout
    assert cli("sync", "-h").code == 0


@pytest.mark.parametrize("name", COMMANDS)
def test_help_shows_what_to_type_not_python_types(cli, name):
    done = cli(name, "--help")
    assert done.code == 0
    types = re.findall(
        r"<(?:bool|str|int|float|path|list\[\w+\]|int range|float range)>", done.stdout
    )
    assert types == [], f"{name} --help shows {types}"


def test_sync_help_names_the_values(cli):
    text = cli("sync", "--help").stdout
    for metavar in ("DIR", "URL", "TARGET...", "com|red", "N"):
        assert metavar in text


def test_settings_file_then_environment_then_flag(red_cli, red_emulator, tmp_path):
    post = red_emulator.dataset.posts[red_emulator.dataset.named["post_id"]]
    red_cli.config_dir.mkdir(parents=True, exist_ok=True)
    from_file = tmp_path / "from-file"
    (red_cli.config_dir / "settings.toml").write_text(
        f'archive = "{from_file}"\nmedia = false\nrate = 0\n', encoding="utf-8"
    )
    done = red_cli("sync", f"post:{post.id}")
    assert done.code == 0, done.stderr
    assert (from_file / "vault.db").is_file()
    assert not [p for p in (from_file / "media").rglob("*") if p.is_file()]  # media = false

    from_env = tmp_path / "from-env"
    done = red_cli("sync", f"post:{post.id}", env={"CIVITAI_VAULT_ARCHIVE": str(from_env)})
    assert done.code == 0 and (from_env / "vault.db").is_file()

    from_flag = tmp_path / "from-flag"
    done = red_cli(
        "sync",
        f"post:{post.id}",
        "--archive",
        str(from_flag),
        "--media",
        env={"CIVITAI_VAULT_ARCHIVE": str(from_env)},
    )
    assert done.code == 0 and (from_flag / "vault.db").is_file()
    assert len([p for p in (from_flag / "media").rglob("*") if p.is_file()]) == len(post.image_ids)


def test_a_broken_settings_file_is_one_line_naming_it(red_cli):
    red_cli.config_dir.mkdir(parents=True, exist_ok=True)
    (red_cli.config_dir / "settings.toml").write_text('api_key = "abc"\n', encoding="utf-8")
    done = red_cli("status")
    assert done.code == 2
    assert "settings.toml" in done.stderr and "credentials do not belong" in done.stderr


def test_sync_without_targets_refreshes_every_archived_target(red_cli, red_emulator, tmp_path):
    dataset = red_emulator.dataset
    post = dataset.posts[dataset.named["post_id"]]
    collection = dataset.named["public_collection"]
    archive = tmp_path / "a"
    first = red_cli(
        "sync",
        "--archive",
        str(archive),
        "--no-media",
        "--rate",
        "0",
        f"post:{post.id}",
        f"collection:{collection}",
    )
    assert first.code == 0, first.stderr
    red_emulator.clear_log()
    again = red_cli("sync", "--archive", str(archive), "--no-media", "--rate", "0", "--json")
    assert again.code == 0, again.stderr
    assert sorted(t["key"] for t in again.json()["targets"]) == sorted(
        [f"post:{post.id}", f"collection:{collection}"]
    )
    assert red_emulator.count("image.getInfinite") >= 2

    empty = red_cli("sync", "--archive", str(tmp_path / "none"))
    assert empty.code == 2
    assert "no targets to refresh" in empty.error_line
    assert not (tmp_path / "none").exists()


def test_verbose_logs_each_request_without_credentials(red_cli, red_emulator):
    done = red_cli("whoami", "-v")
    assert done.code == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "/api/trpc/" in line]
    assert lines, done.stderr
    api = re.escape(red_emulator.base_url + "/api/trpc/")
    for line in lines:
        assert re.fullmatch(rf"GET {api}[\w.]+\?input=\{{.*\}} \d{{3}} \d+ ms", line), line
        assert red_emulator.api_key not in line
    quiet = red_cli("whoami")
    assert "/api/trpc/" not in quiet.stderr


def test_dry_run_lists_what_would_be_fetched_and_writes_nothing(red_cli, red_emulator, tmp_path):
    dataset = red_emulator.dataset
    collection = dataset.named["public_collection"]
    ids = dataset.collections[collection].image_ids
    archive = tmp_path / "dry"
    red_emulator.clear_log()
    done = red_cli(
        "sync", "--archive", str(archive), "--dry-run", "--json", f"collection:{collection}"
    )
    assert done.code == 0, done.stderr
    [planned] = done.json()
    assert (planned["listed"], planned["new"], planned["files"]) == (len(ids), len(ids), 0)
    assert not archive.exists()
    assert red_emulator.count("image.getGenerationData") == 0
    assert red_emulator.count(listener="cdn") == 0
    assert red_emulator.count("collection.getInfinite") == 0  # it lists the whole collection

    red_cli(
        "sync", "--archive", str(archive), "--no-media", "--rate", "0", f"collection:{collection}"
    )
    again = red_cli(
        "sync", "--archive", str(archive), "--dry-run", "--json", f"collection:{collection}"
    ).json()[0]
    assert (again["new"], again["details"], again["files"]) == (0, 0, len(ids))
    text = red_cli("sync", "--archive", str(archive), "--dry-run", f"collection:{collection}")
    assert "dry run" in text.stdout and str(len(ids)) in text.stdout


def test_top_is_not_capped_at_ten(red_cli, red_emulator, tmp_path):
    archive = tmp_path / "stats"
    collection = red_emulator.dataset.named["demo_collection"]
    assert (
        red_cli(
            "sync",
            "--archive",
            str(archive),
            "--no-media",
            "--rate",
            "0",
            f"collection:{collection}",
        ).code
        == 0
    )
    ten = red_cli("stats", "--archive", str(archive), "--top", "10").stdout
    many = red_cli("stats", "--archive", str(archive), "--top", "25").stdout
    assert len(many.splitlines()) > len(ten.splitlines()) + 10


WRONG_KEY = "0123456789abcdef0123456789abcdef"


def test_a_wrong_api_key_is_said_to_be_rejected(cli, red_emulator):
    user = cli.pointing_at(red_emulator)
    done = user("whoami", env={"CIVITAI_API_KEY": WRONG_KEY})
    assert done.code == 1
    assert "Civitai rejected your API key" in done.stderr
    assert "civitai-vault login" in done.stderr


def test_a_sync_with_a_wrong_key_does_not_blame_the_collection(cli, red_emulator, tmp_path):
    user = cli.pointing_at(red_emulator)
    own_private = red_emulator.dataset.named["demo_collection"]
    done = user(
        "sync",
        "--archive",
        str(tmp_path / "a"),
        f"collection:{own_private}",
        env={"CIVITAI_API_KEY": WRONG_KEY},
    )
    assert done.code == 1
    # Refused outright (401) as live, or answered as anonymous: either way the login is named.
    assert re.search(r"rejected your API key|did not accept your login", done.stderr)
    assert "civitai-vault login" in done.stderr
    assert "private to another user" not in done.stderr + done.stdout


def test_an_expired_session_token_is_not_a_success(cli, red_emulator):
    user = cli.pointing_at(red_emulator)
    done = user("whoami", env={"CIVITAI_TOKEN": "eyJexpired.token.value"})
    assert done.code == 1
    assert "did not accept your session token" in done.stderr


def test_check_models_links_are_whole_lines(red_cli, red_emulator, tmp_path):
    archive = tmp_path / "models"
    collection = red_emulator.dataset.named["demo_collection"]
    red_cli(
        "sync", "--archive", str(archive), "--no-media", "--rate", "0", f"collection:{collection}"
    )
    done = red_cli("check-models", "--archive", str(archive), "--rate", "0", env={"COLUMNS": "60"})
    links = [line for line in done.stdout.splitlines() if "https://civitaiarchive.com" in line]
    assert links, done.stdout
    for line in links:
        assert re.fullmatch(r"#\d+ https://civitaiarchive\.com/\S+", line.strip()), line


def test_check_models_refresh_shows_how_far_it_is(red_cli, red_emulator, tmp_path):
    archive = tmp_path / "models"
    collection = red_emulator.dataset.named["public_collection"]
    red_cli("sync", "--archive", str(archive), "--no-media", "--rate", "0",
            f"collection:{collection}")  # fmt: skip
    done = red_cli("check-models", "--archive", str(archive), "--rate", "0", "--refresh")
    assert done.code == 0, done.stderr
    counts = re.findall(r"^looked up (\d+)/(\d+) model versions$", done.stderr, re.M)
    assert counts and counts[0][0] == "0" and counts[-1][0] == counts[-1][1] != "0"
    quiet = red_cli("check-models", "--archive", str(archive), "--rate", "0", "--refresh",
                    "--json")  # fmt: skip
    assert "looked up" not in quiet.stderr
