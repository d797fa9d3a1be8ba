"""Real ``exchange serve`` processes for the tests that need them (marked ``slow``).

A :class:`Deployment` is one database (PostgreSQL or a SQLite file) with the server processes
that share it (``bench.servers.Server``, each on its own port), and the demo clients'
credentials. Each server writes its log (warnings and errors, JSON lines) to a file, and
every request sent through :func:`send` carries its own ``X-Request-ID``: a 5xx answer shows
the lines the server logged for that request (the traceback) in the warning or failure
message. The checks here hold after any run: one routing decision per stored signal, the
audit log contiguous, its export verifying offline with the broker's key.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
import warnings
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.servers import Server, exchange_command
from exchange.db import sqlite_file

ISSUER = "http://127.0.0.1:8000"  # the load balancer's address, as clients know the broker
RESENDS = 3
REQUEST_TIMEOUT = 120.0
ROUTED = (
    "SELECT (SELECT count(*) FROM signals), (SELECT count(*) FROM audit_entries"
    " WHERE action = 'signal.route' AND decision = 'permit')"
)


@dataclass
class Deployment:
    url: str
    data_dir: Path
    replicas: list[Server]
    credentials: dict[str, tuple[str, str]]  # organisation kind -> (client id, secret)

    def token(self, kind: str, replica: int = 0) -> dict[str, str]:
        client_id, secret = self.credentials[kind]
        response = httpx.post(
            self.replicas[replica].base_url + "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
            timeout=REQUEST_TIMEOUT,
        )
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def query(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of one statement, read beside the servers (``%s`` placeholders)."""
        path = sqlite_file(self.url)
        if path is not None:
            with closing(sqlite3.connect(path, timeout=30)) as connection:
                return connection.execute(sql.replace("%s", "?"), parameters).fetchall()
        with psycopg.connect(self.url) as connection:
            return connection.execute(sql, parameters).fetchall()


def replica_env(url: str, data_dir: Path, application_name: str = "exchange-cli") -> dict[str, str]:
    if sqlite_file(url) is None:
        # application_name lets a test see when a replica's session is busy.
        url = f"{url}?application_name={application_name}"
    return {
        "EXCHANGE_DATABASE_URL": url,
        "EXCHANGE_DATA_DIR": str(data_dir),
        "EXCHANGE_ISSUER": ISSUER,
        "EXCHANGE_LOG_FORMAT": "json",
        "EXCHANGE_LOG_LEVEL": "WARNING",
        # Small, so that the replicas sign many checkpoints while they append.
        "EXCHANGE_AUDIT_CHECKPOINT_EVERY": "64",
        # No background jobs: the shutdown test reads a busy session as the batch's.
        "EXCHANGE_WEBHOOK_INTERVAL_SECONDS": "0",
        "EXCHANGE_ESCALATION_INTERVAL_SECONDS": "0",
    }


