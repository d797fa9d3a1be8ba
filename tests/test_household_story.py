"""The household's story on the case page and at ``/v1/cases/{id}/story``: the creditors by
name only where the caller's rule lists ``provider.name``; the household's earlier cases as
links where the caller may see them and as a plain line otherwise; the notices after a
rectification, a restriction or an erasure in a worker's words, to the organisation they
are addressed to and to nobody else. Per backend (the ``database`` fixture) and per role."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange.auditlog.models import AuditEntry
from exchange.auth.tokens import Principal
from exchange.clock import now, today
from exchange.organisations.terms import OrganisationKind
from exchange.policy.service import activate
from exchange.rights.notices import notices_for_queue
from exchange.rights.report import long_date
from tests.conftest import Login
from tests.factories import signal_body
from tests.test_cases import other_municipality
from tests.test_policy_versions import copy_of_shipped_register, edit_rules

Headers = Callable[[str], dict[str, str]]
ROLES = ["municipality", "neighbourhood_team", "debt_service"]
RULE_OF = {
    "municipality": "municipality.early-signal.receive",
    "neighbourhood_team": "neighbourhood-team.outreach.receive",
    "debt_service": "debt-service.referral.receive",
}
HOUSING = "Woonstichting De Maasoever"
ENERGY = "Energie Zuid-Holland"


def send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def two_creditors(client: TestClient, token_for: Headers) -> tuple[str, dict[str, Any]]:
    """One person at one address, signalled for rent and for energy: one case."""
    rent = signal_body()
    energy = signal_body(kind="energy", person=rent["person"], address=rent["address"])
    first = send(client, token_for("housing_corporation"), rent)
    second = send(client, token_for("energy_supplier"), energy)
    assert first["case_id"] == second["case_id"]
    return first["case_id"], rent


def hand_to(
    client: TestClient,
    token_for: Headers,
    world: Any,
    case_id: str,
    kind: str,
    bsns: list[str],
) -> None:
    """The municipality hands the case to the team or, with every person's consent, to
    the debt service; the municipality keeps its own case."""
    if kind == "municipality":
        return
    municipality = token_for("municipality")
    if kind == "debt_service":
        for bsn in bsns:
            consent = client.post(
                "/v1/consents",
                json={
                    "person": {"bsn": bsn},
                    "purposes": ["debt-service-referral"],
                    "recipients": [world["debt_service"].id],
                    "collection_method": "in_person",
                    "notice_version": "2026-01",
                },
                headers=municipality,
            )
            assert consent.status_code == 201, consent.text
    assigned = client.post(
        f"/v1/cases/{case_id}/assignment",
        json={"organisation_id": world[kind].id},
        headers=municipality,
    )
    assert assigned.status_code == 200, assigned.text


def story_of(client: TestClient, headers: dict[str, str], case_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/cases/{case_id}/story", headers=headers)
    assert response.status_code == 200, response.text
    story: dict[str, Any] = response.json()
    return story


def close(client: TestClient, headers: dict[str, str], case_id: str) -> None:
    attempt = client.post(
        f"/v1/cases/{case_id}/contact-attempts",
        json={"channel": "home_visit", "date": today().isoformat(), "reached": True},
        headers=headers,
    )
    assert attempt.status_code == 201, attempt.text
    closed = client.post(
        f"/v1/cases/{case_id}/result", json={"result": "follow_up_financial"}, headers=headers
    )
    assert closed.status_code == 200, closed.text


def entries(db_session: Any, action: str) -> list[dict[str, Any]]:
    with db_session() as session:
        rows = session.execute(
            select(AuditEntry.entry)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.leaf_index)
        )
        return [orjson.loads(data) for (data,) in rows]


def principal(world: Any, kind: str) -> Principal:
    return Principal(
        client_id="test",
        organisation_id=uuid.UUID(world[kind].id),
        organisation_kind=OrganisationKind(kind),
        scopes=frozenset(),
    )


# Who signalled ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ROLES)
def test_each_role_whose_rule_lists_the_creditor_sees_it_by_name(
    kind: str,
    client: TestClient,
    token_for: Headers,
    world: Any,
    login: Login,
) -> None:
    case_id, rent = two_creditors(client, token_for)
    hand_to(client, token_for, world, case_id, kind, [rent["person"]["bsn"]])

    story = story_of(client, token_for(kind), case_id)
    assert story["creditor_names"] is True
    assert [(c["name"], c["organisation_kind"], c["signal_kinds"]) for c in story["creditors"]] == [
        (HOUSING, "housing_corporation", ["rent"]),
        (ENERGY, "energy_supplier", ["energy"]),
    ]
    assert story["signal_kinds"] == ["energy", "rent"]

    page = login(kind).get(f"/ui/cases/{case_id}")
    assert page.status_code == 200, page.text
    assert "Wie meldde" in page.text
    assert HOUSING in page.text and ENERGY in page.text
    assert "woningcorporatie" in page.text


@pytest.mark.parametrize("kind", ROLES)
def test_a_rule_without_the_creditor_field_shows_the_signal_kinds_and_never_the_name(
    kind: str,
    client: TestClient,
    token_for: Headers,
    world: Any,
    login: Login,
    db_session: Any,
    tmp_path: Path,
) -> None:
    directory = copy_of_shipped_register(tmp_path)

    def without_creditor(rules: list[dict[str, Any]]) -> None:
        for rule in rules:
            if rule["id"] == RULE_OF[kind]:
                rule["fields"] = [f for f in rule["fields"] if f != "provider.name"]

    edit_rules(directory, without_creditor)
    with db_session() as session:
        activate(session, directory)
    case_id, rent = two_creditors(client, token_for)
    hand_to(client, token_for, world, case_id, kind, [rent["person"]["bsn"]])

    story = story_of(client, token_for(kind), case_id)
    assert story["creditor_names"] is False
    assert story["creditors"] == []
    assert story["signal_kinds"] == ["energy", "rent"]
    assert HOUSING not in orjson.dumps(story).decode()

    page = login(kind).get(f"/ui/cases/{case_id}").text
    assert HOUSING not in page and ENERGY not in page
    assert "Gemeld: energie, huur." in page
    assert "Uw regel in het verwerkingsregister toont niet wie de melding deed." in page


# The household's other cases --------------------------------------------------------------


def repeat(client: TestClient, token_for: Headers) -> tuple[str, str, dict[str, Any]]:
    """A household's first case, closed by the municipality; then a new signal: a repeat."""
    first_body = signal_body()
    first = send(client, token_for("housing_corporation"), first_body)
    close(client, token_for("municipality"), first["case_id"])
    again = signal_body(person=first_body["person"], address=first_body["address"])
    second = send(client, token_for("housing_corporation"), again)
    assert second["case_id"] != first["case_id"]
    return first["case_id"], second["case_id"], first_body


