"""Micro-benchmark of the audit log's pure logic (``audit/``), no database.

Run: ``.venv/bin/python bench/audit_log.py [--entries 1000000]``. Reports:

1. Frontier append rate: leaf hashes appended per second, keeping every completed node in
   an in-memory dict (what storage would write), and without keeping them.
2. Proof generation at the full size, from that dict: median µs for the root at a past
   size, an inclusion proof and a consistency proof (node list + hashing).
3. verify_export on an export of that many entries (checkpoints every 10,000), written to a
   temporary file and read back as the auditor's tool does: seconds and entries/s.

It reports; it does not assert (these machines are noisy).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.entry import SCHEMA_VERSION
from audit.export import checkpoint_line, entry_line
from audit.merkle import (
    Frontier,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    root_from_nodes,
    root_nodes,
    verify_consistency,
    verify_inclusion,
)
from audit.note import Checkpoint, NoteSigner
from audit.verify import verify_export

ORIGIN = "exchange.example/audit"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2_000)
    parser.add_argument("--checkpoint-every", type=int, default=10_000)
    args = parser.parse_args()
    _bench_tree(args.entries, args.proofs)
    _bench_verify(args.entries, args.checkpoint_every)


def _bench_tree(n: int, proofs: int) -> None:
    """Frontier appends, then proofs from the in-memory dict of every node."""
    leaves = [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]

    frontier = Frontier.empty()
    started = time.perf_counter()
    frontier.extend(leaves)
    bare = n / (time.perf_counter() - started)

    nodes: dict[tuple[int, int], bytes] = {}
    frontier = Frontier.empty()
    started = time.perf_counter()
    for leaf in leaves:
        for level, index, h in frontier.append(leaf):
            nodes[(level, index)] = h
    kept = n / (time.perf_counter() - started)
    root = frontier.root()
    print(f"frontier append: {kept:,.0f} entries/s keeping every node ({len(nodes):,} nodes)")
    print(f"frontier append: {bare:,.0f} entries/s without keeping nodes")

    rng = random.Random(6962)

    def inclusion() -> None:
        index = rng.randrange(n)
        wanted = inclusion_nodes(index, n)
        fetched = {a: nodes[a] for a in wanted}  # the one query storage would run
        proof = inclusion_proof(index, n, fetched)
        assert verify_inclusion(leaves[index], index, n, proof, root)

    def consistency() -> None:
        first = rng.randrange(1, n)
        fetched = {a: nodes[a] for a in consistency_nodes(first, n)}
        proof = consistency_proof(first, n, fetched)
        old = root_from_nodes(first, nodes)
        assert verify_consistency(first, n, old, root, proof)

    def past_root() -> None:
        size = rng.randrange(1, n + 1)
        root_from_nodes(size, {a: nodes[a] for a in root_nodes(size)})

    for name, fn in (
        ("root at a past size", past_root),
        ("inclusion proof (generate + verify)", inclusion),
        ("consistency proof (generate + old root + verify)", consistency),
    ):
        print(f"{name} at {n:,}: median {_median_us(fn, proofs):.1f} µs")


def _bench_verify(n: int, every: int) -> None:
    """Write an export of n entries to a temporary file and verify it as the auditor would."""
    signer = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "export.jsonl")
        started = time.perf_counter()
        _write_export(path, n, every, signer)
        written = time.perf_counter() - started
        size_mb = os.path.getsize(path) / 1e6
        print(f"export of {n:,} entries written in {written:.1f} s ({size_mb:,.0f} MB)")
        started = time.perf_counter()
        with open(path, "rb") as f:
            report = verify_export(f, signer.verifier_key())
        took = time.perf_counter() - started
    status = "ok" if report.ok else f"FAILED: {report.message}"
    print(f"verify_export of {n:,} entries: {took:.2f} s ({n / took:,.0f} entries/s), {status}")


def _median_us(fn: Callable[[], None], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def _write_export(path: str, n: int, every: int, signer: NoteSigner) -> None:
    """An export shaped like the broker's: disclosure entries, checkpoints every ``every``."""
    policy = "sha256:" + hashlib.sha256(b"register v1").hexdigest()
    frontier = Frontier.empty()
    with open(path, "wb") as out:
        for i in range(n):
            line = entry_line(
                {
                    "schema_version": SCHEMA_VERSION,
                    "leaf_index": i,
                    "at": f"2026-11-25T10:{i // 60 % 60:02d}:{i % 60:02d}.123456Z",
                    "event": "disclosure",
                    "decision": "allow" if i % 7 else "deny",
                    "recipient": f"org-{i % 50}",
                    "purpose": "early-signal",
                    "rule": "intake.rent.allow",
                    "policy": policy,
                    "subject": hashlib.sha256(i.to_bytes(8, "big")).hexdigest()[:32],
                    "request_id": f"req-{i:08d}",
                }
            )
            out.write(line)
            frontier.append(leaf_hash(line[:-1]))
            if frontier.size % every == 0 or i == n - 1:
                body = Checkpoint(ORIGIN, frontier.size, frontier.root()).body()
                out.write(checkpoint_line(signer.sign(body)))


if __name__ == "__main__":
    main()
