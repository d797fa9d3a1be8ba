"""Cases: the municipality's queue, assignment, outreach, results and provider feedback.

Every test runs on SQLite and on PostgreSQL (the ``database`` fixture). Everything goes
through the HTTP API with real tokens; the database is only read to check what was stored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from exchange.auditlog.models import AuditEntry
from exchange.auth.service import add_client
from exchange.cases.models import Case, ContactAttempt, Escalation
from exchange.cases.service import escalate_overdue
from exchange.clock import now, today
from exchange.organisations.service import add_organisation
from policies.calendar import add_working_days
from tests.factories import errors_of, problem_of, signal_body
from tests.test_ddas import DdasVersion, assert_conforms

Headers = Callable[[str], dict[str, str]]


def entries(db_session: Any, action: str) -> list[dict[str, Any]]:
    with db_session() as session:
        rows = session.execute(
            select(AuditEntry.entry)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.leaf_index)
        )
        return [orjson.loads(data) for (data,) in rows]


def send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def household_signals(
    client: TestClient, token_for: Headers, *, crisis: bool = False, energy_cents: int = 23_456
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A rent signal and an energy signal about one person at one address."""
    rent = signal_body()
    energy = signal_body(
        kind="energy",
        person=rent["person"],
        address=rent["address"],
        crisis=crisis,
        amount_cents=energy_cents,
    )
    first = send(client, token_for("housing_corporation"), rent)
    second = send(client, token_for("energy_supplier"), energy)
    assert first["case_id"] == second["case_id"]
    return first, second, rent


def other_municipality(client: TestClient, db_session: Any) -> dict[str, Any]:
    """Utrecht with its own neighbourhood team, each with a client and a token."""
    with db_session() as session:
        utrecht = add_organisation(
            session,
            kind="municipality",
            name="Gemeente Utrecht",
            gemeentecode="0344",
            postcodes="3500-3585",
        )
        team = add_organisation(
            session,
            kind="neighbourhood_team",
            name="Wijkteam Utrecht-Oost",
            parent_id=utrecht.id,
        )
        clients = {
            "municipality": add_client(session, utrecht.id),
            "team": add_client(session, team.id),
        }
        ids = {"municipality": str(utrecht.id), "team": str(team.id)}
    headers = {}
    for name, issued in clients.items():
        token = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(issued.client_id, issued.client_secret),
        ).json()["access_token"]
        headers[name] = {"Authorization": f"Bearer {token}"}
    return {"ids": ids, "headers": headers}


# The whole flow ---------------------------------------------------------------------------


