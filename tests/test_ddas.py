"""The DDAS delivery to CBS: schema-valid, only what the register permits, one
municipality's signals only, every person in it on record in the audit log. Every test runs
against both versions the broker delivers in: v0.9 and v1.2 of the uitwisselmodel."""

from __future__ import annotations

import datetime as dt
import json
import uuid
import warnings
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from exchange.auditlog.models import AuditEntry
from exchange.auth.service import add_client
from exchange.broker import Broker
from exchange.cases.models import Case, ContactAttempt
from exchange.cases.terms import CaseStatus, ContactChannel, PartOfDay
from exchange.cli import app as cli
from exchange.clock import today
from exchange.config import Settings
from exchange.errors import Forbidden
from exchange.organisations.models import Organisation
from exchange.organisations.service import add_organisation
from exchange.policy.service import activate
from exchange.reports.ddas import (
    CONTACT_KIND,
    MODELS,
    NOT_YET_PICKED_UP,
    PART_OF_DAY,
    PICKED_UP,
    SIGNAL_PARTNER,
    DdasVersion,
    build_ddas,
)
from exchange.signals.terms import SignalKind
from policies.casework import ResultCode
from policies.engine import load_register
from tests.factories import errors_of, problem_of, signal_body
from tests.test_policy_versions import copy_of_shipped_register, edit_rules

VERSIONS = [DdasVersion.V0_9, DdasVersion.V1_2]
_HERE = Path(__file__).parent / "standards"
_SHARED = Path(__file__).resolve().parents[2] / "shared" / "standards"


def standard(version: DdasVersion) -> Path:
    """The team's shared copy when the checkout sits beside it, else the copy kept with the
    tests (tests/standards/README.md), so that a clean clone anywhere still validates."""
    name = f"ddas-v{version.value}"
    return _SHARED / name if (_SHARED / name).exists() else _HERE / name


# The published examples of each version. v1.2's are those of v1.2-draft, brought to v1.2
# by the one rename its ChangeLog lists that they still lack (tests/standards/README.md).
EXAMPLES = {
    DdasVersion.V0_9: [
        ("ddas-v0.9", "enkelvoudigVoorbeeld.json"),
        ("ddas-v0.9", "meervoudigVoorbeeld.json"),
    ],
    DdasVersion.V1_2: [
        ("ddas-v1.2-draft", "enkelvoudigVoorbeeld.json"),
        ("ddas-v1.2-draft", "meervoudigVoorbeeld.json"),
    ],
}
V1_2_RENAMES = {"startdatumMatchtingperiode": "startdatumMatchingperiode"}
RULE = "municipality.national-statistics.read"


@pytest.fixture(params=VERSIONS, ids=lambda v: f"v{v.value}")
def version(request: pytest.FixtureRequest) -> DdasVersion:
    chosen: DdasVersion = request.param
    return chosen


def example(version: DdasVersion, folder: str, name: str) -> dict[str, Any]:
    path = _SHARED / folder / name
    if not path.exists():
        path = _HERE / folder / name
    document: dict[str, Any] = json.loads(path.read_text())
    return _renamed(document) if version is DdasVersion.V1_2 else document


def _renamed(value: Any) -> Any:
    if isinstance(value, dict):
        return {V1_2_RENAMES.get(k, k): _renamed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(item) for item in value]
    return value


