"""Erasure by crypto-shredding, restriction, notices to recipients, the access report's
list of what is held. Every test runs on SQLite and PostgreSQL, through the HTTP API."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from fastapi.testclient import TestClient
from sqlalchemy import LargeBinary, select

from audit.verify import verify_export
from exchange.auditlog.models import AuditEntry
from exchange.broker import Broker
from exchange.clock import today
from exchange.identity.models import Household, Subject
from exchange.identity.pseudonyms import subject_pseudonym
from exchange.identity.schemas import Person
from exchange.signals.models import Signal
from exchange.storage.models import metadata
from exchange.vault import envelope
from policies.engine import (
    RESTRICTED,
    DecisionRequest,
    SubjectState,
    load_register,
)
from tests.factories import problem_of, signal_body
from tests.test_ddas import DdasVersion, period_params

Headers = Callable[[str], dict[str, str]]
NOTE = "Mevrouw Testsma thuis getroffen, wil hulp"


def send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def close_case(client: TestClient, token_for: Headers, case_id: str) -> None:
    municipality = token_for("municipality")
    attempt = client.post(
        f"/v1/cases/{case_id}/contact-attempts",
        json={
            "channel": "home_visit",
            "date": today().isoformat(),
            "part_of_day": "afternoon",
            "reached": True,
            "note": NOTE,
        },
        headers=municipality,
    )
    assert attempt.status_code == 201, attempt.text
    closed = client.post(
        f"/v1/cases/{case_id}/result",
        json={"result": "follow_up_financial"},
        headers=municipality,
    )
    assert closed.status_code == 200, closed.text


def data_keys(broker: Broker, db_session: Any) -> dict[uuid.UUID, bytes]:
    with db_session() as session:
        return {
            h.id: envelope.unwrap_data_key(
                broker.keyring.kek.get(h.kek_id), h.wrapped_data_key, h.id.bytes
            )
            for h in session.scalars(select(Household))
        }


def every_ciphertext(db_session: Any) -> list[tuple[str, bytes]]:
    """Every binary value in every table except the audit log's hashes."""
    found = []
    with db_session() as session:
        for table in metadata.sorted_tables:
            if table.name.startswith("audit_"):
                continue
            for column in table.columns:
                if not isinstance(column.type, LargeBinary):
                    continue
                for (value,) in session.execute(select(column).where(column.is_not(None))):
                    found.append((f"{table.name}.{column.name}", bytes(value)))
    return found


def test_erasure_while_the_case_is_open_is_refused_with_the_legal_ground(
    client: TestClient, token_for: Headers, provider: dict[str, str], db_session: Any
) -> None:
    body = signal_body()
    signal = send(client, provider, body)
    response = client.post(
        "/v1/subjects/erasure",
        json={"person": {"bsn": body["person"]["bsn"]}, "reason": "verzoek per brief"},
        headers=token_for("privacy_officer"),
    )
    problem = problem_of(response, 409, "erasure-refused")
    assert problem["purpose"] == "early-signal"
    assert "Wgs" in problem["legal_ground"]["en"] and "AVG" in problem["legal_ground"]["nl"]
    assert "closed" in problem["detail"]
    # Nothing was erased, and the refusal is on record.
    assert client.get(f"/v1/signals/{signal['id']}", headers=provider).status_code == 200
    with db_session() as session:
        refused = session.scalars(
            select(AuditEntry.decision).where(AuditEntry.action == "subject.erasure")
        ).all()
    assert refused == ["deny"]


