"""Numbers, dates and text outside what the database and Python hold are a 422 naming the
field and the bound, on both backends; a validly signed token for an organisation that is
not registered is a 401. Each of these was a 500 (or, for NUL on SQLite, stored as sent)."""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt

from exchange.auth.tokens import AUDIENCE
from exchange.broker import Broker
from exchange.clock import today
from exchange.demo import DemoOrganisation
from exchange.errors import InvalidInput
from exchange.fields import MAX_BIGINT
from exchange.reports.period import Period, period
from tests.conftest import ISSUER
from tests.factories import errors_of, generated_bsn, problem_of, signal_body
from tests.test_schemathesis import permitted_kinds

Headers = Callable[[str], dict[str, str]]
World = dict[str, DemoOrganisation]
NUL = "\x00"
NUL_MESSAGE = "must not contain a NUL character (U+0000)"
TOO_BIG = f"Input should be less than or equal to {MAX_BIGINT}"


# -- numbers past 64 bits --------------------------------------------------------------------


@pytest.mark.parametrize("offset", [2**63, 2**64, 10**30])
def test_an_offset_past_64_bits_is_a_422_naming_offset_and_the_bound(
    client: TestClient, token_for: Headers, offset: int
) -> None:
    response = client.get(f"/v1/cases?offset={offset}", headers=token_for("municipality"))
    assert errors_of(problem_of(response, 422, "invalid-input")) == [("offset", TOO_BIG)]


def test_the_largest_offset_the_database_holds_is_an_empty_page(
    client: TestClient, token_for: Headers
) -> None:
    response = client.get(f"/v1/cases?offset={MAX_BIGINT}", headers=token_for("municipality"))
    assert response.status_code == 200, response.text
    assert response.json()["offset"] == MAX_BIGINT


@pytest.mark.parametrize("after", [2**63, 2**64])
def test_an_audit_cursor_past_64_bits_is_a_422_naming_after(
    client: TestClient, token_for: Headers, after: int
) -> None:
    officer = token_for("privacy_officer")
    listed = client.get(f"/v1/audit/entries?after={after}", headers=officer)
    assert errors_of(problem_of(listed, 422, "invalid-input")) == [("after", TOO_BIG)]
    searched = client.post(
        "/v1/audit/entries/search",
        json={"person": {"bsn": generated_bsn()}, "after": after},
        headers=officer,
    )
    assert errors_of(problem_of(searched, 422, "invalid-input")) == [("after", TOO_BIG)]


def test_the_largest_audit_cursor_is_an_empty_page(client: TestClient, token_for: Headers) -> None:
    response = client.get(
        f"/v1/audit/entries?after={MAX_BIGINT}", headers=token_for("privacy_officer")
    )
    assert response.status_code == 200, response.text
    assert response.json()["entries"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("leaf_index=9223372036854775808&tree_size=1", "leaf_index"),
        ("leaf_index=0&tree_size=9223372036854775808", "tree_size"),
    ],
)
def test_a_proof_size_past_64_bits_is_a_422_naming_it(
    client: TestClient, token_for: Headers, query: str, field: str
) -> None:
    response = client.get(
        f"/v1/audit/proofs/inclusion?{query}", headers=token_for("privacy_officer")
    )
    assert errors_of(problem_of(response, 422, "invalid-input")) == [(field, TOO_BIG)]


# -- instants and days outside the window ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0001-01-01T00:00:00+01:00", "must be after 2000"),
        ("9999-12-31T23:59:59-01:00", "must be before 2100"),
        ("1999-12-31T23:30:00-01:00", None),  # 2000-01-01 in UTC: inside
        ("2099-12-31T23:30:00-01:00", "must be before 2100"),  # 2100 in UTC
        ("2026-09-01T12:00:00", "must have a UTC offset, like 2026-09-01T12:00:00Z"),
    ],
)
@pytest.mark.parametrize("name", ["since", "until"])
def test_an_audit_search_instant_outside_the_window_is_a_422_naming_it(
    client: TestClient, token_for: Headers, name: str, value: str, message: str | None
) -> None:
    officer = token_for("privacy_officer")
    listed = client.get("/v1/audit/entries", params={name: value}, headers=officer)
    searched = client.post(
        "/v1/audit/entries/search",
        json={"person": {"bsn": generated_bsn()}, name: value},
        headers=officer,
    )
    for response in (listed, searched):
        if message is None:
            assert response.status_code == 200, response.text
        else:
            assert errors_of(problem_of(response, 422, "invalid-input")) == [(name, message)]


