"""The municipality's overview: counts and rates, small groups suppressed, decided and
audited as an aggregate for the purpose ``statistics``."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange.auditlog.models import AuditEntry
from exchange.cases.models import Case, ContactAttempt
from exchange.cases.terms import CaseStatus
from exchange.clock import local_date, today
from tests.factories import errors_of, problem_of, signal_body

SUPPRESSED_COUNT = {"count": None, "suppressed": True}
SUPPRESSED_RATE = {"rate": None, "denominator": None, "suppressed": True}


def period() -> dict[str, str]:
    return {"from": (today() - dt.timedelta(days=30)).isoformat(), "to": today().isoformat()}


def send(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/signals", json=signal_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def record_outreach(
    db_session: Callable[[], Any],
    case_id: str,
    recorder_id: str,
    *,
    days_after_opening: int,
    reached: bool,
    result: str | None = None,
) -> None:
    """A case opened five days ago with one attempt ``days_after_opening`` days later,
    written straight to the case (the case API is not here yet)."""
    opened_at = dt.datetime.now(dt.UTC) - dt.timedelta(days=5)
    with db_session() as session:
        case = session.get(Case, uuid.UUID(case_id))
        case.opened_at = opened_at
        attempted_on = local_date(opened_at) + dt.timedelta(days=days_after_opening)
        session.add(
            ContactAttempt(
                case_id=case.id,
                channel="phone",
                attempted_on=attempted_on,
                part_of_day="morning",
                reached=reached,
                recorded_by_id=uuid.UUID(recorder_id),
            )
        )
        case.first_attempt_on = attempted_on
        case.status = CaseStatus.IN_CONTACT.value if reached else CaseStatus.ASSIGNED.value
        if reached:
            case.first_reached_on = attempted_on
        if result is not None:
            case.result_code = result
            case.status = CaseStatus.CLOSED.value
            case.closed_at = dt.datetime.now(dt.UTC)


def test_overview_counts_rates_and_median_and_suppresses_small_groups(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    world: dict[str, Any],
    db_session: Callable[[], Any],
) -> None:
    recorder = world["municipality"].id
    rent = [send(client, token_for("housing_corporation")) for _ in range(12)]
    send(client, token_for("energy_supplier"), kind="energy")
    # Eleven cases attempted, ten of them reached and closed: six with help accepted.
    for index, signal in enumerate(rent[:11]):
        reached = index < 10
        result = None
        if reached:
            result = "follow_up_financial" if index < 6 else "no_help_needed"
        record_outreach(
            db_session,
            signal["case_id"],
            recorder,
            days_after_opening=index % 4,
            reached=reached,
            result=result,
        )

    response = client.get(
        "/v1/reports/overview", params=period(), headers=token_for("municipality")
    )
    assert response.status_code == 200, response.text
    overview = response.json()
    assert overview["gemeentecode"] == "0599"
    assert overview["min_group_size"] == 10
    month = today().strftime("%Y-%m")
    assert overview["signals"]["count"] == 13
    # One energy signal, too few; the twelve rent signals are suppressed with it, or 13 - 12
    # would give it away.
    assert overview["signals"]["per_month_and_kind"] == [
        {"month": month, "kind": "energy", **SUPPRESSED_COUNT},
        {"month": month, "kind": "rent", **SUPPRESSED_COUNT},
    ]
    assert overview["cases"] == {"count": 13, "suppressed": False}
    assert overview["reach_rate"] == {"rate": 0.909, "denominator": 11, "suppressed": False}
    assert overview["acceptance_rate"] == {"rate": 0.6, "denominator": 10, "suppressed": False}
    # Days to the first attempt: 0,1,2,3,0,1,2,3,0,1,2.
    assert overview["median_days_to_first_contact_attempt"] == {
        "days": 1,
        "cases": 11,
        "suppressed": False,
    }
    # Three cases still running: too few to show a share.
    assert overview["share_overdue"] == SUPPRESSED_RATE

    with db_session() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "report.overview"))
    assert entry.purpose == "statistics"
    assert entry.decision == "permit"
    assert entry.subject is None
    recorded = json.loads(entry.entry)
    assert recorded["rule_id"] == "municipality.statistics.aggregate"
    assert recorded["resources"]["from"] == period()["from"]


def test_a_small_municipality_sees_only_suppressed_figures(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    world: dict[str, Any],
    db_session: Callable[[], Any],
) -> None:
    sent = [send(client, token_for("housing_corporation")) for _ in range(3)]
    record_outreach(
        db_session, sent[0]["case_id"], world["municipality"].id, days_after_opening=1, reached=True
    )
    with db_session() as session:  # one case past its deadline
        case = session.get(Case, uuid.UUID(sent[1]["case_id"]))
        case.deadline_on = today() - dt.timedelta(days=1)

    overview = client.get(
        "/v1/reports/overview", params=period(), headers=token_for("municipality")
    ).json()
    assert overview["signals"]["count"] is None and overview["signals"]["suppressed"] is True
    assert overview["signals"]["per_month_and_kind"] == [
        {"month": today().strftime("%Y-%m"), "kind": "rent", **SUPPRESSED_COUNT}
    ]
    assert overview["cases"] == SUPPRESSED_COUNT
    for rate in ("reach_rate", "acceptance_rate", "share_overdue"):
        assert overview[rate] == SUPPRESSED_RATE, rate
    assert overview["median_days_to_first_contact_attempt"] == {
        "days": None,
        "cases": None,
        "suppressed": True,
    }


def test_overview_needs_a_municipality_and_a_sound_period(
    client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    municipality = token_for("municipality")
    backwards = {"from": "2026-05-01", "to": "2026-04-30"}
    problem = problem_of(
        client.get("/v1/reports/overview", params=backwards, headers=municipality), 422
    )
    assert [name for name, _ in errors_of(problem)] == ["from"]
    too_long = {"from": "2025-01-01", "to": "2026-01-02"}
    problem = problem_of(
        client.get("/v1/reports/overview", params=too_long, headers=municipality), 422
    )
    assert [name for name, _ in errors_of(problem)] == ["to"]
    for kind in ("housing_corporation", "neighbourhood_team"):
        response = client.get("/v1/reports/overview", params=period(), headers=token_for(kind))
        problem_of(response, 403, "forbidden")
