"""The settings file: `settings.toml` in the platform's config folder.

Every setting the command line has can be kept there, and each is looked up in
the order flag > environment > settings file > default (`resolve`). The file
never holds credentials: `login` writes those to their own owner-only file
(`config.CredentialStore`), and a credential found here is refused, so that a
file people copy between machines or paste into bug reports cannot leak one.

    # ~/.config/civitai-vault/settings.toml
    archive = "~/Pictures/civitai"
    site = "red"
    rate = 1.5
    sidecars = true

`SETTINGS` is the one list of keys; the README's table is checked against it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civitai_vault.api.limits import LIMIT_SETTINGS
from civitai_vault.errors import UsageError

__all__ = [
    "SETTINGS",
    "SETTINGS_FILE_NAME",
    "Setting",
    "SettingsFile",
    "settings_path",
]

SETTINGS_FILE_NAME = "settings.toml"
CONFIG_DIR_ENV = "CIVITAI_VAULT_CONFIG_DIR"
CREDENTIAL_KEYS = frozenset({"api_key", "token", "cookie", "password", "session_token"})


@dataclass(frozen=True)
class Setting:
    """One setting: its key in the file, its environment variable, its type and default."""

    key: str
    env: str
    kind: type
    default: Any
    flag: str
    help: str

    def parse(self, value: Any, where: str) -> Any:
        """`value` (from TOML, or text from the environment) as this setting's type."""
        given = value
        if isinstance(value, str) and self.kind is not str:
            value = _from_text(value, self.kind)
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (
            value is None
            or not isinstance(value, self.kind)
            or (self.kind is not bool and isinstance(value, bool))
        ):
            raise UsageError(f"{where}: {self.key} must be {_KIND_NAMES[self.kind]}, not {given!r}")
        if isinstance(value, int | float) and value < 0:
            raise UsageError(f"{where}: {self.key} must be 0 or more, not {value!r}")
        return value


_KIND_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _from_text(text: str, kind: type) -> Any:
    text = text.strip()
    try:
        if kind is bool:
            lowered = text.lower()
            return True if lowered in _TRUE else False if lowered in _FALSE else None
        return kind(text)
    except ValueError:
        return None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "archive",
        "CIVITAI_VAULT_ARCHIVE",
        str,
        "./civitai-archive",
        "--archive DIR",
        "archive folder (holds vault.db and media/)",
    ),
    Setting(
        "site",
        "CIVITAI_SITE",
        str,
        "com",
        "--site com|red",
        "com (civitai.com, hides R and X) or red (civitai.red)",
    ),
    Setting(
        "base_url",
        "CIVITAI_BASE_URL",
        str,
        None,
        "--base-url URL",
        "Civitai's URL, overrides site (default: the site's URL)",
    ),
    Setting(
        "image_base_url",
        "CIVITAI_IMAGE_BASE_URL",
        str,
        None,
        "--image-base-url URL",
        "image CDN URL (default: https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA)",
    ),
    Setting(
        "rate",
        "CIVITAI_VAULT_RATE",
        float,
        2.0,
        "--rate R",
        "API requests per second, 0 = unlimited",
    ),
    Setting(
        "cdn_rate",
        "CIVITAI_VAULT_CDN_RATE",
        float,
        8.0,
        "--cdn-rate R",
        "downloads per second, 0 = unlimited",
    ),
    Setting(
        "concurrency", "CIVITAI_VAULT_CONCURRENCY", int, 4, "--concurrency N", "requests in flight"
    ),
    Setting(
        "template",
        "CIVITAI_VAULT_TEMPLATE",
        str,
        "{username}/{image_id}.{ext}",
        "--template T",
        "file name template under media/",
    ),
    Setting(
        "media",
        "CIVITAI_VAULT_MEDIA",
        bool,
        True,
        "--no-media",
        "download the files (false: metadata only)",
    ),
    Setting(
        "embed",
        "CIVITAI_VAULT_EMBED",
        bool,
        True,
        "--no-embed",
        "write the generation data into the files",
    ),
    Setting(
        "sidecars",
        "CIVITAI_VAULT_SIDECARS",
        bool,
        False,
        "--sidecars",
        "also write <file>.txt (A1111) and <file>.json",
    ),
    Setting("quiet", "CIVITAI_VAULT_QUIET", bool, False, "--quiet", "no progress output"),
    Setting(
        "verbose", "CIVITAI_VAULT_VERBOSE", bool, False, "--verbose", "log every request to stderr"
    ),
    Setting(
        "max_age",
        "CIVITAI_VAULT_MAX_AGE",
        float,
        7.0,
        "check-models --max-age DAYS",
        "days a model check stays fresh",
    ),
    Setting(
        "serve_host",
        "CIVITAI_VAULT_SERVE_HOST",
        str,
        "127.0.0.1",
        "serve --host",
        "address the gallery listens on",
    ),
    Setting(
        "serve_port",
        "CIVITAI_VAULT_SERVE_PORT",
        int,
        8000,
        "serve --port",
        "port the gallery listens on",
    ),
    Setting(
        "browser",
        "CIVITAI_VAULT_BROWSER",
        str,
        "/usr/bin/chromium",
        "login --browser-path PATH",
        "the Chromium `login --browser` opens",
    ),
    # What a server may make the client hold, write or wait for (README "Limits and safety").
    *(
        Setting(
            limit.key,
            f"CIVITAI_VAULT_{limit.key.upper()}",
            limit.kind,
            limit.default,
            f"{limit.flag} N",
            limit.help,
        )
        for limit in LIMIT_SETTINGS
    ),
)
BY_KEY = {setting.key: setting for setting in SETTINGS}


