"""Running `civitai-vault` as a user does: its exit code, stdout and stderr.

`cli(...)` runs the Typer app in this process (typer.testing.CliRunner, with
stdout and stderr apart and neither a terminal); `cli.process(...)` runs
`python -m civitai_vault.cli` in a subprocess, for what only a real process
shows. Python's start-up costs most of a second, so most tests use the first.

Every run gets its own config folder (CIVITAI_VAULT_CONFIG_DIR) and working
folder, and an environment without any CIVITAI_* setting of the machine it
runs on, so no test reads or writes a real login. Every run is also checked
for what must never be printed, whatever the command: a traceback (in this
process: an exception escaping the command), or a credential of any emulator
these tests started.

Two emulators of the same small dataset serve the commands: `red_emulator`
(civitai.red mode: a signed-in user sees every rating) and `green_emulator`
(civitai.com mode: R and X hidden even when signed in). The same seed means
the same credentials and the same ids on both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from civitai_emulator import EmulatorConfig, Faults, running_emulator

CLI_SEED = 11
CLI_IMAGES = 150
# Added to every API answer of `slow_emulator`: long enough to show in a run's duration.
SLOW_LATENCY = 0.05
COMMAND = [sys.executable, "-m", "civitai_vault.cli"]
# Colour codes, should a run in this process inherit a terminal from pytest -s.
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# Every secret of every emulator started here: none may appear in any output.
KNOWN_SECRETS: set[str] = set()


def remember_secrets(emu: Any) -> Any:
    KNOWN_SECRETS.update({emu.api_key, emu.session_token, emu.legacy_token})
    return emu


@dataclass(frozen=True)
class CliResult:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_line(self) -> str:
        """The one line an error leaves on stderr (asserts that there is exactly one)."""
        lines = self.stderr.strip().splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got:\n{self.stderr}"
        return lines[0]


@dataclass
class Cli:
    """`civitai-vault` with an isolated config folder, working folder and environment."""

    config_dir: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        input: str | None = None,
        cwd: Path | None = None,
    ) -> CliResult:
        """Run the command in this process."""
        from civitai_vault.cli import app

        outer = {k: None for k in os.environ if k.startswith("CIVITAI")}
        folder = Path.cwd()
        os.chdir(cwd or self.cwd)
        try:
            done = CliRunner().invoke(
                app, list(args), env={**outer, **self.settings(env)}, input=input or ""
            )
        finally:
            os.chdir(folder)
        escaped = done.exception if not isinstance(done.exception, SystemExit) else None
        assert escaped is None, f"{args}: {type(escaped).__name__} escaped: {escaped}"
        result = CliResult(
            tuple(args), done.exit_code, ANSI.sub("", done.stdout), ANSI.sub("", done.stderr)
        )
        check_output(result)
        return result

    def process(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        input: str | None = None,
        cwd: Path | None = None,
    ) -> CliResult:
        """Run `python -m civitai_vault.cli` in a subprocess."""
        done = subprocess.run(
            [*COMMAND, *args],
            env=self.environment(env),
            cwd=cwd or self.cwd,
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            encoding="utf-8",
        )
        result = CliResult(tuple(args), done.returncode, done.stdout, done.stderr)
        check_output(result)
        return result

    def settings(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The variables this CLI sets on top of a clean environment."""
        return {
            "CIVITAI_VAULT_CONFIG_DIR": str(self.config_dir),
            **self.env,
            **(extra or {}),
        }

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A whole environment for a subprocess: this machine's, minus its CIVITAI_* settings."""
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CIVITAI") and k not in ("COLUMNS", "LINES")
        }
        return {**base, "PYTHONIOENCODING": "utf-8", **self.settings(extra)}

    def pointing_at(self, emu: Any, *, site: str | None = None, signed_in: bool = False) -> Cli:
        """The same isolated CLI, talking to `emu` (and passing its API key if `signed_in`)."""
        env = {
            "CIVITAI_BASE_URL": emu.base_url,
            "CIVITAI_IMAGE_BASE_URL": emu.image_base_url,
            "CIVITAI_SITE": site or ("red" if emu.config.site_mode == "red" else "com"),
        }
        if signed_in:
            env["CIVITAI_API_KEY"] = emu.api_key
        return Cli(self.config_dir, self.cwd, {**self.env, **env})

    @property
    def command(self) -> list[str]:
        """The command line that starts `civitai-vault` (for tests that spawn it themselves)."""
        return list(COMMAND)

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.json"

    def saved(self) -> dict[str, Any]:
        """The config file as `login` left it ({} when there is none)."""
        if not self.config_file.exists():
            return {}
        return json.loads(self.config_file.read_text(encoding="utf-8"))


def check_output(result: CliResult) -> None:
    """What no command may ever print: a traceback, or a credential."""
    for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert "Traceback" not in text, f"{result.args}: traceback on {name}:\n{text}"
        for secret in KNOWN_SECRETS:
            assert secret not in text, f"{result.args}: a credential was printed on {name}"


@pytest.fixture(scope="session")
def red_emulator() -> Iterator[Any]:
    config = EmulatorConfig(seed=CLI_SEED, images=CLI_IMAGES, site_mode="red")
    with running_emulator(config) as emu:
        yield remember_secrets(emu)


@pytest.fixture(scope="session")
def slow_emulator() -> Iterator[Any]:
    """civitai.red mode, every API answer SLOW_LATENCY seconds late (for pacing tests)."""
    config = EmulatorConfig(seed=CLI_SEED, images=CLI_IMAGES, site_mode="red")
    with running_emulator(config) as emu:
        emu.set_faults(Faults(latency=SLOW_LATENCY))
        yield remember_secrets(emu)


@pytest.fixture(scope="session")
def green_emulator() -> Iterator[Any]:
    config = EmulatorConfig(seed=CLI_SEED, images=CLI_IMAGES, site_mode="green")
    with running_emulator(config) as emu:
        yield remember_secrets(emu)


def isolated_cli(folder: Path) -> Cli:
    """A CLI whose config and working folders are new folders inside `folder`."""
    work = folder / "work"
    work.mkdir(parents=True)
    return Cli(config_dir=folder / "config", cwd=work)


@pytest.fixture(scope="session")
def new_cli() -> Callable[[Path], Cli]:
    """`new_cli(folder)`: an isolated CLI, for fixtures wider than one test."""
    return isolated_cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """An isolated CLI that talks to no emulator yet (see `Cli.pointing_at`)."""
    return isolated_cli(tmp_path)


@pytest.fixture
def red_cli(cli: Cli, red_emulator: Any) -> Cli:
    """Signed in (by API key in the environment) to the civitai.red emulator."""
    return cli.pointing_at(red_emulator, signed_in=True)


@pytest.fixture
def green_cli(cli: Cli, green_emulator: Any) -> Cli:
    """Signed in (by API key in the environment) to the civitai.com emulator."""
    return cli.pointing_at(green_emulator, signed_in=True)