@cache
def _validator(version: DdasVersion) -> jsonschema.Draft202012Validator | None:
    schema_file = standard(version) / "json_schema_Uitwisselmodel.json"
    if not schema_file.exists():
        return None
    schema = json.loads(schema_file.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def problems(document: dict[str, Any], version: DdasVersion) -> list[str]:
    validator = _validator(version)
    assert validator is not None
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def assert_conforms(document: dict[str, Any], version: DdasVersion) -> None:
    """Valid against the version's schema; said out loud when the standard is absent."""
    if _validator(version) is None:
        warnings.warn(f"DDAS v{version.value} not found: schema validation skipped", stacklevel=2)
        return
    found = problems(document, version)
    assert not found, found


def _schema(version: DdasVersion) -> dict[str, Any]:
    schema_file = standard(version) / "json_schema_Uitwisselmodel.json"
    if not schema_file.exists():
        pytest.skip(f"the DDAS v{version.value} standard is not at {schema_file}")
    schema: dict[str, Any] = json.loads(schema_file.read_text())
    return schema


def _enum(version: DdasVersion, name: str) -> set[str]:
    return set(_schema(version)["$defs"][name]["enum"])


# What the versions call things, for the assertions below.
SUPPLIER = {
    DdasVersion.V0_9: "aanleverende_organisatie",
    DdasVersion.V1_2: "aanleverendeOrganisatie",
}
START = {
    DdasVersion.V0_9: "startdatum_matchtingperiode",
    DdasVersion.V1_2: "startdatumMatchingperiode",
}
END = {DdasVersion.V0_9: "einddatum_matchingperiode", DdasVersion.V1_2: "einddatumMatchingperiode"}
PICKED_UP_ON = {DdasVersion.V0_9: "datum_opgepakt", DdasVersion.V1_2: "datumOpgepakt"}


# The standard and our vocabulary ------------------------------------------------------------


def _example_cases() -> list[Any]:
    return [
        pytest.param(v, folder, name, id=f"v{v.value}-{name}")
        for v in VERSIONS
        for folder, name in EXAMPLES[v]
    ]


@pytest.mark.parametrize(("version", "folder", "name"), _example_cases())
def test_the_standards_own_examples_validate(version: DdasVersion, folder: str, name: str) -> None:
    _schema(version)
    assert_conforms(example(version, folder, name), version)


def test_v1_2_refuses_the_field_names_its_changelog_renamed() -> None:
    _schema(DdasVersion.V1_2)
    for folder, name in EXAMPLES[DdasVersion.V1_2]:
        as_published = json.loads((_HERE / folder / name).read_text())
        assert any(
            "startdatumMatchtingperiode" in p for p in problems(as_published, DdasVersion.V1_2)
        )
    older = example(DdasVersion.V1_2, *EXAMPLES[DdasVersion.V1_2][0])
    levering = older["leveringen"][0]
    levering["aanleverende_organisatie"] = levering.pop("aanleverendeOrganisatie")
    levering["vroegsignaalzaken"][0]["resultaat"] = "Verwijzing zonder toestemming"
    found = problems(older, DdasVersion.V1_2)
    assert any("aanleverende_organisatie" in p for p in found), found
    assert any("Verwijzing zonder toestemming" in p for p in found), found


def test_the_validator_checks_formats_and_enumerations(version: DdasVersion) -> None:
    _schema(version)
    document = example(version, *EXAMPLES[version][0])
    document["startdatumLevering"] = "2025-02-30"
    document["leveringen"][0]["vroegsignalen"][0]["signaalpartner"]["type"] = "Huurder"
    messages = problems(document, version)
    assert any("is not a 'date'" in m for m in messages), messages
    assert any("Huurder" in m for m in messages), messages


@pytest.mark.parametrize("code", list(ResultCode))
def test_every_result_code_maps_to_an_end_result_of_the_schema(
    version: DdasVersion, code: ResultCode
) -> None:
    model = MODELS[version]
    assert model.end_result[code] in _enum(version, "EnumEindresultaat")
    if not code.picked_up:
        assert model.status[code] in _enum(version, "EnumSignaalstatus")
    for status in model.status.values():
        assert status in _enum(version, "EnumSignaalstatus")


def test_every_kind_channel_and_part_of_day_maps_to_a_schema_value(version: DdasVersion) -> None:
    assert {SIGNAL_PARTNER[kind] for kind in SignalKind} <= _enum(version, "EnumSignaalpartner")
    assert {CONTACT_KIND[c] for c in ContactChannel} <= _enum(version, "EnumContactsoort")
    assert len({CONTACT_KIND[c] for c in ContactChannel}) == len(ContactChannel)
    assert {PART_OF_DAY[p] for p in PartOfDay} == _enum(version, "EnumDagdeel")
    assert NOT_YET_PICKED_UP in _enum(version, "EnumSignaalstatus")
    picked_up = MODELS[version].picked_up
    assert picked_up is None or picked_up in _enum(version, "EnumSignaalstatus")
    assert (picked_up == PICKED_UP) == (version is DdasVersion.V1_2)


# The export -------------------------------------------------------------------------------


def period_params(version: DdasVersion, code: str = "0599") -> dict[str, str]:
    return {
        "municipality": code,
        "from": (today() - dt.timedelta(days=30)).isoformat(),
        "to": today().isoformat(),
        "version": version.value,
    }


def send(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post("/v1/signals", json=signal_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def work_on_case(
    db_session: Callable[[], Any],
    case_id: str,
    municipality_id: str,
    attempts: list[tuple[str, str | None, bool]],
    result: ResultCode | None = None,
) -> None:
    """Outreach and a result, written straight to the case (the case API is not here yet)."""
    on = today()
    with db_session() as session:
        case = session.get(Case, uuid.UUID(case_id))
        for channel, part_of_day, reached in attempts:
            session.add(
                ContactAttempt(
                    case_id=case.id,
                    channel=channel,
                    attempted_on=on,
                    part_of_day=part_of_day,
                    reached=reached,
                    recorded_by_id=uuid.UUID(municipality_id),
                )
            )
        if attempts:
            case.first_attempt_on = on
            case.picked_up_on = on
            case.status = CaseStatus.ASSIGNED.value
        if any(reached for _, _, reached in attempts):
            case.first_reached_on = on
            case.status = CaseStatus.IN_CONTACT.value
        if result is not None:
            case.result_code = result.value
            case.status = CaseStatus.CLOSED.value
            case.closed_at = dt.datetime.now(dt.UTC)


def by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["ID"]: s for s in document["leveringen"][0]["vroegsignalen"]}


def test_export_holds_the_periods_signals_and_their_cases_in_ddas_terms(
    version: DdasVersion,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    world: dict[str, Any],
    db_session: Callable[[], Any],
) -> None:
    municipality = world["municipality"]
    address = {"postcode": "3012QX", "house_number": "17", "house_number_addition": None}
    person = {"surname_prefix": "van", "surname": "Testsma", "initials": "Q."}
    rent = send(
        client,
        token_for("housing_corporation"),
        amount_cents=98_765,
        address=address,
        person=person,
    )
    energy = send(
        client,
        token_for("energy_supplier"),
        kind="energy",
        crisis=True,
        amount_cents=12_345,
        address=address,
        person=person,
    )
    assert energy["case_id"] == rent["case_id"]  # one household, one case
    untouched = send(client, token_for("housing_corporation"))
    deceased = send(client, token_for("water_company"), kind="water")
    # Most energy signals carry no BSN: v1.2 then names the client by address and birth date.
    nameless = send(
        client,
        token_for("energy_supplier"),
        kind="energy",
        person={"bsn": None},
        address={"postcode": "3014HA", "house_number": "9", "house_number_addition": "b"},
    )
    work_on_case(
        db_session,
        rent["case_id"],
        municipality.id,
        [("phone", "morning", False), ("home_visit", "afternoon", True)],
        ResultCode.FOLLOW_UP_FINANCIAL,
    )
    work_on_case(
        db_session, deceased["case_id"], municipality.id, [], ResultCode.NOT_PICKED_UP_DECEASED
    )

    response = client.get(
        "/v1/reports/ddas", params=period_params(version), headers=token_for("municipality")
    )
    assert response.status_code == 200, response.text
    document = response.json()
    assert_conforms(document, version)

    assert document["codeGegevensleverancier"] == "SIGNAL-EXCHANGE"
    assert document["startdatumLevering"] == period_params(version)["from"]
    assert document["einddatumLevering"] == today().isoformat()
    delivered = dt.datetime.fromisoformat(document["aanleverdatumEnTijd"])
    assert delivered.tzinfo is not None  # the format checker lacks rfc3339: check it here
    [levering] = document["leveringen"]
    assert levering["teller"] == 1
    assert levering["gemeentecode"] == "0599"
    assert levering[SUPPLIER[version]] == {"naam": "Gemeente Rotterdam"}

    signals = by_id(document)
    everyone = {rent["id"], energy["id"], untouched["id"], deceased["id"], nameless["id"]}
    assert set(signals) == everyone
    first = signals[rent["id"]]
    body = signal_body()
    assert first["bedrag"] == 988  # 987.65 euros, to whole euros
    assert first["ontstaansdatum"] == body["arrears_since"]
    assert first["signaaldatum"] == today().isoformat()
    assert first["crisissignaal"] is False and first["warmeOverdracht"] is False
    assert first["signaalpartner"] == {"type": "Huur"}
    client_block = first["client"]
    if version is DdasVersion.V0_9:
        assert "status" not in first  # taken up: v0.9 has no status for that
        assert client_block["Voorletters"] == "Q."
        assert client_block["Voorvoegsel"] == "van"
        assert client_block["Achternaam"] == "Testsma"
        assert client_block["Geboortedatum"] == "1979-03-14"
        assert client_block["Postcode"] == "3012QX"
        assert client_block["Huisnummer"] == "17"
        assert client_block["Straatnaam"] == "Proefstraat"
        assert client_block["Plaatsnaam"] == "Rotterdam"
        assert len(client_block["Burgerservicenummer"]) == 9
        assert "Huisnummertoevoeging" not in client_block  # none given: omitted, not null
        assert signals[nameless["id"]]["client"]["Postcode"] == "3014HA"
        assert "Burgerservicenummer" not in signals[nameless["id"]]["client"]
    else:
        assert first["status"] == "Opgepakt"
        # With a BSN, the BSN alone: no name, no address (the schema allows nothing else).
        assert list(client_block) == ["burgerservicenummer"]
        assert len(client_block["burgerservicenummer"]) == 9
        assert "Testsma" not in response.text and "Proefstraat" not in response.text
        assert signals[nameless["id"]]["client"] == {
            "geboortedatum": "1979-03-14",
            "postcode": "3014HA",
            "huisnummer": "9",
            "huisnummertoevoeging": "b",
        }
    assert signals[energy["id"]]["signaalpartner"] == {"type": "Energie"}
    assert signals[energy["id"]]["crisissignaal"] is True
    assert signals[energy["id"]]["bedrag"] == 123
    assert signals[untouched["id"]]["status"] == "Nog niet opgepakt"
    assert signals[deceased["id"]]["status"] == "Inwoner is overleden"
    assert signals[deceased["id"]]["signaalpartner"] == {"type": "Water"}
    # Contact details are not part of the model, and the rule does not list them.
    assert "testpersoon" not in response.text and "+316" not in response.text

    cases = {tuple(r["ID"] for r in c["vroegsignalen"]): c for c in levering["vroegsignaalzaken"]}
    assert len(cases) == 4
    worked = cases[(rent["id"], energy["id"])]
    assert worked["resultaat"] == "Vervolghulp en/of verwijzing financieel"
    assert worked["matchingsdatum"] == today().isoformat()
    assert worked[PICKED_UP_ON[version]] == today().isoformat()
    assert worked[START[version]] == period_params(version)["from"]
    assert worked[END[version]] == today().isoformat()
    assert worked["contactpogingen"] == [
        {"soort": "Telefoon", "bereikt": False, "datum": today().isoformat(), "dagdeel": "Ochtend"},
        {"soort": "Huisbezoek", "bereikt": True, "datum": today().isoformat(), "dagdeel": "Middag"},
    ]
    assert cases[(deceased["id"],)]["resultaat"] == "Inwoner is overleden"
    open_case = cases[(untouched["id"],)]
    assert "resultaat" not in open_case and PICKED_UP_ON[version] not in open_case
    assert open_case["contactpogingen"] == []


def test_each_person_exported_is_on_record_without_personal_data(
    version: DdasVersion,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    db_session: Callable[[], Any],
) -> None:
    sent = [send(client, token_for("housing_corporation")) for _ in range(3)]
    response = client.get(
        "/v1/reports/ddas", params=period_params(version), headers=token_for("municipality")
    )
    assert response.status_code == 200
    exported = by_id(response.json())
    with db_session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "report.ddas")
        ).all()
    assert len(entries) == len(sent)
    assert {e.purpose for e in entries} == {"national-statistics"}
    assert {e.decision for e in entries} == {"permit"}
    assert len({e.subject for e in entries}) == 3 and None not in {e.subject for e in entries}
    for entry in entries:
        document = json.loads(entry.entry)
        assert document["rule_id"] == RULE
        assert document["resources"]["from"] == period_params(version)["from"]
        assert document["resources"]["ddas_version"] == version.value
        assert document["resources"]["to"] == today().isoformat()
        # Compared value by value: hashes and ids in the entry are hex and may hold any
        # short run of digits by chance.
        leaves = set(_strings(document))
        for signal in exported.values():
            for value in [*signal["client"].values(), str(signal["bedrag"])]:
                assert value not in leaves, value
                assert len(value) < 6 or not any(value in leaf for leaf in leaves), value


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [str(value)]