def test_two_providers_one_household_through_assignment_outreach_and_result(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    rent_signal, energy_signal, rent = household_signals(client, token_for)
    municipality, team = token_for("municipality"), token_for("neighbourhood_team")
    housing = token_for("housing_corporation")

    # The municipality's queue shows one multiple case, with its 14-day term.
    queue = client.get("/v1/cases", headers=municipality)
    assert queue.status_code == 200, queue.text
    [item] = queue.json()["items"]
    case_id = item["id"]
    assert case_id == rent_signal["case_id"]
    assert item["classification"] == "multiple"
    assert item["status"] == "open"
    assert item["crisis"] is False
    assert item["deadline"] == (today() + dt.timedelta(days=14)).isoformat()
    assert item["deadline_kind"] == "first_contact_attempt"
    assert item["kinds"] == ["energy", "rent"]

    # The municipality sees everything the provider sent, BSN included.
    full = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    assert {s["person"]["bsn"] for s in full["signals"]} == {rent["person"]["bsn"]}
    assert {s["amount_cents"] for s in full["signals"]} == {98_765, 23_456}

    # Before assignment the team does not know the case exists.
    assert client.get(f"/v1/cases/{case_id}", headers=team).status_code == 404

    assigned = client.post(
        f"/v1/cases/{case_id}/assignment",
        json={"organisation_id": world["neighbourhood_team"].id},
        headers=municipality,
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "assigned"
    assert assigned.json()["assignment"]["purpose"] == "outreach"

    # The team's view: enough to ring the doorbell, not the financial picture.
    view = client.get(f"/v1/cases/{case_id}", headers=team)
    assert view.status_code == 200, view.text
    document = view.json()
    assert document["disclosure"]["rule_id"] == "neighbourhood-team.outreach.receive"
    assert len(document["signals"]) == 2
    for signal in document["signals"]:
        assert signal["person"]["surname"] == rent["person"]["surname"]
        assert signal["address"]["postcode"] == rent["address"]["postcode"]
        assert signal["contact"] == {"phone": rent["contact"]["phone"]}
        assert "bsn" not in signal["person"] and "birth_date" not in signal["person"]
        assert "amount_cents" not in signal and "external_ref" not in signal
        assert "preconditions" not in signal
        assert signal["amount_band"] in {"0-500", "500-1000"}
    assert "assignments" not in document  # not in the team's rule

    # A missed call, then a home visit that reached the person.
    missed = client.post(
        f"/v1/cases/{case_id}/contact-attempts",
        json={
            "channel": "phone",
            "date": today().isoformat(),
            "part_of_day": "morning",
            "reached": False,
            "note": "Voicemail ingesproken, terugbellen na 17 uur",
        },
        headers=team,
    )
    assert missed.status_code == 201, missed.text
    assert missed.json()["case_status"] == "assigned"
    assert missed.json()["deadline_kind"] == "first_conversation"
    # Nothing to report yet: the provider only hears that the signal was received.
    feedback = client.get(f"/v1/signals/{rent_signal['id']}", headers=housing).json()["feedback"]
    assert feedback == {"status": "received", "collection_paused_until": None}

    visit = client.post(
        f"/v1/cases/{case_id}/contact-attempts",
        json={
            "channel": "home_visit",
            "date": today().isoformat(),
            "part_of_day": "afternoon",
            "reached": True,
        },
        headers=team,
    )
    assert visit.status_code == 201, visit.text
    assert visit.json()["case_status"] == "in_contact"
    assert visit.json()["deadline"] is None

    feedback = client.get(f"/v1/signals/{rent_signal['id']}", headers=housing).json()["feedback"]
    assert feedback == {
        "status": "in_contact",
        "collection_paused_until": (today() + dt.timedelta(days=28)).isoformat(),
    }

    closed = client.post(
        f"/v1/cases/{case_id}/result", json={"result": "follow_up_financial"}, headers=team
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"

    # Each provider hears the permitted final code, never the result code itself.
    for headers, signal in ((housing, rent_signal), (token_for("energy_supplier"), energy_signal)):
        answer = client.get(f"/v1/signals/{signal['id']}", headers=headers).json()
        assert answer["feedback"]["status"] == "help_accepted"
        assert "follow_up_financial" not in orjson.dumps(answer).decode()

    # The municipality reads the attempts back, with the notes, in order.
    final = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    assert final["status"] == "closed" and final["result"] == "follow_up_financial"
    assert [(a["channel"], a["reached"]) for a in final["contact_attempts"]] == [
        ("phone", False),
        ("home_visit", True),
    ]
    assert final["contact_attempts"][0]["note"].startswith("Voicemail")
    assert [a["organisation_id"] for a in final["assignments"]] == [world["neighbourhood_team"].id]

    # Every read is in the audit log with the reader's purpose and rule.
    reads = entries(db_session, "case.read")
    by_org = {(e["actor"]["organisation"], e["purpose"], e["rule_id"]) for e in reads}
    assert (
        world["neighbourhood_team"].id,
        "outreach",
        "neighbourhood-team.outreach.receive",
    ) in by_org
    assert (world["municipality"].id, "early-signal", "municipality.early-signal.receive") in by_org
    assert all(e["decision"] == "permit" for e in reads)
    listed = entries(db_session, "case.list")
    assert listed and listed[0]["resources"]["case"] == case_id
    [assign_entry] = entries(db_session, "case.assign")
    assert assign_entry["recipient"] == world["neighbourhood_team"].id
    assert len(entries(db_session, "case.contact_attempt")) == 2
    assert len(entries(db_session, "case.close")) == 1
    feedback_reads = entries(db_session, "signal.read")
    assert feedback_reads and all(e["purpose"] == "provider-feedback" for e in feedback_reads)

    # The month's DDAS delivery to CBS carries the case as worked, and validates.
    delivery = client.get(
        "/v1/reports/ddas",
        params={"municipality": "0599", "from": today().isoformat(), "to": today().isoformat()},
        headers=municipality,
    )
    assert delivery.status_code == 200, delivery.text
    assert_conforms(delivery.json(), DdasVersion.V1_2)  # the default version
    [levering] = delivery.json()["leveringen"]
    [zaak] = levering["vroegsignaalzaken"]
    assert zaak["resultaat"] == "Vervolghulp en/of verwijzing financieel"
    assert [(p["soort"], p["bereikt"], p["dagdeel"]) for p in zaak["contactpogingen"]] == [
        ("Telefoon", False, "Ochtend"),
        ("Huisbezoek", True, "Middag"),
    ]
    assert {s["ID"] for s in zaak["vroegsignalen"]} == {rent_signal["id"], energy_signal["id"]}


def test_the_note_is_stored_encrypted_and_never_written_to_the_audit_log(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    signal, _, _ = household_signals(client, token_for)
    note = "Mevrouw heeft een afspraak bij de huisarts op dinsdag"
    response = client.post(
        f"/v1/cases/{signal['case_id']}/contact-attempts",
        json={"channel": "letter", "date": today().isoformat(), "reached": False, "note": note},
        headers=token_for("municipality"),
    )
    assert response.status_code == 201, response.text
    assert "note" not in response.json()
    with db_session() as session:
        [sealed] = session.scalars(select(ContactAttempt.sealed_note)).all()
        all_entries = b"".join(session.scalars(select(AuditEntry.entry)).all())
    assert sealed is not None and note.encode() not in sealed
    assert b"huisarts" not in all_entries


# Views per recipient ----------------------------------------------------------------------


def test_a_debt_service_receives_the_case_only_with_consent_and_then_sees_its_own_view(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    signal, _, rent = household_signals(client, token_for)
    municipality, debt_service = token_for("municipality"), token_for("debt_service")
    case_id = signal["case_id"]
    target = {"organisation_id": world["debt_service"].id}

    refused = client.post(f"/v1/cases/{case_id}/assignment", json=target, headers=municipality)
    problem = problem_of(refused, 422, "disclosure-denied")
    assert errors_of(problem)[0][0] == "organisation_id"
    [denied] = entries(db_session, "case.assign")
    assert denied["decision"] == "deny"  # the refused attempt is in the log all the same
    assert client.get(f"/v1/cases/{case_id}", headers=debt_service).status_code == 404

    consent = client.post(
        "/v1/consents",
        json={
            "person": {"bsn": rent["person"]["bsn"]},
            "purposes": ["debt-service-referral"],
            "recipients": [world["debt_service"].id],
            "collection_method": "in_person",
            "notice_version": "2026-01",
        },
        headers=municipality,
    )
    assert consent.status_code == 201, consent.text
    referred = client.post(f"/v1/cases/{case_id}/assignment", json=target, headers=municipality)
    assert referred.status_code == 200, referred.text
    assert referred.json()["assignment"]["purpose"] == "debt-service-referral"

    view = client.get(f"/v1/cases/{case_id}", headers=debt_service).json()
    assert view["disclosure"]["rule_id"] == "debt-service.referral.receive"
    assert {s["amount_cents"] for s in view["signals"]} == {98_765, 23_456}
    assert all("bsn" not in s["person"] for s in view["signals"])
    assert all(s["person"]["birth_date"] == rent["person"]["birth_date"] for s in view["signals"])
    # A referral made with consent is help accepted, for the providers.
    answer = client.get(f"/v1/signals/{signal['id']}", headers=token_for("housing_corporation"))
    assert answer.json()["feedback"]["status"] == "help_accepted"

    # The debt service records its own attempts under the same consent, but writes no
    # notes: its record rule has no "case.notes".
    with_note = client.post(
        f"/v1/cases/{case_id}/contact-attempts",
        json={"channel": "phone", "date": today().isoformat(), "reached": True, "note": "x"},
        headers=debt_service,
    )
    assert with_note.status_code == 403
    attempt = client.post(
        f"/v1/cases/{case_id}/contact-attempts",
        json={"channel": "phone", "date": today().isoformat(), "reached": True},
        headers=debt_service,
    )
    assert attempt.status_code == 201, attempt.text
    seen = client.get(f"/v1/cases/{case_id}", headers=debt_service).json()
    [recorded] = seen["contact_attempts"]
    assert recorded["recorded_by"] == str(world["debt_service"].id)
    assert "note" not in recorded
    assert [event["act"] for event in seen["history"]] == ["attempt"]

    # Consent withdrawn: the next read is refused, and the refusal is logged.
    withdrawn = client.post(
        f"/v1/consents/{consent.json()['id']}/withdrawal", json={}, headers=municipality
    )
    assert withdrawn.status_code == 200, withdrawn.text
    after = client.get(f"/v1/cases/{case_id}", headers=debt_service)
    assert after.status_code == 403
    assert entries(db_session, "case.read")[-1]["decision"] == "deny"


def test_reassigning_outreach_ends_the_first_team_s_access(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    signal, _, _ = household_signals(client, token_for)
    municipality = token_for("municipality")
    with db_session() as session:
        second = add_organisation(
            session,
            kind="neighbourhood_team",
            name="Wijkteam Charlois",
            parent_id=uuid.UUID(world["municipality"].id),
        )
        second_id = str(second.id)
    case_id = signal["case_id"]
    for team_id in (world["neighbourhood_team"].id, second_id):
        response = client.post(
            f"/v1/cases/{case_id}/assignment",
            json={"organisation_id": team_id},
            headers=municipality,
        )
        assert response.status_code == 200, response.text
    assert (
        client.get(f"/v1/cases/{case_id}", headers=token_for("neighbourhood_team")).status_code
        == 404
    )
    assert client.get("/v1/cases", headers=token_for("neighbourhood_team")).json()["items"] == []


# Bad input ------------------------------------------------------------------------------


def test_another_municipality_s_case_is_404_and_its_team_cannot_be_assigned(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    signal, _, _ = household_signals(client, token_for)
    utrecht = other_municipality(client, db_session)
    case_id = signal["case_id"]
    for method, path, body in (
        ("GET", f"/v1/cases/{case_id}", None),
        ("POST", f"/v1/cases/{case_id}/assignment", {"organisation_id": utrecht["ids"]["team"]}),
        ("POST", f"/v1/cases/{case_id}/result", {"result": "no_help_needed"}),
    ):
        response = client.request(
            method, path, json=body, headers=utrecht["headers"]["municipality"]
        )
        problem_of(response, 404, "not-found")
    assert client.get("/v1/cases", headers=utrecht["headers"]["municipality"]).json()["items"] == []

    wrong_team = client.post(
        f"/v1/cases/{case_id}/assignment",
        json={"organisation_id": utrecht["ids"]["team"]},
        headers=token_for("municipality"),
    )
    not_a_team = client.post(
        f"/v1/cases/{case_id}/assignment",
        json={"organisation_id": world["housing_corporation"].id},
        headers=token_for("municipality"),
    )
    unknown = client.post(
        f"/v1/cases/{case_id}/assignment",
        json={"organisation_id": str(uuid.uuid4())},
        headers=token_for("municipality"),
    )
    # One answer for another municipality's team, a provider and an id that does not
    # exist: an assignment error tells nothing about organisations the caller cannot see.
    answers = [problem_of(r, 422, "invalid-input") for r in (wrong_team, not_a_team, unknown)]
    assert all(a == {**answers[0], "instance": a["instance"]} for a in answers)
    not_ours = "is not a neighbourhood team or debt service of the case's municipality"
    assert errors_of(answers[0]) == [("organisation_id", not_ours)]
    with db_session() as session:
        assert session.scalar(select(Case.status).where(Case.id == uuid.UUID(case_id))) == "open"


def test_bad_contact_attempts_and_results_name_the_field_and_store_nothing(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    signal, _, _ = household_signals(client, token_for)
    municipality = token_for("municipality")
    path = f"/v1/cases/{signal['case_id']}"
    good = {"channel": "phone", "date": today().isoformat(), "reached": False}
    cases = [
        ({**good, "channel": "pigeon"}, "channel"),
        ({**good, "part_of_day": "night"}, "part_of_day"),
        ({**good, "date": (today() + dt.timedelta(days=1)).isoformat()}, "date"),
        ({**good, "date": (today() - dt.timedelta(days=3)).isoformat()}, "date"),
        ({**good, "note": "x" * 2001}, "note"),
        ({k: v for k, v in good.items() if k != "reached"}, "reached"),
    ]
    for body, field in cases:
        response = client.post(f"{path}/contact-attempts", json=body, headers=municipality)
        problem = problem_of(response, 422)
        assert field in [name for name, _ in errors_of(problem)], (body, problem)
    unknown = client.post(f"{path}/result", json={"result": "solved"}, headers=municipality)
    assert errors_of(problem_of(unknown, 422))[0][0] == "result"
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(ContactAttempt)) == 0
        assert session.scalar(select(Case.status)) == "open"


def test_a_closed_case_takes_no_more_results_or_attempts_and_says_it_is_closed(
    client: TestClient, token_for: Headers
) -> None:
    signal, _, _ = household_signals(client, token_for)
    municipality = token_for("municipality")
    path = f"/v1/cases/{signal['case_id']}"
    first = client.post(
        f"{path}/result", json={"result": "not_picked_up_repeat_signal"}, headers=municipality
    )
    assert first.status_code == 200, first.text
    again = client.post(f"{path}/result", json={"result": "no_help_needed"}, headers=municipality)
    problem = problem_of(again, 409, "conflict")
    assert "closed" in problem["detail"]
    assert errors_of(problem) == [("status", "is closed")]
    attempt = client.post(
        f"{path}/contact-attempts",
        json={"channel": "phone", "date": today().isoformat(), "reached": True},
        headers=municipality,
    )
    problem_of(attempt, 409, "conflict")
    feedback = client.get(f"/v1/signals/{signal['id']}", headers=token_for("housing_corporation"))
    assert feedback.json()["feedback"] == {
        "status": "not_picked_up",
        "collection_paused_until": None,
    }


def test_providers_and_privacy_officers_have_no_case_routes(
    client: TestClient, token_for: Headers
) -> None:
    signal, _, _ = household_signals(client, token_for)
    for kind in ("housing_corporation", "privacy_officer"):
        assert client.get("/v1/cases", headers=token_for(kind)).status_code == 403
        response = client.get(f"/v1/cases/{signal['case_id']}", headers=token_for(kind))
        assert response.status_code == 403


# Queue, deadlines and escalation ----------------------------------------------------------


def test_a_crisis_comes_first_with_a_three_working_day_term(
    client: TestClient, token_for: Headers
) -> None:
    plain = send(client, token_for("housing_corporation"), signal_body())
    _, crisis_signal, _ = household_signals(client, token_for, crisis=True)
    items = client.get("/v1/cases", headers=token_for("municipality")).json()["items"]
    assert [i["id"] for i in items] == [crisis_signal["case_id"], plain["case_id"]]
    assert items[0]["crisis"] is True
    assert items[0]["deadline"] == add_working_days(today(), 3).isoformat()
    assert items[1]["deadline"] == (today() + dt.timedelta(days=14)).isoformat()


def test_queue_filters_narrow_the_list(client: TestClient, token_for: Headers) -> None:
    single = send(
        client,
        token_for("water_company"),
        signal_body(kind="water", amount_cents=4_000, address={"postcode": "3050AB"}),
    )
    multiple, _, _ = household_signals(client, token_for, energy_cents=123_456)
    municipality = token_for("municipality")

    def ids(**params: Any) -> list[str]:
        response = client.get("/v1/cases", params=params, headers=municipality)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids(kind="water") == [single["case_id"]]
    assert ids(classification="multiple") == [multiple["case_id"]]
    assert ids(classification="single") == [single["case_id"]]
    assert ids(pc4=3050) == [single["case_id"]]
    assert ids(amount_max=100) == [single["case_id"]]
    assert ids(amount_min=600) == [multiple["case_id"]]
    assert ids(crisis=True) == []
    assert ids(overdue=True) == []
    assert sorted(ids(overdue=False)) == sorted([single["case_id"], multiple["case_id"]])
    assert ids(status="closed") == []
    bad = client.get("/v1/cases", params={"status": "lost"}, headers=municipality)
    assert errors_of(problem_of(bad, 422))[0][0] == "status[0]"
    empty_range = client.get(
        "/v1/cases", params={"amount_min": 9, "amount_max": 1}, headers=municipality
    )
    assert errors_of(problem_of(empty_range, 422))[0][0] == "amount_min"


def test_a_team_cannot_filter_on_fields_its_rule_does_not_show(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    response = client.get(
        "/v1/cases", params={"age_band": "27-45"}, headers=token_for("neighbourhood_team")
    )
    assert errors_of(problem_of(response, 422)) == [("age_band", "not in your rule")]


def test_a_passed_deadline_is_listed_overdue_and_escalated_once(
    client: TestClient, token_for: Headers, broker: Any, db_session: Any
) -> None:
    signal, _, _ = household_signals(client, token_for)
    case_id = uuid.UUID(signal["case_id"])
    passed = today() - dt.timedelta(days=1)
    with db_session() as session:
        session.execute(update(Case).where(Case.id == case_id).values(deadline_on=passed))
    items = client.get(
        "/v1/cases", params={"overdue": True}, headers=token_for("municipality")
    ).json()["items"]
    assert [(i["id"], i["overdue"]) for i in items] == [(str(case_id), True)]

    with db_session() as session:
        assert escalate_overdue(session, broker.audit, today(), now()) == 1
    with db_session() as session:
        assert escalate_overdue(session, broker.audit, today(), now()) == 0
        [escalation] = session.scalars(select(Escalation)).all()
        assert escalation.deadline_kind == "first_contact_attempt"
        assert escalation.deadline_on == passed
    [logged] = entries(db_session, "case.escalated")
    assert logged["resources"]["case"] == str(case_id)
    document = client.get(f"/v1/cases/{case_id}", headers=token_for("municipality")).json()
    assert document["deadlines"]["escalations"][0]["deadline_kind"] == "first_contact_attempt"

    # Meeting the term (a first attempt) moves the case on to the next one.
    client.post(
        f"/v1/cases/{case_id}/contact-attempts",
        json={"channel": "phone", "date": today().isoformat(), "reached": False},
        headers=token_for("municipality"),
    )
    items = client.get(
        "/v1/cases", params={"overdue": True}, headers=token_for("municipality")
    ).json()["items"]
    assert items == []


def test_an_objection_to_outreach_hides_the_case_from_the_team_and_the_read_is_logged(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    signal, _, rent = household_signals(client, token_for)
    municipality = token_for("municipality")
    case_id = signal["case_id"]
    client.post(
        f"/v1/cases/{case_id}/assignment",
        json={"organisation_id": world["neighbourhood_team"].id},
        headers=municipality,
    )
    objection = client.post(
        "/v1/objections",
        json={"person": {"bsn": rent["person"]["bsn"]}, "purposes": ["outreach"]},
        headers=municipality,
    )
    assert objection.status_code == 201, objection.text
    team = token_for("neighbourhood_team")
    assert client.get(f"/v1/cases/{case_id}", headers=team).status_code == 403
    listing = client.get("/v1/cases", headers=team).json()
    assert listing["items"] == [] and listing["withheld"] == 1
    assert entries(db_session, "case.read")[-1]["decision"] == "deny"


def test_the_server_escalates_passed_deadlines_on_its_own_schedule(
    client: TestClient, token_for: Headers, broker: Any, db_session: Any
) -> None:
    from exchange.api.background import escalate, jobs

    assert ("escalations", 300) in [(name, interval) for name, interval, _ in jobs(broker)]
    signal, _, _ = household_signals(client, token_for)
    with db_session() as session:
        session.execute(
            update(Case)
            .where(Case.id == uuid.UUID(signal["case_id"]))
            .values(deadline_on=today() - dt.timedelta(days=2))
        )
    assert escalate(broker) == 1
    assert escalate(broker) == 0
    assert len(entries(db_session, "case.escalated")) == 1
