"""``python -m bench.backends``: the broker on SQLite and on PostgreSQL, in one run.

The issue-18 figures side by side, on one machine in one run, so that the ratio is what
counts (these machines are noisy):

1. **Single intake**: a broker on SQLite and a broker on a fresh PostgreSQL database, one
   ``exchange serve`` process each (WARNING), in alternating rounds of distinct valid
   signals (as ``python -m bench``); medians of requests/s and of the broker's CPU per
   request, and PostgreSQL's own CPU per request beside it.
2. **Batch intake**: ``--batches`` batches of ``--batch-size`` signals to each broker, the
   backends taking turns batch by batch; every item must come back ``created``.

``--database-url`` is a PostgreSQL server's admin URL (default the one the tests use); the
bench makes and drops its own database. Results go to ``bench/results/`` as JSON. Nothing
asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg

from bench import load, machine, servers
from bench.load import median
from bench.load_replicas import _cpu_seconds
from bench.signals import signal_bodies

DEFAULT_ADMIN_URL = "postgresql://127.0.0.1:5432/test"
RESULTS = Path(__file__).resolve().parent / "results"
TIMEOUT = 300.0


@dataclass
class Backend:
    name: str
    server: servers.Server
    credentials: servers.Credentials
    rounds: list[dict[str, float]] = field(default_factory=list)
    batches: list[dict[str, float]] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {servers.token(self.server, self.credentials)}"}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    name = f"exchange_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(args.database_url, autocommit=True, connect_timeout=5)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.database_url.rpartition('/')[0]}/{name}"
    backends: list[Backend] = []
    try:
        for label, database in (("SQLite", None), ("PostgreSQL", url)):
            server, credentials = servers.broker(
                work / label.lower(), "WARNING", database, name=f"broker on {label}"
            )
            backends.append(Backend(label, server.start(), credentials))
        problems = _single(args, backends) + _batch(args, backends)
    finally:
        for backend in backends:
            backend.server.stop()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(work, ignore_errors=True)
    _report(args, backends, problems)
    return 1 if problems else 0


def _single(args: argparse.Namespace, backends: list[Backend]) -> list[str]:
    print(
        f"single intake: {args.rounds} alternating rounds of {args.requests:,} signals, "
        f"concurrency {args.concurrency}",
        flush=True,
    )
    problems: list[str] = []
    for number in range(0, args.rounds + 1):  # round 0 warms both up
        shift = number % len(backends)
        for backend in backends[shift:] + backends[:shift]:
            prefix = f"{backend.name[:2].upper()}-R{number}"
            count = args.requests // 4 if number == 0 else args.requests
            bodies = [
                orjson.dumps(b) for b in signal_bodies(count, prefix, zlib.crc32(prefix.encode()))
            ]
            before = _cpu_seconds([backend.server])
            result = load.run_round(
                backend.server,
                backend.name,
                number,
                "/v1/signals",
                bodies,
                backend.headers(),
                expect=201,
                concurrency=args.concurrency,
                deadline=600.0,
                timeout=30.0,
            )
            after = _cpu_seconds([backend.server])
            if result.errors:
                problems.append(f"{backend.name} round {number}: {result.error_samples[:2]}")
            if number == 0:
                continue
            sent = max(result.sent, 1)
            figures = {
                "rps": result.rps,
                "p50_ms": result.percentile(0.5) * 1000,
                "broker_cpu_ms": (after[0] - before[0]) / sent * 1000,
                "database_cpu_ms": (after[1] - before[1]) / sent * 1000,
            }
            backend.rounds.append(figures)
            print(
                f"  round {number} {backend.name:<10} {figures['rps']:7.1f}/s  "
                f"p50 {figures['p50_ms']:6.2f} ms  broker CPU {figures['broker_cpu_ms']:.2f} ms"
                f"  PostgreSQL CPU {figures['database_cpu_ms']:.2f} ms",
                flush=True,
            )
    return problems


def _batch(args: argparse.Namespace, backends: list[Backend]) -> list[str]:
    print(f"batch intake: {args.batches} x {args.batch_size:,} signals to each", flush=True)
    problems: list[str] = []
    with httpx.Client(timeout=TIMEOUT) as client:
        for number in range(1, args.batches + 1):
            shift = number % len(backends)
            for backend in backends[shift:] + backends[:shift]:
                prefix = f"{backend.name[:2].upper()}-B{number}"
                payload = orjson.dumps(
                    {"signals": signal_bodies(args.batch_size, prefix, zlib.crc32(prefix.encode()))}
                )
                before = _cpu_seconds([backend.server])
                started = time.perf_counter()
                response = client.post(
                    backend.server.base_url + "/v1/signals/batch",
                    content=payload,
                    headers={**backend.headers(), "content-type": "application/json"},
                )
                elapsed = time.perf_counter() - started
                after = _cpu_seconds([backend.server])
                created = 0
                if response.status_code == 200:
                    created = response.json()["summary"]["created"]
                if created != args.batch_size:
                    problems.append(
                        f"{backend.name} batch {number}: HTTP {response.status_code}, "
                        f"{created} created: {response.text[:200]}"
                    )
                figures = {
                    "signals_per_second": created / elapsed if elapsed else 0.0,
                    "broker_cpu_ms": (after[0] - before[0]) / max(created, 1) * 1000,
                    "database_cpu_ms": (after[1] - before[1]) / max(created, 1) * 1000,
                }
                backend.batches.append(figures)
                print(
                    f"  batch {number:>2} {backend.name:<10} "
                    f"{figures['signals_per_second']:7.0f} signals/s  broker CPU "
                    f"{figures['broker_cpu_ms']:.3f} ms/signal  PostgreSQL CPU "
                    f"{figures['database_cpu_ms']:.3f} ms/signal",
                    flush=True,
                )
    return problems


def _report(args: argparse.Namespace, backends: list[Backend], problems: list[str]) -> None:
    sqlite, postgres = backends

    def med(backend: Backend, part: str, key: str) -> float:
        return median([r[key] for r in getattr(backend, part)])

    rows = [
        ("single intake, req/s", "rounds", "rps"),
        ("single intake, broker CPU ms/req", "rounds", "broker_cpu_ms"),
        ("batch intake, signals/s", "batches", "signals_per_second"),
        ("batch intake, broker CPU ms/signal", "batches", "broker_cpu_ms"),
    ]
    print(f"\n{'median':<36} {'SQLite':>10} {'PostgreSQL':>11} {'PG / SQLite':>12}")
    summary: dict[str, Any] = {}
    for label, part, key in rows:
        a, b = med(sqlite, part, key), med(postgres, part, key)
        ratio = b / a if a else 0.0
        summary[label] = {"sqlite": a, "postgresql": b, "ratio": ratio}
        print(f"{label:<36} {a:10.2f} {b:11.2f} {ratio:12.2f}")
    pg_cpu = med(postgres, "batches", "database_cpu_ms")
    print(f"{'batch intake, PostgreSQL CPU ms/signal':<36} {'':>10} {pg_cpu:11.3f}")
    for problem in problems:
        print(f"problem: {problem}")
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    document = {
        "machine": machine.describe(),
        "arguments": vars(args),
        "summary": summary,
        "backends": {b.name: {"rounds": b.rounds, "batches": b.batches} for b in backends},
        "problems": problems,
    }
    (RESULTS / f"backends-{stamp}.json").write_text(json.dumps(document, indent=2, default=str))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.backends", description=__doc__)
    parser.add_argument("--database-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=3_000, help="signals per round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1 round of 500, 2 batches of 2,000")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.requests, args.batches, args.batch_size = 1, 500, 2, 2_000
    return args


if __name__ == "__main__":
    raise SystemExit(main())