FROM_EARLY = ("from", "must be after 2000")
TO_EARLY = ("to", "must be after 2000")
FROM_LATE = ("from", "must be before 2100")
TO_LATE = ("to", "must be before 2100")


@pytest.mark.parametrize(
    ("start", "end", "errors"),
    [
        ("0001-01-01", "0001-01-02", [FROM_EARLY, TO_EARLY]),
        ("1999-12-31", "2000-01-31", [FROM_EARLY]),
        ("9999-12-30", "9999-12-31", [FROM_LATE, TO_LATE]),
        ("2099-12-01", "2100-01-01", [TO_LATE]),
    ],
)
@pytest.mark.parametrize("path", ["/v1/reports/overview", "/v1/reports/ddas"])
def test_a_report_period_outside_the_window_is_a_422_naming_the_day(
    client: TestClient,
    token_for: Headers,
    path: str,
    start: str,
    end: str,
    errors: list[tuple[str, str]],
) -> None:
    query = {"municipality": "0599", "from": start, "to": end}
    response = client.get(path, params=query, headers=token_for("municipality"))
    assert errors_of(problem_of(response, 422, "invalid-input")) == errors


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [(dt.date(1, 1, 1), dt.date(1, 1, 2), "from"), (dt.date(9999, 12, 30), dt.date.max, "from")],
)
def test_a_period_outside_the_window_is_refused_before_any_midnight_is_computed(
    start: dt.date, end: dt.date, field: str
) -> None:
    """The command line (``exchange report ddas``) reaches ``period`` without the API's check."""
    with pytest.raises(InvalidInput) as refused:
        _midnights(period(start, end))
    assert [e.field for e in refused.value.errors] == [field]


def _midnights(checked: Period) -> tuple[dt.datetime, dt.datetime]:
    # Where the overflow was: the UTC instants of the period's first and last midnight.
    return checked.first_instant, checked.after_last_instant


def test_the_first_and_last_day_of_the_window_make_a_period() -> None:
    assert period(dt.date(2000, 1, 1), dt.date(2000, 1, 1)).first_instant.year == 1999
    assert period(dt.date(2099, 12, 31), dt.date(2099, 12, 31)).after_last_instant.year == 2099


def _rent_signal(**preconditions: str) -> dict[str, Any]:
    return signal_body(preconditions=preconditions)


@pytest.mark.parametrize(
    "field", ["contact_attempted_on", "debt_help_offered_on", "reminder_sent_on"]
)
def test_a_precondition_in_year_1_is_a_422_naming_it(
    client: TestClient, provider: dict[str, str], field: str
) -> None:
    response = client.post(
        "/v1/signals", json=_rent_signal(**{field: "0001-01-01"}), headers=provider
    )
    problem = problem_of(response, 422, "invalid-input")
    assert errors_of(problem) == [(f"preconditions.{field}", "must be after 2000")]


def _consent(world: World, **overrides: Any) -> dict[str, Any]:
    body = {
        "person": {"bsn": generated_bsn()},
        "purposes": ["debt-service-referral"],
        "recipients": [world["debt_service"].id],
        "collection_method": "in_person",
        "notice_version": "2026-01",
        "valid_until": (today() + dt.timedelta(days=180)).isoformat(),
    }
    return {**body, **overrides}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"valid_from": "0001-01-01"}, "valid_from", "must be after 2000"),
        ({"valid_until": "9999-12-31"}, "valid_until", "must be before 2100"),
        ({"valid_from": "9999-12-30", "valid_until": None}, "valid_from", "must be before 2100"),
    ],
)
def test_a_consent_day_outside_the_window_is_a_422_naming_it(
    client: TestClient,
    token_for: Headers,
    world: World,
    overrides: dict[str, Any],
    field: str,
    message: str,
) -> None:
    body = {k: v for k, v in _consent(world, **overrides).items() if v is not None}
    response = client.post("/v1/consents", json=body, headers=token_for("municipality"))
    assert errors_of(problem_of(response, 422, "invalid-input")) == [(field, message)]


