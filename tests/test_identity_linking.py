"""One person, every record: a person signalled by BSN by one provider and by name and birth
date by another is one person to every right (``exchange.identity.service``).

Each right is exercised with one identifier on records made with the other, on SQLite and
PostgreSQL, through the HTTP API; and the conflict rule (two BSNs meeting one name and birth
date) holds: never one person, and a search by the name says it is ambiguous.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from exchange.auditlog.models import AuditEntry
from exchange.broker import Broker
from exchange.clock import now
from exchange.config import Settings
from exchange.disclosures.subjects import subject_states
from exchange.identity.models import Subject
from exchange.identity.pseudonyms import identifiers
from exchange.identity.schemas import Person
from exchange.ops import identities
from exchange.signals.models import Signal
from tests.factories import generated_bsn, problem_of, signal_body
from tests.test_key_rotation import Running, rotate, rotating  # noqa: F401 (fixture)
from tests.test_subject_rights import close_case

Headers = Callable[[str], dict[str, str]]
HOME = {"postcode": "3014AB", "house_number": "12"}
ELSEWHERE = {"postcode": "3015CD", "house_number": "40"}  # another household, another case


def a_person() -> dict[str, Any]:
    return {
        "bsn": generated_bsn(),
        "initials": "K.",
        "surname_prefix": "van",
        "surname": f"Koppelsma-{uuid.uuid4().hex[:8]}",
        "birth_date": "1984-05-06",
    }


def by_name(person: dict[str, Any]) -> dict[str, Any]:
    """The person as an energy supplier knows them: no BSN."""
    return {key: value for key, value in person.items() if key != "bsn"}


def by_bsn(person: dict[str, Any]) -> dict[str, Any]:
    return {"bsn": person["bsn"]}


def send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def signalled_twice(
    client: TestClient, token_for: Headers, energy_address: dict[str, str] = ELSEWHERE
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The housing corporation signals the person with BSN and name; the energy supplier,
    by name and birth date alone."""
    person = a_person()
    housing = send(
        client, token_for("housing_corporation"), signal_body(person=person, address=HOME)
    )
    energy = send(
        client,
        token_for("energy_supplier"),
        signal_body(kind="energy", person={**by_name(person), "bsn": None}, address=energy_address),
    )
    return person, housing, energy


def person_of(db_session: Any, signal: dict[str, Any]) -> uuid.UUID:
    with db_session() as session:
        subject_id = session.scalar(
            select(Signal.subject_id).where(Signal.id == uuid.UUID(signal["id"]))
        )
        person_id = session.scalar(select(Subject.person_id).where(Subject.id == subject_id))
    assert person_id is not None
    return person_id


def actions(db_session: Any, action: str) -> list[dict[str, Any]]:
    with db_session() as session:
        return [
            orjson.loads(entry)
            for entry in session.scalars(
                select(AuditEntry.entry)
                .where(AuditEntry.action == action)
                .order_by(AuditEntry.leaf_index)
            )
        ]