def test_a_repeat_case_links_the_earlier_closed_case_for_the_municipality(
    client: TestClient, token_for: Headers, login: Login, db_session: Any
) -> None:
    earlier, later, _ = repeat(client, token_for)
    municipality = token_for("municipality")
    case = client.get(f"/v1/cases/{later}", headers=municipality).json()
    assert case["classification"] == "repeat"

    story = story_of(client, municipality, later)
    [line] = story["other_cases"]
    assert line["shown"] == "yours" and line["relation"] == "earlier"
    assert line["id"] == earlier
    assert (
        line["number"] == client.get(f"/v1/cases/{earlier}", headers=municipality).json()["number"]
    )
    assert line["status"] == "closed" and line["result"] == "follow_up_financial"
    assert line["opened_at"] and line["closed_at"]
    # What the story shows of the earlier case was disclosed for its person, on the log.
    [logged] = entries(db_session, "case.story")
    assert logged["decision"] == "permit"
    assert logged["resources"] == {"case": earlier, "story_of": later}

    page = login("municipality").get(f"/ui/cases/{later}").text
    assert f'href="/ui/cases/{earlier}"' in page
    assert "Eerdere casus" in page
    assert "Vervolghulp en/of verwijzing financieel" in page
    # And the earlier case's story names the later one.
    [back] = story_of(client, municipality, earlier)["other_cases"]
    assert back["relation"] == "later" and back["id"] == later


