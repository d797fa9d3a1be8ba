"""Rectification (AVG art. 16) with notices to the recipients (art. 19)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange.auditlog.models import AuditEntry
from tests.factories import errors_of, problem_of, signal_body

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