def _narrowed(directory: Path, dropped: set[str]) -> Any:
    """The register in ``directory`` with ``dropped`` taken off the DDAS rule's fields."""

    def narrow(rules: list[dict[str, Any]]) -> None:
        rule = next(r for r in rules if r["id"] == RULE)
        rule["fields"] = [f for f in rule["fields"] if f not in dropped]

    edit_rules(directory, narrow)
    return load_register(directory)


def _delivery(
    session: Any, broker: Broker, register: Any, world: dict[str, Any], version: DdasVersion
) -> dict[str, Any]:
    """Yesterday and today's delivery of the demo municipality, under ``register``."""
    municipality = session.get(Organisation, uuid.UUID(world["municipality"].id))
    return build_ddas(
        session,
        broker.keyring,
        register,
        municipality,
        today() - dt.timedelta(days=1),
        today(),
        dt.datetime.now(dt.UTC),
        "TEST-SUPPLIER",
        audit=broker.audit,
        version=version,
    )


def test_a_narrowed_rule_drops_those_fields_from_the_export(
    version: DdasVersion,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    world: dict[str, Any],
    broker: Broker,
    db_session: Callable[[], Any],
    tmp_path: Path,
) -> None:
    sent = send(client, token_for("housing_corporation"))
    work_on_case(db_session, sent["case_id"], world["municipality"].id, [("letter", None, False)])
    dropped = {"person.bsn", "person.birth_date", "amount_cents", "case.contact_attempts"}
    directory = copy_of_shipped_register(tmp_path)

    register = _narrowed(directory, dropped)
    with db_session() as session:
        document = _delivery(session, broker, register, world, version)
    assert_conforms(document, version)
    [signal] = document["leveringen"][0]["vroegsignalen"]
    if version is DdasVersion.V0_9:
        assert "Burgerservicenummer" not in signal["client"]
        assert "Geboortedatum" not in signal["client"]
        assert signal["client"]["Achternaam"]  # still listed, still there
    else:
        # Without the BSN, v1.2 falls back to the address: what the rule still lists.
        assert set(signal["client"]) == {"postcode", "huisnummer"}
    assert "bedrag" not in signal
    [case] = document["leveringen"][0]["vroegsignaalzaken"]
    assert "contactpogingen" not in case
    assert document["codeGegevensleverancier"] == "TEST-SUPPLIER"
    with db_session() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "report.ddas"))
    recorded = json.loads(entry.entry)
    assert not dropped & set(recorded["fields"])
    assert recorded["policy_version"] == register.version_hash


