"""Batch intake: many signals in batches over HTTP, each batch checked item by item."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.servers import Credentials, Server, token
from bench.signals import signal_bodies

TIMEOUT = 300.0  # one batch of 10,000 takes seconds; this only stops a hung server


@dataclass
class BatchRun:
    size: int
    seconds: list[float] = field(default_factory=list)
    created: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    server_cpu: float = 0.0
    stored: int | None = None  # rows in the signals table afterwards

    @property
    def rates(self) -> list[float]:
        return [self.size / s for s in self.seconds if s > 0]

    @property
    def total_created(self) -> int:
        return sum(self.created)

    @property
    def overall_rate(self) -> float:
        elapsed = sum(self.seconds)
        return self.total_created / elapsed if elapsed else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "batch_size": self.size,
            "batches": len(self.seconds),
            "seconds": [round(s, 3) for s in self.seconds],
            "signals_per_second": [round(r, 1) for r in self.rates],
            "created": self.created,
            "total_created": self.total_created,
            "overall_signals_per_second": round(self.overall_rate, 1),
            "server_cpu_ms_per_signal": round(
                self.server_cpu * 1000 / max(self.total_created, 1), 3
            ),
            "rows_in_signals_table": self.stored,
            "problems": self.problems,
        }


def run_batches(
    server: Server, credentials: Credentials, batches: int, size: int, database: Path
) -> BatchRun:
    """Send ``batches`` batches of ``size`` distinct signals, one after the other."""
    bodies = signal_bodies(batches * size, "BATCH", seed=100)
    payloads = [
        orjson.dumps({"signals": bodies[n * size : (n + 1) * size]}) for n in range(batches)
    ]
    del bodies
    run = BatchRun(size=size)
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as client:
        for number, payload in enumerate(payloads, start=1):
            headers = {
                "authorization": f"Bearer {token(server, credentials)}",
                "content-type": "application/json",
            }
            cpu = server.cpu_seconds()
            started = time.perf_counter()
            try:
                response = client.post("/v1/signals/batch", content=payload, headers=headers)
            except httpx.HTTPError as error:
                run.problems.append(f"batch {number}: {type(error).__name__}: {error}")
                break
            elapsed = time.perf_counter() - started
            used = server.cpu_seconds() - cpu
            run.server_cpu += used
            created = _check(number, size, response, run.problems)
            run.seconds.append(elapsed)
            run.created.append(created)
            print(
                f"  batch {number:>2}/{batches}: {elapsed:6.2f} s, "
                f"{size / elapsed:7.0f} signals/s, {created} created, server CPU {used:5.2f} s",
                flush=True,
            )
    run.stored = _count_signals(database)
    return run


def _check(number: int, size: int, response: httpx.Response, problems: list[str]) -> int:
    """How many items were created; anything else is recorded as a problem."""
    if response.status_code != 200:
        problems.append(f"batch {number}: HTTP {response.status_code}: {response.text[:300]}")
        return 0
    document = response.json()
    results = document.get("results", [])
    created = sum(1 for r in results if r.get("outcome") == "created")
    if len(results) != size or created != size or document["summary"]["created"] != size:
        others = [r for r in results if r.get("outcome") != "created"][:3]
        problems.append(
            f"batch {number}: {created} of {size} created, summary {document['summary']}, "
            f"e.g. {others}"
        )
    return created


def _count_signals(database: Path) -> int | None:
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            row = connection.execute("SELECT count(*) FROM signals").fetchone()
            return int(row[0])
    except sqlite3.Error:
        return None
