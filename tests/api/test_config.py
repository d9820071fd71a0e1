"""Settings resolution (flags > environment > config file > defaults) and the credential file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from civitai_vault.api import ClientSettings, InsecureBaseURL
from civitai_vault.config import CredentialStore, load_settings

SECRET_KEY = "key-3f9a0c1d2e"
SECRET_TOKEN = "tok.en-value-77"


def test_flags_beat_environment_beat_config_beat_defaults(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "cfg")
    store.save(api_key="from-config", site="red", token="config-token")
    env = {"CIVITAI_API_KEY": "from-env", "CIVITAI_BASE_URL": "https://env.example"}

    settings = load_settings(api_key="from-flag", environ=env, store=store)
    assert settings.api_key == "from-flag"
    assert settings.base_url == "https://env.example"
    assert settings.site == "red"
    assert settings.token is None  # saved for civitai.com, not for env.example
    assert str(settings.archive) == "civitai-archive"
    assert settings.sources == {
        "archive": "default",
        "site": "config",
        "base_url": "env",
        "image_base_url": "default",
        "api_key": "flag",
        "token": "default",
    }

    assert load_settings(environ=env, store=store).api_key == "from-env"
    assert load_settings(environ={}, store=store).api_key == "from-config"
    assert load_settings(environ={}, store=store).token == "config-token"


def test_empty_values_do_not_hide_lower_sources(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(token="kept")
    settings = load_settings(token="", environ={"CIVITAI_TOKEN": "  "}, store=store)
    assert settings.token == "kept"


def test_config_dir_from_environment(tmp_path: Path) -> None:
    env = {"CIVITAI_VAULT_CONFIG_DIR": str(tmp_path / "here")}
    CredentialStore(environ=env).save(api_key="abc")
    assert (tmp_path / "here" / "config.json").is_file()
    assert load_settings(environ=env).api_key == "abc"
    assert load_settings(environ={**env, "CIVITAI_VAULT_ARCHIVE": "/x/arch"}).archive == Path(
        "/x/arch"
    )


def test_credential_file_is_private_and_atomic(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "conf")
    path = store.save(api_key=SECRET_KEY, site="com")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"api_key": SECRET_KEY, "site": "com"}
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp files left

    assert store.clear_credentials() is True
    assert store.load() == {"site": "com"}
    assert store.clear_credentials() is False


def test_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        CredentialStore(tmp_path).load()


def test_remember_session_cookie_only_replaces_a_stored_token(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    civitai = "https://civitai.com"
    store.remember_session_cookie("civ-token", "new", origin=civitai)
    assert store.load() == {}  # nothing stored: a flag or env token is the user's business
    store.save(token="old")
    store.remember_session_cookie("__Secure-civ-device", "device", origin=civitai)
    assert store.load()["token"] == "old"
    store.remember_session_cookie("__Secure-civ-token", "new", origin=civitai)
    assert store.load()["token"] == "new"


def test_only_the_bound_site_may_replace_the_saved_session(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(token="saved", credential_site="http://127.0.0.1:8765")
    store.session_saver("http://127.0.0.1:9999")("civ-token", "from-a-one-off-host")
    store.session_saver("https://civitai.com")("__Secure-civ-token", "from-civitai")
    assert store.load()["token"] == "saved"
    store.session_saver("http://127.0.0.1:8765")("civ-token", "rolled")
    assert store.load()["token"] == "rolled"


BOUND = "http://127.0.0.1:8765"


@pytest.mark.parametrize(
    ("base_url", "sent"),
    [
        (None, False),  # the config's own base URL is gone: civitai.com is not the bound site
        (BOUND, True),
        ("http://127.0.0.1:8765/", True),
        ("HTTP://127.0.0.1:8765", True),
        ("http://127.0.0.1:9999", False),  # another port on this machine is another site
        ("http://localhost:8765", False),
        ("https://127.0.0.1:8765", False),
        ("https://evil.example", False),
    ],
)
def test_saved_credentials_go_only_to_the_site_they_were_checked_against(
    tmp_path: Path, base_url: str | None, sent: bool
) -> None:
    store = CredentialStore(tmp_path)
    store.save(api_key=SECRET_KEY, token=SECRET_TOKEN, credential_site=BOUND)
    for where in ("flag", "env"):
        env = {"CIVITAI_BASE_URL": base_url} if where == "env" and base_url else {}
        flag = base_url if where == "flag" else None
        settings = load_settings(base_url=flag, environ=env, store=store)
        assert (settings.api_key, settings.token) == (
            (SECRET_KEY, SECRET_TOKEN) if sent else (None, None)
        )
        assert settings.signed_in is sent
        assert (settings.withheld is None) is sent
        assert (settings.session_store is not None) is sent
        if not sent:
            assert BOUND in str(settings.withheld) and "--api-key" in str(settings.withheld)
            assert SECRET_KEY not in str(settings.withheld)


def test_credentials_passed_explicitly_go_where_the_user_points(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(api_key=SECRET_KEY, credential_site="https://civitai.com")
    env = {"CIVITAI_BASE_URL": "http://127.0.0.1:9999", "CIVITAI_API_KEY": "explicit"}
    assert load_settings(environ=env, store=store).api_key == "explicit"
    assert load_settings(api_key="flag", environ=env, store=store).api_key == "flag"


def test_civitai_com_and_red_are_one_site(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(api_key=SECRET_KEY, credential_site="https://civitai.com")
    assert load_settings(site="red", environ={}, store=store).api_key == SECRET_KEY
    red = load_settings(base_url="https://civitai.red", environ={}, store=store)
    assert red.api_key == SECRET_KEY


def test_a_config_saved_before_binding_belongs_to_its_base_url(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(api_key=SECRET_KEY, base_url=BOUND)
    assert load_settings(environ={}, store=store).api_key == SECRET_KEY
    elsewhere = load_settings(base_url="https://civitai.com", environ={}, store=store)
    assert elsewhere.api_key is None
    store.save(base_url=None)
    assert load_settings(environ={}, store=store).api_key == SECRET_KEY  # civitai.com


def test_logout_forgets_the_binding_too(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(api_key=SECRET_KEY, credential_site=BOUND, site="red")
    assert store.clear_credentials()
    assert store.load() == {"site": "red"}


def test_credentials_never_in_repr(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.save(api_key=SECRET_KEY, token=SECRET_TOKEN)
    settings = load_settings(environ={}, store=store)
    client_settings = settings.client_settings(rate=0)
    for text in (repr(settings), str(settings), repr(client_settings), repr(store)):
        assert SECRET_KEY not in text and SECRET_TOKEN not in text
    assert settings.describe()["api_key"] == "set"
    assert SECRET_KEY not in json.dumps(settings.describe())


def test_bad_site_is_rejected() -> None:
    with pytest.raises(ValueError, match="'com' or 'red'"):
        load_settings(site="blue", environ={}, store=CredentialStore("/nonexistent/dir"))


@pytest.mark.parametrize(
    "base_url",
    ["http://civitai.com", "http://192.168.1.10:8080", "http://example.org"],
)
def test_plain_http_with_credentials_is_refused_off_this_machine(base_url: str) -> None:
    with pytest.raises(InsecureBaseURL) as caught:
        ClientSettings(base_url=base_url, api_key=SECRET_KEY)
    assert SECRET_KEY not in str(caught.value)
    assert "https" in str(caught.value)
    ClientSettings(base_url=base_url)  # anonymous is fine


@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:9999", "http://localhost:1", "http://[::1]:80", "https://x.org"]
)
def test_loopback_or_https_may_carry_credentials(base_url: str) -> None:
    assert ClientSettings(base_url=base_url, token=SECRET_TOKEN).has_credentials


@pytest.mark.parametrize(
    "bad", ["ftp://civitai.com", "civitai.com", "https://u:p@civitai.com", "https://x.org/?a=1"]
)
def test_base_url_must_be_a_plain_http_url(bad: str) -> None:
    with pytest.raises(ValueError):
        ClientSettings(base_url=bad)


def test_token_with_cookie_breaking_characters_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        ClientSettings(token="abc; other=1")
    assert "abc" not in str(caught.value)


def test_site_default_urls() -> None:
    assert ClientSettings(site="red").base_url == "https://civitai.red"
    assert ClientSettings().base_url == "https://civitai.com"
    assert ClientSettings(base_url="https://civitai.com/").api_origin == "https://civitai.com"
