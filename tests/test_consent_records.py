"""Consent records that an outside tool reads: the fields of ISO/IEC TS 27560 on every
record, and ``GET /v1/consents/{id}/record`` as W3C DPV JSON-LD, checked with two
independent implementations (pyld expands it, rdflib answers SPARQL over it)."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from exchange.broker import Broker
from exchange.clock import today
from exchange.consents.models import Consent
from exchange.consents.terms import duration_words
from exchange.db import alembic_config, make_engine, migrate
from tests.conftest import DEFAULT_POSTGRES, Login, csrf
from tests.factories import generated_bsn

pyld = pytest.importorskip("pyld")
rdflib = pytest.importorskip("rdflib")
jsonld = pyld.jsonld

Headers = Callable[[str], dict[str, str]]
DPV = "https://w3id.org/dpv#"
GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"
LOC = "https://w3id.org/dpv/loc#"
DCT = "http://purl.org/dc/terms/"
XSD = "http://www.w3.org/2001/XMLSchema#"
PURPOSES = "https://signal-exchange.example/register/purposes/"
ISO_FIELDS = {
    "schema_version",
    "language",
    "notice_version",
    "notice_url",
    "collected_by",
    "consent_type",
    "withdrawal_method",
    "collection_method",
    "purposes",
    "recipients",
    "subject",
    "status",
    "valid_from",
    "valid_until",
    "events",
}


def consent_body(world: Any, bsn: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "person": {
            "bsn": bsn,
            "surname": "Recordsma",
            "initials": "R.",
            "birth_date": "1980-02-03",
        },
        "purposes": ["debt-service-referral"],
        "recipients": [world["debt_service"].id],
        "collection_method": "in_person",
        "notice_version": "2026-01",
        "valid_until": (today() + dt.timedelta(days=180)).isoformat(),
    }
    return {**body, **overrides}


def given(client: TestClient, token_for: Headers, world: Any, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/v1/consents",
        json=consent_body(world, overrides.pop("bsn", generated_bsn()), **overrides),
        headers=token_for("municipality"),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def record_of(client: TestClient, headers: dict[str, str], consent_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/consents/{consent_id}/record", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/ld+json")
    return dict(response.json())


def graph_of(document: dict[str, Any]) -> Any:
    graph = rdflib.Graph()
    graph.parse(data=json.dumps(document), format="json-ld")
    return graph


def values(expanded: dict[str, Any], term: str) -> list[Any]:
    return [v.get("@id", v.get("@value")) for v in expanded.get(term, [])]


def test_a_consent_carries_the_iso_27560_fields_and_defaults_keep_old_clients_working(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    old = given(client, token_for, world)
    assert old.keys() >= ISO_FIELDS
    assert old["schema_version"] == "https://w3id.org/dpv/schema/dpv-27560#record"
    assert old["language"] == "nl"
    assert old["consent_type"] == "expressed"
    assert old["notice_url"] is None and old["withdrawal_method"] is None

    new = given(
        client,
        token_for,
        world,
        language="en",
        notice_url="https://rotterdam.example/privacy/toestemming-2026-01",
        consent_type="explicit",
        withdrawal_method="Call 14 010 or write to the debt help desk",
    )
    assert (new["language"], new["consent_type"]) == ("en", "explicit")
    assert new["notice_url"] == "https://rotterdam.example/privacy/toestemming-2026-01"
    assert new["withdrawal_method"] == "Call 14 010 or write to the debt help desk"
    read = client.get(f"/v1/consents/{new['id']}", headers=token_for("municipality")).json()
    assert {k: read[k] for k in ISO_FIELDS - {"subject"}} == {
        k: new[k] for k in ISO_FIELDS - {"subject"}
    }


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"language": "Nederlands"}, "language"),
        ({"notice_url": "http://rotterdam.example/privacy"}, "notice_url"),
        ({"notice_url": "https://x.example/" + "a" * 500}, "notice_url"),
        ({"consent_type": "implied"}, "consent_type"),
        ({"withdrawal_method": ""}, "withdrawal_method"),
        ({"withdrawal_method": "x" * 501}, "withdrawal_method"),
    ],
)
def test_a_bad_record_field_is_a_422_naming_it(
    client: TestClient, token_for: Headers, world: Any, override: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/v1/consents",
        json=consent_body(world, generated_bsn(), **override),
        headers=token_for("municipality"),
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_the_record_expands_with_pyld_to_dpv_iris(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    consent = given(client, token_for, world, consent_type="explicit", language="nl")
    document = record_of(client, token_for("municipality"), consent["id"])
    assert document["@context"]["dpv"] == DPV
    assert document["@context"]["eu-gdpr"] == GDPR

    [record] = jsonld.expand(document)
    assert record["@id"] == f"https://broker.test/v1/consents/{consent['id']}/record"
    assert record["@type"] == [DPV + "ConsentRecord"]
    assert values(record, DCT + "identifier") == [consent["id"]]
    assert values(record, DCT + "conformsTo") == ["https://w3id.org/dpv/schema/dpv-27560#record"]
    assert record[DCT + "language"] == [{"@value": "nl", "@type": XSD + "language"}]
    assert values(record, DPV + "hasConsentStatus") == [DPV + "ConsentGiven"]
    assert set(values(record, DPV + "hasLegalBasis")) == {
        GDPR + "A6-1-a",
        DPV + "ExplicitlyExpressedConsent",
    }
    assert values(record, DPV + "hasJurisdiction") == [LOC + "EU", LOC + "NL"]
    assert values(record, DPV + "hasApplicableLaw") == [GDPR + "GDPR"]
    [controller] = record[DPV + "hasDataController"]
    assert controller["@id"] == uuid.UUID(world["municipality"].id).urn
    assert controller["@type"] == [DPV + "DataController"]
    [notice] = record[DPV + "hasNotice"]
    assert notice["@type"] == [DPV + "ConsentNotice"]
    assert values(notice, DCT + "hasVersion") == ["2026-01"]
    [subject] = record[DPV + "hasDataSubject"]
    assert values(subject, DCT + "identifier") == [consent["subject"]]

    # The broker's own terms (how it was collected, how to withdraw) under its namespace.
    terms = "https://signal-exchange.example/register/terms#"
    assert values(record, DPV + "hasIndicationMethod") == [terms + "collection-in_person"]
    assert {v["@language"] for v in record[terms + "withdrawalMethod"]} == {"nl", "en"}
    assert record[terms + "statusHistory"][0]["@list"][0][DCT + "date"] == [
        {"@value": today().isoformat(), "@type": XSD + "date"}
    ]
    # Nothing in the document is dropped for want of an IRI.
    assert len(record) == len(document) - 1

    [process] = record[DPV + "hasProcess"]
    [purpose] = process[DPV + "hasPurpose"]
    assert purpose["@id"] == PURPOSES + "debt-service-referral"
    assert purpose["@type"] == [DPV + "Purpose"]
    assert {"@value": "Referral to a debt service", "@language": "en"} in purpose[
        "http://www.w3.org/2000/01/rdf-schema#label"
    ]
    assert values(process, DPV + "hasLegalBasis") == [GDPR + "A6-1-a"]
    # The register's categories and retention for the purpose, not a stored copy.
    categories = {c["@id"].rsplit("/", 1)[1] for c in process[DPV + "hasPersonalData"]}
    assert categories == {
        "name",
        "birth_date",
        "address",
        "contact",
        "arrears",
        "creditor",  # the creditors by name, under the consent (provider.name)
        "pseudonym",
        "case_state",
        "outreach",  # the debt service records its own attempts and result
    }
    [recipient] = process[DPV + "hasRecipient"]
    assert recipient["@id"] == uuid.UUID(world["debt_service"].id).urn
    conditions = {c["@type"][0]: c for c in process[DPV + "hasStorageCondition"]}
    assert values(conditions[DPV + "StorageLocation"], DPV + "hasLocation") == [
        LOC + "EU",
        LOC + "NL",
    ]
    assert conditions[DPV + "StorageDuration"][DPV + "hasDuration"] == [
        {"@value": "P6M", "@type": XSD + "duration"}
    ]


def test_a_withdrawn_consent_exports_as_consent_withdrawn_with_its_date_in_sparql(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    consent = given(client, token_for, world)
    withdrawn = client.post(
        f"/v1/consents/{consent['id']}/withdrawal",
        json={"effective_on": today().isoformat()},
        headers=token_for("municipality"),
    )
    assert withdrawn.status_code == 200, withdrawn.text
    graph = graph_of(record_of(client, token_for("municipality"), consent["id"]))

    rows = list(
        graph.query(
            """
            PREFIX dpv: <https://w3id.org/dpv#>
            PREFIX dct: <http://purl.org/dc/terms/>
            SELECT ?status ?basis WHERE {
              ?record a dpv:ConsentRecord ;
                      dpv:hasConsentStatus ?status ;
                      dpv:hasProcess/dpv:hasLegalBasis ?basis .
            }
            """
        )
    )
    assert [(str(r.status), str(r.basis)) for r in rows] == [
        (DPV + "ConsentWithdrawn", GDPR + "A6-1-a")
    ]
    # The history says when: the withdrawal's effective date, as an xsd:date.
    history = list(
        graph.query(
            """
            PREFIX dpv: <https://w3id.org/dpv#>
            PREFIX dct: <http://purl.org/dc/terms/>
            SELECT ?date WHERE {
              ?record a dpv:ConsentRecord ; ?history ?list .
              ?list rdf:rest*/rdf:first ?event .
              ?event dpv:hasConsentStatus dpv:ConsentWithdrawn ; dct:date ?date .
            }
            """
        )
    )
    assert [r.date.toPython() for r in history] == [today()]
    assert str(history[0].date.datatype) == XSD + "date"


def test_an_expired_consent_exports_as_consent_expired(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    consent = given(client, token_for, world)
    with db_session() as session:
        stored = session.get(Consent, uuid.UUID(consent["id"]))
        stored.valid_until = today() - dt.timedelta(days=1)
    [record] = jsonld.expand(record_of(client, token_for("municipality"), consent["id"]))
    assert values(record, DPV + "hasConsentStatus") == [DPV + "ConsentExpired"]


def test_the_export_names_the_person_by_pseudonym_only_and_each_organisation_its_own(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    bsn = generated_bsn()
    consent = given(client, token_for, world, bsn=bsn)
    as_municipality = record_of(client, token_for("municipality"), consent["id"])
    as_debt_service = record_of(client, token_for("debt_service"), consent["id"])
    for document in (as_municipality, as_debt_service):
        raw = json.dumps(document)
        assert bsn not in raw
        assert "Recordsma" not in raw and "1980-02-03" not in raw
    subjects = [
        d["dpv:hasDataSubject"]["dct:identifier"] for d in (as_municipality, as_debt_service)
    ]
    assert subjects[0] == consent["subject"]
    assert subjects[1] != subjects[0]


def test_another_organisation_gets_a_404_and_a_provider_a_403(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    consent = given(client, token_for, world)
    team = client.get(
        f"/v1/consents/{consent['id']}/record", headers=token_for("neighbourhood_team")
    )
    assert team.status_code == 404
    assert team.headers["content-type"].startswith("application/problem+json")
    unknown = client.get(f"/v1/consents/{uuid.uuid4()}/record", headers=token_for("municipality"))
    assert unknown.status_code == 404
    provider = client.get(
        f"/v1/consents/{consent['id']}/record", headers=token_for("housing_corporation")
    )
    assert provider.status_code == 403
    assert client.get(f"/v1/consents/{consent['id']}/record").status_code == 401


def test_the_privacy_officer_s_page_shows_the_record_in_words_and_downloads_it(
    client: TestClient, token_for: Headers, world: Any, login: Login
) -> None:
    bsn = generated_bsn()
    consent = given(client, token_for, world, bsn=bsn, consent_type="explicit")
    client.post(f"/v1/consents/{consent['id']}/withdrawal", headers=token_for("municipality"))
    officer = login("privacy_officer")
    token = csrf(officer, "/ui/consents")
    form = {"csrf_token": token, "bsn": bsn}

    dutch = officer.post("/ui/consents", data=form).text
    for words in (
        "Doorverwijzing naar een schuldhulpverlener",
        "ingetrokken",
        "persoonlijk gesprek",
        "uitdrukkelijke toestemming",
        "Verwerkingsverantwoordelijke",
        "Gemeente Rotterdam",
        "Geboortedatum",
        "Betalingsachterstand (exact)",
        "6 maanden",
        "Europese Unie, Nederland",
        "toestemming (AVG art. 6 lid 1 sub a)",
        "Nederlands",
        "Record downloaden (JSON-LD)",
    ):
        assert words in dutch, words
    assert "debt-service-referral" not in dutch.split("<h2>")[1].split("<form")[0]

    english = officer.post("/ui/consents?lang=en", data=form).text
    for words in (
        "Referral to a debt service",
        "withdrawn",
        "in person",
        "explicit consent",
        "Controller",
        "6 months",
        "European Union, the Netherlands",
        "consent (GDPR art. 6(1)(a))",
        "Download record (JSON-LD)",
    ):
        assert words in english, words

    download = officer.post("/ui/consents", data={**form, "record": consent["id"]})
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/ld+json")
    assert "attachment" in download.headers["content-disposition"]
    [record] = jsonld.expand(download.json())
    assert values(record, DPV + "hasConsentStatus") == [DPV + "ConsentWithdrawn"]
    assert bsn not in download.text
    other = officer.post("/ui/consents", data={**form, "record": str(uuid.uuid4())})
    assert other.status_code == 404


def test_durations_in_words() -> None:
    assert duration_words("P6M") == ("6 maanden", "6 months")
    assert duration_words("P1Y") == ("1 jaar", "1 year")
    assert duration_words("P1Y6M") == ("P1Y6M", "P1Y6M")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it yet, for migrating step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        return
    admin_url = os.environ.get("EXCHANGE_TEST_DATABASE_URL", DEFAULT_POSTGRES)
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {error}")
        pytest.skip(f"PostgreSQL not reachable at {admin_url}")
    name = f"exchange_migration_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url.rpartition('/')[0]}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_the_migration_gives_existing_consents_the_record_fields(empty_database: str) -> None:
    url = empty_database
    command.upgrade(alembic_config(url), "20261202_0800")
    engine = make_engine(url, pool=False)
    organisation, subject, consent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ids: dict[str, object] = {"o": organisation, "s": subject, "c": consent}
    if engine.dialect.name == "sqlite":  # a Uuid column there is its 32 hex digits
        ids = {"o": organisation.hex, "s": subject.hex, "c": consent.hex}
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO organisations (id, kind, name, created_at) "
                "VALUES (:o, 'debt_service', 'Kredietbank', '2026-11-30 10:00:00+00')"
            ),
            ids,
        )
        connection.execute(
            text(
                "INSERT INTO subjects (id, pseudonym, pseudonym_key_id, created_at, person_id) "
                "VALUES (:s, :p, 'k1', '2026-11-30 10:00:00+00', :s)"
            ),
            {**ids, "p": "a" * 64},
        )
        connection.execute(
            text(
                "INSERT INTO consents (id, subject_id, collected_by_id, purposes, recipients, "
                "collection_method, notice_version, valid_from, status, policy_version, "
                "created_at) VALUES (:c, :s, :o, '[\"debt-service-referral\"]', :r, "
                "'phone', '2025-07', '2026-11-30', 'given', 'v1', '2026-11-30 10:00:00+00')"
            ),
            {**ids, "r": f'["{organisation}"]'},
        )
        before = dict(connection.execute(text("SELECT * FROM consents")).mappings().one())
    migrate(url)
    with engine.begin() as connection:
        after = dict(connection.execute(text("SELECT * FROM consents")).mappings().one())
    assert {k: after[k] for k in before} == before
    assert (after["language"], after["consent_type"]) == ("nl", "expressed")
    assert after["notice_url"] is None and after["withdrawal_method"] is None

    command.downgrade(alembic_config(url), "20261202_0800")
    with engine.begin() as connection:
        again = dict(connection.execute(text("SELECT * FROM consents")).mappings().one())
    assert again == before
    engine.dispose()


def test_a_consent_given_without_the_new_fields_is_stored_with_the_migration_s_defaults(
    broker: Broker, client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> None:
    """What the model writes without the new fields is what the migration gave old rows."""
    consent = given(client, token_for, world)
    with db_session() as session:
        row = session.execute(text("SELECT language, consent_type, notice_url FROM consents")).one()
    assert tuple(row) == ("nl", "expressed", None)
    document = record_of(client, token_for("municipality"), consent["id"])
    assert document["dpv:hasLegalBasis"][1] == {"@id": "dpv:ExpressedConsent"}
