"""The privacy officer's audit search on a long log: newest first, paged, filtered.

Run: ``.venv/bin/python -m bench.audit_search [--entries 1000000] [--database-url URL]``. A
fresh database (as in ``bench.audit_store``) gets ``--entries`` entries in the mix a broker's
log holds: mostly permits of routing and case reads, a few denies, records and oversight
reads, spread over 40 organisations of which some are rare. Then each search of the table
below runs ``--samples`` times as the page and ``GET /v1/audit/entries?order=newest`` run it
(``exchange.rights.report.search_newest``, 50 a page), once from the top of the log and once
from its middle (``before``). Reported: the median time, the entries found and how far the
page looked; and, as the baseline measured in the same run, the newest 50 entries without a
filter (a range read of the primary key), with each search's ratio to it. Also the search as
it was (``report.search``, oldest first, the page's old 500) for the rarest filter, which had
to read the whole log. It reports; nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.audit_store import _database, fresh_trail
from exchange.auditlog.service import AuditRecord
from exchange.db import make_engine, make_session_factory, unit_of_work
from exchange.organisations.models import Organisation
from exchange.rights import report

PAGE = 50
# (action, decision, purpose, weight): what a broker's log holds, roughly.
MIX = [
    ("signal.route", "permit", "early-signal", 55),
    ("case.read", "permit", "early-signal", 25),
    ("signal.read", "permit", "provider-feedback", 8),
    ("case.assign", "permit", "debt-assistance", 5),
    ("case.read", "deny", "debt-assistance", 2),
    ("consent.give", "recorded", "debt-assistance", 3),
    ("audit.search", "permit", "privacy-oversight", 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--database-url", help="a PostgreSQL server (postgresql://host/db)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-search-") as directory,
        _database(args.database_url, Path(directory)) as url,
    ):
        trail = fresh_trail(url, Path(directory))
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        rng = random.Random(7)
        organisations = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(40)]
        for session in unit_of_work(sessions):
            session.add_all(
                Organisation(id=o, kind="other_creditor", name=f"bench {i}")
                for i, o in enumerate(organisations)
            )
        # The first organisation is common, the last three are rare (one in 100,000).
        org_weights = [400] + [20] * 36 + [0.01] * 3
        kinds = [m[:3] for m in MIX]
        kind_weights = [m[3] for m in MIX]
        started = time.perf_counter()
        for offset in range(0, args.entries, args.batch):
            size = min(args.batch, args.entries - offset)
            records = []
            for _ in range(size):
                action, decision, purpose = rng.choices(kinds, kind_weights)[0]
                actor, recipient = rng.choices(organisations, org_weights, k=2)
                records.append(
                    AuditRecord(
                        action=action,
                        decision=decision,
                        actor_org=actor,
                        purpose=purpose,
                        recipient_org=recipient,
                        subject=f"{rng.getrandbits(256):064x}",
                        resources={"signal": str(uuid.UUID(int=rng.getrandbits(128)))},
                    )
                )
            for session in unit_of_work(sessions):
                trail.append(session, records, dt.datetime.now(dt.UTC))
        print(
            f"log on {url.split(':', 1)[0]}: {args.entries:,} entries written in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        if url.startswith("postgresql"):
            # As autovacuum would have by now on a log this size: without statistics the
            # planner takes the freshly written end of the table for empty.
            with engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE audit_entries")
                connection.commit()
        now = dt.datetime.now(dt.UTC)
        searches: list[tuple[str, report.Filters]] = [
            ("no filter (baseline)", report.Filters()),
            ("decision deny", report.Filters(decision="deny")),
            ("purpose privacy-oversight", report.Filters(purpose="privacy-oversight")),
            ("common organisation", report.Filters(organisation=organisations[0])),
            ("rare organisation", report.Filters(organisation=organisations[-1])),
            ("rare organisation, denies", report.Filters(
                organisation=organisations[-1], decision="deny")),
            ("last hour, case reads", report.Filters(
                action="case.read", since=now - dt.timedelta(hours=1))),
            ("one person", report.Filters(subject=f"{rng.getrandbits(256):064x}")),
        ]  # fmt: skip
        with sessions() as session:
            size = trail.tree_size(session)
            middle = size // 2
            rows = []
            for name, filters in searches:
                for where, before in (("top", None), ("middle", middle)):
                    found: list[report.Found] = []

                    def page(
                        f: report.Filters = filters,
                        b: int | None = before,
                        into: list[report.Found] = found,
                    ) -> None:
                        into.append(report.search_newest(session, size, f, before=b, limit=PAGE))

                    rows.append((name, where, _median_ms(page, args.samples), found[-1]))
            baseline = {where: ms for name, where, ms, _ in rows if name.endswith("(baseline)")}
            print(f"\nnewest first, {PAGE} a page, median of {args.samples} (ms):")
            print(
                f"  {'search':30} {'from':7} {'ms':>8} {'found':>6} {'looked at':>10} {'× base':>7}"
            )
            for name, where, ms, last in rows:
                looked = last.looked_to - last.looked_from + 1
                print(
                    f"  {name:30} {where:7} {ms:8.2f} {len(last.entries):6} {looked:10,}"
                    f" {ms / baseline[where]:7.1f}"
                )
            rare = report.Filters(organisation=organisations[-1], decision="deny")

            def oldest() -> None:
                report.search(session, rare, limit=500)

            print(
                f"\nas before (oldest first, 500, whole log), rare organisation's denies: "
                f"{_median_ms(oldest, max(3, args.samples // 5)):,.1f} ms"
            )
        engine.dispose()


def _median_ms(run: Callable[[], None], samples: int) -> float:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
