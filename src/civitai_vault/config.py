"""Settings and stored credentials.

Each setting comes from, in order: a command-line flag, the environment, the
settings file (`settings.toml`, see `settings_file`), the credential file that
`civitai-vault login` writes, then the default:

| setting          | environment              | default                                  |
|------------------|--------------------------|------------------------------------------|
| archive          | CIVITAI_VAULT_ARCHIVE    | ./civitai-archive                        |
| site             | CIVITAI_SITE             | com                                      |
| base_url         | CIVITAI_BASE_URL         | the site's URL (https://civitai.com)     |
| image_base_url   | CIVITAI_IMAGE_BASE_URL   | https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA |
| video_base_url   | CIVITAI_VIDEO_BASE_URL   | the video origin (api/cdn.py)            |
| api_key          | CIVITAI_API_KEY          | none                                     |
| token            | CIVITAI_TOKEN            | none                                     |

The config file is `config.json` in the platform's user config folder (or in
$CIVITAI_VAULT_CONFIG_DIR when set), readable by its owner only (mode 0600,
folder 0700). Credentials never appear in a repr, a log or an error message.

Saved credentials are bound to the site `login` checked them against
(`credential_site`, an origin such as https://civitai.com): they are sent
only when the base URL in force is that site (civitai.com and civitai.red
count as one site: one account, one key), never to a base URL given once by
flag or environment for another server. A credential the user passes
explicitly (flag or environment) goes to the base URL they chose. Only the
bound site may replace the saved session cookie.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack, cast
from urllib.parse import urlsplit

from civitai_vault.api.auth import SECURE_PREFIX
from civitai_vault.api.limits import LIMIT_SETTINGS, Limits
from civitai_vault.api.settings import SITE_URLS, ClientSettings
from civitai_vault.atomic import atomic_write_text
from civitai_vault.errors import UsageError
from civitai_vault.settings_file import SettingsFile

__all__ = ["CONFIG_FILE_NAME", "CredentialStore", "Settings", "config_dir", "load_settings"]

CONFIG_FILE_NAME = "config.json"
DEFAULT_ARCHIVE = "./civitai-archive"
ENVIRONMENT = {
    "archive": "CIVITAI_VAULT_ARCHIVE",
    "site": "CIVITAI_SITE",
    "base_url": "CIVITAI_BASE_URL",
    "image_base_url": "CIVITAI_IMAGE_BASE_URL",
    "video_base_url": "CIVITAI_VIDEO_BASE_URL",
    "api_key": "CIVITAI_API_KEY",
    "token": "CIVITAI_TOKEN",
}
CONFIG_DIR_ENV = "CIVITAI_VAULT_CONFIG_DIR"


class SiteFlags(TypedDict, total=False):
    """Which Civitai and who you are there, as flags (or a script's keyword arguments)
    give them; None or absent: not given, so the environment or config file decides."""

    site: str | None
    base_url: str | None
    image_base_url: str | None
    video_base_url: str | None
    api_key: str | None
    token: str | None


SITE_FLAGS: tuple[str, ...] = tuple(SiteFlags.__annotations__)


def site_flags(given: Mapping[str, Any], caller: str) -> SiteFlags:
    """`given` checked to hold only SiteFlags keys (else the TypeError Python gives for an
    unknown keyword argument)."""
    for name in given:
        if name not in SITE_FLAGS:
            raise TypeError(f"{caller}() got an unexpected keyword argument {name!r}")
    return cast(SiteFlags, {name: given[name] for name in SITE_FLAGS if name in given})


BINDING_KEY = "credential_site"  # the origin the saved credentials were checked against
STORED_KEYS = frozenset({*ENVIRONMENT, BINDING_KEY})
SECRET_KEYS = frozenset({"api_key", "token"})
CIVITAI_ORIGINS = frozenset(SITE_URLS.values())


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where `login` keeps its file: $CIVITAI_VAULT_CONFIG_DIR, else the platform's place."""
    env = os.environ if environ is None else environ
    override = env.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_dir

    return Path(user_config_dir("civitai-vault", appauthor=False))


@dataclass(frozen=True)
class Settings:
    """Resolved settings; `sources` says where each came from ("flag", "env", "config", ...).

    `session_store` is the config file the token came from, if it did: a session
    cookie Civitai upgrades or rolls is saved back there (and only there).
    `withheld` says why saved credentials were not used (they belong to
    another site than the base URL in force), or is None.
    """

    archive: Path
    site: str = "com"
    base_url: str | None = None
    image_base_url: str | None = None
    video_base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    session_store: CredentialStore | None = field(default=None, repr=False, compare=False)
    withheld: str | None = field(default=None, compare=False)
    limits: Limits = field(default_factory=Limits)

    @property
    def signed_in(self) -> bool:
        return bool(self.api_key or self.token)

    @property
    def effective_base_url(self) -> str:
        return self.base_url or SITE_URLS.get(self.site, SITE_URLS["com"])

    @property
    def origin(self) -> str:
        """The API site in force, as `scheme://host[:port]`."""
        return origin_of(self.effective_base_url)

    def client_settings(self, **overrides: Any) -> ClientSettings:
        """A ClientSettings for these settings; `overrides` set rate, concurrency and so on."""
        values: dict[str, Any] = {
            "site": self.site,
            "base_url": self.base_url,
            "image_base_url": self.image_base_url,
            "video_base_url": self.video_base_url,
            "api_key": self.api_key,
            "token": self.token,
            "limits": self.limits,
        }
        if self.session_store is not None:
            values["on_session_cookie"] = self.session_store.session_saver(self.origin)
        values.update(overrides)
        return ClientSettings(**values)

    def describe(self) -> dict[str, Any]:
        """The settings as they may be shown: credentials only as "set" or "not set"."""
        return {
            "archive": str(self.archive),
            "site": self.site,
            "base_url": self.effective_base_url,
            "image_base_url": self.image_base_url,
            "video_base_url": self.video_base_url,
            "api_key": "set" if self.api_key else "not set",
            "token": "set" if self.token else "not set",
            "sources": dict(self.sources),
            "credentials_withheld": self.withheld,
        }


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-case, without a default port."""
    parts = urlsplit(url.strip())
    scheme = (parts.scheme or "https").lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def same_site(origin: str, bound: str) -> bool:
    """May credentials checked against `bound` be sent to `origin`?"""
    return origin == bound or {origin, bound} <= CIVITAI_ORIGINS


def bound_site(stored: Mapping[str, str]) -> str:
    """The site saved credentials belong to; files from before the binding was saved
    belong to the base URL saved with them, else to Civitai itself."""
    if stored.get(BINDING_KEY):
        return origin_of(stored[BINDING_KEY])
    if stored.get("base_url"):
        return origin_of(stored["base_url"])
    return SITE_URLS["com"]


def load_settings(
    *,
    archive: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    store: CredentialStore | None = None,
    settings_file: SettingsFile | None = None,
    limits: Mapping[str, Any] | None = None,
    **given: Unpack[SiteFlags],
) -> Settings:
    """Settings from flags (the arguments) > environment > settings file > the
    credential file `login` wrote > defaults.

    An empty string counts as "not given", so `CIVITAI_TOKEN=` does not
    hide a stored token. Invalid values are reported by ClientSettings when
    a client is made. `limits` holds the limit flags (`limits.LIMIT_SETTINGS`
    keys, None when not given).
    """
    env = os.environ if environ is None else environ
    store = store or CredentialStore(environ=env)
    stored = store.load()
    preferences = settings_file if settings_file is not None else SettingsFile(environ=env)
    flags: dict[str, Any] = {
        "archive": str(archive) if archive is not None else None,
        **site_flags(given, "load_settings"),
    }
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, env_name in ENVIRONMENT.items():
        for source, value in (
            ("flag", flags.get(key)),
            ("env", env.get(env_name)),
            ("settings", preferences.values.get(key)),
            ("config", stored.get(key)),
        ):
            if isinstance(value, str) and value.strip():
                values[key], sources[key] = value.strip(), source
                break
        else:
            sources[key] = "default"
    site_value = str(values.get("site", "com")).lower()
    if site_value not in SITE_URLS:
        raise ValueError(f"--site must be 'com' or 'red', not {site_value!r}")
    withheld = _withhold_foreign_credentials(values, sources, stored, site_value)
    resolved_limits = _limits(preferences, limits or {})
    return Settings(
        archive=Path(values.get("archive", DEFAULT_ARCHIVE)).expanduser(),
        site=site_value,
        base_url=values.get("base_url"),
        image_base_url=values.get("image_base_url"),
        video_base_url=values.get("video_base_url"),
        api_key=values.get("api_key"),
        token=values.get("token"),
        sources=sources,
        session_store=store if sources["token"] == "config" else None,
        withheld=withheld,
        limits=resolved_limits,
    )


def _limits(preferences: SettingsFile, flags: Mapping[str, Any]) -> Limits:
    """The limits from flags > environment > settings file > defaults, in the client's units."""
    values: dict[str, Any] = {}
    for limit in LIMIT_SETTINGS:
        value, source = preferences.resolve(limit.key, flags.get(limit.key))
        if value <= 0:
            raise UsageError(
                f"the limit {limit.key} ({limit.flag}, from the {source}) must be more than 0"
            )
        values[limit.field] = limit.to_field(value)
    try:
        return Limits(**values)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _withhold_foreign_credentials(
    values: dict[str, Any], sources: dict[str, str], stored: Mapping[str, str], site: str
) -> str | None:
    """Drop saved credentials when the base URL in force is not the site they belong to."""
    saved = [key for key in sorted(SECRET_KEYS) if sources.get(key) == "config"]
    if not saved:
        return None
    origin = origin_of(values.get("base_url") or SITE_URLS[site])
    bound = bound_site(stored)
    if same_site(origin, bound):
        return None
    for key in saved:
        values.pop(key, None)
        sources[key] = "default"
    return (
        f"your saved login belongs to {bound} and was not sent to {origin}; to sign in "
        "there, pass --api-key-file or --token-file (or log in to it with `civitai-vault login`)"
    )


class CredentialStore:
    """The config file `login` writes: credentials and chosen site, owner-readable only."""

    def __init__(
        self, directory: str | Path | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.directory = Path(directory) if directory is not None else config_dir(environ)
        self.path = self.directory / CONFIG_FILE_NAME

    def __repr__(self) -> str:
        return f"CredentialStore({str(self.path)!r})"

    def load(self) -> dict[str, str]:
        """What is stored; an empty dict when there is no file. A broken file is an error."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError(
                f"the config file {self.path} is not valid JSON: fix it, or delete it and run "
                "`civitai-vault login` again"
            ) from None
        if not isinstance(data, dict):
            raise ValueError(f"the config file {self.path} should hold a JSON object")
        return {k: str(v) for k, v in data.items() if k in STORED_KEYS and v is not None}

    def save(self, **values: str | None) -> Path:
        """Merge `values` into the file (None removes a key); written atomically, mode 0600."""
        unknown = set(values) - STORED_KEYS
        if unknown:
            raise ValueError(f"cannot store {', '.join(sorted(unknown))} in the config file")
        data = self.load()
        for key, value in values.items():
            if value is None or not str(value).strip():
                data.pop(key, None)
            else:
                data[key] = str(value).strip()
        self._write(data)
        return self.path

    def clear_credentials(self) -> bool:
        """Forget the API key and token (`logout`); True when something was removed."""
        data = self.load()
        had = any(key in data for key in SECRET_KEYS)
        if had:
            forget = {*SECRET_KEYS, BINDING_KEY}
            self._write({k: v for k, v in data.items() if k not in forget})
        return had

    def session_saver(self, origin: str) -> Callable[[str, str], None]:
        """`ClientSettings.on_session_cookie` for a client talking to `origin`."""

        def save(name: str, value: str) -> None:
            self.remember_session_cookie(name, value, origin=origin)

        return save

    def remember_session_cookie(self, name: str, value: str, *, origin: str) -> None:
        """Keep a session Civitai upgraded or rolled.

        Only replaces a token that came from this file (a token given by flag or
        environment is the user's to manage), and only when `origin`, the host
        that set it, is the site the saved login belongs to; an API key is left alone.
        """
        if name.removeprefix(SECURE_PREFIX) != "civ-token" or not value:
            return
        stored = self.load()
        if stored.get("token") and same_site(origin_of(origin), bound_site(stored)):
            self.save(token=value)

    def _write(self, data: dict[str, str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # not ours to change on some shared setups
            os.chmod(self.directory, 0o700)
        text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        atomic_write_text(self.path, text, private=True)
