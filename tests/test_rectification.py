"""Rectification (AVG art. 16) with notices to the recipients (art. 19)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange.auditlog.models import AuditEntry
from exchange.broker import Broker
from exchange.cases.models import Case
from exchange.clock import today
from exchange.identity.models import Household
from exchange.identity.pseudonyms import household_of
from tests.factories import errors_of, problem_of, signal_body, stored_counts

Headers = Callable[[str], dict[str, str]]


def test_a_corrected_phone_number_reaches_the_case_and_every_recipient_hears_of_it(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    body = signal_body()
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert sent.status_code == 201, sent.text
    case_id = sent.json()["case_id"]
    municipality = token_for("municipality")
    before = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    assert before["signals"][0]["contact"]["phone"] == body["contact"]["phone"]

    answer = client.post(
        "/v1/subjects/rectification",
        json={
            "person": {"bsn": body["person"]["bsn"]},
            "corrections": {"phone": "+31612345678", "surname": "Van der Berg-Correct"},
            "reason": "called the municipality",
        },
        headers=token_for("privacy_officer"),
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["signals_corrected"] == 1
    assert result["fields"] == ["phone", "surname"]
    assert result["recipients_notified"] >= 2  # the municipality and the provider

    after = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    assert after["signals"][0]["contact"]["phone"] == "+31612345678"
    assert after["signals"][0]["person"]["surname"] == "Van der Berg-Correct"
    assert after["signals"][0]["person"]["bsn"] == body["person"]["bsn"]  # still the person

    notices = client.get("/v1/notices", headers=municipality).json()["items"]
    assert [n["event"] for n in notices] == ["rectification"]
    assert case_id in notices[0]["resources"]["cases"]
    provider_notices = client.get("/v1/notices", headers=token_for("housing_corporation"))
    assert provider_notices.json()["items"][0]["resources"]["signals"] == [sent.json()["id"]]

    with db_session() as session:
        logged = b"".join(session.scalars(select(AuditEntry.entry)).all())
        [recorded] = session.scalars(
            select(AuditEntry.entry).where(AuditEntry.action == "subject.rectification")
        ).all()
    assert b"+31612345678" not in logged and b"Correct" not in logged
    assert orjson.loads(recorded)["resources"]["fields"] == "phone,surname"


def test_a_rectification_names_what_is_wrong_and_only_a_privacy_officer_may_ask(
    client: TestClient, token_for: Headers
) -> None:
    officer = token_for("privacy_officer")
    person = {"bsn": signal_body()["person"]["bsn"]}
    empty = client.post(
        "/v1/subjects/rectification", json={"person": person, "corrections": {}}, headers=officer
    )
    assert errors_of(problem_of(empty, 422))[0][0] == "corrections"
    bsn = client.post(
        "/v1/subjects/rectification",
        json={"person": person, "corrections": {"bsn": "123456782"}},
        headers=officer,
    )
    assert errors_of(problem_of(bsn, 422))[0][0] == "corrections.bsn"
    refused = client.post(
        "/v1/subjects/rectification",
        json={"person": person, "corrections": {"phone": "+31612345678"}},
        headers=token_for("municipality"),
    )
    assert refused.status_code == 403


def rectify(client: TestClient, token_for: Headers, person: dict[str, Any], **fix: str) -> Any:
    return client.post(
        "/v1/subjects/rectification",
        json={"person": person, "corrections": fix, "reason": "verkeerd huisnummer"},
        headers=token_for("privacy_officer"),
    )


def test_a_wrong_house_number_moves_the_household_and_a_later_signal_joins_its_case(
    client: TestClient, token_for: Headers, db_session: Any, broker: Broker
) -> None:
    body = signal_body(address={"postcode": "3014 ab", "house_number": "12"})
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert sent.status_code == 201, sent.text
    answer = rectify(client, token_for, {"bsn": body["person"]["bsn"]}, house_number="14")
    assert answer.status_code == 200, answer.text
    assert answer.json()["signals_moved"] == 1
    assert answer.json()["recipients_notified"] >= 2

    with db_session() as session:
        [household] = session.scalars(select(Household)).all()
    assert household.pseudonym == household_of(broker.keyring.pseudonym_keys, "3014AB", "14", None)
    case = client.get(f"/v1/cases/{sent.json()['case_id']}", headers=token_for("municipality"))
    assert case.json()["signals"][0]["address"]["house_number"] == "14"
    # The water company knows the right address: its signal joins the same case.
    later = signal_body(kind="water", address={"postcode": "3014AB", "house_number": "14"})
    joined = client.post("/v1/signals", json=later, headers=token_for("water_company"))
    assert joined.status_code == 201, joined.text
    assert joined.json()["case_id"] == sent.json()["case_id"]


def test_a_corrected_address_already_known_takes_the_signals_cases_and_notes_under_its_key(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    body = signal_body(address={"postcode": "3014AB", "house_number": "12"})
    wrong = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert wrong.status_code == 201, wrong.text
    municipality = token_for("municipality")
    noted = client.post(
        f"/v1/cases/{wrong.json()['case_id']}/contact-attempts",
        json={
            "channel": "letter",
            "date": today().isoformat(),
            "part_of_day": "morning",
            "reached": False,
            "note": "Brief gestuurd naar nummer 12",
        },
        headers=municipality,
    )
    assert noted.status_code == 201, noted.text
    right = signal_body(
        kind="energy", person=body["person"], address={"postcode": "3014AB", "house_number": "14"}
    )
    elsewhere = client.post("/v1/signals", json=right, headers=token_for("energy_supplier"))
    assert elsewhere.status_code == 201, elsewhere.text

    answer = rectify(client, token_for, {"bsn": body["person"]["bsn"]}, house_number="14")
    assert answer.status_code == 200, answer.text
    assert answer.json()["signals_moved"] == 1
    with db_session() as session:
        households = session.scalars(select(Household)).all()
        cases = session.scalars(select(Case)).all()
    assert len(households) == 1  # the one at number 12 is gone, its data key with it
    assert {c.household_id for c in cases} == {households[0].id}
    # Both cases read, under the one data key, the note included.
    read = client.get(f"/v1/cases/{wrong.json()['case_id']}", headers=municipality).json()
    assert read["signals"][0]["address"]["house_number"] == "14"
    assert "nummer 12" in str(read["contact_attempts"])


def test_an_address_that_cannot_be_moved_to_is_refused_and_nothing_changes(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    housing = token_for("housing_corporation")
    body = signal_body(address={"postcode": "3014AB", "house_number": "12"})
    assert client.post("/v1/signals", json=body, headers=housing).status_code == 201
    person = {"bsn": body["person"]["bsn"]}
    before = stored_counts(db_session)
    with db_session() as session:
        pseudonyms = set(session.scalars(select(Household.pseudonym)))

    elsewhere = rectify(client, token_for, person, postcode="1011AB")
    problem = problem_of(elsewhere, 409, "address-not-movable")
    assert errors_of(problem) == [("corrections.postcode", "lies in another municipality")]

    neighbour = signal_body(address={"postcode": "3014AB", "house_number": "12"})
    assert client.post("/v1/signals", json=neighbour, headers=housing).status_code == 201
    shared = rectify(client, token_for, person, house_number="16")
    problem = problem_of(shared, 409, "address-not-movable")
    assert "other people" in problem["detail"]

    malformed = rectify(client, token_for, person, postcode="30X4AB")
    assert errors_of(problem_of(malformed, 422))[0][0] == "corrections.postcode"
    with db_session() as session:
        assert set(session.scalars(select(Household.pseudonym))) == pseudonyms
    assert stored_counts(db_session)["households"] == before["households"]
