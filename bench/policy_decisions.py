"""Micro-benchmark of the policy engine: median microseconds per decision.

Run: ``.venv/bin/python bench/policy_decisions.py [--decisions 100000]``. The budget is
20 µs per decision (see the issue); this script reports, it does not assert.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from policies.engine import Consent, DecisionRequest, Objection, SubjectState, load_register

TODAY = dt.date(2026, 11, 25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    register = load_register()
    subject = SubjectState(
        consents=(
            Consent("debt-service-referral", "org-other", TODAY - dt.timedelta(days=90)),
            Consent("debt-service-referral", "org-debt", TODAY - dt.timedelta(days=10)),
        ),
        objections=(Objection("statistics", TODAY - dt.timedelta(days=5)),),
    )
    requests = [
        DecisionRequest("org-gem", "municipality", "receive", "early-signal", TODAY, subject),
        DecisionRequest(
            "org-wt",
            "neighbourhood_team",
            "read",
            "outreach",
            TODAY,
            subject,
            frozenset({"person.surname", "amount_band", "person.bsn"}),
        ),
        DecisionRequest(
            "org-debt", "debt_service", "receive", "debt-service-referral", TODAY, subject
        ),
        DecisionRequest(
            "org-woco", "housing_corporation", "read", "provider-feedback", TODAY, subject
        ),
        DecisionRequest("org-gem", "municipality", "aggregate", "statistics", TODAY, subject),
        DecisionRequest("org-wt", "neighbourhood_team", "read", "early-signal", TODAY, subject),
    ]
    per_round = max(1, args.decisions // args.rounds)
    decide = register.decide
    timings: list[float] = []
    for _ in range(args.rounds):
        batch = (requests * (per_round // len(requests) + 1))[:per_round]
        start = time.perf_counter()
        for request in batch:
            decide(request)
        timings.append((time.perf_counter() - start) / per_round * 1e6)
    print(
        f"policy decisions: {per_round * args.rounds} decisions, "
        f"median {statistics.median(timings):.2f} µs per decision "
        f"(min {min(timings):.2f}, max {max(timings):.2f} over {args.rounds} rounds)"
    )


if __name__ == "__main__":
    main()
