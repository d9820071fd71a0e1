"""`civitai-vault serve` as a user runs it: starts, answers, stops on Ctrl+C, fails in one line."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx

SERVE = [sys.executable, "-m", "civitai_vault.cli", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_answers_on_loopback_and_stops_on_ctrl_c(mini_archive):
    port = free_port()
    process = subprocess.Popen(
        [*SERVE, "--archive", str(mini_archive.path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = process.stdout.readline()
        assert f"at http://127.0.0.1:{port}" in ready, process.stderr.read()
        answer = httpx.get(f"http://127.0.0.1:{port}/api/images", params={"limit": 1})
        assert answer.json()["total"] == len(mini_archive.all_ids)
        assert "<!doctype html>" in httpx.get(f"http://127.0.0.1:{port}/").text
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate()
    assert process.returncode == 0, err
    assert "Gallery stopped." in out
    assert "Traceback" not in err


def test_serve_without_an_archive_says_what_to_do(tmp_path):
    done = subprocess.run(
        [*SERVE, "--archive", str(tmp_path / "nothing"), "--port", str(free_port())],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: no archive at")
    assert "civitai-vault sync" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_serve_on_a_busy_port_says_so_in_one_line(mini_archive):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*SERVE, "--archive", str(mini_archive.path), "--port", str(port)],
            capture_output=True,
            text=True,
        )
    assert done.returncode == 1
    message = done.stderr.strip()
    assert message.startswith(f"error: cannot listen on 127.0.0.1:{port}")
    assert "--port" in message
    assert len(message.splitlines()) == 1


def test_serve_answers_only_the_host_names_it_is_given(mini_archive):
    port = free_port()
    process = subprocess.Popen(
        [
            *SERVE,
            *("--archive", str(mini_archive.path), "--port", str(port)),
            *("--allow-host", "gallery.test", "--allow-host", "10.1.2.3"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert f"at http://127.0.0.1:{port}" in process.stdout.readline(), process.stderr.read()
        url = f"http://127.0.0.1:{port}/api/images"
        for host, status in (
            ("gallery.test", 200),
            (f"gallery.test:{port}", 200),
            ("10.1.2.3", 200),
            ("localhost", 200),
            ("evil.example", 421),
            ("test", 421),
        ):
            assert httpx.get(url, headers={"Host": host}).status_code == status, host
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate()
    assert process.returncode == 0


def test_serve_help_explains_allow_host():
    done = subprocess.run([*SERVE, "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "--allow-host" in done.stdout
