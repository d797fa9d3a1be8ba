"""Bad input: every error is an RFC 9457 problem that names each field at fault by its path
with a plain message, nothing about a refused signal is stored, and a bad item in a batch
never affects the others. Authentication and authorisation are in ``test_auth.py``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

from exchange.api.app import create_app
from exchange.api.middleware import BodyLimit
from exchange.broker import Broker
from exchange.clock import today
from exchange.config import Settings
from exchange.signals.schemas import Contact
from tests.factories import (
    NOTHING_STORED,
    PROBLEM_JSON,
    errors_of,
    failing_bsn,
    generated_bsn,
    problem_of,
    signal_body,
    stored_counts,
)

Headers = dict[str, str]
DbSession = Callable[[], Any]
JSON = {"content-type": "application/json"}


def _days_ago(days: int) -> str:
    return (today() - dt.timedelta(days=days)).isoformat()


def _tomorrow() -> str:
    return (today() + dt.timedelta(days=1)).isoformat()


def _send(client: TestClient, headers: Headers, body: Any) -> Any:
    return client.post("/v1/signals", json=body, headers=headers)


def _raw(client: TestClient, path: str, headers: Headers, content: bytes) -> Any:
    return client.post(path, content=content, headers={**headers, **JSON})


def _padded(body: dict[str, Any], size: int) -> bytes:
    """The JSON of ``body`` followed by spaces (still valid JSON), exactly ``size`` bytes."""
    encoded = json.dumps(body).encode()
    assert len(encoded) <= size
    return encoded + b" " * (size - len(encoded))


# -- malformed JSON and wrong types -------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/signals", "/v1/signals/batch"])
@pytest.mark.parametrize(
    "content",
    [b"{bad", b'{"kind": "rent",}', b'{"kind": "re', b"{'kind': 'rent'}", b"]"],
    ids=["bare-word", "trailing-comma", "truncated", "single-quotes", "stray-bracket"],
)
def test_malformed_json_is_a_400_malformed_json_problem_and_stores_nothing(
    client: TestClient, provider: Headers, db_session: DbSession, path: str, content: bytes
) -> None:
    problem = problem_of(_raw(client, path, provider, content), 400, "malformed-json")
    assert problem["detail"] == "the body is not valid JSON"
    assert problem["instance"] == path
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"amount_cents": "98765"}, "amount_cents", "must be a whole number"),
        ({"amount_cents": 987.65}, "amount_cents", "must be a whole number"),
        ({"amount_cents": True}, "amount_cents", "must be a whole number"),
        ({"crisis": "yes"}, "crisis", "must be true or false"),
        ({"warm_handover": 1}, "warm_handover", "must be true or false"),
        ({"person": ["Q.", "Testsma"]}, "person", "must be an object"),
        ({"address": "Proefstraat 1, Rotterdam"}, "address", "must be an object"),
        ({"person": {"bsn": 123456782}}, "person.bsn", "must be a string"),
        ({"arrears_since": "two months ago"}, "arrears_since", "must be a date like 2026-09-01"),
        (
            {"preconditions": {"reminder_offered_transfer": "true"}},
            "preconditions.reminder_offered_transfer",
            "must be true or false",
        ),
        ({"contact": {"email": "not an address"}}, "contact.email", "must be an e-mail address"),
        ({"external_ref": "has spaces in it"}, "external_ref", None),
    ],
    ids=[
        "amount-as-string",
        "amount-as-float",
        "amount-as-bool",
        "crisis-yes",
        "warm-handover-1",
        "person-as-list",
        "address-as-string",
        "bsn-as-number",
        "date-as-words",
        "precondition-bool-as-string",
        "email",
        "external-ref",
    ],
)
def test_a_wrong_type_is_a_422_naming_the_field_by_its_path(
    client: TestClient,
    provider: Headers,
    db_session: DbSession,
    overrides: dict[str, Any],
    field: str,
    message: str | None,
) -> None:
    problem = problem_of(_send(client, provider, signal_body(**overrides)), 422, "invalid-input")
    [(reported_field, reported_message)] = errors_of(problem)
    assert reported_field == field
    if message is not None:
        assert reported_message == message
    assert problem["detail"] == f"{field} {reported_message}"
    assert stored_counts(db_session) == NOTHING_STORED


def test_every_field_at_fault_is_listed_not_only_the_first(
    client: TestClient, provider: Headers, db_session: DbSession
) -> None:
    body = signal_body(amount_cents="lots", crisis="yes", person={"bsn": failing_bsn()})
    problem = problem_of(_send(client, provider, body), 422, "invalid-input")
    assert sorted(errors_of(problem)) == [
        ("amount_cents", "must be a whole number"),
        ("crisis", "must be true or false"),
        ("person.bsn", "fails the 11-check"),
    ]
    assert problem["detail"].startswith("3 fields are invalid: ")
    assert stored_counts(db_session) == NOTHING_STORED


def test_a_missing_required_field_is_named(
    client: TestClient, provider: Headers, db_session: DbSession
) -> None:
    body = signal_body()
    del body["arrears_since"]
    del body["address"]["postcode"]
    problem = problem_of(_send(client, provider, body), 422, "invalid-input")
    assert sorted(errors_of(problem)) == [
        ("address.postcode", "is required"),
        ("arrears_since", "is required"),
    ]
    assert stored_counts(db_session) == NOTHING_STORED


def test_an_unknown_kind_is_a_422_listing_the_known_kinds(
    client: TestClient, provider: Headers, db_session: DbSession
) -> None:
    problem = problem_of(_send(client, provider, signal_body(kind="gas")), 422, "invalid-input")
    [(field, message)] = errors_of(problem)
    assert field == "kind"
    assert message.startswith("must be one of ")
    for kind in ("'rent'", "'energy'", "'water'", "'health_insurance'"):
        assert kind in message
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize(
    ("path", "overrides"),
    [
        ("colour", {"colour": "blue"}),
        ("person.nickname", {"person": {"nickname": "Q"}}),
        ("preconditions.court_order", {"preconditions": {"court_order": True}}),
    ],
)
def test_an_unknown_field_is_a_422_naming_it(
    client: TestClient,
    provider: Headers,
    db_session: DbSession,
    path: str,
    overrides: dict[str, Any],
) -> None:
    problem = problem_of(_send(client, provider, signal_body(**overrides)), 422, "invalid-input")
    assert errors_of(problem) == [(path, "is not a field of this object")]
    assert stored_counts(db_session) == NOTHING_STORED


# -- amounts, dates, BSN, postcode ---------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (0, "must be a positive number of cents"),
        (-1, "must be a positive number of cents"),
        (-98_765, "must be a positive number of cents"),
        (100_000_001, "is implausibly large (over one million euros)"),
        (10**30, "is implausibly large (over one million euros)"),
    ],
)
def test_a_negative_or_absurd_amount_is_a_422_on_amount_cents(
    client: TestClient, provider: Headers, db_session: DbSession, amount: int, message: str
) -> None:
    response = _send(client, provider, signal_body(amount_cents=amount))
    problem = problem_of(response, 422, "invalid-input")
    assert errors_of(problem) == [("amount_cents", message)]
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize("amount", [1, 100_000_000])
def test_amounts_from_one_cent_up_to_one_million_euros_are_accepted(
    client: TestClient, provider: Headers, amount: int
) -> None:
    response = _send(client, provider, signal_body(amount_cents=amount))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("field", "section", "key"),
    [
        ("arrears_since", None, "arrears_since"),
        ("person.birth_date", "person", "birth_date"),
        ("preconditions.contact_attempted_on", "preconditions", "contact_attempted_on"),
        ("preconditions.debt_help_offered_on", "preconditions", "debt_help_offered_on"),
        ("preconditions.reminder_sent_on", "preconditions", "reminder_sent_on"),
    ],
)
def test_a_date_in_the_future_is_a_422_on_that_date(
    client: TestClient,
    provider: Headers,
    db_session: DbSession,
    field: str,
    section: str | None,
    key: str,
) -> None:
    overrides: dict[str, Any] = (
        {key: _tomorrow()} if section is None else {section: {key: _tomorrow()}}
    )
    problem = problem_of(_send(client, provider, signal_body(**overrides)), 422, "invalid-input")
    assert errors_of(problem) == [(field, "lies in the future")]
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"arrears_since": "1999-12-31"}, "arrears_since", "must be after 2000"),
        ({"person": {"birth_date": "1899-12-31"}}, "person.birth_date", "must be after 1900"),
    ],
)
def test_an_implausibly_old_date_is_a_422_on_that_date(
    client: TestClient,
    provider: Headers,
    db_session: DbSession,
    overrides: dict[str, Any],
    field: str,
    message: str,
) -> None:
    problem = problem_of(_send(client, provider, signal_body(**overrides)), 422, "invalid-input")
    assert errors_of(problem) == [(field, message)]
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize("bsn", ["123456789", "000000000", failing_bsn(random.Random(599))])
def test_a_bsn_failing_the_11_check_is_a_422_on_person_bsn(
    client: TestClient, provider: Headers, db_session: DbSession, bsn: str
) -> None:
    response = _send(client, provider, signal_body(person={"bsn": bsn}))
    problem = problem_of(response, 422, "invalid-input")
    assert errors_of(problem) == [("person.bsn", "fails the 11-check")]
    assert problem["detail"] == "person.bsn fails the 11-check"
    assert problem["instance"] == "/v1/signals"
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize(
    "bsn",
    ["12345678", "1234567890", "12345678a", "", "１２３４５６７８２", "123 456 782"],
    ids=["8-digits", "10-digits", "letter", "empty", "full-width-digits", "spaced"],
)
def test_a_bsn_that_is_not_nine_digits_is_a_422_on_person_bsn(
    client: TestClient, provider: Headers, db_session: DbSession, bsn: str
) -> None:
    response = _send(client, provider, signal_body(person={"bsn": bsn}))
    problem = problem_of(response, 422, "invalid-input")
    assert errors_of(problem) == [("person.bsn", "must be 9 digits")]
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize("postcode", ["0123AB", "3012 Q", "3012QXX", "ABCD12", "30121", ""])
def test_an_invalid_postcode_is_a_422_on_address_postcode(
    client: TestClient, provider: Headers, db_session: DbSession, postcode: str
) -> None:
    response = _send(client, provider, signal_body(address={"postcode": postcode}))
    problem = problem_of(response, 422, "invalid-input")
    assert errors_of(problem) == [("address.postcode", "must be a Dutch postcode like 3011AB")]
    assert stored_counts(db_session) == NOTHING_STORED


def test_a_postcode_with_a_space_and_lower_case_letters_is_accepted(
    client: TestClient, provider: Headers
) -> None:
    response = _send(client, provider, signal_body(address={"postcode": "3012 qx"}))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("person", "missing"),
    [
        (
            {"bsn": None, "initials": None, "surname": None, "birth_date": None},
            "initials, surname, birth_date",
        ),
        ({"bsn": None, "birth_date": None}, "birth_date"),
        ({"bsn": None, "surname": ""}, "surname"),
    ],
)
def test_without_a_bsn_initials_surname_and_birth_date_are_required(
    client: TestClient,
    provider: Headers,
    db_session: DbSession,
    person: dict[str, Any],
    missing: str,
) -> None:
    response = _send(client, provider, signal_body(person=person))
    problem = problem_of(response, 422, "invalid-input")
    assert errors_of(problem) == [
        (
            "person",
            f"without a BSN the person needs initials, surname and birth_date (missing: {missing})",
        )
    ]
    assert stored_counts(db_session) == NOTHING_STORED


def test_without_a_bsn_a_person_with_initials_surname_and_birth_date_is_accepted(
    client: TestClient, provider: Headers
) -> None:
    response = _send(client, provider, signal_body(person={"bsn": None}))
    assert response.status_code == 201, response.text


# -- size limits ------------------------------------------------------------------------


def test_a_body_over_the_size_limit_is_a_413_problem_and_stores_nothing(
    client: TestClient, provider: Headers, settings: Settings, db_session: DbSession
) -> None:
    content = _padded(signal_body(), settings.max_body_bytes + 1)
    response = _raw(client, "/v1/signals", provider, content)
    problem = problem_of(response, 413, "payload-too-large")
    assert problem["detail"] == f"the body is larger than {settings.max_body_bytes} bytes"
    assert response.headers["x-request-id"]
    assert stored_counts(db_session) == NOTHING_STORED


def test_a_body_of_exactly_the_size_limit_is_accepted(
    client: TestClient, provider: Headers, settings: Settings
) -> None:
    content = _padded(signal_body(), settings.max_body_bytes)
    response = _raw(client, "/v1/signals", provider, content)
    assert response.status_code == 201, response.text


def _chunks(data: bytes, size: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize(("extra", "status"), [(1, 413), (-1000, 201)])
def test_a_chunked_body_is_held_to_the_same_size_limit(
    client: TestClient,
    provider: Headers,
    settings: Settings,
    db_session: DbSession,
    extra: int,
    status: int,
) -> None:
    content = _padded(signal_body(), settings.max_body_bytes + extra)
    request = client.build_request(
        "POST", "/v1/signals", content=_chunks(content), headers={**provider, **JSON}
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = client.send(request)
    if status == 413:
        problem_of(response, 413, "payload-too-large")
        assert stored_counts(db_session) == NOTHING_STORED
    else:
        assert response.status_code == 201, response.text


def test_the_body_limit_stops_reading_a_chunked_body_once_it_is_over_the_limit() -> None:
    """At the ASGI level: chunks arrive one message at a time, the app is never called."""
    limit, chunk = 10_000, b"x" * 1_000
    received: list[int] = []
    sent: list[Message] = []

    async def receive() -> Message:
        received.append(1)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not see a body over the limit")

    scope = {"type": "http", "method": "POST", "path": "/v1/signals", "headers": []}
    asyncio.run(BodyLimit(app, lambda _path: limit)(scope, receive, send))
    assert len(received) == limit // len(chunk) + 1
    assert sent[0]["status"] == 413
    assert dict(sent[0]["headers"])[b"content-type"] == PROBLEM_JSON.encode()
    assert json.loads(sent[1]["body"])["status"] == 413


def test_the_body_limit_hands_a_chunked_body_under_the_limit_on_whole() -> None:
    parts = [b'{"a": ', b"1", b"}"]
    messages: list[Message] = [
        {"type": "http.request", "body": part, "more_body": index < len(parts) - 1}
        for index, part in enumerate(parts)
    ]
    seen: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        return None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())

    scope = {"type": "http", "method": "POST", "path": "/v1/signals", "headers": []}
    asyncio.run(BodyLimit(app, lambda _path: 64)(scope, receive, send))
    assert seen == [{"type": "http.request", "body": b'{"a": 1}', "more_body": False}]


def test_a_batch_body_may_exceed_the_single_signal_limit(
    client: TestClient, provider: Headers, settings: Settings
) -> None:
    signals = [signal_body() for _ in range(100)]
    content = json.dumps({"signals": signals}).encode()
    assert len(content) > settings.max_body_bytes
    response = _raw(client, "/v1/signals/batch", provider, content)
    assert response.status_code == 200, response.text
    assert response.json()["summary"] == {"created": 100, "duplicate": 0, "rejected": 0}


def test_a_batch_body_over_the_batch_limit_is_a_413_problem(
    client: TestClient, provider: Headers, settings: Settings
) -> None:
    content = _padded({"signals": []}, settings.max_batch_body_bytes + 1)
    response = _raw(client, "/v1/signals/batch", provider, content)
    problem = problem_of(response, 413, "payload-too-large")
    assert problem["detail"] == f"the body is larger than {settings.max_batch_body_bytes} bytes"


# -- batch shape ------------------------------------------------------------------------


def test_a_batch_over_10000_signals_is_a_422_naming_signals_and_stores_nothing(
    client: TestClient, provider: Headers, settings: Settings, db_session: DbSession
) -> None:
    assert settings.max_batch_items == 10_000
    # Valid signals would be stored if the limit were not checked first.
    signals = [signal_body()] * 10_001
    response = client.post("/v1/signals/batch", json={"signals": signals}, headers=provider)
    problem = problem_of(response, 422, "invalid-input")
    assert errors_of(problem) == [("signals", "at most 10000 signals per batch; split the batch")]
    assert problem["detail"] == "a batch holds at most 10000 signals; this one has 10001"
    assert stored_counts(db_session) == NOTHING_STORED


def test_a_batch_of_exactly_10000_signals_is_answered_item_by_item(
    client: TestClient, provider: Headers
) -> None:
    response = client.post("/v1/signals/batch", json={"signals": [0] * 10_000}, headers=provider)
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert body["summary"] == {"created": 0, "duplicate": 0, "rejected": 10_000}
    assert [r["index"] for r in body["results"]] == list(range(10_000))


@pytest.mark.parametrize(
    "content",
    [
        b'"hello"',
        b"42",
        b"true",
        b"null",
        b'{"signals": "all of them"}',
        b'{"signals": {}}',
        b'{"signals": null}',
        b'{"items": []}',
    ],
)
def test_a_batch_body_that_is_not_a_list_of_signals_is_a_422_naming_signals(
    client: TestClient, provider: Headers, content: bytes
) -> None:
    response = _raw(client, "/v1/signals/batch", provider, content)
    problem = problem_of(response, 422, "invalid-input")
    assert errors_of(problem) == [("signals", "must be a list of signals")]


@pytest.mark.parametrize("path", ["/v1/signals", "/v1/signals/batch"])
def test_a_request_without_a_body_is_a_422_body_is_required(
    client: TestClient, provider: Headers, path: str
) -> None:
    problem = problem_of(_raw(client, path, provider, b""), 422, "invalid-input")
    assert errors_of(problem) == [("body", "is required")]


def test_an_empty_batch_is_answered_with_no_results(client: TestClient, provider: Headers) -> None:
    response = client.post("/v1/signals/batch", json={"signals": []}, headers=provider)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "summary": {"created": 0, "duplicate": 0, "rejected": 0},
        "results": [],
    }


# -- eligibility (policies/documents/intake.yaml) ------------------------------------------


def test_a_refused_tenant_is_a_422_subject_refused_and_nothing_is_stored(
    client: TestClient, provider: Headers, db_session: DbSession
) -> None:
    body = signal_body(preconditions={"subject_refused": True})
    problem = problem_of(_send(client, provider, body), 422, "subject-refused")
    assert [field for field, _ in errors_of(problem)] == ["preconditions.subject_refused"]
    assert "nothing was stored" in problem["detail"]
    assert stored_counts(db_session) == NOTHING_STORED
    # A refusal is not a typo: the same signal again is refused again, not a duplicate.
    again = problem_of(_send(client, provider, body), 422, "subject-refused")
    assert errors_of(again) == errors_of(problem)
    assert stored_counts(db_session) == NOTHING_STORED


def test_a_refusal_overrides_every_other_eligibility_failure(
    client: TestClient, token_for: Callable[[str], Headers], db_session: DbSession
) -> None:
    body = signal_body(
        kind="energy",
        arrears_since=_days_ago(3),
        preconditions={"subject_refused": True, "reminder_offered_transfer": False},
    )
    response = _send(client, token_for("energy_supplier"), body)
    problem = problem_of(response, 422, "subject-refused")
    assert [field for field, _ in errors_of(problem)] == ["preconditions.subject_refused"]
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize(
    ("precondition", "missing_value"),
    [
        ("contact_attempted_on", None),
        ("debt_help_offered_on", None),
        ("reminder_sent_on", None),
        ("reminder_offered_transfer", False),
    ],
)
def test_rent_without_one_besluit_art_2_condition_is_a_422_naming_that_precondition(
    client: TestClient,
    provider: Headers,
    db_session: DbSession,
    precondition: str,
    missing_value: Any,
) -> None:
    body = signal_body(preconditions={precondition: missing_value})
    problem = problem_of(_send(client, provider, body), 422, "signal-not-eligible")
    [(field, message)] = errors_of(problem)
    assert field == f"preconditions.{precondition}"
    assert message.startswith("required for a rent signal: ")
    assert "intake.rent" in problem["detail"]
    assert stored_counts(db_session) == NOTHING_STORED


def test_rent_without_any_precondition_names_all_four(
    client: TestClient, provider: Headers, db_session: DbSession
) -> None:
    body = signal_body()  # not signal_body(preconditions={}): that merges with the defaults
    body["preconditions"] = {}
    problem = problem_of(_send(client, provider, body), 422, "signal-not-eligible")
    assert sorted(field for field, _ in errors_of(problem)) == [
        "preconditions.contact_attempted_on",
        "preconditions.debt_help_offered_on",
        "preconditions.reminder_offered_transfer",
        "preconditions.reminder_sent_on",
    ]
    assert stored_counts(db_session) == NOTHING_STORED


def test_fewer_than_30_days_in_arrears_is_a_422_on_arrears_since(
    client: TestClient, provider: Headers, db_session: DbSession
) -> None:
    body = signal_body(arrears_since=_days_ago(29))
    problem = problem_of(_send(client, provider, body), 422, "signal-not-eligible")
    assert errors_of(problem) == [
        ("arrears_since", "29 days in arrears; a rent signal needs at least 30")
    ]
    assert stored_counts(db_session) == NOTHING_STORED


def test_exactly_30_days_in_arrears_is_accepted(client: TestClient, provider: Headers) -> None:
    response = _send(client, provider, signal_body(arrears_since=_days_ago(30)))
    assert response.status_code == 201, response.text


def test_an_energy_signal_needs_none_of_the_rent_preconditions(
    client: TestClient, token_for: Callable[[str], Headers]
) -> None:
    body = signal_body(kind="energy")
    body["preconditions"] = {}
    response = _send(client, token_for("energy_supplier"), body)
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "energy"


def test_an_energy_signal_still_needs_30_days_in_arrears(
    client: TestClient, token_for: Callable[[str], Headers], db_session: DbSession
) -> None:
    body = signal_body(kind="energy", arrears_since=_days_ago(10))
    body["preconditions"] = {}
    problem = problem_of(
        _send(client, token_for("energy_supplier"), body), 422, "signal-not-eligible"
    )
    [(field, message)] = errors_of(problem)
    assert field == "arrears_since"
    assert message.startswith("10 days in arrears; ")
    assert message.endswith("energy signal needs at least 30")
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize("postcode", ["9999ZZ", "3100AA", "2999ZZ"])
def test_an_address_no_municipality_covers_is_a_422_on_address_postcode(
    client: TestClient, provider: Headers, db_session: DbSession, postcode: str
) -> None:
    response = _send(client, provider, signal_body(address={"postcode": postcode}))
    problem = problem_of(response, 422, "no-covering-municipality")
    assert errors_of(problem) == [("address.postcode", "no municipality covers this postcode")]
    assert stored_counts(db_session) == NOTHING_STORED


@pytest.mark.parametrize("postcode", ["3000AA", "3099ZZ"])
def test_an_address_at_the_edge_of_rotterdam_is_routed(
    client: TestClient, provider: Headers, postcode: str
) -> None:
    response = _send(client, provider, signal_body(address={"postcode": postcode}))
    assert response.status_code == 201, response.text


# -- a bad item in a batch never affects the others --------------------------------------


def test_every_batch_item_gets_its_own_result_and_only_the_valid_ones_are_stored(
    client: TestClient, provider: Headers, db_session: DbSession
) -> None:
    first = signal_body()
    bad_bsn = signal_body(person={"bsn": failing_bsn()})
    refused = signal_body(preconditions={"subject_refused": True})
    changed = {**first, "amount_cents": first["amount_cents"] + 1}
    second = signal_body()
    items: list[Any] = [first, 42, bad_bsn, refused, dict(first), changed, second, dict(refused)]

    response = client.post("/v1/signals/batch", json={"signals": items}, headers=provider)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    results = body["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [(r["outcome"], r["status"]) for r in results] == [
        ("created", 201),
        ("rejected", 422),
        ("rejected", 422),
        ("rejected", 422),
        ("duplicate", 200),
        ("rejected", 409),
        ("created", 201),
        ("rejected", 422),
    ]
    assert [r["external_ref"] for r in results] == [
        first["external_ref"],
        None,
        bad_bsn["external_ref"],
        refused["external_ref"],
        first["external_ref"],
        first["external_ref"],
        second["external_ref"],
        refused["external_ref"],
    ]
    assert body["summary"] == {"created": 2, "duplicate": 1, "rejected": 5}

    # Each rejection carries its own problem, with fields relative to the item.
    for result in results:
        assert (result["problem"] is None) == (result["outcome"] != "rejected")
        assert (result["signal"] is None) == (result["outcome"] == "rejected")
    not_an_object = results[1]["problem"]
    assert not_an_object["status"] == 422
    assert errors_of(not_an_object) == [("signals[1]", "must be an object")]
    assert errors_of(results[2]["problem"]) == [("person.bsn", "fails the 11-check")]
    assert results[3]["problem"]["type"].endswith("/subject-refused")
    assert results[7]["problem"]["type"].endswith("/subject-refused")
    assert results[5]["problem"]["type"].endswith("/conflict")
    assert errors_of(results[5]["problem"]) == [
        ("external_ref", "already used for a different signal")
    ]

    # The duplicate points at the signal its first created; the valid ones are readable.
    created = results[0]["signal"]
    assert results[4]["signal"]["id"] == created["id"]
    for result in (results[0], results[6]):
        read = client.get(f"/v1/signals/{result['signal']['id']}", headers=provider)
        assert read.status_code == 200, read.text
        # Reading back adds the feedback the provider may see; the rest is the same.
        answer = read.json()
        feedback = answer.pop("feedback")
        assert answer == result["signal"]
        assert feedback == {"status": "received", "collection_paused_until": None}
    assert stored_counts(db_session)["signals"] == 2


def test_a_batch_item_fails_exactly_as_it_would_alone(
    client: TestClient, provider: Headers
) -> None:
    bad = signal_body(person={"bsn": failing_bsn()}, crisis="yes")
    alone = problem_of(_send(client, provider, bad), 422, "invalid-input")
    response = client.post(
        "/v1/signals/batch", json={"signals": [signal_body(), bad]}, headers=provider
    )
    in_batch = response.json()["results"][1]["problem"]
    alone.pop("instance")
    assert in_batch == alone


def test_sending_a_mixed_batch_again_changes_nothing(
    client: TestClient, provider: Headers, db_session: DbSession
) -> None:
    items: list[Any] = [
        signal_body(),
        signal_body(person={"bsn": failing_bsn()}),
        signal_body(preconditions={"subject_refused": True}),
        signal_body(),
    ]
    once = client.post("/v1/signals/batch", json={"signals": items}, headers=provider).json()
    counts = stored_counts(db_session)
    twice = client.post("/v1/signals/batch", json={"signals": items}, headers=provider).json()
    assert once["summary"] == {"created": 2, "duplicate": 0, "rejected": 2}
    assert twice["summary"] == {"created": 0, "duplicate": 2, "rejected": 2}
    for first, second in zip(once["results"], twice["results"], strict=True):
        if first["outcome"] == "created":
            assert second["outcome"] == "duplicate"
            assert second["signal"] == first["signal"]
        else:
            assert second == first
    assert stored_counts(db_session) == counts


# -- nothing a client sends is a 500 ------------------------------------------------------


def _nasty_bodies() -> list[tuple[str, bytes]]:
    valid = signal_body()
    every_field_wrong = {
        "external_ref": ["x"],
        "kind": 7,
        "amount_cents": {"euros": 3},
        "arrears_since": 20260101,
        "crisis": None,
        "warm_handover": [],
        "person": "Q. Testsma",
        "address": 3012,
        "contact": [],
        "preconditions": "yes",
    }
    unicode_person = signal_body(
        person={
            "bsn": None,
            "initials": "Ö.",
            "surname_prefix": "ʼt",
            "surname": "Dïjk 🏠 \u200b\u202e\u0000",
            "birth_date": "1980-02-29",
        },
        address={"street": "Straße 😀", "city": "\u202eRotterdam"},
    )
    roman_addition = signal_body(address={"house_number_addition": "Ⅳ"})
    return [
        ("null", b"null"),
        ("empty-list", b"[]"),
        ("empty-string", b'""'),
        ("empty-body", b""),
        ("zero", b"0"),
        ("true", b"true"),
        ("empty-object", b"{}"),
        ("person-null", b'{"person": null}'),
        ("every-field-wrong", json.dumps(every_field_wrong).encode()),
        ("nested-junk", b'{"person": ' + b"[" * 900 + b"]" * 900 + b"}"),
        ("too-deep-for-the-parser", b"[" * 60_000),
        ("huge-string", json.dumps({**valid, "external_ref": "R" * 60_000}).encode()),
        ("huge-surname", json.dumps(signal_body(person={"surname": "Q" * 60_000})).encode()),
        ("huge-key", json.dumps({"k" * 60_000: 1}).encode()),
        ("huge-integer", b'{"amount_cents": ' + b"9" * 5_000 + b"}"),
        ("big-integer", json.dumps(signal_body(amount_cents=10**300)).encode()),
        ("nan", json.dumps(signal_body(amount_cents=float("nan"))).encode()),
        ("infinity", json.dumps(signal_body(amount_cents=float("inf"))).encode()),
        ("float-house-number", json.dumps(signal_body(address={"house_number": 1e10})).encode()),
        ("nul-key", json.dumps({**valid, "\u0000": 1}).encode()),
        ("lone-surrogate", json.dumps(signal_body(person={"surname": "\ud800"})).encode()),
        ("unicode-person", json.dumps(unicode_person, ensure_ascii=False).encode()),
        ("roman-numeral-addition", json.dumps(roman_addition, ensure_ascii=False).encode()),
        ("full-width-bsn", json.dumps(signal_body(person={"bsn": "１２３４５６７８２"})).encode()),
        ("not-utf8", b'{"kind": "\xff\xfe"}'),
        ("utf8-bom", b"\xef\xbb\xbf" + json.dumps(signal_body()).encode()),
        ("duplicate-keys", b'{"kind": "rent", "kind": "gas"}'),
    ]


@pytest.mark.parametrize("path", ["/v1/signals", "/v1/signals/batch"])
def test_nothing_a_client_sends_is_a_500(client: TestClient, provider: Headers, path: str) -> None:
    # The test client re-raises a server error, so a 500 fails here with its traceback.
    answered = []
    for name, content in _nasty_bodies():
        for body in (content, b'{"signals": [' + content + b"]}"):
            response = _raw(client, path, provider, body)
            assert response.status_code < 500, (name, response.text)
            if response.status_code >= 400:
                assert response.headers["content-type"] == PROBLEM_JSON, name
                assert response.json()["status"] == response.status_code, name
            answered.append((name, response.status_code))
    assert len(answered) == 2 * len(_nasty_bodies())


def test_an_unexpected_error_is_a_500_problem_that_quotes_nothing_and_keeps_the_request_id(
    broker: Broker,
) -> None:
    app = create_app(broker=broker)

    @app.get("/explode")
    def explode() -> None:
        raise RuntimeError("person.bsn 123456782 broke something")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode", headers={"X-Request-ID": "test-request-0001"})
    problem = problem_of(response, 500, "internal-error")
    assert "123456782" not in response.text
    assert problem["detail"] == "the broker failed to handle this request; it was not stored"
    assert response.headers["x-request-id"] == "test-request-0001"


def test_an_overlong_email_address_is_refused_before_any_pattern_runs() -> None:
    """A 30 KB address of dots used to make the e-mail pattern backtrack for seconds; the
    length limit (RFC 5321: 254 characters) now answers first, whatever the content."""
    for email in ("a@" + "." * 30_000 + "@", "x" * 250 + "@example.test"):
        with pytest.raises(ValidationError) as raised:
            Contact(email=email)
        assert "at most 254 characters" in str(raised.value)


def test_a_valid_generated_bsn_is_accepted(client: TestClient, provider: Headers) -> None:
    """The control for the BSN tests: the factory's BSNs pass the 11-check."""
    response = _send(client, provider, signal_body(person={"bsn": generated_bsn()}))
    assert response.status_code == 201, response.text
