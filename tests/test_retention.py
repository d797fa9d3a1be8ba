"""Retention: expiry per purpose, and a purge that removes exactly what expired."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from exchange.auditlog.models import AuditEntry
from exchange.broker import Broker
from exchange.cases.expiry import add_period, expiry_after
from exchange.cases.models import Case
from exchange.clock import now, today
from exchange.config import Settings
from exchange.identity.models import Household
from exchange.retention.purge import purge
from exchange.signals.models import Signal
from policies.engine import load_register
from tests.factories import signal_body

Headers = Callable[[str], dict[str, str]]


@pytest.mark.parametrize(
    ("day", "period", "expected"),
    [
        (dt.date(2026, 1, 31), "P1M", dt.date(2026, 2, 28)),
        (dt.date(2026, 8, 31), "P6M", dt.date(2027, 2, 28)),
        (dt.date(2026, 11, 25), "P3M", dt.date(2027, 2, 25)),
        (dt.date(2024, 2, 29), "P1Y", dt.date(2025, 2, 28)),
        (dt.date(2026, 11, 25), "P2W3D", dt.date(2026, 12, 12)),
    ],
)
def test_periods_are_added_as_iso_8601_durations(
    day: dt.date, period: str, expected: dt.date
) -> None:
    assert add_period(day, period) == expected


def test_expiry_is_computed_from_the_purpose_s_retention_in_the_register() -> None:
    register = load_register()
    day = dt.date(2026, 11, 25)
    assert expiry_after(register, day, ["early-signal"]) == dt.date(2027, 5, 25)  # P6M
    assert expiry_after(register, day, ["national-statistics"]) == dt.date(2027, 2, 25)  # P3M
    assert expiry_after(register, day, ["privacy-oversight"]) == dt.date(2031, 11, 25)  # P5Y
    # Data held for two purposes stays for the longer one.
    assert expiry_after(register, day, ["national-statistics", "early-signal"]) == dt.date(
        2027, 5, 25
    )


def send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def age_case(db_session: Any, case_id: str, days: int, *, closed: bool) -> None:
    """Move a case's life back in time, as if it had happened ``days`` ago."""
    moment = now() - dt.timedelta(days=days)
    with db_session() as session:
        values: dict[str, Any] = {"last_signal_at": moment, "opened_at": moment}
        if closed:
            values |= {"status": "closed", "closed_at": moment, "result_code": "no_help_needed"}
        session.execute(update(Case).where(Case.id == uuid.UUID(case_id)).values(**values))


def test_purge_removes_exactly_the_expired_households(
    client: TestClient,
    token_for: Headers,
    provider: dict[str, str],
    broker: Broker,
    db_session: Any,
) -> None:
    closed_long_ago = send(client, provider, signal_body())
    untouched_long_ago = send(client, provider, signal_body())
    closed_recently = send(client, provider, signal_body())
    fresh = send(client, provider, signal_body())
    age_case(db_session, closed_long_ago["case_id"], 200, closed=True)
    age_case(db_session, untouched_long_ago["case_id"], 200, closed=False)
    age_case(db_session, closed_recently["case_id"], 20, closed=True)
    # A case still worked on is kept: its last outreach counts, not its first signal.
    worked = send(client, provider, signal_body())
    age_case(db_session, worked["case_id"], 200, closed=False)
    attempt = client.post(
        f"/v1/cases/{worked['case_id']}/contact-attempts",
        json={"channel": "phone", "date": today().isoformat(), "reached": False},
        headers=token_for("municipality"),
    )
    assert attempt.status_code == 201, attempt.text

    def households() -> set[uuid.UUID]:
        with db_session() as session:
            return set(session.scalars(select(Household.id)))

    def household_of(signal: dict[str, Any]) -> uuid.UUID:
        with db_session() as session:
            found = session.scalar(
                select(Signal.household_id).where(Signal.id == uuid.UUID(signal["id"]))
            )
        assert found is not None
        return found

    expired = {household_of(closed_long_ago), household_of(untouched_long_ago)}
    before = households()
    with db_session() as session:
        register = broker.policies.active(session).register
        dry = purge(session, register, broker.audit, today(), now(), dry_run=True)
    assert {uuid.UUID(h) for h in dry.households} == expired
    assert households() == before  # a dry run changes nothing

    with db_session() as session:
        report = purge(session, register, broker.audit, today(), now())
    assert {uuid.UUID(h) for h in report.households} == expired
    assert households() == before - expired
    assert client.get(f"/v1/signals/{closed_long_ago['id']}", headers=provider).status_code == 404
    for kept in (closed_recently, fresh, worked):
        assert client.get(f"/v1/signals/{kept['id']}", headers=provider).status_code == 200
    with db_session() as session:
        purged = session.scalars(
            select(AuditEntry.subject).where(AuditEntry.action == "retention.purge")
        ).all()
        left = session.scalar(select(func.count()).select_from(Case))
    assert len(purged) == 2 and all(purged)  # one entry per person, by pseudonym
    assert left == 3
    # Nothing more to do the next time.
    with db_session() as session:
        assert purge(session, register, broker.audit, today(), now()).households == []


def test_exchange_purge_dry_run_on_the_command_line(
    client: TestClient,
    provider: dict[str, str],
    settings: Settings,
    db_session: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from exchange.cli import app

    old = send(client, provider, signal_body())
    age_case(db_session, old["case_id"], 400, closed=True)
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("EXCHANGE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("EXCHANGE_KEYS_DIR", str(settings.resolved_keys_dir))
    monkeypatch.setenv("EXCHANGE_ISSUER", settings.issuer)
    result = CliRunner().invoke(app, ["purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["dry_run"] is True and report["households"] == 1
    assert client.get(f"/v1/signals/{old['id']}", headers=provider).status_code == 200
    result = CliRunner().invoke(app, ["purge"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["removed"]["signals"] == 1
    assert client.get(f"/v1/signals/{old['id']}", headers=provider).status_code == 404


def test_the_server_purges_on_its_own_schedule(broker: Broker) -> None:
    from exchange.api.background import jobs

    assert ("purge", 3600) in [(name, interval) for name, interval, _ in jobs(broker)]
