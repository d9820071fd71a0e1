"""The README's "Try it" block, then every command the demo suggests, in one bash shell,
in a fresh copy of the repository: each must run exactly as printed (issue 15: the
suggestions said `civitai-vault ...` while the block never put it on the PATH).

The shell gets a private config folder and free ports for the two commands that
serve until Ctrl+C (`serve`, `emulator`), through the settings' environment
variables; the commands themselves are sent as the README and the demo print them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from queue import Empty, Queue

ROOT = Path(__file__).resolve().parents[2]
MARK = "__readme_test_done__"
# Installing the package and its dependencies from the local index takes a while.
STEP_TIMEOUT = 900.0


def fresh_copy(dest: Path) -> Path:
    """The repository's tracked files as they are in the work tree (a fresh clone's view)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest


def readme_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Try it", 1)[1]
    return re.search(r"```sh\n(.*?)\n```", section, re.S).group(1).strip()


class Shell:
    """One bash process; `run` sends a command line and returns what it printed and its code."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--norc", "--noprofile"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self.lines: Queue[str] = Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def run(self, command: str, timeout: float = STEP_TIMEOUT) -> tuple[int, str]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\necho {MARK} $?\n")
        self.process.stdin.flush()
        out: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except Empty:
                so_far = "".join(out)
                raise AssertionError(f"{command!r} gave no answer; so far:\n{so_far}") from None
            if line.startswith(MARK):
                return int(line.split()[1]), "".join(out)
            out.append(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def suggestions(demo_output: str) -> list[str]:
    """The commands under "Try next:", without their `# what it does` comments."""
    tail = demo_output.split("Try next:", 1)[1]
    commands = []
    for line in tail.splitlines():
        if line.strip().startswith("civitai-vault "):
            commands.append(line.split("   #", 1)[0].strip())
    return commands


def until_ready(command: str, ready: str) -> str:
    """Run a command that serves until Ctrl+C: start it, wait for `ready`, stop it with SIGINT."""
    return (
        f"{command} > serving.log 2>&1 & pid=$!; "
        f"for i in $(seq 600); do grep -q {ready!r} serving.log && break; "
        "kill -0 $pid 2>/dev/null || break; sleep 0.1; done; "
        "cat serving.log; grep -q " + repr(ready) + " serving.log; ready=$?; "
        "kill -INT $pid; wait $pid; (exit $ready)"
    )


def test_the_readme_block_and_the_demo_suggestions_run_as_printed(tmp_path: Path) -> None:
    repo = fresh_copy(tmp_path / "civitai-vault")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CIVITAI", "VIRTUAL_ENV", "PYTHON")) and key != "COLUMNS"
    }
    # No civitai-vault on the PATH but the one the block installs.
    here = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != here)
    env.update(
        CIVITAI_VAULT_CONFIG_DIR=str(tmp_path / "config"),
        CIVITAI_VAULT_SERVE_PORT="0",
        CIVITAI_EMULATOR_PORT="0",
    )
    shell = Shell(repo, env)
    try:
        # Job control, so a command sent to the background gets Ctrl+C's SIGINT as it
        # would in a terminal (a script's background jobs otherwise ignore it).
        code, out = shell.run(
            "exec 2>&1; set -m; command -v civitai-vault || echo none on the PATH"
        )
        assert out.strip().endswith("none on the PATH"), out

        block = readme_block()
        code, demo = shell.run(block)
        assert code == 0, demo[-3000:]
        assert "Try next:" in demo

        commands = suggestions(demo)
        assert len(commands) >= 4, demo[-2000:]
        for command in commands:
            name = command.split()[1]
            if name == "serve":
                code, out = shell.run(until_ready(command, "Gallery of"))
            elif name == "emulator":
                code, out = shell.run(until_ready(command, "Press Ctrl+C"))
            else:
                code, out = shell.run(command)
            assert code == 0, f"{command!r} exited {code}:\n{out[-2000:]}"
            assert "command not found" not in out and "Traceback" not in out, out

        assert (repo / "civitai-demo" / "vault.db").is_file()
        assert (repo / "report.html").is_file()
        assert (repo / "images.csv").stat().st_size > 0
    finally:
        shell.close()
