"""``pilotis demo --serve`` as a user runs it: a real process, a real port, a real page."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_serve_starts_the_web_server(empty_database_url, tmp_path: Path):
    port = free_port()
    env = {**os.environ, "DATABASE_URL": empty_database_url, "PILOTIS_INSTANCE_PATH": str(tmp_path)}
    command = [
        sys.executable,
        "-m",
        "pilotis",
        "demo",
        "--serve",
        "--port",
        str(port),
        "--as-of",
        "2026-11-26",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        page = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/connexion", timeout=2) as response:
                    page = response.read().decode("utf-8")
                    break
            except OSError:
                time.sleep(0.3)
        assert page is not None, "the server never answered"
        assert "Connexion" in page and '<html lang="fr">' in page
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in output
    assert "direction@carcassonne.pilotis.example" in output
