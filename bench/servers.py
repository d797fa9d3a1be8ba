"""Start and stop the servers under test, each in its own process on a free loopback port."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def exchange_command() -> list[str]:
    """The ``exchange`` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "exchange"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("exchange")
    if found is None:
        raise SystemExit("the exchange command is not installed; run `make bench`")
    return [found]


@dataclass
class Server:
    """One server process; its output goes to a log file next to its data."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    ready_path: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Server:
        command = [*self.command, "--port", str(self.port)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + self.ready_path, timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"{self.name} did not answer within {START_TIMEOUT}s:\n{self.log_tail()}"
        )

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the server process so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def _run_exchange(args: list[str], env: dict[str, str]) -> Any:
    result = subprocess.run(
        [*exchange_command(), *args],
        env={**os.environ, **env},
        capture_output=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"exchange {' '.join(args)} failed ({result.returncode}):\n"
            + result.stderr.decode(errors="replace")
        )
    return json.loads(result.stdout)


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


def broker(
    data_dir: Path, log_level: str, database_url: str | None = None, name: str | None = None
) -> tuple[Server, Credentials]:
    """A broker with a fresh data dir, set up by ``exchange init`` and ``exchange demo``;
    on ``database_url`` (an empty database) where given, else SQLite in the data dir."""
    env = {
        "EXCHANGE_DATA_DIR": str(data_dir),
        "EXCHANGE_LOG_LEVEL": log_level,
        "EXCHANGE_LOG_FORMAT": "json",
    }
    if database_url is not None:
        env["EXCHANGE_DATABASE_URL"] = database_url
    data_dir.mkdir(parents=True, exist_ok=True)
    _run_exchange(["init"], env)
    # No demo signals: the bench counts the rows its own requests stored.
    demo = _run_exchange(["demo", "--json", "--no-signals"], env)
    corporation = next(o for o in demo["organisations"] if o["kind"] == "housing_corporation")
    server = Server(
        name=name or f"broker (log level {log_level})",
        command=[*exchange_command(), "serve"],
        env=env,
        log_path=data_dir / "server.log",
        ready_path="/.well-known/jwks.json",
    )
    return server, Credentials(corporation["client_id"], corporation["client_secret"])


def baseline(data_dir: Path) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    return Server(
        name="baseline",
        command=[sys.executable, "-m", "bench.baseline", "--db", str(data_dir / "base.sqlite3")],
        env={"PYTHONPATH": str(REPO)},
        log_path=data_dir / "server.log",
        ready_path="/health",
    )


def token(server: Server, credentials: Credentials) -> str:
    response = httpx.post(
        server.base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
        timeout=30.0,
    )
    response.raise_for_status()
    access_token: str = response.json()["access_token"]
    return access_token