def test_v1_2_is_refused_when_the_rule_permits_no_field_that_identifies_the_client(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    world: dict[str, Any],
    broker: Broker,
    db_session: Callable[[], Any],
    tmp_path: Path,
) -> None:
    send(client, token_for("housing_corporation"))
    directory = copy_of_shipped_register(tmp_path)
    anonymous = {"person.bsn", "address.postcode", "address.house_number"}

    register = _narrowed(directory, anonymous)
    with db_session() as session:
        with pytest.raises(Forbidden, match=r"v1\.2 identifies each client"):
            _delivery(session, broker, register, world, DdasVersion.V1_2)
        session.rollback()
    with db_session() as session:
        # Refused before anything was disclosed: no entry about anybody.
        recorded = session.scalars(select(AuditEntry).where(AuditEntry.action == "report.ddas"))
        assert [e for e in recorded if e.subject is not None] == []


def test_a_denied_export_is_403_with_the_reason_and_the_deny_stays_on_record(
    version: DdasVersion,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    db_session: Callable[[], Any],
    tmp_path: Path,
) -> None:
    send(client, token_for("housing_corporation"))
    directory = copy_of_shipped_register(tmp_path)
    edit_rules(
        directory,
        lambda rules: rules.__setitem__(slice(None), [r for r in rules if r["id"] != RULE]),
    )
    with db_session() as session:
        activate(session, directory)
    response = client.get(
        "/v1/reports/ddas", params=period_params(version), headers=token_for("municipality")
    )
    problem = problem_of(response, 403, "forbidden")
    assert "national-statistics" in problem["detail"]
    with db_session() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "report.ddas"))
    assert entry.decision == "deny"
    assert entry.purpose == "national-statistics"
    assert entry.subject is None


