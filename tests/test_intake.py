"""Signal intake through the API: routing, idempotency, linking, encryption at rest."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from cryptography.exceptions import InvalidTag
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from exchange.broker import Broker
from exchange.cases.models import Case
from exchange.cases.terms import Composition
from exchange.identity.models import Household
from exchange.organisations.service import add_organisation
from exchange.signals.models import Signal
from exchange.vault import envelope
from tests.factories import signal_body

Headers = Callable[[str], dict[str, str]]


def send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    result: dict[str, Any] = response.json()
    return result


def stored(db_session: Any, signal_id: str) -> Signal:
    with db_session() as session:
        signal = session.get(Signal, uuid.UUID(signal_id))
        assert signal is not None
        session.expunge(signal)
        return signal


def case_of(db_session: Any, case_id: str) -> Case:
    with db_session() as session:
        case = session.get(Case, uuid.UUID(case_id))
        assert case is not None
        session.expunge(case)
        return case


def test_signal_is_routed_to_the_municipality_covering_its_postcode(
    client: TestClient, provider: dict[str, str], world: Any, db_session: Any
) -> None:
    with db_session() as session:
        utrecht = add_organisation(
            session,
            kind="municipality",
            name="Gemeente Utrecht",
            gemeentecode="0344",
            postcodes="3500-3585",
        )
    in_rotterdam = send(client, provider, signal_body(address={"postcode": "3099ZZ"}))
    in_utrecht = send(client, provider, signal_body(address={"postcode": "3511 AB"}))
    assert stored(db_session, in_rotterdam["id"]).municipality_id == uuid.UUID(
        world["municipality"].id
    )
    assert stored(db_session, in_utrecht["id"]).municipality_id == utrecht.id


def test_postcode_outside_every_municipality_is_422_and_nothing_is_stored(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    response = client.post(
        "/v1/signals", json=signal_body(address={"postcode": "3100AA"}), headers=provider
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("no-covering-municipality")
    assert problem["errors"][0]["field"] == "address.postcode"
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(Signal)) == 0
        assert session.scalar(select(func.count()).select_from(Household)) == 0


def test_same_signal_twice_is_200_with_the_same_id(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    body = signal_body()
    first = client.post("/v1/signals", json=body, headers=provider)
    again = client.post("/v1/signals", json=body, headers=provider)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(Signal)) == 1


def test_same_external_ref_with_other_content_is_409(
    client: TestClient, provider: dict[str, str]
) -> None:
    body = signal_body()
    assert client.post("/v1/signals", json=body, headers=provider).status_code == 201
    changed = {**body, "amount_cents": body["amount_cents"] + 1}
    response = client.post("/v1/signals", json=changed, headers=provider)
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "external_ref"


def test_external_ref_is_scoped_to_the_provider(client: TestClient, token_for: Headers) -> None:
    body = signal_body(kind="energy")
    housing = send(client, token_for("housing_corporation"), body)
    energy = send(client, token_for("energy_supplier"), body)
    assert housing["id"] != energy["id"]


def test_batch_repeats_an_item_within_itself_as_a_duplicate(
    client: TestClient, provider: dict[str, str]
) -> None:
    body = signal_body()
    response = client.post("/v1/signals/batch", json={"signals": [body, body]}, headers=provider)
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert (first["outcome"], second["outcome"]) == ("created", "duplicate")
    assert first["signal"]["id"] == second["signal"]["id"]


def test_signals_about_one_household_join_one_case_and_make_it_multiple(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    address = {"postcode": "3014 GH", "house_number": "7", "house_number_addition": "b"}
    rent = send(client, token_for("housing_corporation"), signal_body(address=address))
    assert case_of(db_session, rent["case_id"]).composition is Composition.SINGLE
    same_address = {"postcode": "3014gh", "house_number": "007", "house_number_addition": "B"}
    energy = send(
        client, token_for("energy_supplier"), signal_body(kind="energy", address=same_address)
    )
    assert energy["case_id"] == rent["case_id"]
    assert case_of(db_session, rent["case_id"]).composition is Composition.MULTIPLE


def test_a_second_signal_of_the_same_provider_and_kind_keeps_the_case_single(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    address = {"postcode": "3015AA", "house_number": "3"}
    first = send(client, provider, signal_body(address=address))
    second = send(client, provider, signal_body(address=address))
    assert first["case_id"] == second["case_id"]
    assert case_of(db_session, first["case_id"]).composition is Composition.SINGLE


def test_other_addresses_get_other_cases(client: TestClient, provider: dict[str, str]) -> None:
    one = send(client, provider, signal_body(address={"postcode": "3016AA", "house_number": "1"}))
    two = send(client, provider, signal_body(address={"postcode": "3016AA", "house_number": "2"}))
    assert one["case_id"] != two["case_id"]


def test_a_signal_after_a_closed_case_opens_a_repeat_case(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    address = {"postcode": "3017AA", "house_number": "11"}
    first = send(client, provider, signal_body(address=address))
    with db_session() as session:
        session.execute(
            update(Case).where(Case.id == uuid.UUID(first["case_id"])).values(status="closed")
        )
    second = send(client, provider, signal_body(address=address))
    assert second["case_id"] != first["case_id"]
    assert case_of(db_session, second["case_id"]).composition is Composition.REPEAT


def test_a_signal_after_the_link_window_opens_a_new_repeat_case(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    address = {"postcode": "3018AA", "house_number": "12"}
    first = send(client, provider, signal_body(address=address))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=200)
    with db_session() as session:
        session.execute(
            update(Case)
            .where(Case.id == uuid.UUID(first["case_id"]))
            .values(last_signal_at=long_ago, opened_at=long_ago)
        )
    second = send(client, provider, signal_body(address=address))
    assert second["case_id"] != first["case_id"]
    # The earlier case's last signal lies 200 days back: outside the 183-day repeat window.
    assert case_of(db_session, second["case_id"]).composition is Composition.SINGLE


def test_one_person_written_three_ways_without_bsn_is_one_subject(
    client: TestClient, provider: dict[str, str], db_session: Any
) -> None:
    spellings = [
        {"bsn": None, "initials": "A.", "surname_prefix": "van", "surname": "Dijk"},
        {"bsn": None, "initials": "a", "surname_prefix": None, "surname": "Dijk, van"},
        {"bsn": None, "initials": "A.J.", "surname_prefix": None, "surname": "van Dïjk"},
    ]
    ids = [
        send(client, provider, signal_body(person={**p, "birth_date": "1985-06-15"}))["id"]
        for p in spellings
    ]
    subjects = {stored(db_session, signal_id).subject_id for signal_id in ids}
    assert len(subjects) == 1
    other = send(
        client,
        provider,
        signal_body(person={**spellings[0], "surname": "Dijkstra", "birth_date": "1985-06-15"}),
    )
    assert stored(db_session, other["id"]).subject_id not in subjects


def test_identity_is_stored_sealed_under_the_household_key(
    client: TestClient, provider: dict[str, str], broker: Broker, db_session: Any
) -> None:
    body = signal_body()
    created = send(client, provider, body)
    signal = stored(db_session, created["id"])
    with db_session() as session:
        household = session.get(Household, signal.household_id)
        assert household is not None
        data_key = envelope.unwrap_data_key(
            broker.keyring.kek.get(household.kek_id),
            household.wrapped_data_key,
            household.id.bytes,
        )
    identity = orjson.loads(envelope.open_sealed(data_key, signal.sealed_identity, signal.id.bytes))
    assert identity["person"]["bsn"] == body["person"]["bsn"]
    assert identity["contact"]["email"] == body["contact"]["email"]
    assert identity["amount_cents"] == body["amount_cents"]
    assert signal.amount_band == "500-1000"
    # Bound to its own row: the same ciphertext does not open as another signal's.
    with pytest.raises(InvalidTag):
        envelope.open_sealed(data_key, signal.sealed_identity, uuid.uuid4().bytes)


def test_provider_reads_status_of_its_own_signal(
    client: TestClient, provider: dict[str, str]
) -> None:
    created = send(client, provider, signal_body())
    read = client.get(f"/v1/signals/{created['id']}", headers=provider)
    assert read.status_code == 200
    answer = read.json()
    assert answer.pop("feedback") == {"status": "received", "collection_paused_until": None}
    assert answer == created
    assert set(answer) == {"id", "external_ref", "kind", "status", "case_id", "received_at"}
