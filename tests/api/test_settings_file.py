"""The settings file: every CLI setting, flag > environment > settings file > default,
and never a credential in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from civitai_vault.config import CredentialStore, load_settings
from civitai_vault.errors import UsageError
from civitai_vault.settings_file import SETTINGS, SettingsFile, settings_path


def write(folder: Path, text: str) -> SettingsFile:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "settings.toml").write_text(text, encoding="utf-8")
    return SettingsFile(environ={"CIVITAI_VAULT_CONFIG_DIR": str(folder)})


def test_order_is_flag_then_environment_then_file_then_default(tmp_path: Path) -> None:
    env = {"CIVITAI_VAULT_CONFIG_DIR": str(tmp_path), "CIVITAI_VAULT_RATE": "0.5"}
    (tmp_path / "settings.toml").write_text("rate = 1.5\nconcurrency = 2\nsidecars = true\n")
    prefs = SettingsFile(environ=env)
    assert prefs.resolve("rate", 3.0) == (3.0, "flag")
    assert prefs.resolve("rate") == (0.5, "env")
    assert prefs.resolve("concurrency") == (2, "settings")
    assert prefs.resolve("sidecars") == (True, "settings")
    assert prefs.resolve("template") == ("{username}/{image_id}.{ext}", "default")
    assert prefs.get("media", False) is False  # --no-media given


def test_archive_and_site_from_the_file_reach_the_settings(tmp_path: Path) -> None:
    prefs = write(tmp_path, 'archive = "/data/civitai"\nsite = "red"\n')
    store = CredentialStore(tmp_path)
    store.save(api_key="k-1", site="com", archive="/from/login")
    settings = load_settings(environ={}, store=store, settings_file=prefs)
    assert settings.archive == Path("/data/civitai")
    assert settings.site == "red"
    assert settings.sources["archive"] == "settings"
    assert settings.api_key == "k-1"
    env = {"CIVITAI_VAULT_ARCHIVE": "/env/arch"}
    assert load_settings(environ=env, store=store, settings_file=prefs).archive == Path("/env/arch")
    assert load_settings(archive="flag", environ=env, store=store, settings_file=prefs).archive == (
        Path("flag")
    )


def test_the_login_files_archive_is_honoured_when_nothing_else_says(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(archive="/from/login")
    settings = load_settings(environ={}, store=store, settings_file=write(tmp_path, ""))
    assert settings.archive == Path("/from/login")


@pytest.mark.parametrize("key", ["api_key", "token"])
def test_credentials_are_refused_in_the_settings_file(tmp_path: Path, key: str) -> None:
    with pytest.raises(UsageError, match="credentials do not belong") as caught:
        write(tmp_path, f'{key} = "secret-value-1"\n')
    assert "secret-value-1" not in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_mistakes_name_the_file_and_the_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unknown setting 'rat'.*known settings: archive"):
        write(tmp_path, "rat = 2\n")
    with pytest.raises(UsageError, match="rate must be a number, not 'fast'"):
        write(tmp_path, 'rate = "fast"\n')
    with pytest.raises(UsageError, match="sidecars must be true or false"):
        write(tmp_path, "sidecars = 1\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        write(tmp_path, "rate = = 2\n")
    prefs = SettingsFile(
        environ={
            "CIVITAI_VAULT_CONFIG_DIR": str(tmp_path / "none"),
            "CIVITAI_VAULT_CONCURRENCY": "many",
        }
    )
    with pytest.raises(UsageError, match=r"\$CIVITAI_VAULT_CONCURRENCY: concurrency must be"):
        prefs.get("concurrency")


def test_the_file_lives_in_the_config_folder(tmp_path: Path) -> None:
    assert settings_path({"CIVITAI_VAULT_CONFIG_DIR": str(tmp_path)}) == tmp_path / "settings.toml"
    assert settings_path({}).name == "settings.toml"
    assert "civitai-vault" in str(settings_path({}))


def test_the_readme_documents_every_key() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    for setting in SETTINGS:
        assert f"`{setting.key}`" in section, setting.key
        assert f"`{setting.env}`" in section, setting.env