def test_another_municipalitys_signals_never_appear(
    version: DdasVersion,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    db_session: Callable[[], Any],
) -> None:
    with db_session() as session:
        utrecht = add_organisation(
            session,
            kind="municipality",
            name="Gemeente Utrecht",
            gemeentecode="0344",
            postcodes="3500-3585",
        )
        credentials = add_client(session, utrecht.id)
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
    ).json()["access_token"]
    utrecht_headers = {"Authorization": f"Bearer {token}"}
    provider = token_for("housing_corporation")
    in_rotterdam = send(client, provider)
    in_utrecht = send(client, provider, address={"postcode": "3511AB", "city": "Utrecht"})

    rotterdam = client.get(
        "/v1/reports/ddas", params=period_params(version), headers=token_for("municipality")
    ).json()
    assert set(by_id(rotterdam)) == {in_rotterdam["id"]}
    assert in_utrecht["id"] not in json.dumps(rotterdam)
    own = client.get(
        "/v1/reports/ddas", params=period_params(version, "0344"), headers=utrecht_headers
    )
    assert set(by_id(own.json())) == {in_utrecht["id"]}
    assert_conforms(own.json(), version)

    # Asking for another municipality's delivery: it does not exist for the caller.
    for code in ("0344", "9999"):
        response = client.get(
            "/v1/reports/ddas",
            params=period_params(version, code),
            headers=token_for("municipality"),
        )
        problem_of(response, 404, "not-found")
    # Only municipalities call this route at all.
    response = client.get("/v1/reports/ddas", params=period_params(version), headers=provider)
    problem_of(response, 403, "forbidden")


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2026-03-01", "2026-02-28", "from"),
        ("2026-01-01", "2027-01-02", "to"),
        ("2026-13-01", "2026-12-31", "from"),
    ],
)
def test_a_bad_period_is_422_naming_the_field(
    version: DdasVersion,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    start: str,
    end: str,
    field: str,
) -> None:
    params = {"municipality": "0599", "from": start, "to": end, "version": version.value}
    response = client.get("/v1/reports/ddas", params=params, headers=token_for("municipality"))
    problem = problem_of(response, 422)
    assert field in [name for name, _ in errors_of(problem)], problem


