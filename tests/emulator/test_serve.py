"""`python -m civitai_emulator` serves in the foreground and says how to use it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx

from civitai_emulator import devalue


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_module_serves_and_prints_the_settings_to_use() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "civitai_emulator",
            "--port",
            str(port),
            "--cdn-port",
            "0",
            "--images",
            "50",
            "--seed",
            "3",
            "--site-mode",
            "red",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.strip())
            if line.startswith("Press Ctrl+C"):
                break
        settings = dict(
            line.removeprefix("export ").split("=", 1)
            for line in lines
            if line.startswith("export ")
        )
        assert settings["CIVITAI_BASE_URL"] == f"http://127.0.0.1:{port}"
        assert settings["CIVITAI_IMAGE_BASE_URL"].endswith("/xG1nkqKTMzGDvpLrqFT7WA")
        page = httpx.get(settings["CIVITAI_BASE_URL"] + "/")
        assert page.status_code == 200 and "civitai-emulator" in page.text
        answer = httpx.get(
            settings["CIVITAI_BASE_URL"] + "/api/trpc/collection.getAllUser",
            params={"input": '{"json":{}}'},
            headers={"Authorization": f"Bearer {settings['CIVITAI_API_KEY']}"},
        )
        assert answer.status_code == 200
        data = answer.json()["result"]["data"]
        assert isinstance(data, str)  # devalue, as the live site answers since 2026-07
        assert len(devalue.parse(data)) >= 4
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_bad_arguments_are_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "civitai_emulator", "--images", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--images must be at least" in done.stderr and "Traceback" not in done.stderr


def test_busy_port_is_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "civitai_emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