def run_exchange(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        [*exchange_command(), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=REQUEST_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def replica_busy(d: Deployment, application_name: str, since: Any) -> bool:
    """Whether the replica's PostgreSQL session is in a transaction begun after ``since``."""
    with psycopg.connect(d.url) as connection:
        ((busy,),) = connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND state <> 'idle' AND xact_start > %s",
            (application_name, since),
        ).fetchall()
    return bool(busy)


def assert_no_duplicate_signals(d: Deployment) -> None:
    duplicated = d.query(
        "SELECT provider_id, external_ref FROM signals"
        " GROUP BY provider_id, external_ref HAVING count(*) > 1"
    )
    assert duplicated == []
    shared = d.query(
        "SELECT household_id FROM cases WHERE status <> 'closed'"
        " GROUP BY household_id HAVING count(*) > 1"
    )
    assert shared == []


def assert_audit_log_contiguous(d: Deployment) -> None:
    ((count, distinct, lowest, highest),) = d.query(
        "SELECT count(*), count(DISTINCT leaf_index), min(leaf_index), max(leaf_index)"
        " FROM audit_entries"
    )
    ((tree_size,),) = d.query("SELECT tree_size FROM audit_head WHERE id = 1")
    assert count == distinct == tree_size
    assert (lowest, highest) == (0, tree_size - 1)


def assert_export_verifies(
    d: Deployment, officer: dict[str, str], earliest: str, tmp_path: Path
) -> None:
    """The export verifies offline, strictly (every line of it used), with the broker's key,
    and extends ``earliest``, a checkpoint signed before."""
    export = tmp_path / "audit.jsonl"
    # With several replicas, the export and the key come from two that are not the first.
    export.write_bytes(get(d, len(d.replicas) // 2, "/v1/audit/export", officer).content)
    key = tmp_path / "verifier.key"
    key.write_text(get(d, len(d.replicas) - 1, "/v1/audit/verifier-key", officer).text)
    kept = tmp_path / "earliest.checkpoint"
    kept.write_text(earliest)
    verify = [sys.executable, "-m", "audit", "verify", str(export), "--public-key", str(key)]
    result = subprocess.run(
        [*verify, "--checkpoint", str(kept), "--strict"],
        capture_output=True,
        text=True,
        check=False,
        timeout=REQUEST_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK")


def post(
    d: Deployment, replica: int, path: str, headers: dict[str, str], body: Any
) -> httpx.Response:
    return send(d, replica, "POST", path, headers, body)


def get(d: Deployment, replica: int, path: str, headers: dict[str, str]) -> httpx.Response:
    response = send(d, replica, "GET", path, headers)
    assert response.status_code == 200, explain(d, [response])
    return response


def send(
    d: Deployment,
    replica: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any = None,
    *,
    resends: int = RESENDS,
) -> httpx.Response:
    """Send as a client does: a 5xx says nothing was stored, so the client sends again.

    Resends show as warnings in the test summary rather than failures: what the tests
    hold the broker to is that nothing is lost or stored twice. No 5xx is expected; the
    warning quotes what the replica logged for the request (its traceback), so that one
    seen once in CI can be diagnosed from the run's output alone.
    """
    url = d.replicas[replica].base_url + path
    for _ in range(resends):
        # Each attempt its own id: the replica's log lines for it carry the same.
        request_id = f"scale-{uuid.uuid4().hex}"
        response = httpx.request(
            method,
            url,
            json=body,
            headers={**headers, "X-Request-ID": request_id},
            timeout=REQUEST_TIMEOUT,
        )
        if response.status_code < 500:
            return response
        warnings.warn(
            f"{method} {path} answered {response.status_code} at replica-{replica}; sent again"
            f"\n{replica_log(d, replica, request_id)}",
            stacklevel=2,
        )
    return response


def explain(d: Deployment, responses: list[httpx.Response]) -> str:
    """The bodies of the 5xx answers among ``responses``, each with its replica's log lines."""
    parts = []
    for response in responses:
        if response.status_code < 500:
            continue
        port = response.request.url.port
        replica = next(n for n, r in enumerate(d.replicas) if r.port == port)
        request_id = response.request.headers.get("X-Request-ID", "")
        parts.append(
            f"{response.request.method} {response.request.url.path} answered"
            f" {response.status_code} at replica-{replica}: {response.text}"
            f"\n{replica_log(d, replica, request_id)}"
        )
    return "\n\n".join(parts) or f"no 5xx among: {[r.text[:200] for r in responses]}"


def replica_log(d: Deployment, replica: int, request_id: str, wait: float = 5.0) -> str:
    """What the replica logged for one request, tracebacks unfolded; else its log's tail.

    uvicorn logs the traceback of a failed request just after it sent the 500, so the lines
    may reach the file a moment after the answer reached us: wait for them a little.
    """
    server = d.replicas[replica]
    deadline = time.monotonic() + wait
    while True:
        found = [e for e in _log_events(server.log_path) if e.get("request_id") == request_id]
        if any("exception" in e for e in found) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if not found:
        return f"(no line of {server.log_path} names request {request_id}; its tail:)\n" + (
            server.log_tail(40)
        )
    lines = [f"{server.log_path}, request {request_id}:"]
    for event in found:
        exception = event.pop("exception", None)
        lines.append(json.dumps(event, sort_keys=True))
        if exception:
            lines.append(str(exception).rstrip())
    return "\n".join(lines)


def _log_events(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            event = {"event": line}  # not JSON: a crash before logging was set up
        if isinstance(event, dict):
            events.append(event)
    return events
