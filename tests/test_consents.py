"""The consent ledger through the API, and its effect on the next decision."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange.broker import Broker
from exchange.clock import today
from exchange.consents.models import ConsentEvent, Objection
from exchange.disclosures.subjects import subject_states
from exchange.identity.models import Subject
from exchange.identity.pseudonyms import subject_pseudonym
from exchange.identity.schemas import Person
from policies.engine import DecisionRequest
from tests.factories import generated_bsn, signal_body

Headers = Callable[[str], dict[str, str]]


def consent_body(world: Any, bsn: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "person": {"bsn": bsn},
        "purposes": ["debt-service-referral"],
        "recipients": [world["debt_service"].id],
        "collection_method": "in_person",
        "notice_version": "2026-01",
        "valid_until": (today() + dt.timedelta(days=180)).isoformat(),
    }
    return {**body, **overrides}


def test_consent_given_then_withdrawn_keeps_its_history(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    municipality = token_for("municipality")
    given = client.post(
        "/v1/consents", json=consent_body(world, generated_bsn()), headers=municipality
    )
    assert given.status_code == 201, given.text
    consent = given.json()
    assert consent["status"] == "given"
    assert consent["collected_by"] == world["municipality"].id
    assert [e["event"] for e in consent["events"]] == ["given"]

    withdrawn = client.post(f"/v1/consents/{consent['id']}/withdrawal", headers=municipality)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert [e["event"] for e in withdrawn.json()["events"]] == ["given", "withdrawn"]

    again = client.post(f"/v1/consents/{consent['id']}/withdrawal", headers=municipality)
    assert again.status_code == 409
    assert "withdrawn" in again.json()["detail"]
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(ConsentEvent)) == 2


def test_withdrawal_changes_what_the_debt_service_may_receive_at_once(
    client: TestClient, token_for: Headers, world: Any, broker: Broker, db_session: Any
) -> None:
    bsn = generated_bsn()
    consent = client.post(
        "/v1/consents", json=consent_body(world, bsn), headers=token_for("municipality")
    ).json()
    pseudonym = subject_pseudonym(broker.keyring.pseudonym.active, Person(bsn=bsn))

    def debt_service_decision() -> Any:
        with db_session() as session:
            state = subject_states(session, [pseudonym], with_consents=True)[pseudonym]
            register = broker.policies.active(session).register
        return register.decide(
            DecisionRequest(
                actor_org=world["debt_service"].id,
                actor_kind="debt_service",
                action="receive",
                purpose="debt-service-referral",
                today=today(),
                subject=state,
            )
        )

    before = debt_service_decision()
    assert before.permitted and "person.surname" in before.fields
    client.post(f"/v1/consents/{consent['id']}/withdrawal", headers=token_for("municipality"))
    after = debt_service_decision()
    assert not after.permitted
    assert after.fields == frozenset()


def test_consent_for_an_unknown_purpose_recipient_or_ended_period_is_422(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    headers = token_for("municipality")
    bsn = generated_bsn()
    cases = [
        ({"purposes": ["debt-service-referral", "marketing"]}, "purposes[1]"),
        ({"recipients": [str(uuid.uuid4())]}, "recipients[0]"),
        ({"valid_until": (today() - dt.timedelta(days=1)).isoformat()}, "valid_until"),
        ({"collection_method": "telepathy"}, "collection_method"),
        ({"person": {"bsn": "123456789"}}, "person.bsn"),
    ]
    for override, field in cases:
        response = client.post(
            "/v1/consents", json=consent_body(world, bsn, **override), headers=headers
        )
        assert response.status_code == 422, (override, response.text)
        assert response.json()["errors"][0]["field"] == field
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(Subject)) == 0


def test_each_organisation_sees_its_own_pseudonym_and_only_its_consents(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    bsn = generated_bsn()
    consent = client.post(
        "/v1/consents", json=consent_body(world, bsn), headers=token_for("municipality")
    ).json()
    as_debt_service = client.get(f"/v1/consents/{consent['id']}", headers=token_for("debt_service"))
    assert as_debt_service.status_code == 200
    assert as_debt_service.json()["subject"] != consent["subject"]
    # The neighbourhood team neither collected it nor receives under it: not found.
    as_team = client.get(f"/v1/consents/{consent['id']}", headers=token_for("neighbourhood_team"))
    assert as_team.status_code == 404
    withdraw = client.post(
        f"/v1/consents/{consent['id']}/withdrawal", headers=token_for("neighbourhood_team")
    )
    assert withdraw.status_code == 404
    # Providers keep no consent ledger.
    assert client.get("/v1/consents", headers=token_for("housing_corporation")).status_code == 403


def test_a_person_s_consents_are_found_by_identity_in_the_body(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    bsn = generated_bsn()
    headers = token_for("municipality")
    mine = client.post("/v1/consents", json=consent_body(world, bsn), headers=headers).json()
    client.post("/v1/consents", json=consent_body(world, generated_bsn()), headers=headers)
    found = client.post("/v1/consents/search", json={"person": {"bsn": bsn}}, headers=headers)
    assert found.status_code == 200
    assert [c["id"] for c in found.json()["consents"]] == [mine["id"]]
    listed = client.get(
        "/v1/consents", params={"purpose": "debt-service-referral"}, headers=headers
    )
    assert len(listed.json()["consents"]) == 2


def test_an_objection_stops_the_next_early_signal_about_that_person(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    bsn = generated_bsn()
    objection = client.post(
        "/v1/objections",
        json={
            "person": {"bsn": bsn},
            "purposes": ["early-signal"],
            "reason": "Ik wil geen bemoeienis van de gemeente",
        },
        headers=token_for("privacy_officer"),
    )
    assert objection.status_code == 201, objection.text
    assert objection.json()["status"] == "in_force"

    provider = token_for("housing_corporation")
    blocked = client.post("/v1/signals", json=signal_body(person={"bsn": bsn}), headers=provider)
    assert blocked.status_code == 422
    problem = blocked.json()
    assert problem["type"].endswith("/disclosure-denied")
    assert "objected" in problem["detail"]
    other = client.post("/v1/signals", json=signal_body(), headers=provider)
    assert other.status_code == 201
    with db_session() as session:
        stored = session.scalars(select(Objection)).one()
        assert stored.sealed_reason is not None
        assert b"bemoeienis" not in stored.sealed_reason


def test_an_objection_for_an_unknown_purpose_is_422(client: TestClient, token_for: Headers) -> None:
    response = client.post(
        "/v1/objections",
        json={"person": {"bsn": generated_bsn()}, "purposes": ["profiling"]},
        headers=token_for("privacy_officer"),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "purposes[0]"


def test_a_withdrawal_backdated_to_before_the_consent_was_recorded_is_refused(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    municipality = token_for("municipality")
    consent = client.post(
        "/v1/consents", json=consent_body(world, generated_bsn()), headers=municipality
    ).json()
    yesterday = (today() - dt.timedelta(days=1)).isoformat()
    refused = client.post(
        f"/v1/consents/{consent['id']}/withdrawal",
        json={"effective_on": yesterday},
        headers=municipality,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "effective_on"
    taken = client.post(
        f"/v1/consents/{consent['id']}/withdrawal",
        json={"effective_on": today().isoformat()},
        headers=municipality,
    )
    assert taken.status_code == 200, taken.text
