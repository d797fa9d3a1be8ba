"""The README's promise: init, demo, serve, and the printed example request is accepted."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    env = {**os.environ, "EXCHANGE_DATA_DIR": str(tmp_path / "var")}
    env.pop("EXCHANGE_DATABASE_URL", None)
    env.pop("EXCHANGE_KEYS_DIR", None)
    subprocess.run(
        [BIN / "exchange", "init"], env=env, check=True, capture_output=True, timeout=120
    )
    welcome = subprocess.run(
        [BIN / "exchange", "demo"], env=env, check=True, capture_output=True, text=True, timeout=120
    )
    assert "curl" in welcome.stdout and "/v1/signals" in welcome.stdout
    port = free_port()
    server = subprocess.Popen(
        [BIN / "exchange", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{base}/.well-known/jwks.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the broker did not start within 30 seconds")
        yield base, tmp_path / "var"
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.mark.slow
def test_make_run_path_accepts_the_printed_example_signal(served: tuple[str, Path]) -> None:
    base, data_dir = served
    demo = json.loads((data_dir / "demo-clients.json").read_text())
    corporation = next(o for o in demo["organisations"] if o["kind"] == "housing_corporation")
    token = httpx.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(corporation["client_id"], corporation["client_secret"]),
        timeout=10,
    )
    assert token.status_code == 200, token.text
    headers = {
        "Authorization": f"Bearer {token.json()['access_token']}",
        "Content-Type": "application/json",
    }
    example = (data_dir / "example-signal.json").read_bytes()
    created = httpx.post(f"{base}/v1/signals", content=example, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    assert {"id", "status", "case_id"} <= set(created.json())
    assert created.headers["x-request-id"]
    again = httpx.post(f"{base}/v1/signals", content=example, headers=headers, timeout=10)
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
