"""Credentials that stay off the command line.

Every user of the machine can read any process's command line (`ps`, /proc),
so a key passed as `--api-key KEY` is visible to all of them for as long as the
command runs. `--api-key-file FILE` and `--token-file FILE` read it from a file
(`-`: one line from stdin) instead; the environment (`CIVITAI_API_KEY`,
`CIVITAI_TOKEN`) and `civitai-vault login` keep it off the command line too.
`--api-key` and `--token` still work, with a warning saying so.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from rich.text import Text

from civitai_vault.errors import UsageError

_ENVIRONMENT = {"api-key": "CIVITAI_API_KEY", "token": "CIVITAI_TOKEN"}
SAFER = (
    "use --{flag}-file FILE (or --{flag}-file - to read it from stdin), the {env} "
    "environment variable, or `civitai-vault login`"
)


def read_secret(path: Path, flag: str) -> str:
    """The credential in `path` (its first line), or on stdin for `-`."""
    if str(path) == "-":
        text = sys.stdin.readline()
        where = "stdin"
    else:
        try:
            text = path.expanduser().read_text(encoding="utf-8").splitlines()[0:1]
            text = text[0] if text else ""
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(f"cannot read --{flag}-file {path}: {reason}") from None
        where = str(path)
        _warn_if_others_can_read(path.expanduser(), flag)
    secret = text.strip()
    if not secret:
        raise UsageError(f"--{flag}-file: {where} holds no {flag.replace('-', ' ')}")
    return secret


def warn_if_on_command_line(value: str, flag: str, env: str | None) -> None:
    """Say so when a credential came from the command line itself, not from `env`.

    (An option that also reads the environment gets the same value from either;
    one that differs from the environment's can only have come from the flag.)
    """
    if env is None or os.environ.get(env) != value:
        _warn(
            f"--{flag} on the command line is visible to every user of this machine (ps); "
            + SAFER.format(flag=flag, env=env or _ENVIRONMENT[flag])
        )


def _warn_if_others_can_read(path: Path, flag: str) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if stat.S_ISREG(mode) and mode & (stat.S_IRGRP | stat.S_IROTH):
        _warn(f"{path} (--{flag}-file) can be read by other users; `chmod 600` it")


def _warn(message: str) -> None:
    from civitai_vault.cli.core import err_console
    from civitai_vault.untrusted import terminal_text

    err_console.print(
        Text("warning: ", style="bold yellow") + terminal_text(message, one_line=True),
        highlight=False,
        soft_wrap=True,
    )