def test_a_withdrawal_in_year_1_is_a_422_naming_effective_on(
    client: TestClient, token_for: Headers, world: World
) -> None:
    municipality = token_for("municipality")
    given = client.post("/v1/consents", json=_consent(world), headers=municipality)
    assert given.status_code == 201, given.text
    response = client.post(
        f"/v1/consents/{given.json()['id']}/withdrawal",
        json={"effective_on": "0001-01-01"},
        headers=municipality,
    )
    assert errors_of(problem_of(response, 422, "invalid-input")) == [
        ("effective_on", "must be after 2000")
    ]


def test_a_contact_attempt_in_year_9999_names_the_window(
    client: TestClient, token_for: Headers, provider: dict[str, str]
) -> None:
    sent = client.post("/v1/signals", json=signal_body(), headers=provider)
    assert sent.status_code == 201, sent.text
    response = client.post(
        f"/v1/cases/{sent.json()['case_id']}/contact-attempts",
        json={"channel": "phone", "date": "9999-12-31", "reached": False},
        headers=token_for("municipality"),
    )
    assert errors_of(problem_of(response, 422, "invalid-input")) == [
        ("date", "must be before 2100")
    ]


# -- text with NUL ---------------------------------------------------------------------------


def test_a_nul_in_a_consent_notice_version_is_a_422_and_nothing_is_stored(
    client: TestClient, token_for: Headers, world: World
) -> None:
    municipality = token_for("municipality")
    response = client.post(
        "/v1/consents", json=_consent(world, notice_version=f"2026{NUL}01"), headers=municipality
    )
    assert errors_of(problem_of(response, 422, "invalid-input")) == [
        ("notice_version", NUL_MESSAGE)
    ]
    assert client.get("/v1/consents", headers=municipality).json()["consents"] == []


@pytest.mark.parametrize(
    ("path", "kind", "name"),
    [
        ("/v1/cases", "municipality", "age_band"),
        ("/v1/consents", "municipality", "purpose"),
        ("/v1/audit/entries", "privacy_officer", "action"),
        ("/v1/audit/entries", "privacy_officer", "purpose"),
        ("/v1/audit/entries", "privacy_officer", "subject"),
    ],
)
def test_a_nul_in_a_query_parameter_is_a_422_naming_it(
    client: TestClient, token_for: Headers, path: str, kind: str, name: str
) -> None:
    response = client.get(path, params={name: f"x{NUL}y"}, headers=token_for(kind))
    problem = problem_of(response, 422, "invalid-input")
    assert [field for field, _ in errors_of(problem)] in ([name], [f"{name}[0]"])
    assert {message for _, message in errors_of(problem)} == {NUL_MESSAGE}


@pytest.mark.parametrize("name", ["action", "purpose"])
def test_a_nul_in_an_audit_search_is_a_422_naming_it(
    client: TestClient, token_for: Headers, name: str
) -> None:
    response = client.post(
        "/v1/audit/entries/search",
        json={"person": {"bsn": generated_bsn()}, name: f"consent.give{NUL}"},
        headers=token_for("privacy_officer"),
    )
    assert errors_of(problem_of(response, 422, "invalid-input")) == [(name, NUL_MESSAGE)]


def test_every_text_field_of_every_json_body_refuses_a_nul(
    client: TestClient, token_for: Headers
) -> None:
    """Each body holds NUL in every text field it has (nested ones too); the 422 must name
    each of them. A new text field that forgets ``Text`` fails here."""
    document = client.get("/openapi.json").json()
    kinds = permitted_kinds(client.app)
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content or path == "/v1/signals/batch":
                continue  # the batch holds SignalIn items, checked on /v1/signals
            body, fields = _nul_everywhere(content["application/json"]["schema"], document)
            if not fields:
                continue
            kind = sorted(kinds[(method.upper(), path)])[0]
            url = path.replace("{", "").replace("}", "")  # any id: validation comes first
            for name in ("case_id", "consent_id", "signal_id"):
                url = url.replace(name, str(uuid.uuid4()))
            response = client.request(method, url, json=body, headers=token_for(kind))
            problem = problem_of(response, 422, "invalid-input")
            # A list of text is named as a whole (``purposes``), or by its item.
            named = {_unindexed(field) for field, _ in errors_of(problem)}
            wanted = {_unindexed(field) for field in fields}
            assert wanted <= named, (method, path, sorted(wanted - named))
            checked += len(fields)
    assert checked > 30