def test_after_erasure_nothing_decrypts_and_the_audit_log_still_verifies(
    client: TestClient,
    token_for: Headers,
    provider: dict[str, str],
    broker: Broker,
    db_session: Any,
) -> None:
    officer = token_for("privacy_officer")
    body = signal_body()
    bystander = signal_body()  # another household: stays readable
    signal = send(client, provider, body)
    other = send(client, provider, bystander)
    close_case(client, token_for, signal["case_id"])
    municipality = token_for("municipality")
    assert client.get(f"/v1/cases/{signal['case_id']}", headers=municipality).status_code == 200
    keys_before = data_keys(broker, db_session)
    with db_session() as session:
        household_id = session.scalar(
            select(Signal.household_id).where(Signal.id == uuid.UUID(signal["id"]))
        )
        # Ciphertexts are bound to the UUID of their row (a one-row table's small id, as
        # routing_versions has, binds nothing).
        row_ids = [
            row_id
            for table in metadata.sorted_tables
            if "id" in table.c and not table.name.startswith("audit_")
            for (row_id,) in session.execute(select(table.c.id))
            if isinstance(row_id, uuid.UUID)
        ]
    erased_key = keys_before[household_id]
    pseudonym = subject_pseudonym(broker.keyring.pseudonym_keys, Person(bsn=body["person"]["bsn"]))

    response = client.post(
        "/v1/subjects/erasure",
        json={"person": {"bsn": body["person"]["bsn"]}, "reason": "art. 17"},
        headers=officer,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "erased"
    assert result["erased"]["households"] == 1 and result["erased"]["signals"] == 1
    assert result["recipients_notified"] >= 1

    # No API returns the person's data any more.
    assert client.get(f"/v1/signals/{signal['id']}", headers=provider).status_code == 404
    assert client.get(f"/v1/cases/{signal['case_id']}", headers=municipality).status_code == 404
    assert client.get(f"/v1/cases/{other['case_id']}", headers=municipality).status_code == 200
    ddas = client.get(
        "/v1/reports/ddas", params=period_params(DdasVersion.V1_2), headers=municipality
    )
    assert ddas.status_code == 200
    assert body["person"]["bsn"] not in ddas.text and bystander["person"]["bsn"] in ddas.text

    # Every ciphertext left in the database, tried with every key we know of (every KEK,
    # every household's data key, and the erased household's key kept from before) under
    # every row id as associated data: none opens with the erased key, and none that opens
    # holds the person's BSN or the note about them.
    candidate_keys = [*broker.keyring.kek.keys.values(), *data_keys(broker, db_session).values()]
    associated = [
        prefix + row_id.bytes
        for row_id in row_ids
        for prefix in (b"", b"note:", b"data-key:", b"objection:")
    ]
    for where, sealed in every_ciphertext(db_session):
        assert sealed != b"", where
        for key in [erased_key, *candidate_keys]:
            for aad in associated:
                try:
                    plain = envelope.open_sealed(key, sealed, aad)
                except (InvalidTag, ValueError):
                    continue
                assert key is not erased_key, where
                assert body["person"]["bsn"].encode() not in plain, where
                assert NOTE.encode() not in plain, where
    with db_session() as session:
        assert session.scalar(select(Subject.id).where(Subject.pseudonym == pseudonym)) is None
        # The log still shows that the disclosures happened, by pseudonym.
        actions = set(
            session.scalars(select(AuditEntry.action).where(AuditEntry.subject == pseudonym))
        )
    assert {"signal.route", "case.read", "subject.erasure"} <= actions

    key = client.get("/v1/audit/verifier-key", headers=officer).text.strip()
    export = client.get("/v1/audit/export", headers=officer)
    report = verify_export(export.content.splitlines(keepends=True), key)
    assert report.ok, report.message
    assert body["person"]["bsn"].encode() not in export.content

    # The recipient that received the case is told (AVG art. 19), with ids only.
    notices = client.get("/v1/notices", headers=municipality).json()["items"]
    assert any(signal["case_id"] in n["resources"].get("cases", []) for n in notices)
    assert all(n["event"] == "erasure" for n in notices)


def test_erasing_one_person_of_a_shared_household_reseals_the_others(
    client: TestClient,
    token_for: Headers,
    provider: dict[str, str],
    broker: Broker,
    db_session: Any,
) -> None:
    first = signal_body()
    partner = signal_body(kind="energy", address=first["address"])
    mine = send(client, provider, first)
    theirs = send(client, token_for("energy_supplier"), partner)
    assert mine["case_id"] == theirs["case_id"]
    close_case(client, token_for, mine["case_id"])
    old_keys = data_keys(broker, db_session)
    assert len(old_keys) == 1
    [old_key] = old_keys.values()

    response = client.post(
        "/v1/subjects/erasure",
        json={"person": {"bsn": first["person"]["bsn"]}},
        headers=token_for("privacy_officer"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["erased"]["households_resealed"] == 1

    [new_key] = data_keys(broker, db_session).values()
    assert new_key != old_key
    with db_session() as session:
        remaining = session.scalars(select(Signal)).all()
    assert [str(s.id) for s in remaining] == [theirs["id"]]
    # The old key opens nothing that is left; the new one opens the partner's signal.
    for _, sealed in every_ciphertext(db_session):
        for aad in (remaining[0].id.bytes,):
            try:
                envelope.open_sealed(old_key, sealed, aad)
            except InvalidTag:
                continue
            raise AssertionError("the old household key still opens a ciphertext")
    opened = orjson.loads(
        envelope.open_sealed(new_key, remaining[0].sealed_identity, remaining[0].id.bytes)
    )
    assert opened["person"]["bsn"] == partner["person"]["bsn"]
    case = client.get(f"/v1/cases/{mine['case_id']}", headers=token_for("municipality"))
    assert case.status_code == 200
    shown = case.text
    assert partner["person"]["bsn"] in shown and first["person"]["bsn"] not in shown
    assert NOTE in shown  # the household's note stays with the case, under the new key


def test_a_restricted_subject_is_stored_but_every_disclosure_is_denied(
    client: TestClient,
    token_for: Headers,
    provider: dict[str, str],
    db_session: Any,
) -> None:
    body = signal_body()
    signal = send(client, provider, body)
    response = client.post(
        "/v1/subjects/restriction",
        json={"person": {"bsn": body["person"]["bsn"]}, "reason": "juistheid betwist"},
        headers=token_for("privacy_officer"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "restricted"

    municipality = token_for("municipality")
    read = client.get(f"/v1/cases/{signal['case_id']}", headers=municipality)
    problem = problem_of(read, 403)
    assert "restricted (AVG art. 18)" in problem["detail"]
    feedback = client.get(f"/v1/signals/{signal['id']}", headers=provider)
    assert feedback.status_code == 403
    again = client.post("/v1/signals", json=signal_body(person=body["person"]), headers=provider)
    assert again.status_code == 422
    assert "restricted" in again.text
    with db_session() as session:
        # Still stored.
        assert session.get(Signal, uuid.UUID(signal["id"])) is not None
        denied = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.decision == "deny", AuditEntry.action.in_(["case.read", "signal.read"])
            )
        ).all()
    assert sorted(denied) == ["case.read", "signal.read"]


def test_a_lifted_restriction_lets_the_register_decide_again_and_tells_the_recipients(
    client: TestClient,
    token_for: Headers,
    provider: dict[str, str],
    db_session: Any,
) -> None:
    body = signal_body()
    signal = send(client, provider, body)
    municipality = token_for("municipality")
    officer = token_for("privacy_officer")
    person = {"person": {"bsn": body["person"]["bsn"]}, "reason": "bezwaar afgehandeld"}
    # Nothing to lift yet: a clear refusal, and nothing on record.
    none = client.post("/v1/subjects/restriction/lift", json=person, headers=officer)
    problem = problem_of(none, 404)
    assert problem["type"].endswith("/no-restriction")

    assert client.get(f"/v1/cases/{signal['case_id']}", headers=municipality).status_code == 200
    restricted = client.post("/v1/subjects/restriction", json=person, headers=officer)
    assert restricted.status_code == 200, restricted.text
    assert client.get(f"/v1/cases/{signal['case_id']}", headers=municipality).status_code == 403

    lifted = client.post("/v1/subjects/restriction/lift", json=person, headers=officer)
    assert lifted.status_code == 200, lifted.text
    answer = lifted.json()
    assert answer["status"] == "lifted"
    assert answer["lifted_on"] == today().isoformat()
    assert answer["recipients_notified"] >= 1
    # The register decides again, from this very request on.
    assert client.get(f"/v1/cases/{signal['case_id']}", headers=municipality).status_code == 200

    # The municipality that received the data reads of the lifting as it read of the
    # restriction, with the case it knows.
    notices = client.get("/v1/notices", headers=municipality).json()["items"]
    events = [n["event"] for n in notices]
    assert events.count("restriction") == 1 and events.count("restriction_lifted") == 1
    [notice] = [n for n in notices if n["event"] == "restriction_lifted"]
    assert notice["resources"]["cases"] == [signal["case_id"]]
    with db_session() as session:
        actions = list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.action.like("subject.restriction%"))
            )
        )
    assert "subject.restriction_lifted" in actions
    assert "subject.restriction_lifted_notice" in actions
    # Lifted once: a second lifting finds none in force.
    again = client.post("/v1/subjects/restriction/lift", json=person, headers=officer)
    assert again.status_code == 404


