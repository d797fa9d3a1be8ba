"""``python -m bench``: the broker's intake throughput against a bare FastAPI baseline.

1. Single-signal intake over HTTP: the broker (``exchange serve``) and the baseline
   (``bench/baseline.py``), each a uvicorn process with one worker, measured in alternating
   rounds in the same run; the broker once at log level WARNING and once at INFO.
   Reported: median over rounds of requests/s, p50 and p99 latency, server CPU per
   request, and the ratio broker/baseline.
2. Batch intake: 100,000 signals as 10 batches of 10,000 to a fresh broker; every item
   must come back ``created``. Reported: signals/s per batch (median) and overall.

Figures go to stdout and, as JSON, to ``bench/results/``. The exit status is 1 when a
request failed or a signal was not accepted, 2 when a server could not be set up; missing
a target is reported, not an error.
Timings are never asserted anywhere: these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import batch, load, machine, servers
from bench.load import RoundResult, median
from bench.signals import signal_bodies

SINGLE_TARGET_RATIO = 0.5  # single intake at least half the bare baseline's rate
BATCH_TARGET_RATE = 5_000.0  # signals/s on SQLite
RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass
class Target:
    name: str
    tag: str  # in every external_ref this target is sent
    server: servers.Server
    credentials: servers.Credentials | None = None  # None: no token needed (baseline)
    per_round: int = 0
    rounds: list[RoundResult] = field(default_factory=list)

    def headers(self) -> dict[str, str]:
        if self.credentials is None:
            return {}
        return {"authorization": f"Bearer {servers.token(self.server, self.credentials)}"}

    def medians(self) -> dict[str, float]:
        return {
            "rps": median([r.rps for r in self.rounds]),
            "p50_ms": median([r.percentile(0.50) * 1000 for r in self.rounds]),
            "p99_ms": median([r.percentile(0.99) * 1000 for r in self.rounds]),
            "server_cpu_ms": median([r.server_cpu * 1000 / max(r.sent, 1) for r in self.rounds]),
            "client_cpu_share": median([r.client_cpu / r.seconds for r in self.rounds]),
            "sent": sum(r.sent for r in self.rounds),
            "errors": sum(r.errors for r in self.rounds),
        }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    info = machine.describe()
    print(_machine_line(info), flush=True)
    work = Path(tempfile.mkdtemp(prefix="exchange-bench-"))
    started = time.monotonic()
    try:
        targets = _single(args, work)
        batch_run = _batch(args, work) if args.batches else None
    except (RuntimeError, httpx.HTTPError) as error:  # a server or its set-up failed
        print(f"bench failed: {error}", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"data kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started

    report = _report(args, targets, batch_run)
    print()
    print("\n".join(report["lines"]))
    print(f"\n(total {elapsed:.0f} s)")
    document = {
        "machine": info,
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "single": {t.name: _target_document(t) for t in targets},
        "ratio_broker_to_baseline": report["ratio"],
        "pair_ratios": report["pair_ratios"],
        "batch": batch_run.summary() if batch_run else None,
        "targets": report["targets"],
        "seconds": round(elapsed, 1),
    }
    path = args.json or RESULTS_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {path}")
    return 1 if report["failed"] else 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per target (default 3)")
    parser.add_argument("--seconds", type=float, help="aimed length of one round (default 8)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--max-requests", type=int, default=30_000, help="cap per round")
    parser.add_argument("--batches", type=int, help="number of batches (default 10)")
    parser.add_argument("--batch-size", type=int, help="signals per batch (default 10,000)")
    parser.add_argument(
        "--log-levels",
        help="broker log levels to measure, comma-separated (default WARNING,INFO)",
    )
    parser.add_argument(
        "--batch-log-level", default="WARNING", help="broker log level for the batch run"
    )
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator for single intake (default raw; see BENCHMARKS.md)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dirs")
    parser.add_argument("--json", type=Path, help="where to write the results as JSON")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "rounds": 3,
        "seconds": 2.0 if quick else 8.0,
        "batches": 2 if quick else 10,
        "batch_size": 2_000 if quick else 10_000,
        "log_levels": "WARNING" if quick else "WARNING,INFO",
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.log_levels = [level.strip().upper() for level in args.log_levels.split(",") if level]
    return args


def _single(args: argparse.Namespace, work: Path) -> list[Target]:
    targets = [Target("baseline", "BASE", servers.baseline(work / "baseline"))]
    for level in args.log_levels:
        server, credentials = servers.broker(work / f"broker-{level.lower()}", level)
        targets.append(Target(f"broker ({level})", f"BROKER{level[:4]}", server, credentials))
    print(
        f"single intake: {len(targets)} servers, {args.rounds} alternating rounds of about "
        f"{args.seconds:g} s, concurrency {args.concurrency}, client {args.client}",
        flush=True,
    )
    try:
        for target in targets:
            target.server.start()
        for target in targets:
            _warm_up(args, target)
        for number in range(1, args.rounds + 1):
            # Alternate the order, so that no target always runs first or last.
            shift = (number - 1) % len(targets)
            for target in targets[shift:] + targets[:shift]:
                result = _round(args, target, number, target.per_round)
                target.rounds.append(result)
                print(
                    f"  round {number} {target.name:<16} {result.sent:>6} requests "
                    f"{result.rps:8.1f}/s  p50 {result.percentile(0.5) * 1000:7.2f} ms  "
                    f"p99 {result.percentile(0.99) * 1000:8.2f} ms  errors {result.errors}",
                    flush=True,
                )
    finally:
        for target in targets:
            target.server.stop()
    return targets


def _warm_up(args: argparse.Namespace, target: Target) -> None:
    """Warm the server up for a second and size its rounds from the rate it reaches."""
    result = _round(args, target, 0, 20_000, deadline=1.0 if args.quick else 2.0)
    if result.errors:
        print(f"  warm-up {target.name}: {result.errors} errors: {result.error_samples[:2]}")
    rate = max(result.rps, 1.0)
    target.per_round = int(max(100, min(args.max_requests, rate * args.seconds)))


def _round(
    args: argparse.Namespace,
    target: Target,
    number: int,
    count: int,
    deadline: float | None = None,
) -> RoundResult:
    prefix = f"{target.tag}-R{number}"
    bodies = [
        orjson.dumps(body) for body in signal_bodies(count, prefix, zlib.crc32(prefix.encode()))
    ]
    return load.run_round(
        target.server,
        target.name,
        number,
        "/v1/signals",
        bodies,
        target.headers(),
        expect=201,
        concurrency=args.concurrency,
        deadline=deadline if deadline is not None else args.seconds * 4,
        timeout=30.0,
        client=args.client,
    )


def _batch(args: argparse.Namespace, work: Path) -> batch.BatchRun:
    total = args.batches * args.batch_size
    print(
        f"batch intake: {total:,} signals as {args.batches} batches of {args.batch_size:,} "
        f"to a fresh broker ({args.batch_log_level.upper()})",
        flush=True,
    )
    data_dir = work / "broker-batch"
    server, credentials = servers.broker(data_dir, args.batch_log_level.upper())
    with server:
        return batch.run_batches(
            server, credentials, args.batches, args.batch_size, data_dir / "exchange.sqlite3"
        )


def _report(
    args: argparse.Namespace, targets: list[Target], batch_run: batch.BatchRun | None
) -> dict[str, Any]:
    lines: list[str] = []
    failed = False
    rule = "-" * 92
    lines.append(
        f"Single-signal intake over HTTP: concurrency {args.concurrency}, "
        f"{args.rounds} alternating rounds, medians over rounds"
    )
    lines.append(rule)
    lines.append(
        f"{'target':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>10}{'server CPU':>12}"
        f"{'client CPU':>12}{'requests':>10}{'errors':>8}"
    )
    lines.append(f"{'':<18}{'':>9}{'':>9}{'':>10}{'ms/req':>12}{'share':>12}")
    lines.append(rule)
    for target in targets:
        m = target.medians()
        lines.append(
            f"{target.name:<18}{m['rps']:>9.1f}{m['p50_ms']:>9.2f}{m['p99_ms']:>10.2f}"
            f"{m['server_cpu_ms']:>12.2f}{m['client_cpu_share']:>12.2f}"
            f"{m['sent']:>10}{m['errors']:>8}"
        )
        if m["errors"]:
            failed = True
            samples = [s for r in target.rounds for s in r.error_samples][:3]
            lines.append(f"    errors, e.g.: {samples}")
    lines.append(rule)

    baseline = targets[0]
    broker = targets[1] if len(targets) > 1 else None
    ratio = None
    pair_ratios: dict[str, list[float]] = {}
    target_results: dict[str, Any] = {}
    if broker is not None:
        base_rps = baseline.medians()["rps"]
        for target in targets[1:]:
            pairs = [
                r.rps / b.rps for r, b in zip(target.rounds, baseline.rounds, strict=True) if b.rps
            ]
            pair_ratios[target.name] = [round(p, 3) for p in pairs]
            target_ratio = target.medians()["rps"] / base_rps if base_rps else 0.0
            lines.append(
                f"ratio {target.name}/baseline: {target_ratio:.3f} of the baseline's rate "
                f"(per round: {', '.join(f'{p:.3f}' for p in pairs)})"
            )
        ratio = broker.medians()["rps"] / base_rps if base_rps else 0.0
        met = ratio >= SINGLE_TARGET_RATIO
        target_results["single"] = {"ratio": round(ratio, 3), "met": met}
        lines.append(
            f"target: single intake >= {SINGLE_TARGET_RATIO:.0%} of the baseline "
            f"({broker.name}): {ratio:.1%} -> {'MET' if met else 'NOT MET'}"
        )

    if batch_run is not None:
        lines.append("")
        lines.append(
            f"Batch intake over HTTP: {len(batch_run.seconds)} batches of {batch_run.size:,} "
            f"({batch_run.total_created:,} created; {batch_run.stored} rows stored)"
        )
        lines.append(rule)
        rates = batch_run.rates
        lines.append(
            "per batch signals/s: " + ", ".join(f"{r:.0f}" for r in rates) if rates else "none"
        )
        median_rate = median(rates)
        lines.append(
            f"median per batch: {median_rate:,.0f} signals/s; overall: "
            f"{batch_run.overall_rate:,.0f} signals/s; server CPU "
            f"{batch_run.server_cpu * 1000 / max(batch_run.total_created, 1):.3f} ms/signal"
        )
        met = batch_run.overall_rate >= BATCH_TARGET_RATE
        target_results["batch"] = {
            "median_rate": round(median_rate, 1),
            "overall_rate": round(batch_run.overall_rate, 1),
            "met": met,
        }
        lines.append(
            f"target: batch >= {BATCH_TARGET_RATE:,.0f} signals/s on SQLite: "
            f"{batch_run.overall_rate:,.0f} -> {'MET' if met else 'NOT MET'}"
        )
        expected = args.batches * args.batch_size
        if batch_run.problems or batch_run.total_created != expected:
            failed = True
            lines.append(f"batch problems: {batch_run.problems[:3]}")
        if batch_run.stored is not None and batch_run.stored != batch_run.total_created:
            failed = True
            lines.append(
                f"stored rows ({batch_run.stored}) differ from created ({batch_run.total_created})"
            )
    return {
        "lines": lines,
        "ratio": round(ratio, 3) if ratio is not None else None,
        "pair_ratios": pair_ratios,
        "targets": target_results,
        "failed": failed,
    }


def _target_document(target: Target) -> dict[str, Any]:
    return {
        "medians": {k: round(v, 3) for k, v in target.medians().items()},
        "rounds": [r.summary() for r in target.rounds],
    }


def _machine_line(info: dict[str, Any]) -> str:
    source = info["broker_source"]
    commit = source.get("commit") or "not a git checkout"
    if source.get("uncommitted_changes"):
        commit += " + uncommitted changes"
    return (
        f"machine: {info['cpu_model']}, {info['cpus_usable']} CPUs, {info['memory_gib']} GiB, "
        f"{info['python']}, SQLite {info['sqlite']}, {info['date']}\n"
        f"broker: {source.get('path')} ({commit})"
    )


if __name__ == "__main__":
    sys.exit(main())
