"""Acts on a case (issue 16, items 2 to 4): hand-over and co-working, ending and giving
back an assignment, the history of who did what, the debt service's own record, consent
at the door, errors on the form itself, confirmation before closing, the casework rules for
result codes, reopening within the period, and a letter that cannot be "reached".

Through the API with real tokens and through the pages (``login``), on SQLite and
PostgreSQL. Time is moved as tests/test_retention.py does: by dating the stored moment
back, not by a fake clock (a token or a login session would not survive a jump of weeks).
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from exchange.cases.models import Case, ContactAttempt
from exchange.clock import now, today
from exchange.consents.models import Consent
from exchange.organisations.service import add_organisation
from tests.conftest import Login, csrf
from tests.factories import errors_of, problem_of, signal_body
from tests.test_casework_queue import entries, send

Headers = Callable[[str], dict[str, str]]
TEAM_NAME = "Demo neighbourhood team"  # the display names the ``people`` fixture gives
CITY_NAME = "Demo municipality"
DEBT_NAME = "Demo debt service"


def new_case(client: TestClient, token_for: Headers) -> tuple[str, dict[str, Any]]:
    body = signal_body()
    return send(client, token_for("housing_corporation"), body)["case_id"], body


def assign(
    client: TestClient, headers: dict[str, str], case_id: str, to: str, mode: str = "hand_over"
) -> Any:
    return client.post(
        f"/v1/cases/{case_id}/assignment",
        json={"organisation_id": to, "mode": mode},
        headers=headers,
    )


def consent(client: TestClient, token_for: Headers, bsn: str, debt_service: str) -> str:
    given = client.post(
        "/v1/consents",
        json={
            "person": {"bsn": bsn},
            "purposes": ["debt-service-referral"],
            "recipients": [debt_service],
            "collection_method": "in_person",
            "notice_version": "2026-01",
        },
        headers=token_for("municipality"),
    )
    assert given.status_code == 201, given.text
    identifier: str = given.json()["id"]
    return identifier


def second_team(db_session: Any, world: Any) -> str:
    with db_session() as session:
        team = add_organisation(
            session,
            kind="neighbourhood_team",
            name="Wijkteam Charlois",
            parent_id=uuid.UUID(world["municipality"].id),
        )
        return str(team.id)


def text_of(page: str) -> str:
    """What a person reads: the page without tags, entities decoded, spaces collapsed."""
    body = page.split("<body", 1)[-1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


# Hand-over, co-working, ending ------------------------------------------------------------


def test_a_hand_over_ends_the_earlier_team_s_access_on_record(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    case_id, _ = new_case(client, token_for)
    municipality, team = token_for("municipality"), token_for("neighbourhood_team")
    charlois = second_team(db_session, world)
    first = assign(client, municipality, case_id, world["neighbourhood_team"].id)
    assert first.status_code == 200, first.text
    assert first.json()["assignment"]["role"] == "lead"
    assert client.get(f"/v1/cases/{case_id}", headers=team).status_code == 200
    team_page = login("neighbourhood_team")
    assert team_page.get(f"/ui/cases/{case_id}").status_code == 200

    # The municipality hands over to Charlois on its page: the first team's access ends.
    worker = login("municipality")
    moved = worker.post(
        f"/ui/cases/{case_id}/assignment",
        data={"organisation_id": charlois, "mode": "hand_over", "csrf_token": csrf(worker)},
    )
    assert moved.status_code == 303
    assert client.get(f"/v1/cases/{case_id}", headers=team).status_code == 404
    assert team_page.get(f"/ui/cases/{case_id}").status_code == 404
    assert case_id not in team_page.get("/ui/cases").text
    document = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    by_org = {a["organisation_id"]: a for a in document["assignments"]}
    assert by_org[world["neighbourhood_team"].id]["ended_reason"] == "handed_over"
    assert by_org[world["neighbourhood_team"].id]["ended_at"]
    assert by_org[charlois]["ended_at"] is None and by_org[charlois]["role"] == "lead"
    acts = [(e["act"], e.get("organisation"), e.get("ended")) for e in document["history"]]
    assert acts == [
        ("assigned", world["neighbourhood_team"].id, None),
        ("assigned", charlois, world["neighbourhood_team"].id),
    ]
    # Who: the API client, then the person on the page (named on the page by name).
    assert document["history"][0]["by"] == world["municipality"].client_id
    assert document["history"][1]["by"].startswith("user:")
    page = text_of(worker.get(f"/ui/cases/{case_id}").text)
    assert "overgedragen aan · Wijkteam Charlois" in page
    assert f"Gemeente Rotterdam ({CITY_NAME})" in page
    assert "Wijkteam Rotterdam Noord · behandelaar" in page and "overgedragen" in page
    logged = entries(db_session, "case.assign")
    assert [e["recipient"] for e in logged] == [world["neighbourhood_team"].id, charlois]
    assert all(e["decision"] == "permit" for e in logged)


def test_a_co_worker_works_alongside_and_the_municipality_can_end_either(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    case_id, _ = new_case(client, token_for)
    municipality = token_for("municipality")
    charlois = second_team(db_session, world)
    assert assign(client, municipality, case_id, world["neighbourhood_team"].id).status_code == 200
    added = assign(client, municipality, case_id, charlois, mode="co_worker")
    assert added.status_code == 200, added.text
    assert added.json()["assignment"]["role"] == "co_worker" and added.json()["ended"] == []
    # Both teams see it.
    assert client.get(f"/v1/cases/{case_id}", headers=token_for("neighbourhood_team")).is_success
    document = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    live = {a["organisation_id"]: a for a in document["assignments"] if a["ended_at"] is None}
    assert {k: v["role"] for k, v in live.items()} == {
        world["neighbourhood_team"].id: "lead",
        charlois: "co_worker",
    }
    # Twice the same co-worker: refused, named on the field.
    again = assign(client, municipality, case_id, charlois, mode="co_worker")
    assert errors_of(problem_of(again, 409)) == [("organisation_id", "is assigned already")]
    worker = login("municipality")
    page = worker.post(
        f"/ui/cases/{case_id}/assignment",
        data={"organisation_id": charlois, "mode": "co_worker", "csrf_token": csrf(worker)},
    )
    assert page.status_code == 409
    assert "Deze organisatie werkt al aan de casus." in page.text
    assert 'value="co_worker" selected' in page.text  # the choice is kept

    # The municipality ends the lead's assignment on its page: that team is out.
    lead = live[world["neighbourhood_team"].id]["id"]
    ended = worker.post(
        f"/ui/cases/{case_id}/assignments/{lead}/end", data={"csrf_token": csrf(worker)}
    )
    assert ended.status_code == 303
    assert "Toewijzing beëindigd." in worker.get(ended.headers["location"]).text
    assert (
        client.get(f"/v1/cases/{case_id}", headers=token_for("neighbourhood_team")).status_code
        == 404
    )
    document = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    assert document["status"] == "assigned"  # Charlois still works on it
    assert document["history"][-1]["act"] == "assignment_ended"
    assert document["history"][-1]["organisation"] == world["neighbourhood_team"].id
    # Ended once is ended: a second end is 404.
    twice = client.post(f"/v1/cases/{case_id}/assignments/{lead}/end", headers=municipality)
    problem_of(twice, 404)
    assert entries(db_session, "case.assignment_ended")[-1]["decision"] == "permit"


def test_a_team_gives_its_own_assignment_back_and_cannot_end_another_s(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    case_id, _ = new_case(client, token_for)
    municipality, team = token_for("municipality"), token_for("neighbourhood_team")
    charlois = second_team(db_session, world)
    assign(client, municipality, case_id, world["neighbourhood_team"].id)
    other = assign(client, municipality, case_id, charlois, mode="co_worker").json()
    # The team knows its own assignment, not the others'.
    seen = client.get(f"/v1/cases/{case_id}", headers=team).json()
    assert "assignments" not in seen
    mine = seen["my_assignment"]["id"]
    refused = client.post(
        f"/v1/cases/{case_id}/assignments/{other['assignment']['id']}/end", headers=team
    )
    problem_of(refused, 404)

    browser = login("neighbourhood_team")
    page = browser.get(f"/ui/cases/{case_id}").text
    assert "Casus teruggeven" in page and f"/assignments/{mine}/end" in page
    back = browser.post(
        f"/ui/cases/{case_id}/assignments/{mine}/end", data={"csrf_token": csrf(browser)}
    )
    assert back.status_code == 303 and back.headers["location"].startswith("/ui/cases?")
    assert "Casus teruggegeven. U ziet hem niet meer." in browser.get(back.headers["location"]).text
    assert browser.get(f"/ui/cases/{case_id}").status_code == 404
    document = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    ended = next(a for a in document["assignments"] if a["id"] == mine)
    assert ended["ended_reason"] == "ended"
    last = document["history"][-1]
    assert (last["act"], last["organisation_id"]) == (
        "assignment_ended",
        world["neighbourhood_team"].id,
    )
    assert last["by"].startswith("user:")
    # Charlois gives back too: nobody works on it, the case is open again.
    with db_session() as session:
        from exchange.auth.service import add_client

        issued = add_client(session, uuid.UUID(charlois))
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(issued.client_id, issued.client_secret),
    ).json()["access_token"]
    answer = client.post(
        f"/v1/cases/{case_id}/assignments/{other['assignment']['id']}/end",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "open"


# Attempts, history and the debt service ----------------------------------------------------


def test_the_history_names_who_recorded_each_attempt_and_says_niet_bereikt_and_verstuurd(
    client: TestClient, token_for: Headers, world: Any, login: Login
) -> None:
    case_id, _ = new_case(client, token_for)
    municipality = token_for("municipality")
    assign(client, municipality, case_id, world["neighbourhood_team"].id)
    team = login("neighbourhood_team")
    token = csrf(team)
    for channel, reached in (("phone", "no"), ("letter", "yes"), ("home_visit", "yes")):
        answer = team.post(
            f"/ui/cases/{case_id}/contact-attempts",
            data={
                "channel": channel,
                "date": today().isoformat(),
                "reached": reached,
                "note": f"poging per {channel}",
                "csrf_token": token,
            },
        )
        assert answer.status_code == 303, answer.text
    page = text_of(team.get(f"/ui/cases/{case_id}").text)
    assert "Telefoon · niet bereikt" in page or "telefoon · niet bereikt" in page.lower()
    assert "verstuurd" in page and "nee bereikt" not in page
    assert page.count(f"Wijkteam Rotterdam Noord ({TEAM_NAME})") >= 3
    document = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    # A letter ticked "reached" on the page is stored as sent, not as reached.
    assert [(a["channel"], a["reached"]) for a in document["contact_attempts"]] == [
        ("phone", False),
        ("letter", False),
        ("home_visit", True),
    ]
    assert all(a["recorded_by_client"].startswith("user:") for a in document["contact_attempts"])
    attempts = [e for e in document["history"] if e["act"] == "attempt"]
    assert len(attempts) == 3
    assert {e["organisation_id"] for e in attempts} == {world["neighbourhood_team"].id}
    # The municipality reads who did it on its page too.
    city = text_of(login("municipality").get(f"/ui/cases/{case_id}").text)
    assert f"Wijkteam Rotterdam Noord ({TEAM_NAME})" in city


def test_a_letter_or_card_cannot_be_reached_in_the_api(
    client: TestClient, token_for: Headers, db_session: Any
) -> None:
    case_id, _ = new_case(client, token_for)
    for channel in ("letter", "card"):
        answer = client.post(
            f"/v1/cases/{case_id}/contact-attempts",
            json={"channel": channel, "date": today().isoformat(), "reached": True},
            headers=token_for("municipality"),
        )
        problem = problem_of(answer, 422)
        assert errors_of(problem) == [("reached", "a sent channel cannot reach")]
        # The code an integrator (or a page) says it in its own words by.
        assert problem["errors"][0]["code"] == "sent_not_answered"
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(ContactAttempt)) == 0
    sent = client.post(
        f"/v1/cases/{case_id}/contact-attempts",
        json={"channel": "letter", "date": today().isoformat(), "reached": False},
        headers=token_for("municipality"),
    )
    assert sent.status_code == 201, sent.text


def test_the_debt_service_records_attempts_and_a_result_on_its_page_without_notes(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    case_id, body = new_case(client, token_for)
    consent(client, token_for, body["person"]["bsn"], world["debt_service"].id)
    assert assign(client, token_for("municipality"), case_id, world["debt_service"].id).is_success
    debt = login("debt_service")
    page = debt.get(f"/ui/cases/{case_id}").text
    assert "Contactpoging vastleggen" in page or 'action="/ui/cases/' in page
    assert 'name="note"' not in page  # its rule has no notes
    assert body["person"]["bsn"] not in page
    answer = debt.post(
        f"/ui/cases/{case_id}/contact-attempts",
        data={
            "channel": "phone",
            "date": today().isoformat(),
            "reached": "yes",
            "csrf_token": csrf(debt),
        },
    )
    assert answer.status_code == 303, answer.text
    token = csrf(debt, f"/ui/cases/{case_id}")
    asked = debt.post(
        f"/ui/cases/{case_id}/result", data={"result": "follow_up_financial", "csrf_token": token}
    )
    assert asked.status_code == 200 and "Casus echt afsluiten?" in asked.text
    closed = debt.post(
        f"/ui/cases/{case_id}/result",
        data={"result": "follow_up_financial", "confirmed": "yes", "csrf_token": token},
    )
    assert closed.status_code == 303
    document = client.get(f"/v1/cases/{case_id}", headers=token_for("municipality")).json()
    assert document["status"] == "closed" and document["result"] == "follow_up_financial"
    [attempt] = document["contact_attempts"]
    assert attempt["recorded_by"] == world["debt_service"].id
    recorded = entries(db_session, "case.contact_attempt")[-1]
    assert recorded["rule_id"] == "debt-service.referral.record"
    assert recorded["decision"] == "permit"
    history = text_of(debt.get(f"/ui/cases/{case_id}").text)
    assert f"Schuldhulpverlening Rotterdam ({DEBT_NAME})" in history


# Consent at the door ------------------------------------------------------------------------


def test_the_team_records_consent_at_the_door_then_hands_over_and_loses_access(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    case_id, _ = new_case(client, token_for)
    assign(client, token_for("municipality"), case_id, world["neighbourhood_team"].id)
    team = login("neighbourhood_team")
    token = csrf(team)
    debt_id = world["debt_service"].id

    # Without consent: refused on the form, in Dutch, the refusal on the log.
    early = team.post(
        f"/ui/cases/{case_id}/assignment",
        data={"organisation_id": debt_id, "mode": "hand_over", "csrf_token": token},
    )
    assert early.status_code == 422
    assert "Overdragen aan de schuldhulpverlener kan pas als de inwoner toestemming gaf." in (
        early.text
    )
    assert 'id="e-assign-organisation_id"' in early.text
    assert entries(db_session, "case.assign")[-1]["decision"] == "deny"

    # The box not ticked: nothing recorded, said on the field, the choices kept.
    unticked = team.post(
        f"/ui/cases/{case_id}/consents",
        data={"debt_service_id": debt_id, "collection_method": "phone", "csrf_token": token},
    )
    assert unticked.status_code == 422
    assert "Vink aan dat de inwoner hiermee instemde." in unticked.text
    assert 'value="phone" selected' in unticked.text
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(Consent)) == 0

    given = team.post(
        f"/ui/cases/{case_id}/consents",
        data={
            "debt_service_id": debt_id,
            "collection_method": "in_person",
            "consent_type": "explicit",
            "language": "nl",
            "csrf_token": token,
        },
    )
    assert given.status_code == 303, given.text
    page = team.get(given.headers["location"]).text
    assert "Toestemming vastgelegd." in page
    assert "Schuldhulpverlening Rotterdam · gegeven" in text_of(page)
    with db_session() as session:
        [stored] = session.scalars(select(Consent)).all()
        assert stored.recipients == [debt_id]
        assert stored.purposes == ["debt-service-referral"]
        assert stored.collection_method == "in_person"
        assert stored.consent_type == "explicit"
        assert str(stored.collected_by_id) == world["neighbourhood_team"].id

    handed = team.post(
        f"/ui/cases/{case_id}/assignment",
        data={"organisation_id": debt_id, "mode": "hand_over", "csrf_token": token},
    )
    assert handed.status_code == 303
    assert handed.headers["location"].startswith("/ui/cases?")
    assert "Casus overgedragen" in team.get(handed.headers["location"]).text
    assert team.get(f"/ui/cases/{case_id}").status_code == 404
    debt = login("debt_service")
    assert debt.get(f"/ui/cases/{case_id}").status_code == 200
    assert case_id in debt.get("/ui/cases").text
    document = client.get(f"/v1/cases/{case_id}", headers=token_for("municipality")).json()
    acts = [e["act"] for e in document["history"]]
    assert acts == ["assigned", "consent_recorded", "assigned"]
    assert document["history"][1]["organisation"] == debt_id

    # The team is gone from the case; the person tells the debt service they withdraw,
    # and the debt service records it on its own case page. Its next read is refused.
    seen = debt.get(f"/ui/cases/{case_id}").text
    found = re.search(rf"/ui/cases/{case_id}/consents/([0-9a-f-]{{36}})/withdrawal", seen)
    assert found, "the debt service cannot record the withdrawal it is told of"
    assert 'action="/ui/cases/' + case_id + '/consents"' not in seen  # it takes none itself
    withdrawn = debt.post(found.group(0), data={"csrf_token": csrf(debt)})
    assert withdrawn.status_code == 303
    assert client.get(f"/v1/cases/{case_id}", headers=token_for("debt_service")).status_code == 403


def test_a_withdrawal_recorded_on_the_page_refuses_the_debt_service_s_next_read(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    case_id, _ = new_case(client, token_for)
    worker = login("municipality")
    token = csrf(worker)
    debt_id = world["debt_service"].id
    worker.post(
        f"/ui/cases/{case_id}/consents",
        data={"debt_service_id": debt_id, "consent_type": "explicit", "csrf_token": token},
    )
    assigned = worker.post(
        f"/ui/cases/{case_id}/assignment",
        data={"organisation_id": debt_id, "mode": "co_worker", "csrf_token": token},
    )
    assert assigned.status_code == 303
    debt = token_for("debt_service")
    assert client.get(f"/v1/cases/{case_id}", headers=debt).status_code == 200
    page = worker.get(f"/ui/cases/{case_id}").text
    found = re.search(rf"/ui/cases/{case_id}/consents/([0-9a-f-]{{36}})/withdrawal", page)
    assert found, "no withdrawal button for the consent this worker recorded"
    withdrawn = worker.post(found.group(0), data={"csrf_token": token})
    assert withdrawn.status_code == 303
    assert "Intrekking vastgelegd." in worker.get(withdrawn.headers["location"]).text
    after = client.get(f"/v1/cases/{case_id}", headers=debt)
    assert after.status_code == 403
    assert entries(db_session, "case.read")[-1]["decision"] == "deny"
    document = client.get(f"/v1/cases/{case_id}", headers=token_for("municipality")).json()
    assert document["history"][-1]["act"] == "consent_withdrawn"
    assert "ingetrokken" in text_of(worker.get(f"/ui/cases/{case_id}").text)


# Errors where the worker is -------------------------------------------------------------


def test_a_bad_attempt_is_refused_on_the_form_in_the_page_s_language_with_the_note_kept(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    case_id, _ = new_case(client, token_for)
    assign(client, token_for("municipality"), case_id, world["neighbourhood_team"].id)
    team = login("neighbourhood_team")
    note = "Buurvrouw zegt: na zessen thuis & <b>niet</b> bellen"
    before = (today() - dt.timedelta(days=30)).isoformat()
    form = {
        "channel": "home_visit",
        "date": before,
        "reached": "no",
        "part_of_day": "evening",
        "note": note,
        "csrf_token": csrf(team),
    }
    page = team.post(f"/ui/cases/{case_id}/contact-attempts", data=form)
    assert page.status_code == 422
    assert page.headers["content-type"].startswith("text/html")
    assert "Die datum ligt vóór de dag dat het signaal binnenkwam." in page.text
    assert 'id="e-attempt-date"' in page.text and 'aria-invalid="true"' in page.text
    assert "Dit is niet opgeslagen. Wat u invulde staat er nog." in page.text
    assert html.escape(note, quote=False) in page.text  # the note, kept (and escaped)
    assert f'value="{before}"' in page.text
    assert 'value="evening" selected' in page.text
    assert '<a href="/ui/cases">' in page.text  # the way back is the queue, not lost
    future = team.post(
        f"/ui/cases/{case_id}/contact-attempts",
        data=form | {"date": (today() + dt.timedelta(days=2)).isoformat()},
    )
    assert future.status_code == 422 and "Die datum ligt in de toekomst." in future.text
    garbled = team.post(f"/ui/cases/{case_id}/contact-attempts", data=form | {"date": "gisteren"})
    assert garbled.status_code == 422 and "Vul een datum in." in garbled.text
    english = team.post(f"/ui/cases/{case_id}/contact-attempts?lang=en", data=form)
    assert english.status_code == 422
    assert "That date lies before the day the signal came in." in english.text
    assert "Die datum" not in english.text
    with db_session() as session:
        assert session.scalar(select(func.count()).select_from(ContactAttempt)) == 0


def test_closing_asks_first_and_the_result_rules_name_their_basis(
    client: TestClient, token_for: Headers, login: Login
) -> None:
    case_id, _ = new_case(client, token_for)
    municipality = token_for("municipality")
    worker = login("municipality")
    token = csrf(worker)
    path = f"/ui/cases/{case_id}/result"

    # No contact attempt yet: "definitief geen contact" is refused, naming the rule.
    refused = worker.post(
        path, data={"result": "no_contact_possible", "confirmed": "yes", "csrf_token": token}
    )
    assert refused.status_code == 422
    assert "Dit resultaat kan nog niet. Regel:" in refused.text
    assert "pas na minstens twee contactpogingen" in html.unescape(refused.text)
    assert 'value="no_contact_possible" selected' in refused.text
    api = client.post(
        f"/v1/cases/{case_id}/result", json={"result": "no_contact_possible"}, headers=municipality
    )
    assert errors_of(problem_of(api, 422))[0][0] == "result"
    for code in ("no_reply_after_contact", "referral_without_contact"):
        answer = client.post(
            f"/v1/cases/{case_id}/result", json={"result": code}, headers=municipality
        )
        problem_of(answer, 422)

    def attempt(reached: bool) -> None:
        response = client.post(
            f"/v1/cases/{case_id}/contact-attempts",
            json={"channel": "phone", "date": today().isoformat(), "reached": reached},
            headers=municipality,
        )
        assert response.status_code == 201, response.text

    attempt(False)
    # One attempt: enough for a referral without contact, not for "no contact possible".
    still = client.post(
        f"/v1/cases/{case_id}/result", json={"result": "no_contact_possible"}, headers=municipality
    )
    problem_of(still, 422)
    no_reply = client.post(
        f"/v1/cases/{case_id}/result",
        json={"result": "no_reply_after_contact"},
        headers=municipality,
    )
    problem_of(no_reply, 422)  # nobody was reached yet
    attempt(False)

    # Two attempts: the page asks to confirm first; nothing closes on the first POST.
    asked = worker.post(path, data={"result": "no_contact_possible", "csrf_token": token})
    assert asked.status_code == 200
    assert "Casus echt afsluiten?" in asked.text and "Ja, afsluiten" in asked.text
    assert 'name="confirmed" value="yes"' in asked.text
    open_still = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    assert open_still["status"] != "closed"
    done = worker.post(
        path, data={"result": "no_contact_possible", "confirmed": "yes", "csrf_token": token}
    )
    assert done.status_code == 303
    closed = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    assert closed["status"] == "closed" and closed["result"] == "no_contact_possible"
    assert closed["history"][-1]["act"] == "closed"
    assert closed["history"][-1]["result"] == "no_contact_possible"


def test_a_closed_case_reopens_within_the_period_and_not_after(
    client: TestClient, token_for: Headers, db_session: Any, login: Login
) -> None:
    case_id, _ = new_case(client, token_for)
    municipality = token_for("municipality")
    client.post(
        f"/v1/cases/{case_id}/contact-attempts",
        json={"channel": "phone", "date": today().isoformat(), "reached": True},
        headers=municipality,
    )
    closed = client.post(
        f"/v1/cases/{case_id}/result", json={"result": "no_help_needed"}, headers=municipality
    )
    assert closed.status_code == 200, closed.text
    worker = login("municipality")
    page = worker.get(f"/ui/cases/{case_id}").text
    assert "Casus heropenen" in page
    reopened = worker.post(f"/ui/cases/{case_id}/reopen", data={"csrf_token": csrf(worker)})
    assert reopened.status_code == 303
    assert "Casus heropend." in worker.get(reopened.headers["location"]).text
    document = client.get(f"/v1/cases/{case_id}", headers=municipality).json()
    assert document["status"] == "in_contact" and document["result"] is None
    assert [e["act"] for e in document["history"]][-2:] == ["closed", "reopened"]
    feedback = client.get("/v1/cases", headers=municipality).json()["items"]
    assert case_id in [i["id"] for i in feedback]

    def close_days_ago(days: int) -> None:
        again = client.post(
            f"/v1/cases/{case_id}/result", json={"result": "no_help_needed"}, headers=municipality
        )
        assert again.status_code == 200, again.text
        with db_session() as session:
            session.execute(
                update(Case)
                .where(Case.id == uuid.UUID(case_id))
                .values(closed_at=now() - dt.timedelta(days=days))
            )

    # Closed 28 days ago: still within the four weeks of the casework rules.
    close_days_ago(28)
    api = client.post(f"/v1/cases/{case_id}/reopen", headers=municipality)
    assert api.status_code == 200, api.text
    assert api.json()["status"] == "in_contact"

    # Closed 29 days ago: too late, on the page and in the API.
    close_days_ago(29)
    page = worker.get(f"/ui/cases/{case_id}").text
    assert "Casus heropenen" not in page
    late = client.post(f"/v1/cases/{case_id}/reopen", headers=municipality)
    problem = problem_of(late, 409)
    assert "vier weken" in problem["detail"]
    refused = worker.post(f"/ui/cases/{case_id}/reopen", data={"csrf_token": csrf(worker)})
    assert refused.status_code == 409
    assert "Deze casus is te lang geleden gesloten om te heropenen." in refused.text
    assert client.get(f"/v1/cases/{case_id}", headers=municipality).json()["status"] == "closed"