def test_a_leap_year_is_one_period(
    version: DdasVersion, client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    params = {
        "municipality": "0599",
        "from": "2028-01-01",
        "to": "2028-12-31",
        "version": version.value,
    }
    response = client.get("/v1/reports/ddas", params=params, headers=token_for("municipality"))
    assert response.status_code == 200, response.text
    assert_conforms(response.json(), version)
    assert response.json()["leveringen"][0]["vroegsignalen"] == []


def test_the_command_writes_a_delivery_file_that_validates(
    version: DdasVersion,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    settings: Settings,
    db_session: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sent = send(client, token_for("housing_corporation"))
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("EXCHANGE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("EXCHANGE_KEYS_DIR", str(settings.resolved_keys_dir))
    monkeypatch.setenv("EXCHANGE_DDAS_SUPPLIER_CODE", "GEMEENTE-IT")
    output = tmp_path / "ddas.json"
    period = period_params(version)
    arguments = ["report", "ddas", "--municipality", "0599", "--from", period["from"]]
    arguments += ["--version", version.value]
    result = CliRunner().invoke(cli, [*arguments, "--to", period["to"], "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert oct(output.stat().st_mode)[-3:] == "600"
    document = json.loads(output.read_text())
    assert_conforms(document, version)
    assert document["codeGegevensleverancier"] == "GEMEENTE-IT"
    assert set(by_id(document)) == {sent["id"]}
    with db_session() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "report.ddas"))
    assert json.loads(entry.entry)["actor"]["client"] == "exchange-cli"

    unknown = CliRunner().invoke(
        cli,
        [
            "report",
            "ddas",
            "--municipality",
            "0000",
            "--from",
            period["from"],
            "--to",
            period["to"],
        ],
    )
    assert unknown.exit_code == 2
    assert "0000" in unknown.output


def test_each_municipality_delivers_in_its_own_version_unless_asked_for_another(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    send(client, token_for("housing_corporation"))
    # The broker's default is the current version.
    default = dict(period_params(DdasVersion.V1_2))
    del default["version"]
    served = client.get("/v1/reports/ddas", params=default, headers=token_for("municipality"))
    assert "aanleverendeOrganisatie" in served.json()["leveringen"][0]
    assert_conforms(served.json(), DdasVersion.V1_2)
    # A municipality set to v0.9 gets v0.9 from the command unless it asks for v1.2.
    monkeypatch.setenv("EXCHANGE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("EXCHANGE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("EXCHANGE_KEYS_DIR", str(settings.resolved_keys_dir))
    monkeypatch.setenv("EXCHANGE_DDAS_VERSIONS", '{"0599": "0.9"}')
    arguments = ["report", "ddas", "--municipality", "0599"]
    arguments += ["--from", default["from"], "--to", default["to"]]
    own = CliRunner().invoke(cli, arguments)
    assert own.exit_code == 0, own.output
    assert "aanleverende_organisatie" in json.loads(own.stdout)["leveringen"][0]
    assert_conforms(json.loads(own.stdout), DdasVersion.V0_9)
    asked = CliRunner().invoke(cli, [*arguments, "--version", "1.2"])
    assert asked.exit_code == 0, asked.output
    assert_conforms(json.loads(asked.stdout), DdasVersion.V1_2)
    unknown = CliRunner().invoke(cli, [*arguments, "--version", "1.0"])
    assert unknown.exit_code == 2
    refused = client.get(
        "/v1/reports/ddas", params={**default, "version": "1.0"}, headers=token_for("municipality")
    )
    assert "version" in [name for name, _ in errors_of(problem_of(refused, 422))]
