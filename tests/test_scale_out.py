"""Three broker replicas on one PostgreSQL database, as in production (deploy/).

Each replica is a real ``exchange serve`` process. They take concurrent batch intake (the
same batch sent to two replicas at once among it), single signals about one household from
two providers at once, and case reads; afterwards nothing is lost or duplicated, the audit
log is contiguous, its export verifies offline, and the checkpoints the replicas signed are
consistent with each other. A replica told to stop (SIGTERM) finishes the batch it is
working on first.

Each replica writes its log (warnings and errors, JSON lines) to ``replica-<n>.log`` in the
module's tmp dir, and every request carries its own ``X-Request-ID``: a 5xx answer, resent
or not, shows the lines the replica logged for that request (the traceback) in the warning
or failure message.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from audit.merkle import verify_consistency
from audit.note import Checkpoint, open_checkpoint
from bench.servers import Server, exchange_command
from bench.signals import signal_bodies
from tests.conftest import DEFAULT_POSTGRES
from tests.factories import signal_body

pytestmark = pytest.mark.slow

ISSUER = "http://127.0.0.1:8000"  # the load balancer's address, as clients know the broker
BATCH = 300
SINGLES = 12
CASE_READS = 12
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

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as connection:
            return connection.execute(sql).fetchall()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    admin_url = os.environ.get("EXCHANGE_TEST_DATABASE_URL", DEFAULT_POSTGRES)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true and is not reachable: {error}")
        pytest.skip(f"PostgreSQL not reachable at {admin_url}")
    name = f"exchange_scale_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    data_dir = tmp_path_factory.mktemp("scale-out")
    env = replica_env(url, data_dir)
    # What the migration Job does in Kubernetes: once, before any replica starts.
    run_exchange(["init"], env)
    run_exchange(["demo", "--json"], env)
    # The file rather than standard output: it holds the same, and nothing else.
    demo = json.loads((data_dir / "demo-clients.json").read_text())
    credentials = {o["kind"]: (o["client_id"], o["client_secret"]) for o in demo["organisations"]}
    replicas = [
        Server(
            name=f"replica-{n}",
            command=[*exchange_command(), "serve"],
            env=replica_env(url, data_dir, application_name=f"replica-{n}"),
            log_path=data_dir / f"replica-{n}.log",
            ready_path="/readyz",
        )
        for n in range(3)
    ]
    try:
        for replica in replicas:
            replica.start()
        yield Deployment(url, data_dir, replicas, credentials)
    finally:
        for replica in replicas:
            replica.stop()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_concurrent_intake_and_reads_on_three_replicas_lose_and_duplicate_nothing(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    # Tokens come from one replica and are used at all: the replicas share their keys.
    housing, energy, water = (
        d.token(kind) for kind in ("housing_corporation", "energy_supplier", "water_company")
    )
    municipality = d.token("municipality", replica=1)
    officer = d.token("privacy_officer", replica=2)
    checkpoints: list[str] = [get(d, 0, "/v1/audit/checkpoint", officer).text]
    signals_before, routed_before = d.query(ROUTED)[0]

    twice = {"signals": signal_bodies(BATCH, "TWICE", seed=1)}
    energy_batch = {"signals": [signal_body(kind="energy") for _ in range(BATCH)]}
    water_batch = {"signals": [signal_body(kind="water") for _ in range(BATCH)]}
    # Households of their own (random addresses): two providers' signals about one household
    # at two replicas at once are the next test's case.
    singles = signal_bodies(SINGLES + 1, "SINGLE", seed=5)
    resent = singles.pop()

    work: list[Callable[[], httpx.Response]] = [
        lambda: post(d, 0, "/v1/signals/batch", housing, twice),
        lambda: post(d, 1, "/v1/signals/batch", housing, twice),
        lambda: post(d, 2, "/v1/signals/batch", energy, energy_batch),
        lambda: post(d, 1, "/v1/signals/batch", water, water_batch),
        lambda: post(d, 0, "/v1/signals", housing, resent),
        lambda: post(d, 2, "/v1/signals", housing, resent),
    ]
    work += [
        lambda b=b, n=n: post(d, n % 3, "/v1/signals", housing, b) for n, b in enumerate(singles)
    ]
    work += [lambda n=n: get(d, n % 3, "/v1/cases", municipality) for n in range(CASE_READS)]
    work += [lambda n=n: get(d, n, "/v1/audit/checkpoint", officer) for n in range(3)]
    responses = run_at_once(work)

    first, second = responses[0].json(), responses[1].json()
    for a, b in zip(first["results"], second["results"], strict=True):
        assert {a["outcome"], b["outcome"]} == {"created", "duplicate"}, (a, b)
        assert a["signal"]["id"] == b["signal"]["id"]
    for batch in responses[2:4]:
        assert batch.json()["summary"] == {"created": BATCH, "duplicate": 0, "rejected": 0}
    once, again = responses[4:6]
    assert sorted([once.status_code, again.status_code]) == [200, 201], (once.text, again.text)
    assert once.json()["id"] == again.json()["id"]
    singles_answered = responses[6 : 6 + SINGLES]
    assert all(r.status_code == 201 for r in singles_answered), explain(d, singles_answered)
    reads = responses[6 + SINGLES : -3]
    assert all(r.status_code == 200 for r in reads), explain(d, reads)
    checkpoints += [r.text for r in responses[-3:]]
    checkpoints += [get(d, n, "/v1/audit/checkpoint", officer).text for n in range(3)]

    sent = 3 * BATCH + SINGLES + 1
    assert_no_duplicate_signals(d)
    assert_audit_log_contiguous(d)
    # One routing decision per stored signal: none lost, none written twice by a retry.
    assert d.query(ROUTED)[0] == (signals_before + sent, routed_before + sent)
    assert_checkpoints_consistent(d, officer, checkpoints)
    assert_export_verifies(d, officer, checkpoints[0], tmp_path)


# This test found a defect (fixed in exchange/signals/intake.py): a coalesced intake
# transaction held the audit head row while inserting another provider's households, so two
# replicas could deadlock; and its retry undid groups already answered 201.
def test_one_household_signalled_by_two_providers_at_two_replicas_gets_one_case(
    deployment: Deployment,
) -> None:
    d = deployment
    energy, water = d.token("energy_supplier"), d.token("water_company", replica=1)
    municipality = d.token("municipality", replica=2)
    households = [
        {"postcode": f"30{40 + n % 50:02d}KL", "house_number": str(n + 1)} for n in range(12)
    ]
    work: list[Callable[[], httpx.Response]] = []
    for n, address in enumerate(households):
        e, w = (
            signal_body(kind="energy", address=address),
            signal_body(kind="water", address=address),
        )
        # Sent once each: here a 500 is the defect under test, not something to resend.
        work.append(lambda e=e, n=n: send(d, n % 3, "POST", "/v1/signals", energy, e, resends=1))
        work.append(
            lambda w=w, n=n: send(d, (n + 1) % 3, "POST", "/v1/signals", water, w, resends=1)
        )
    work += [lambda n=n: get(d, n % 3, "/v1/cases", municipality) for n in range(CASE_READS)]
    responses = run_at_once(work)

    pairs = responses[: 2 * len(households)]
    assert all(r.status_code == 201 for r in pairs), explain(d, pairs)
    for e, w in zip(pairs[0::2], pairs[1::2], strict=True):
        assert e.json()["case_id"] == w.json()["case_id"]
    assert_no_duplicate_signals(d)


def test_sigterm_lets_the_batch_in_flight_finish(deployment: Deployment) -> None:
    d = deployment
    replica = d.replicas[2]
    housing = d.token("housing_corporation", replica=2)
    batch = {"signals": signal_bodies(2_000, "SHUTDOWN", seed=4)}
    before = d.query("SELECT count(*) FROM signals")[0][0]

    ((sent_at,),) = d.query("SELECT clock_timestamp()")
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(post, d, 2, "/v1/signals/batch", housing, batch)
        # The batch is in flight once the replica's database session is busy with it (a
        # transaction begun after it was sent: not the token request's, still closing).
        while not answer.done() and not replica_busy(d, "replica-2", since=sent_at):
            threading.Event().wait(0.005)
        in_flight = not answer.done()
        assert replica.process is not None
        replica.process.send_signal(signal.SIGTERM)
        response = answer.result()
        exit_code = replica.process.wait(REQUEST_TIMEOUT)

    assert in_flight, "the batch finished before the replica was told to stop"
    assert response.status_code == 200, explain(d, [response])
    assert response.json()["summary"]["created"] == 2_000
    # uvicorn finishes what is in flight, then re-raises the SIGTERM it caught, so that its
    # parent sees why it ended: -15 is a graceful stop, as 0 would be.
    assert exit_code in (0, -signal.SIGTERM), replica.log_tail()
    assert d.query("SELECT count(*) FROM signals")[0][0] == before + 2_000
    # The other replicas go on serving.
    assert httpx.get(d.replicas[0].base_url + "/readyz", timeout=30).status_code == 200


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


def assert_checkpoints_consistent(d: Deployment, officer: dict[str, str], notes: list[str]) -> None:
    key = get(d, 0, "/v1/audit/verifier-key", officer).text.strip()
    heads = sorted({open_checkpoint(note, key) for note in notes}, key=lambda c: c.size)
    assert len({c.size for c in heads}) == len(heads), "two roots for one tree size"
    for n, (older, newer) in enumerate(itertools.pairwise(heads)):
        if older.size == 0:
            continue
        # Asked of another replica than the one that may have signed either checkpoint.
        proof = get(
            d,
            n % 3,
            f"/v1/audit/proofs/consistency?first={older.size}&second={newer.size}",
            officer,
        ).json()
        assert consistent(older, newer, proof)


def assert_export_verifies(
    d: Deployment, officer: dict[str, str], earliest: str, tmp_path: Path
) -> None:
    export = tmp_path / "audit.jsonl"
    export.write_bytes(get(d, 1, "/v1/audit/export", officer).content)
    key = tmp_path / "verifier.key"
    key.write_text(get(d, 2, "/v1/audit/verifier-key", officer).text)
    kept = tmp_path / "earliest.checkpoint"
    kept.write_text(earliest)
    verify = [sys.executable, "-m", "audit", "verify", str(export), "--public-key", str(key)]
    result = subprocess.run(
        [*verify, "--checkpoint", str(kept)],
        capture_output=True,
        text=True,
        check=False,
        timeout=REQUEST_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK")


def consistent(older: Checkpoint, newer: Checkpoint, proof: dict[str, Any]) -> bool:
    return verify_consistency(
        older.size,
        newer.size,
        older.root,
        newer.root,
        [base64.b64decode(h) for h in proof["proof"]],
    )


def replica_busy(d: Deployment, application_name: str, since: Any) -> bool:
    with psycopg.connect(d.url) as connection:
        ((busy,),) = connection.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE application_name = %s AND state <> 'idle' AND xact_start > %s",
            (application_name, since),
        ).fetchall()
    return bool(busy)


def run_at_once(work: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call on its own thread, released together."""
    start = threading.Barrier(len(work))

    def released(call: Callable[[], httpx.Response]) -> httpx.Response:
        start.wait()
        return call()

    with ThreadPoolExecutor(len(work)) as pool:
        return list(pool.map(released, work))


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

    Resends show as warnings in the test summary rather than failures: what this module
    holds the broker to is that nothing is lost or stored twice. No 5xx is expected; the
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


def replica_env(url: str, data_dir: Path, application_name: str = "exchange-cli") -> dict[str, str]:
    return {
        # application_name lets the shutdown test see when a replica's session is busy.
        "EXCHANGE_DATABASE_URL": f"{url}?application_name={application_name}",
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