def test_a_team_sees_an_earlier_case_not_assigned_to_it_only_as_a_plain_line(
    client: TestClient, token_for: Headers, world: Any, login: Login
) -> None:
    earlier, later, _ = repeat(client, token_for)
    hand_to(client, token_for, world, later, "neighbourhood_team", [])
    team = token_for("neighbourhood_team")

    [line] = story_of(client, team, later)["other_cases"]
    assert line == {"relation": "earlier", "shown": "not_yours"}  # no number, no dates
    page = login("neighbourhood_team").get(f"/ui/cases/{later}").text
    assert "eerdere casus (niet bij u in behandeling)" in page
    assert earlier not in page
    assert client.get(f"/v1/cases/{earlier}/story", headers=team).status_code == 404


def test_a_team_sees_an_earlier_case_it_worked_on_as_a_link(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    body = signal_body()
    first = send(client, token_for("housing_corporation"), body)
    hand_to(client, token_for, world, first["case_id"], "neighbourhood_team", [])
    team = token_for("neighbourhood_team")
    close(client, team, first["case_id"])
    second = send(
        client,
        token_for("housing_corporation"),
        signal_body(person=body["person"], address=body["address"]),
    )
    hand_to(client, token_for, world, second["case_id"], "neighbourhood_team", [])

    [line] = story_of(client, team, second["case_id"])["other_cases"]
    assert line["shown"] == "yours" and line["id"] == first["case_id"]
    assert line["result"] == "follow_up_financial"


def test_the_debt_service_rule_does_not_show_the_household_s_other_cases(
    client: TestClient, token_for: Headers, world: Any
) -> None:
    _, later, body = repeat(client, token_for)
    hand_to(client, token_for, world, later, "debt_service", [body["person"]["bsn"]])
    story = story_of(client, token_for("debt_service"), later)
    assert story["other_cases"] is None  # its rule does not list case.composition
    assert [c["name"] for c in story["creditors"]] == [HOUSING]


# Notices after a right --------------------------------------------------------------------


def notice_day() -> str:
    return long_date(today(), "nl")


def test_after_a_rectification_the_team_s_case_page_says_so_and_no_other_organisation_sees_it(
    client: TestClient, token_for: Headers, world: Any, login: Login, db_session: Any
) -> None:
    case_id, rent = two_creditors(client, token_for)
    hand_to(client, token_for, world, case_id, "neighbourhood_team", [])
    other_case, _ = two_creditors(client, token_for)
    before = now()
    corrected = client.post(
        "/v1/subjects/rectification",
        json={"person": {"bsn": rent["person"]["bsn"]}, "corrections": {"phone": "+31612345678"}},
        headers=token_for("privacy_officer"),
    )
    assert corrected.status_code == 200, corrected.text

    sentence = f"Op {notice_day()} zijn gegevens in deze casus verbeterd op verzoek van de persoon."
    [notice] = story_of(client, token_for("neighbourhood_team"), case_id)["notices"]
    assert notice["event"] == "rectification"
    assert notice["text"]["nl"] == sentence
    assert notice["text"]["en"].startswith("On ")
    assert sentence in login("neighbourhood_team").get(f"/ui/cases/{case_id}").text
    # The municipality received the data too and is told on its own page; not on another case.
    assert sentence in login("municipality").get(f"/ui/cases/{case_id}").text
    assert story_of(client, token_for("municipality"), other_case)["notices"] == []
    # The debt service never received it: no notice, and the case is not its to know of.
    assert (
        client.get(f"/v1/cases/{case_id}/story", headers=token_for("debt_service")).status_code
        == 404
    )
    with db_session() as session:
        assert notices_for_queue(session, principal(world, "debt_service"), before) == []
        [queued] = notices_for_queue(session, principal(world, "neighbourhood_team"), before)
    assert queued["text"]["nl"].startswith(f"Op {notice_day()} zijn gegevens verbeterd")
    assert [c["id"] for c in queued["cases"]] == [case_id]


def shared_household(client: TestClient, token_for: Headers) -> tuple[str, str, str]:
    """Two people at one address, each signalled: one case. Returns it and both BSNs."""
    first = signal_body()
    partner = signal_body(kind="energy", address=first["address"])
    mine = send(client, token_for("housing_corporation"), first)
    theirs = send(client, token_for("energy_supplier"), partner)
    assert mine["case_id"] == theirs["case_id"]
    return mine["case_id"], first["person"]["bsn"], partner["person"]["bsn"]


def test_after_a_restriction_the_case_page_says_a_person_s_data_is_held_back(
    client: TestClient, token_for: Headers, world: Any, login: Login, db_session: Any
) -> None:
    case_id, restricted, _ = shared_household(client, token_for)
    municipality = token_for("municipality")
    assert client.get(f"/v1/cases/{case_id}", headers=municipality).status_code == 200
    before = now()
    response = client.post(
        "/v1/subjects/restriction",
        json={"person": {"bsn": restricted}, "reason": "juistheid betwist"},
        headers=token_for("privacy_officer"),
    )
    assert response.status_code == 200, response.text

    page = login("municipality").get(f"/ui/cases/{case_id}").text
    assert (
        f"Op {notice_day()} heeft een persoon in deze casus gevraagd om het gebruik van de "
        "gegevens te beperken. Zolang dat duurt, ziet u de gegevens van die persoon niet."
    ) in page
    assert restricted not in page  # the restricted person's signal is not shown
    story = story_of(client, municipality, case_id)
    assert [c["name"] for c in story["creditors"]] == [ENERGY]  # the other person's creditor
    with db_session() as session:
        [queued] = notices_for_queue(session, principal(world, "municipality"), before)
        assert notices_for_queue(session, principal(world, "neighbourhood_team"), before) == []
    assert queued["event"] == "restriction"
    assert "beperken" in queued["text"]["nl"]
    assert client.get("/v1/notices", headers=token_for("neighbourhood_team")).json()["items"] == []


def test_after_an_erasure_the_case_page_says_a_signal_was_erased_and_the_queue_names_a_lost_case(
    client: TestClient, token_for: Headers, world: Any, login: Login, db_session: Any
) -> None:
    municipality = token_for("municipality")
    case_id, erased, _ = shared_household(client, token_for)
    assert client.get(f"/v1/cases/{case_id}", headers=municipality).status_code == 200
    close(client, municipality, case_id)
    # A second household of one person, read and closed: erasing that person erases the case.
    alone_body = signal_body()
    alone = send(client, token_for("housing_corporation"), alone_body)
    assert client.get(f"/v1/cases/{alone['case_id']}", headers=municipality).status_code == 200
    close(client, municipality, alone["case_id"])
    before = now()
    officer = token_for("privacy_officer")
    for bsn in (erased, alone_body["person"]["bsn"]):
        response = client.post(
            "/v1/subjects/erasure", json={"person": {"bsn": bsn}}, headers=officer
        )
        assert response.status_code == 200, response.text

    page = login("municipality").get(f"/ui/cases/{case_id}").text
    assert (
        f"Op {notice_day()} is een signaal in deze casus gewist op verzoek van de persoon; u "
        "ziet het niet meer."
    ) in page
    assert client.get(f"/v1/cases/{alone['case_id']}", headers=municipality).status_code == 404
    with db_session() as session:
        queued = notices_for_queue(session, principal(world, "municipality"), before)
        assert notices_for_queue(session, principal(world, "debt_service"), before) == []
    assert {n["event"] for n in queued} == {"erasure"}
    named = [c for n in queued for c in n["cases"]]
    assert any(c["id"] == case_id and c["gone"] is None and c["number"] for c in named)
    [lost] = [c for c in named if c["gone"]]
    assert lost["gone"] == "erased" and lost["number"] is None
    assert lost["text"]["nl"] == "een casus die helemaal is gewist"
    assert alone["case_id"] not in orjson.dumps(queued).decode()


# Another organisation's case --------------------------------------------------------------


def test_another_organisation_s_case_story_is_a_404(
    client: TestClient, token_for: Headers, db_session: Any, login: Login
) -> None:
    case_id, _ = two_creditors(client, token_for)
    utrecht = other_municipality(client, db_session)
    for headers in (
        utrecht["headers"]["municipality"],
        utrecht["headers"]["team"],
        token_for("neighbourhood_team"),  # not assigned to it
        token_for("debt_service"),
    ):
        assert client.get(f"/v1/cases/{case_id}/story", headers=headers).status_code == 404
    missing = client.get(f"/v1/cases/{uuid.uuid4()}/story", headers=token_for("municipality"))
    assert missing.status_code == 404
    assert (
        client.get(f"/v1/cases/{case_id}/story", headers=token_for("privacy_officer")).status_code
        == 403
    )
    assert login("neighbourhood_team").get(f"/ui/cases/{case_id}").status_code == 404
