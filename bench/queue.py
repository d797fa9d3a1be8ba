"""The work queue of a municipality with 10,000 open cases: the page's server time.

Run: ``.venv/bin/python -m bench.queue [--cases 10000] [--database-url URL]``. A fresh
broker (SQLite under a temporary directory, or a new database on the PostgreSQL server
given) gets the demo organisations and ``--cases`` signals of different households in
batches through ``POST /v1/signals/batch``, so each opens its own case. A municipality
worker logged in on the pages then opens ``/ui/cases`` as people do: the first page (most
urgent first), sorted by amount, filtered on a neighbourhood and an amount, the last page,
and the CSV export of a filtered list. Each is timed in-process (the app's own time to
answer: no network), and the median of ``--samples`` is set beside a baseline measured in
the same run: the login page, which renders a template and touches no case. It reports;
nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text

from bench.audit_store import _database
from bench.signals import signal_bodies
from exchange.api.app import create_app
from exchange.broker import Broker
from exchange.config import Settings
from exchange.db import migrate, unit_of_work
from exchange.demo import seed_demo
from exchange.ui.accounts import add_user
from exchange.vault.keyring import FileKeySource, ensure_keys

ISSUER = "https://broker.bench"
PASSWORD = "bench password that is long enough"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgresql://host/db): a fresh database is made on it",
    )
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-queue-") as directory,
        _database(args.database_url, Path(directory)) as url,
    ):
        # The broker's own driver: the server URL names psycopg's scheme.
        _run(args, Path(directory), url.replace("postgresql://", "postgresql+psycopg://", 1))


def _run(args: argparse.Namespace, root: Path, url: str) -> None:
    settings = Settings(
        data_dir=root,
        database_url=url,
        keys_dir=root / "keys",
        issuer=ISSUER,
        log_format="json",
        log_level="WARNING",
    )
    ensure_keys(FileKeySource(root / "keys"))
    migrate(url)
    broker = Broker.start(settings)
    for session in unit_of_work(broker.sessions):
        world = {o.kind: o for o in seed_demo(session)}
        add_user(
            session,
            organisation_id=uuid.UUID(world["municipality"].id),
            username="gemeente@bench",
            display_name="Bench worker",
            password=PASSWORD,
        )
    app = create_app(broker=broker)
    with TestClient(app, base_url=ISSUER) as client:
        provider = world["housing_corporation"]
        token = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(provider.client_id, provider.client_secret),
        ).json()["access_token"]
        started = time.perf_counter()
        bodies = signal_bodies(args.cases, "queue", seed=16)
        for first in range(0, len(bodies), 5_000):
            answer = client.post(
                "/v1/signals/batch",
                json={"signals": bodies[first : first + 5_000]},
                headers={"Authorization": f"Bearer {token}"},
                timeout=600,
            )
            answer.raise_for_status()
        with broker.engine.connect() as connection:
            if url.startswith("postgresql"):
                connection.exec_driver_sql("ANALYZE")  # as autovacuum would have by now
                connection.commit()
            open_cases = connection.execute(
                text("SELECT count(*) FROM cases WHERE status <> 'closed'")
            ).scalar_one()
        print(
            f"queue on {url.split(':', 1)[0]}: {open_cases:,} open cases, made in "
            f"{time.perf_counter() - started:.0f} s",
            flush=True,
        )
        form = client.get("/ui/login").text
        csrf = re.search(r'name="login_csrf" value="([^"]+)"', form)
        assert csrf is not None
        client.post(
            "/ui/login",
            data={
                "username": "gemeente@bench",
                "password": PASSWORD,
                "login_csrf": csrf.group(1),
            },
            follow_redirects=False,
        )
        first_page = client.get("/ui/cases")
        total = re.search(r"van ([\d.]+) casussen", first_page.text)
        last = (open_cases + 49) // 50

        def opened(path: str) -> Callable[[], None]:
            def run() -> None:
                answer = client.get(path)
                if answer.status_code != 200:
                    raise RuntimeError(f"{path}: {answer.status_code}")

            return run

        with TestClient(app, base_url=ISSUER) as anonymous:
            base_ms = _median_ms(opened_with(anonymous, "/ui/login"), args.samples)
        rows = [
            ("first page, most urgent first", opened("/ui/cases")),
            ("sorted by amount, largest first", opened("/ui/cases?sort=amount&dir=desc")),
            ("PC4 3011 3012, from € 1.000", opened("/ui/cases?pc4=3011+3012&amount_min=1.000")),
            (f"last page ({last})", opened(f"/ui/cases?page={last}")),
            ("CSV of PC4 3011 (every page)", opened("/ui/cases.csv?pc4=3011")),
        ]
        print(
            f"\n/ui/cases with {total.group(1) if total else '?'} cases in the list, "
            f"median of {args.samples} (ms):"
        )
        print(f"  {'what':40} {'ms':>8} {'× base':>7}")
        print(f"  {'login page (baseline)':40} {base_ms:8.2f} {1.0:7.2f}")
        for name, run in rows:
            ms = _median_ms(run, args.samples)
            print(f"  {name:40} {ms:8.2f} {ms / base_ms:7.2f}", flush=True)
    broker.engine.dispose()


def opened_with(client: TestClient, path: str) -> Callable[[], None]:
    def run() -> None:
        client.get(path).raise_for_status()

    return run


def _median_ms(run: Callable[[], None], samples: int) -> float:
    run()  # warm the caches and the statement cache
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