def _nul_everywhere(schema: dict[str, Any], document: dict[str, Any]) -> tuple[Any, list[str]]:
    """A value for ``schema`` with NUL in every free-text string, and the paths of those
    strings as the problem details name them (``person.surname``, ``purposes[0]``)."""
    schema = _resolved(schema, document)
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if options:
        return _nul_everywhere(options[0], document)
    if schema.get("type") == "object":
        body: dict[str, Any] = {}
        fields: list[str] = []
        for name, member in schema.get("properties", {}).items():
            value, inner = _nul_everywhere(member, document)
            if value is not None:
                body[name] = value
                fields.extend(_joined(name, f) for f in inner)
        return body, fields
    if schema.get("type") == "array":
        value, inner = _nul_everywhere(schema["items"], document)
        if value is None:
            return None, []
        return [value], [_joined("[0]", f) for f in inner]
    if schema.get("type") == "string" and "enum" not in schema and "format" not in schema:
        return f"abcdef{NUL}", [""]
    return None, []


def _unindexed(path: str) -> str:
    return re.sub(r"\[0\]$", "", path)


def _joined(head: str, tail: str) -> str:
    if not tail:
        return head
    return f"{head}{tail}" if tail.startswith("[") else f"{head}.{tail}"


def _resolved(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


# -- tokens for organisations that are not registered ----------------------------------------


def _token_for_unregistered(broker: Broker, world: World, kind: str, scope: str) -> str:
    """A token as the broker signs them, for an organisation id no one registered."""
    now = int(time.time())
    key = broker.keyring.signing_key()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": world[kind].client_id,
        "client_id": world[kind].client_id,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "scope": scope,
        "org": str(uuid.uuid4()),
        "org_kind": kind,
    }
    return jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, claims, key)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/consents", "consent"),
        ("POST", "/v1/objections", "objection"),
        ("GET", "/v1/consents", None),
        ("GET", "/v1/policies/active", None),
    ],
)
def test_a_signed_token_for_an_unregistered_organisation_is_a_401(
    client: TestClient,
    broker: Broker,
    world: World,
    method: str,
    path: str,
    body: str | None,
) -> None:
    token = _token_for_unregistered(
        broker, world, "municipality", "cases:read cases:write consents:read consents:write"
    )
    json = {
        "consent": _consent(world),
        "objection": {
            "person": {"bsn": generated_bsn()},
            "purposes": ["debt-service-referral"],
        },
        None: None,
    }[body]
    response = client.request(method, path, json=json, headers={"Authorization": f"Bearer {token}"})
    problem = problem_of(response, 401, "unauthenticated")
    assert problem["detail"] == "the token's organisation is not registered"
    assert response.headers["www-authenticate"].startswith("Bearer ")


def test_a_signed_token_naming_another_kind_than_registered_is_a_401(
    client: TestClient, broker: Broker, world: World
) -> None:
    token = _token_for_unregistered(broker, world, "housing_corporation", "signals:write")
    forged = jwt.decode(token, broker.keyring.signing_key()).claims
    # The real municipality, claimed to be a housing corporation.
    forged.update(org=world["municipality"].id)
    key = broker.keyring.signing_key()
    token = jwt.encode({"alg": "ES256", "typ": "at+jwt", "kid": key.kid}, forged, key)
    response = client.post(
        "/v1/signals", json=signal_body(), headers={"Authorization": f"Bearer {token}"}
    )
    problem = problem_of(response, 401, "unauthenticated")
    assert problem["detail"] == "the token's organisation is registered as another kind"


def test_a_token_of_a_registered_organisation_still_works(
    client: TestClient, token_for: Headers, world: World
) -> None:
    """The control: the real token flow's tokens pass the same check, every time."""
    municipality = token_for("municipality")
    for _ in range(3):
        response = client.post("/v1/consents", json=_consent(world), headers=municipality)
        assert response.status_code == 201, response.text
