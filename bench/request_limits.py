"""``python -m bench.request_limits``: what an oversized request costs the broker, and
whether it holds up anyone else.

A real ``exchange serve`` (log level INFO, as in production) gets, over raw sockets (HTTP
clients refuse URLs this long):

1. refusals: requests whose URL is 100,000 characters (``/healthz?x=aaaa…``), one at a time;
   the baseline in the same run is the same number of plain ``GET /healthz`` requests.
   Reported: median client-side time per answer and server CPU per request, both side by
   side, and the refusal's status;
2. a bystander: ``GET /healthz`` latency from one client, first alone and then while two
   other processes send 100,000-character URLs as fast as they can. Reported: median and
   p99 latency of each phase and their ratio.

Timings are reported, never asserted (tests/test_hardening.py asserts the status).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine, servers
from bench.load import median, percentile

LONG_URL_CHARS = 100_000
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.request_limits")
    parser.add_argument("--requests", type=int, default=300, help="requests per measurement")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a bystander phase")
    parser.add_argument("--attackers", type=int, default=2, help="processes sending long URLs")
    parser.add_argument(
        "--url-chars",
        type=int,
        default=LONG_URL_CHARS,
        help="length of the long URL (60,000 shows a broker from before the limits: uvicorn"
        " itself refuses 64 KiB and more)",
    )
    args = parser.parse_args(argv)
    print(json.dumps({k: machine.describe()[k] for k in ("date", "cpu_model", "cpus_usable")}))
    work = Path(tempfile.mkdtemp(prefix="exchange-bench-limits-"))
    try:
        server, _ = servers.broker(work / "broker", "INFO")
        with server:
            document = _measure(server, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for line in _lines(document):
        print(line)
    path = RESULTS_DIR / f"request-limits-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {path}")
    return 0 if document["refusal"]["statuses"] == {"414": args.requests} else 1


def _measure(server: servers.Server, args: argparse.Namespace) -> dict[str, Any]:
    long_request = _request("/healthz?x=" + "a" * args.url_chars)
    plain_request = _request("/healthz")
    for _ in range(min(20, args.requests)):  # warm up both paths
        _exchange(server.port, plain_request)
        _exchange(server.port, long_request)
    refusal = _series(server, long_request, args.requests)
    plain = _series(server, plain_request, args.requests)

    alone = _bystander(server.port, plain_request, args.seconds)
    stop = multiprocessing.Event()
    attackers = [
        multiprocessing.Process(target=_attack, args=(server.port, long_request, stop))
        for _ in range(args.attackers)
    ]
    for attacker in attackers:
        attacker.start()
    time.sleep(0.5)
    cpu_before = server.cpu_seconds()
    attacked = _bystander(server.port, plain_request, args.seconds)
    attack_cpu = server.cpu_seconds() - cpu_before
    stop.set()
    for attacker in attackers:
        attacker.join(10)
    return {
        "long_url_chars": args.url_chars,
        "refusal": refusal,
        "plain": plain,
        "bystander_alone": alone,
        "bystander_attacked": {**attacked, "server_cpu_share": round(attack_cpu / args.seconds, 2)},
        "attackers": args.attackers,
    }


def _series(server: servers.Server, request: bytes, count: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    cpu_before = server.cpu_seconds()
    for _ in range(count):
        started = time.perf_counter()
        status = _exchange(server.port, request)
        latencies.append(time.perf_counter() - started)
        statuses[status] = statuses.get(status, 0) + 1
    cpu = server.cpu_seconds() - cpu_before
    return {
        "median_ms": round(median(latencies) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "server_cpu_ms_per_request": round(cpu * 1000 / count, 3),
        "statuses": statuses,
    }


def _bystander(port: int, request: bytes, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        _exchange(port, request)
        latencies.append(time.perf_counter() - started)
    return {
        "requests": len(latencies),
        "median_ms": round(median(latencies) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
    }


def _attack(port: int, request: bytes, stop: Any) -> None:
    while not stop.is_set():
        try:
            _exchange(port, request)
        except OSError:
            time.sleep(0.01)


def _request(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: {servers.HOST}\r\nConnection: close\r\n\r\n".encode()


def _exchange(port: int, request: bytes) -> str:
    """Send one request on a new connection; the answer's status code."""
    with socket.create_connection((servers.HOST, port), timeout=30) as sock:
        # Refused mid-send: the answer is already waiting.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    parts = answer.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 else "none"


def _lines(d: dict[str, Any]) -> list[str]:
    refusal, plain = d["refusal"], d["plain"]
    alone, attacked = d["bystander_alone"], d["bystander_attacked"]
    return [
        "",
        f"Oversized request line ({d['long_url_chars']:,} characters) against GET /healthz,"
        " one request per connection:",
        f"  {'':28} {'median ms':>10} {'p99 ms':>8} {'server CPU ms':>14}  statuses",
        f"  {'long URL':28} {refusal['median_ms']:>10.2f}"
        f" {refusal['p99_ms']:>8.2f} {refusal['server_cpu_ms_per_request']:>14.3f}"
        f"  {refusal['statuses']}",
        f"  {'plain /healthz (baseline)':28} {plain['median_ms']:>10.2f} {plain['p99_ms']:>8.2f}"
        f" {plain['server_cpu_ms_per_request']:>14.3f}  {plain['statuses']}",
        "",
        f"A bystander's GET /healthz, alone and while {d['attackers']} processes send"
        f" {d['long_url_chars']:,}-char URLs:",
        f"  alone:    median {alone['median_ms']:.2f} ms, p99 {alone['p99_ms']:.2f} ms"
        f" ({alone['requests']} requests)",
        f"  attacked: median {attacked['median_ms']:.2f} ms, p99 {attacked['p99_ms']:.2f} ms"
        f" ({attacked['requests']} requests; server CPU share {attacked['server_cpu_share']})",
        f"  ratio attacked/alone: median {attacked['median_ms'] / alone['median_ms']:.2f},"
        f" p99 {attacked['p99_ms'] / alone['p99_ms']:.2f}",
    ]


if __name__ == "__main__":
    sys.exit(main())