def test_the_engine_denies_a_restricted_person_with_its_own_reason() -> None:
    register = load_register()
    decision = register.decide(
        DecisionRequest(
            actor_org="x",
            actor_kind="municipality",
            action="read",
            purpose="early-signal",
            today=dt.date(2026, 11, 25),
            subject=SubjectState(restricted=True),
        )
    )
    assert not decision.permitted
    assert decision.outcome == RESTRICTED
    assert "AVG art. 18" in decision.reason_nl


def test_the_access_report_lists_what_is_held_with_its_expiry(
    client: TestClient,
    token_for: Headers,
    provider: dict[str, str],
    db_session: Any,
) -> None:
    officer = token_for("privacy_officer")
    body = signal_body()
    send(client, provider, body)
    report = client.post(
        "/v1/audit/access-report", json={"person": {"bsn": body["person"]["bsn"]}}, headers=officer
    ).json()
    [held] = report["held"]
    assert held["purpose"] == "early-signal"
    assert "address" in held["categories"] and held["items"] == {"signals": 1, "cases": 1}
    assert held["expires_on"] == _six_months_after(today()).isoformat()
    assert held["sentence_en"].startswith("For 'Early signalling")


def _six_months_after(day: dt.date) -> dt.date:
    from exchange.cases.expiry import add_period

    return add_period(day, "P6M")


def test_only_privacy_officers_erase_or_restrict(
    client: TestClient, token_for: Headers, provider: dict[str, str]
) -> None:
    for path in ("/v1/subjects/erasure", "/v1/subjects/restriction"):
        response = client.post(
            path, json={"person": {"bsn": signal_body()["person"]["bsn"]}}, headers=provider
        )
        assert response.status_code == 403