def test_a_signal_by_name_alone_joins_the_person_its_bsn_signal_named(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    _, housing, energy = signalled_twice(client, token_for)
    assert person_of(db_session, housing) == person_of(db_session, energy)
    with db_session() as session:
        kinds = sorted(session.scalars(select(Subject.kind)))
    assert kinds == ["bsn", "name"]


def test_an_objection_by_bsn_stops_a_signal_by_name_and_one_by_name_a_signal_by_bsn(
    client: TestClient, token_for: Headers
) -> None:
    officer, energy = token_for("privacy_officer"), token_for("energy_supplier")
    person, _, _ = signalled_twice(client, token_for)
    objected = client.post(
        "/v1/objections",
        json={"person": by_bsn(person), "purposes": ["early-signal"]},
        headers=officer,
    )
    assert objected.status_code == 201, objected.text
    by_name_only = signal_body(kind="energy", person={**by_name(person), "bsn": None})
    refused = client.post("/v1/signals", json=by_name_only, headers=energy)
    assert refused.status_code == 422, refused.text
    assert "objected" in refused.json()["detail"]

    other, _, _ = signalled_twice(client, token_for)
    objected = client.post(
        "/v1/objections",
        json={"person": by_name(other), "purposes": ["early-signal"]},
        headers=officer,
    )
    assert objected.status_code == 201, objected.text
    by_bsn_only = signal_body(person={**by_bsn(other), "initials": "Z.", "surname": "Anders"})
    refused = client.post("/v1/signals", json=by_bsn_only, headers=token_for("water_company"))
    assert refused.status_code == 422, refused.text
    assert "objected" in refused.json()["detail"]


def test_an_objection_by_name_counts_for_a_new_signal_that_brings_the_bsn_and_the_name(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    # The name is known first, from an energy supplier; the person objects by name; then a
    # housing corporation sends BSN and name: the objection holds before anything is linked.
    person = a_person()
    send(
        client,
        token_for("energy_supplier"),
        signal_body(kind="energy", person={**by_name(person), "bsn": None}),
    )
    objected = client.post(
        "/v1/objections",
        json={"person": by_name(person), "purposes": ["early-signal"]},
        headers=token_for("privacy_officer"),
    )
    assert objected.status_code == 201, objected.text
    refused = client.post(
        "/v1/signals", json=signal_body(person=person), headers=token_for("housing_corporation")
    )
    assert refused.status_code == 422, refused.text
    # Refused, so nothing of it was stored: no BSN row, and no link on the log.
    with db_session() as session:
        assert session.scalars(select(Subject.kind)).all() == ["name"]
    assert actions(db_session, "subject.linked") == []


def test_a_restriction_by_bsn_holds_a_case_made_by_name_and_lifting_it_by_name_frees_it(
    client: TestClient, token_for: Headers
) -> None:
    officer, municipality = token_for("privacy_officer"), token_for("municipality")
    person, _, energy = signalled_twice(client, token_for)
    case = f"/v1/cases/{energy['case_id']}"
    assert client.get(case, headers=municipality).status_code == 200

    restricted = client.post(
        "/v1/subjects/restriction",
        json={"person": by_bsn(person), "reason": "juistheid betwist"},
        headers=officer,
    )
    assert restricted.status_code == 200, restricted.text
    assert (
        "restricted (AVG art. 18)"
        in problem_of(client.get(case, headers=municipality), 403)["detail"]
    )

    lifted = client.post(
        "/v1/subjects/restriction/lift",
        json={"person": by_name(person), "reason": "afgehandeld"},
        headers=officer,
    )
    assert lifted.status_code == 200, lifted.text
    assert client.get(case, headers=municipality).status_code == 200


def test_erasure_by_name_erases_the_signal_that_came_with_the_bsn(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    person, housing, energy = signalled_twice(client, token_for)
    close_case(client, token_for, housing["case_id"])
    close_case(client, token_for, energy["case_id"])
    erased = client.post(
        "/v1/subjects/erasure",
        json={"person": by_name(person), "reason": "verzoek per brief"},
        headers=token_for("privacy_officer"),
    )
    assert erased.status_code == 200, erased.text
    assert erased.json()["status"] == "erased"
    for provider, signal in (("housing_corporation", housing), ("energy_supplier", energy)):
        read = client.get(f"/v1/signals/{signal['id']}", headers=token_for(provider))
        assert read.status_code == 404
    with db_session() as session:
        assert session.scalars(select(Subject)).all() == []
        assert session.scalars(select(Signal)).all() == []


def test_a_rectification_by_name_corrects_the_signal_that_came_with_the_bsn(
    client: TestClient, token_for: Headers
) -> None:
    person, housing, energy = signalled_twice(client, token_for)
    answer = client.post(
        "/v1/subjects/rectification",
        json={
            "person": by_name(person),
            "corrections": {"phone": "+31611112222"},
            "reason": "belde zelf",
        },
        headers=token_for("privacy_officer"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["signals_corrected"] == 2
    municipality = token_for("municipality")
    for signal in (housing, energy):
        case = client.get(f"/v1/cases/{signal['case_id']}", headers=municipality).json()
        assert {s["contact"]["phone"] for s in case["signals"]} == {"+31611112222"}


def test_the_access_report_by_either_identifier_lists_the_disclosures_of_both_signals(
    client: TestClient, token_for: Headers
) -> None:
    officer = token_for("privacy_officer")
    person, _, _ = signalled_twice(client, token_for)
    reports = {
        asked: client.post(
            "/v1/audit/access-report", json={"person": identity}, headers=officer
        ).json()
        for asked, identity in (
            ("bsn", by_bsn(person)),
            ("name", by_name(person)),
            ("both", person),
        )
    }
    # Each signal was routed to the municipality once: two disclosures, whichever is asked.
    for asked, report in reports.items():
        routed = [d for d in report["disclosures"] if d["purpose"] == "early-signal"]
        assert len(routed) == 2, (asked, report["disclosures"])
        assert report["ambiguous"] is False
        assert len(report["held"]) >= 1
    assert reports["bsn"]["identifiers_searched"] == ["bsn"]
    assert reports["name"]["identifiers_searched"] == ["name"]
    assert reports["both"]["identifiers_searched"] == ["bsn", "name"]


def test_a_consent_given_by_bsn_is_found_and_withdrawn_for_the_signal_by_name(
    client: TestClient, token_for: Headers, world: Any, broker: Broker, db_session: Any
) -> None:
    person, _, _ = signalled_twice(client, token_for)
    municipality = token_for("municipality")
    given = client.post(
        "/v1/consents",
        json={
            "person": by_bsn(person),
            "purposes": ["debt-service-referral"],
            "recipients": [world["debt_service"].id],
            "collection_method": "in_person",
            "notice_version": "2026-01",
        },
        headers=municipality,
    )
    assert given.status_code == 201, given.text
    found = client.post(
        "/v1/consents/search",
        json={"person": by_name(person)},
        headers=token_for("privacy_officer"),
    ).json()["consents"]
    assert [c["id"] for c in found] == [given.json()["id"]]

    name = identifiers(broker.keyring.pseudonym_keys, Person(**by_name(person))).name[-1]

    def consents_by_name() -> list[Any]:
        with db_session() as session:
            state = subject_states(session, [name], with_consents=True)[name]
        return list(state.consents)

    [before] = consents_by_name()
    assert before.withdrawn_on is None
    withdrawn = client.post(f"/v1/consents/{found[0]['id']}/withdrawal", headers=municipality)
    assert withdrawn.status_code == 200, withdrawn.text
    [after] = consents_by_name()
    assert after.withdrawn_on is not None


def test_two_bsns_with_one_name_are_never_one_person_and_the_name_is_ambiguous(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    first = a_person()
    twin = {**first, "bsn": generated_bsn()}  # same initial, surname and birth date
    housing = token_for("housing_corporation")
    one = send(client, housing, signal_body(person=first, address=HOME))
    other = send(client, housing, signal_body(person=twin, address=ELSEWHERE))
    assert person_of(db_session, one) != person_of(db_session, other)
    [ambiguous] = actions(db_session, "subject.ambiguous")
    assert ambiguous["decision"] == "recorded"
    people = {person_of(db_session, one), person_of(db_session, other)}
    with db_session() as session:
        name_row = session.scalars(select(Subject).where(Subject.kind == "name")).one()
        assert name_row.ambiguous
        assert name_row.person_id not in people

    officer = token_for("privacy_officer")
    by_the_name = client.post(
        "/v1/audit/access-report", json={"person": by_name(first)}, headers=officer
    ).json()
    assert by_the_name["ambiguous"] is True
    assert by_the_name["disclosures"] == []  # neither BSN's signals are the name's alone
    by_the_bsn = client.post(
        "/v1/audit/access-report", json={"person": by_bsn(first)}, headers=officer
    ).json()
    assert [d["purpose"] for d in by_the_bsn["disclosures"]] == ["early-signal"]

    # The first person's objection does not reach the twin.
    objected = client.post(
        "/v1/objections",
        json={"person": by_bsn(first), "purposes": ["early-signal"]},
        headers=officer,
    )
    assert objected.status_code == 201
    again = client.post("/v1/signals", json=signal_body(person=twin), headers=housing)
    assert again.status_code == 201, again.text
    # But a signal by the name alone might be the first person's: their objection holds it.
    by_name_only = signal_body(kind="energy", person={**by_name(first), "bsn": None})
    held = client.post("/v1/signals", json=by_name_only, headers=token_for("energy_supplier"))
    assert held.status_code == 422, held.text
    assert "objected" in held.json()["detail"]
    with db_session() as session:
        name_row = session.scalars(select(Subject).where(Subject.kind == "name")).one()
        bsn_rows = session.scalars(select(Subject.id).where(Subject.kind == "bsn")).all()
    assert sorted(name_row.ambiguous_with or []) == sorted(str(i) for i in bsn_rows)


def test_a_third_bsn_with_an_ambiguous_name_joins_the_people_it_may_be(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    first = a_person()
    housing = token_for("housing_corporation")
    for bsn in (first["bsn"], generated_bsn(), generated_bsn()):
        send(client, housing, signal_body(person={**first, "bsn": bsn}))
    with db_session() as session:
        name_row = session.scalars(select(Subject).where(Subject.kind == "name")).one()
        people = set(session.scalars(select(Subject.person_id)))
    assert len(name_row.ambiguous_with or []) == 3
    assert len(people) == 4  # three BSN people and the name apart
    # One of them restricted: a signal by the name alone is held, as a deny.
    restricted = client.post(
        "/v1/subjects/restriction",
        json={"person": by_bsn(first), "reason": "betwist"},
        headers=token_for("privacy_officer"),
    )
    assert restricted.status_code == 200, restricted.text
    by_name_only = signal_body(kind="energy", person={**by_name(first), "bsn": None})
    held = client.post("/v1/signals", json=by_name_only, headers=token_for("energy_supplier"))
    assert held.status_code == 422 and "restricted" in held.text, held.text


def test_a_name_only_signal_before_the_bsn_is_linked_when_the_bsn_comes_and_logged(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    person = a_person()
    energy = send(
        client,
        token_for("energy_supplier"),
        signal_body(kind="energy", person={**by_name(person), "bsn": None}, address=ELSEWHERE),
    )
    housing = send(
        client, token_for("housing_corporation"), signal_body(person=person, address=HOME)
    )
    assert person_of(db_session, housing) == person_of(db_session, energy)
    [linked] = actions(db_session, "subject.linked")
    assert linked["subject"] != linked["resources"]["name_pseudonym"]
    logged = b"".join(orjson.dumps(e) for e in actions(db_session, "subject.linked"))
    assert person["bsn"].encode() not in logged and person["surname"].encode() not in logged


def test_people_signalled_before_linking_are_linked_by_init(
    client: TestClient, token_for: Headers, broker: Broker, db_session: Any
) -> None:
    _, housing, energy = signalled_twice(client, token_for)
    with db_session() as session:
        # What the migration leaves: every row a person of its own, its kind unknown.
        session.execute(update(Subject).values(person_id=Subject.id, kind=None))
    assert person_of(db_session, housing) != person_of(db_session, energy)
    with db_session() as session:
        done = identities.link_stored(session, broker.keyring, broker.audit, now())
    assert done == 2
    assert person_of(db_session, housing) == person_of(db_session, energy)
    with db_session() as session:
        assert sorted(session.scalars(select(Subject.kind))) == ["bsn", "name"]
        assert identities.link_stored(session, broker.keyring, broker.audit, now()) == 0
    assert len(actions(db_session, "subject.linked")) == 1


def test_after_a_pseudonym_rotation_the_report_by_name_finds_the_bsn_signals_old_entries(
    rotating: Settings,  # noqa: F811
) -> None:
    person = a_person()
    before = Running(rotating)
    try:
        send(
            before.client,
            before.headers("housing_corporation"),
            signal_body(person=person, address=HOME),
        )
    finally:
        before.close()
    rotate(rotating, "pseudonym")
    after = Running(rotating, list(before.world.values()))
    try:
        report = after.client.post(
            "/v1/audit/access-report",
            json={"person": by_name(person)},
            headers=after.headers("privacy_officer"),
        ).json()
        assert [d["purpose"] for d in report["disclosures"]] == ["early-signal"]
    finally:
        after.close()


def test_a_corrected_surname_becomes_an_identifier_a_later_signal_by_name_joins(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    person, housing, energy = signalled_twice(client, token_for)
    corrected = f"Hersteldma-{uuid.uuid4().hex[:6]}"
    answer = client.post(
        "/v1/subjects/rectification",
        json={"person": by_bsn(person), "corrections": {"surname": corrected}, "reason": "typfout"},
        headers=token_for("privacy_officer"),
    )
    assert answer.status_code == 200, answer.text
    renamed = {**by_name(person), "surname": corrected, "bsn": None}
    water = send(client, token_for("water_company"), signal_body(kind="water", person=renamed))
    assert person_of(db_session, water) == person_of(db_session, housing)
    assert person_of(db_session, energy) == person_of(db_session, housing)
    # The name as first signalled still finds the person too.
    report = client.post(
        "/v1/audit/access-report",
        json={"person": by_name(person)},
        headers=token_for("privacy_officer"),
    ).json()
    assert len([d for d in report["disclosures"] if d["purpose"] == "early-signal"]) == 3