def settings_path(environ: Mapping[str, str] | None = None) -> Path:
    """$CIVITAI_VAULT_CONFIG_DIR/settings.toml, else the platform's config folder."""
    env = os.environ if environ is None else environ
    override = env.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser() / SETTINGS_FILE_NAME
    from platformdirs import user_config_dir

    return Path(user_config_dir("civitai-vault", appauthor=False)) / SETTINGS_FILE_NAME


class SettingsFile:
    """The values of one settings file, checked; a missing file holds nothing."""

    def __init__(self, path: Path | None = None, *, environ: Mapping[str, str] | None = None):
        self.environ = os.environ if environ is None else environ
        self.path = path if path is not None else settings_path(self.environ)
        self.values = self._load()

    def __repr__(self) -> str:
        return f"SettingsFile({str(self.path)!r})"

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise UsageError(f"cannot read the settings file {self.path}: {exc.strerror}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"the settings file {self.path} is not valid TOML: {exc}") from None
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in CREDENTIAL_KEYS:
                raise UsageError(
                    f"the settings file {self.path} holds {key}: credentials do not belong in "
                    "it (it is not private); remove the line and run `civitai-vault login`"
                )
            setting = BY_KEY.get(key)
            if setting is None:
                raise UsageError(
                    f"unknown setting {key!r} in {self.path}; known settings: " + ", ".join(BY_KEY)
                )
            values[key] = setting.parse(value, str(self.path))
        return values

    def resolve(self, key: str, flag: Any = None) -> tuple[Any, str]:
        """(value, where it came from): flag > environment > this file > default.

        An empty string (from a flag or the environment) counts as not given.
        """
        setting = BY_KEY[key]
        if flag is not None and not (isinstance(flag, str) and not flag.strip()):
            return flag, "flag"
        text = self.environ.get(setting.env)
        if text is not None and text.strip():
            return setting.parse(text, f"${setting.env}"), "env"
        if key in self.values:
            return self.values[key], "settings"
        return setting.default, "default"

    def get(self, key: str, flag: Any = None) -> Any:
        return self.resolve(key, flag)[0]
