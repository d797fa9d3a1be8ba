"""Load on several broker replicas sharing one PostgreSQL database, from a second process.

``python -m bench.load_replicas [--replicas 1,3] [--seconds 8] [--quick]``

For each replica count: a fresh PostgreSQL database, ``exchange init`` and ``exchange demo``,
that many ``exchange serve`` processes (WARNING log level, as the single-process comparison),
then from this process (the load generator, its own process):

- **single intake**: distinct valid signals, one POST each, ``--concurrency`` keep-alive
  connections dealt round-robin over the replicas (what an L4 load balancer does with
  connections), a closed loop; 3 rounds of ``--seconds``, medians reported;
- **batch intake**: one batch of ``--batch-size`` signals per provider kind (housing
  corporation, energy supplier, water company), all sent at once, each to its own replica:
  concurrent batches that contend for the audit log's head row.

Every answer must be 201 (single) or all items created (batch); anything else is counted,
sampled and makes the exit status 1. Reported: requests/s, p50/p99, CPU per request of the
replicas and of PostgreSQL's processes together, and signals/s for the batches. Results go
to ``bench/results/`` as JSON. Nothing asserts a timing: the figures are for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from bench.load import _RawSender, percentile  # the benchmark's own minimal HTTP/1.1 client
from bench.machine import describe
from bench.servers import REPO, Server, exchange_command
from bench.signals import signal_bodies

DEFAULT_ADMIN_URL = "postgresql://127.0.0.1:5432/test"
PROVIDERS = {"housing_corporation": "rent", "energy_supplier": "energy", "water_company": "water"}
TIMEOUT = 120.0
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Figures:
    replicas: int
    rounds: list[dict[str, Any]] = field(default_factory=list)
    batch: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.rounds) if self.rounds else 0.0


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    admin_url = os.environ.get("EXCHANGE_BENCH_DATABASE_URL", DEFAULT_ADMIN_URL)
    work = REPO / "bench" / "results" / f"replicas-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for count in args.replicas:
        print(f"\n{count} replica(s) on PostgreSQL", flush=True)
        with _deployment(admin_url, count, work / f"r{count}") as (servers, credentials):
            results.append(_measure(args, servers, credentials))
    _report(results)
    document = {
        "machine": describe(),
        "args": vars(args),
        "results": [vars(r) for r in results],
        "date": dt.datetime.now(dt.UTC).isoformat(),
    }
    (work / "results.json").write_text(json.dumps(document, indent=2, default=str))
    print(f"\nwritten: {work / 'results.json'}")
    return 1 if any(r.problems for r in results) else 0


def _measure(
    args: argparse.Namespace, servers: list[Server], credentials: dict[str, tuple[str, str]]
) -> Figures:
    figures = Figures(replicas=len(servers))
    headers = {"authorization": f"Bearer {_token(servers[0], credentials['housing_corporation'])}"}
    total = args.rounds * int(args.seconds * 2_000) + 2_000
    bodies = [orjson.dumps(b) for b in signal_bodies(total, f"R{len(servers)}", seed=7)]
    # A short warm-up: connections, caches, the first transactions.
    _single_round(servers, headers, bodies[:300], args.concurrency, 30.0, figures, warm=True)
    offset = 300
    for number in range(1, args.rounds + 1):
        chunk = bodies[offset : offset + int(args.seconds * 2_000)]
        offset += len(chunk)
        result = _single_round(servers, headers, chunk, args.concurrency, args.seconds, figures)
        result["round"] = number
        figures.rounds.append(result)
        print(
            f"  single round {number}: {result['rps']:7.0f} req/s, p50 {result['p50_ms']:.1f} ms,"
            f" p99 {result['p99_ms']:.1f} ms, CPU {result['replica_cpu_ms_per_request']:.2f}"
            f" + {result['database_cpu_ms_per_request']:.2f} (PostgreSQL) ms/req",
            flush=True,
        )
    figures.batch = _batches(servers, credentials, args.batch_size, figures)
    print(
        f"  batches: {figures.batch['signals']} signals in {figures.batch['seconds']:.2f} s,"
        f" {figures.batch['signals_per_second']:.0f} signals/s, CPU"
        f" {figures.batch['replica_cpu_ms_per_signal']:.2f} +"
        f" {figures.batch['database_cpu_ms_per_signal']:.2f} (PostgreSQL) ms/signal",
        flush=True,
    )
    return figures


def _single_round(
    servers: list[Server],
    headers: dict[str, str],
    bodies: list[bytes],
    concurrency: int,
    seconds: float,
    figures: Figures,
    *,
    warm: bool = False,
) -> dict[str, Any]:
    senders = [
        _RawSender(servers[n % len(servers)], "/v1/signals", headers, TIMEOUT)
        for n in range(concurrency)
    ]
    cpu = _cpu_seconds(servers)
    result = asyncio.run(_closed_loop(senders, bodies, seconds))
    replica_cpu, database_cpu = _since(cpu, _cpu_seconds(servers))
    statuses: Counter[str] = result["statuses"]
    errors = sum(v for k, v in statuses.items() if k != "201")
    if errors and not warm:
        figures.problems += [f"single: {s}" for s in result["samples"]]
    ok = statuses.get("201", 0)
    latencies = result["latencies"]
    return {
        "sent": sum(statuses.values()),
        "ok": ok,
        "errors": errors,
        "seconds": result["seconds"],
        "rps": ok / result["seconds"] if result["seconds"] else 0.0,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "cpu_ms_per_request": (replica_cpu + database_cpu) / ok * 1000 if ok else 0.0,
        "replica_cpu_ms_per_request": replica_cpu / ok * 1000 if ok else 0.0,
        "database_cpu_ms_per_request": database_cpu / ok * 1000 if ok else 0.0,
        "client_cpu": result["client_cpu"],
    }


async def _closed_loop(senders: list[_RawSender], bodies: list[bytes], seconds: float) -> Any:
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    samples: list[str] = []
    queue = iter(bodies)
    await asyncio.gather(*(s.open() for s in senders))
    stop_at = time.monotonic() + seconds

    async def worker(sender: _RawSender) -> None:
        for body in queue:
            if time.monotonic() > stop_at:
                return
            started = time.perf_counter()
            try:
                status, content = await sender.post(body)
            except (OSError, EOFError, TimeoutError, ValueError) as error:
                statuses[type(error).__name__] += 1
                if len(samples) < 5:
                    samples.append(f"{type(error).__name__}: {error}")
                continue
            statuses[str(status)] += 1
            if status == 201:
                latencies.append(time.perf_counter() - started)
            elif len(samples) < 5:
                samples.append(f"{status}: {content[:300].decode(errors='replace')}")

    client_cpu = time.process_time()
    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(s) for s in senders))
    finally:
        elapsed = time.perf_counter() - started
        for sender in senders:
            await sender.close()
    return {
        "statuses": statuses,
        "latencies": latencies,
        "samples": samples,
        "seconds": elapsed,
        "client_cpu": time.process_time() - client_cpu,
    }


def _batches(
    servers: list[Server],
    credentials: dict[str, tuple[str, str]],
    size: int,
    figures: Figures,
) -> dict[str, Any]:
    """One batch per provider kind, all at once, each to its own replica (round-robin)."""
    payloads = []
    for n, (kind, signal_kind) in enumerate(PROVIDERS.items()):
        bodies = signal_bodies(size, f"B{len(servers)}-{n}", seed=50 + n)
        for body in bodies:
            body["kind"] = signal_kind
        token = _token(servers[n % len(servers)], credentials[kind])
        payloads.append((servers[n % len(servers)], token, orjson.dumps({"signals": bodies})))

    def send(item: tuple[Server, str, bytes]) -> httpx.Response:
        server, token, payload = item
        return httpx.post(
            server.base_url + "/v1/signals/batch",
            content=payload,
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            timeout=TIMEOUT,
        )

    cpu = _cpu_seconds(servers)
    started = time.perf_counter()
    with ThreadPoolExecutor(len(payloads)) as pool:
        responses = list(pool.map(send, payloads))
    elapsed = time.perf_counter() - started
    replica_cpu, database_cpu = _since(cpu, _cpu_seconds(servers))
    created = 0
    for response in responses:
        if response.status_code != 200:
            figures.problems.append(f"batch: HTTP {response.status_code}: {response.text[:300]}")
            continue
        summary = response.json()["summary"]
        created += summary["created"]
        if summary["created"] != size:
            figures.problems.append(f"batch: {summary}")
    return {
        "batches": len(payloads),
        "size": size,
        "signals": created,
        "seconds": elapsed,
        "signals_per_second": created / elapsed if elapsed else 0.0,
        "replica_cpu_ms_per_signal": replica_cpu / created * 1000 if created else 0.0,
        "database_cpu_ms_per_signal": database_cpu / created * 1000 if created else 0.0,
    }


@contextmanager
def _deployment(
    admin_url: str, count: int, work: Path
) -> Iterator[tuple[list[Server], dict[str, tuple[str, str]]]]:
    name = f"exchange_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin_url.rpartition('/')[0]}/{name}"
    env = {
        "EXCHANGE_DATA_DIR": str(work),
        "EXCHANGE_DATABASE_URL": url,
        "EXCHANGE_LOG_LEVEL": "WARNING",
        "EXCHANGE_LOG_FORMAT": "json",
        "EXCHANGE_WEBHOOK_INTERVAL_SECONDS": "0",
        "EXCHANGE_ESCALATION_INTERVAL_SECONDS": "0",
    }
    servers: list[Server] = []
    try:
        work.mkdir(parents=True, exist_ok=True)
        _exchange(["init"], env)
        _exchange(["demo", "--json", "--no-signals"], env)
        # The file rather than standard output: it holds the clients, and nothing else.
        demo = json.loads((work / "demo-clients.json").read_text())
        credentials = {
            o["kind"]: (o["client_id"], o["client_secret"]) for o in demo["organisations"]
        }
        for n in range(count):
            server = Server(
                name=f"replica-{n}",
                command=[*exchange_command(), "serve"],
                env=env,
                log_path=work / f"replica-{n}.log",
                ready_path="/readyz",
            )
            servers.append(server.start())
        yield servers, credentials
    finally:
        for server in servers:
            server.stop()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _exchange(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [*exchange_command(), *args],
        env={**os.environ, **env},
        capture_output=True,
        check=False,
        timeout=TIMEOUT,
    )
    if result.returncode != 0:
        raise RuntimeError(f"exchange {args[0]} failed: {result.stderr.decode(errors='replace')}")


def _token(server: Server, credentials: tuple[str, str]) -> str:
    response = httpx.post(
        server.base_url + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=credentials,
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _cpu_seconds(servers: list[Server]) -> tuple[float, float]:
    """CPU time of the replicas, and of every PostgreSQL process on this machine."""
    replicas = sum(s.cpu_seconds() for s in servers)
    database = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        command, rest = text.split(") ", 1)
        if command.endswith(("(postgres", "(postmaster")):
            fields = rest.split()
            database += (int(fields[11]) + int(fields[12])) / _TICKS
    return replicas, database


def _since(before: tuple[float, float], after: tuple[float, float]) -> tuple[float, float]:
    return after[0] - before[0], after[1] - before[1]


def _report(results: list[Figures]) -> None:
    print(
        "\n| replicas | req/s | p50 ms | p99 ms | CPU ms/req: replicas + PostgreSQL |"
        " batch signals/s | CPU ms/signal: replicas + PostgreSQL | errors |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        errors = sum(x["errors"] for x in r.rounds) + len(r.problems)
        print(
            f"| {r.replicas} | {r.median('rps'):,.0f} | {r.median('p50_ms'):.1f} |"
            f" {r.median('p99_ms'):.1f} | {r.median('replica_cpu_ms_per_request'):.2f} +"
            f" {r.median('database_cpu_ms_per_request'):.2f} |"
            f" {r.batch.get('signals_per_second', 0):,.0f} |"
            f" {r.batch.get('replica_cpu_ms_per_signal', 0):.2f} +"
            f" {r.batch.get('database_cpu_ms_per_signal', 0):.2f} | {errors} |"
        )
        for problem in r.problems[:5]:
            print(f"  problem: {problem}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load_replicas", description=__doc__)
    parser.add_argument(
        "--replicas",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 3],
        help="replica counts to measure, comma-separated (default 1,3)",
    )
    parser.add_argument("--concurrency", type=int, default=24, help="connections (default 24)")
    parser.add_argument("--seconds", type=float, default=8.0, help="per round (default 8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="2 s rounds, batches of 2,000")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.batch_size = 2.0, 2_000
    return args


if __name__ == "__main__":
    raise SystemExit(main())
