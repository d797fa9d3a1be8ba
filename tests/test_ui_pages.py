"""The web pages over HTTP: login, sessions, CSRF, roles, and the audit trail of page views.

The browser tests (tests/test_ui_browser.py) drive the same pages in Chromium; these tests
check what a browser hides: cookies' flags, refused forms, headers, the log's contents.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange.api.app import create_app
from exchange.auditlog.models import AuditEntry
from exchange.broker import Broker
from exchange.organisations.service import add_organisation
from exchange.ui.accounts import add_user
from exchange.ui.models import UiSession
from tests.conftest import ISSUER, PASSWORD, Login, csrf, hidden
from tests.factories import generated_bsn, signal_body
from tests.test_subject_rights import close_case


def send_signal(client: TestClient, token_for: Callable[[str], dict[str, str]]) -> dict[str, Any]:
    response = client.post(
        "/v1/signals", json=signal_body(), headers=token_for("housing_corporation")
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def entries(db_session: Any, action: str) -> list[dict[str, Any]]:
    with db_session() as session:
        rows = session.execute(
            select(AuditEntry.entry)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.leaf_index)
        )
        return [orjson.loads(data) for (data,) in rows]


def test_login_sets_a_secure_httponly_samesite_session_and_logout_ends_it(
    broker: Broker, people: dict[str, str], db_session: Any
) -> None:
    with TestClient(create_app(broker=broker), base_url=ISSUER, follow_redirects=False) as browser:
        form = browser.get("/ui/login")
        answer = browser.post(
            "/ui/login",
            data={
                "username": people["municipality"],
                "password": PASSWORD,
                "login_csrf": hidden(form.text, "login_csrf"),
                "next": "/ui/cases",
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/cases"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("sx_session=")
        )
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
        assert "Path=/ui" in cookie
        with db_session() as session:
            [stored] = session.scalars(select(UiSession)).all()
            token = cookie.split(";")[0].split("=", 1)[1]
            assert token.encode() not in stored.token_hash  # only the hash is kept

        assert browser.get("/ui/cases").status_code == 200
        out = browser.post("/ui/logout", data={"csrf_token": csrf(browser)})
        assert out.status_code == 303
        browser.cookies.set("sx_session", token, domain="broker.test", path="/ui")
        again = browser.get("/ui/cases")
        assert again.status_code == 303 and again.headers["location"].startswith("/ui/login")
    with db_session() as session:
        assert session.scalars(select(UiSession)).all() == []
    [logged] = entries(db_session, "ui.login")
    assert logged["actor"]["client"].startswith("user:")


def test_a_wrong_password_or_unknown_user_is_401_and_reveals_nothing(
    broker: Broker, people: dict[str, str]
) -> None:
    with TestClient(create_app(broker=broker), base_url=ISSUER, follow_redirects=False) as browser:
        for username in (people["municipality"], "nobody@example.test"):
            form = browser.get("/ui/login")
            answer = browser.post(
                "/ui/login",
                data={
                    "username": username,
                    "password": "wrong password!",
                    "login_csrf": hidden(form.text, "login_csrf"),
                },
            )
            assert answer.status_code == 401
            assert "Gebruikersnaam of wachtwoord klopt niet." in answer.text
            assert "sx_session" not in answer.headers.get("set-cookie", "")


def test_a_login_form_without_its_csrf_cookie_is_refused(
    broker: Broker, people: dict[str, str]
) -> None:
    with TestClient(create_app(broker=broker), base_url=ISSUER, follow_redirects=False) as browser:
        answer = browser.post(
            "/ui/login",
            data={"username": people["municipality"], "password": PASSWORD, "login_csrf": "forged"},
        )
        assert answer.status_code == 403


def test_every_form_needs_the_session_s_csrf_token_and_nothing_is_stored_without_it(
    client: TestClient, token_for: Any, login: Login, db_session: Any
) -> None:
    signal = send_signal(client, token_for)
    browser = login("municipality")
    for token in ("", "forged-token"):
        answer = browser.post(
            f"/ui/cases/{signal['case_id']}/contact-attempts",
            data={"channel": "phone", "date": "2026-11-25", "reached": "no", "csrf_token": token},
        )
        assert answer.status_code in (403, 422)
    assert entries(db_session, "case.contact_attempt") == []
    # From another site: refused even with the right token.
    answer = browser.post(
        f"/ui/cases/{signal['case_id']}/result",
        data={"result": "no_help_needed", "csrf_token": csrf(browser)},
        headers={"Origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert entries(db_session, "case.close") == []


def test_pages_send_no_store_and_a_strict_content_security_policy(login: Login) -> None:
    page = login("municipality").get("/ui/cases")
    assert page.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_each_role_sees_only_its_own_pages(login: Login) -> None:
    team = login("neighbourhood_team")
    officer = login("privacy_officer")
    municipality = login("municipality")
    assert team.get("/ui/overview").status_code == 403
    assert team.get("/ui/audit").status_code == 403
    assert municipality.get("/ui/audit").status_code == 403
    assert municipality.get("/ui/log").status_code == 403
    assert officer.get("/ui/cases").status_code == 403
    assert officer.get("/ui/overview").status_code == 403
    assert officer.get("/ui/audit").status_code == 200
    assert municipality.get("/ui/overview").status_code == 200
    assert team.get("/ui/cases").status_code == 200


def test_a_case_page_is_a_disclosure_logged_with_the_user_and_another_s_case_is_404(
    client: TestClient, token_for: Any, login: Login, db_session: Any, world: Any
) -> None:
    signal = send_signal(client, token_for)
    municipality = login("municipality")
    page = municipality.get(f"/ui/cases/{signal['case_id']}")
    assert page.status_code == 200, page.text
    [read] = entries(db_session, "case.read")
    assert read["actor"]["organisation"] == world["municipality"].id
    assert read["actor"]["client"].startswith("user:")
    assert read["rule_id"] == "municipality.early-signal.receive"

    # The team is not assigned: the case does not exist for it.
    assert login("neighbourhood_team").get(f"/ui/cases/{signal['case_id']}").status_code == 404
    assert municipality.get(f"/ui/cases/{uuid.uuid4()}").status_code == 404
    assert municipality.get("/ui/cases/not-a-uuid").status_code == 404


def test_another_municipality_s_worker_gets_404_for_a_rotterdam_case(
    client: TestClient, token_for: Any, broker: Broker, db_session: Any
) -> None:
    signal = send_signal(client, token_for)
    with db_session() as session:
        utrecht = add_organisation(
            session,
            kind="municipality",
            name="Gemeente Utrecht",
            gemeentecode="0344",
            postcodes="3500-3585",
        )
        add_user(
            session,
            organisation_id=utrecht.id,
            username="utrecht@example.test",
            display_name="Utrecht",
            password=PASSWORD,
        )
    with TestClient(create_app(broker=broker), base_url=ISSUER, follow_redirects=False) as browser:
        form = browser.get("/ui/login")
        browser.post(
            "/ui/login",
            data={
                "username": "utrecht@example.test",
                "password": PASSWORD,
                "login_csrf": hidden(form.text, "login_csrf"),
            },
        )
        assert browser.get(f"/ui/cases/{signal['case_id']}").status_code == 404
        assert signal["case_id"][:8] not in browser.get("/ui/cases").text


def test_the_language_switch_gives_english_and_dates_stay_unambiguous(login: Login) -> None:
    browser = login("municipality")
    assert "Casussen" in browser.get("/ui/cases").text
    english = browser.get("/ui/cases?lang=en")
    assert "Cases" in english.text and 'lang="en"' in english.text
    assert "Cases" in browser.get("/ui/cases").text  # remembered in a cookie


def test_the_privacy_officer_s_search_keeps_the_bsn_out_of_urls_and_is_logged(
    client: TestClient, token_for: Any, login: Login, db_session: Any
) -> None:
    body = signal_body()
    client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    officer = login("privacy_officer")
    page = officer.post(
        "/ui/audit", data={"bsn": body["person"]["bsn"], "csrf_token": csrf(officer, "/ui/audit")}
    )
    assert page.status_code == 200, page.text
    assert "signal.route" in page.text
    [search] = entries(db_session, "audit.search")
    assert search["purpose"] == "privacy-oversight" and search["subject"]
    assert body["person"]["bsn"] not in orjson.dumps(search).decode()
    # The GET page only shows the form: it searches nothing and logs nothing.
    officer.get(f"/ui/audit?bsn={body['person']['bsn']}")
    assert len(entries(db_session, "audit.search")) == 1


def test_verify_now_records_a_verification_of_the_whole_log(
    client: TestClient, token_for: Any, login: Login
) -> None:
    send_signal(client, token_for)
    officer = login("privacy_officer")
    answer = officer.post("/ui/log/verification", data={"csrf_token": csrf(officer, "/ui/log")})
    assert answer.status_code == 303
    status = officer.get("/ui/log").text
    assert "Het logboek klopt." in status
    # Twice: the second run also checks consistency with the first run's checkpoint.
    officer.post("/ui/log/verification", data={"csrf_token": csrf(officer, "/ui/log")})
    assert "Het logboek klopt." in officer.get("/ui/log").text


def test_the_privacy_officer_honours_rights_requests_on_a_page(
    client: TestClient, token_for: Any, login: Login, db_session: Any
) -> None:
    body = signal_body()
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    officer = login("privacy_officer")
    token = csrf(officer, "/ui/rights")
    person = {"bsn": body["person"]["bsn"], "csrf_token": token}

    corrected = officer.post(
        "/ui/rights", data=person | {"request": "rectification", "new_phone": "+31611112222"}
    )
    assert corrected.status_code == 200, corrected.text
    assert "Rectificatie" in corrected.text and "Ontvangers bericht" in corrected.text
    case = client.get(f"/v1/cases/{sent.json()['case_id']}", headers=token_for("municipality"))
    assert case.json()["signals"][0]["contact"]["phone"] == "+31611112222"

    # An erasure asks for confirmation first, showing what is held; nothing is erased yet.
    preview = officer.post("/ui/rights", data=person | {"request": "erasure"})
    assert preview.status_code == 200
    assert "Wissing bevestigen" in preview.text and "Signalen: 1" in preview.text
    assert "Casussen: 1 (lopend: 1)" in preview.text
    assert not entries(db_session, "subject.erasure")
    assert entries(db_session, "subject.lookup")
    # Confirmed: the case is open, the Wgs duty to offer help comes first; the page says so.
    refused = officer.post("/ui/rights", data=person | {"request": "erasure", "confirmed": "yes"})
    assert refused.status_code == 409
    assert "wettelijke plicht" in refused.text
    assert f"voor BSN {body['person']['bsn']}" in refused.text
    # The form keeps the request that was made, not the first option.
    assert 'value="erasure" checked' in refused.text
    assert entries(db_session, "subject.erasure")[-1]["decision"] == "deny"

    restricted = officer.post("/ui/rights", data=person | {"request": "restriction"})
    assert restricted.status_code == 200
    assert entries(db_session, "subject.restriction")
    assert login("neighbourhood_team").get("/ui/rights").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/ui/cases?offset=9223372036854775808",
        "/ui/cases?pc4=99999999999999999999",
        "/ui/cases?pc4=0",
        "/ui/overview?from=9999-12-30&to=9999-12-31",
        "/ui/overview?from=0001-01-01&to=0001-01-02",
    ],
)
def test_page_queries_out_of_range_are_a_clear_refusal_not_a_500(login: Login, path: str) -> None:
    response = login("municipality").get(path)
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    "fields",
    [{"from": "0001-01-01"}, {"to": "9999-12-31"}, {"purpose": "a\x00b"}, {"action": "a\x00b"}],
    ids=["from-year-1", "to-year-9999", "nul-in-purpose", "nul-in-action"],
)
def test_an_audit_search_out_of_range_is_a_clear_refusal_not_a_500(
    login: Login, fields: dict[str, str]
) -> None:
    officer = login("privacy_officer")
    response = officer.post("/ui/audit", data={**fields, "csrf_token": csrf(officer, "/ui/audit")})
    assert response.status_code == 422, response.text


def test_a_rights_request_for_someone_unknown_says_nothing_was_found_not_done(
    login: Login, db_session: Any
) -> None:
    officer = login("privacy_officer")
    unknown = {"bsn": generated_bsn(), "csrf_token": csrf(officer, "/ui/rights")}
    for request, extra in (("rectification", {"new_phone": "+31611112222"}), ("erasure", {})):
        page = officer.post("/ui/rights", data=unknown | {"request": request} | extra)
        assert page.status_code == 200
        assert f"Geen gegevens gevonden voor BSN {unknown['bsn']}" in page.text
        assert 'class="saved"' not in page.text
        # The form keeps the person, so a mistyped BSN can be corrected and sent again.
        assert f'value="{unknown["bsn"]}"' in page.text
    # No confirmation is offered for an erasure of nothing, and nothing was carried out.
    assert "Wissing bevestigen" not in page.text
    assert not entries(db_session, "subject.erasure")


def test_an_erasure_confirmed_on_the_page_erases_and_says_so_in_the_page_s_language(
    client: TestClient, token_for: Any, login: Login, db_session: Any
) -> None:
    body = signal_body()
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    close_case(client, token_for, sent.json()["case_id"])
    officer = login("privacy_officer")
    person = {"bsn": body["person"]["bsn"], "csrf_token": csrf(officer, "/ui/rights")}
    done = officer.post(
        "/ui/rights?lang=en", data=person | {"request": "erasure", "confirmed": "yes"}
    )
    assert done.status_code == 200, done.text
    assert f"Erasure for BSN {body['person']['bsn']}" in done.text
    assert "Everything held about the person was erased" in done.text
    assert entries(db_session, "subject.erasure")[-1]["decision"] == "recorded"
    # Asked again, the person is gone: nothing found, not a second success.
    again = officer.post("/ui/rights?lang=en", data=person | {"request": "erasure"})
    assert f"No records found for BSN {body['person']['bsn']}" in again.text


def test_the_page_lifts_a_restriction_and_says_when_there_is_none(
    client: TestClient, token_for: Any, login: Login, db_session: Any
) -> None:
    body = signal_body()
    client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    officer = login("privacy_officer")
    person = {"bsn": body["person"]["bsn"], "csrf_token": csrf(officer, "/ui/rights")}
    none = officer.post("/ui/rights", data=person | {"request": "restriction_lifted"})
    assert f"Er is geen beperking van kracht voor BSN {body['person']['bsn']}" in none.text
    officer.post("/ui/rights", data=person | {"request": "restriction"})
    lifted = officer.post("/ui/rights", data=person | {"request": "restriction_lifted"})
    assert lifted.status_code == 200
    assert "De beperking is opgeheven" in lifted.text
    assert entries(db_session, "subject.restriction_lifted")


def test_the_page_corrects_street_and_city_in_what_the_municipality_reads(
    client: TestClient, token_for: Any, login: Login
) -> None:
    body = signal_body()
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    officer = login("privacy_officer")
    person = {"bsn": body["person"]["bsn"], "csrf_token": csrf(officer, "/ui/rights")}
    corrected = officer.post(
        "/ui/rights",
        data=person
        | {"request": "rectification", "new_street": "Juiste Laan", "new_city": "Rotterdam"},
    )
    assert corrected.status_code == 200, corrected.text
    assert "Verbeterd in 1 signaal/signalen" in corrected.text
    case = client.get(f"/v1/cases/{sent.json()['case_id']}", headers=token_for("municipality"))
    address = case.json()["signals"][0]["address"]
    assert (address["street"], address["city"]) == ("Juiste Laan", "Rotterdam")


def test_a_malformed_correction_is_named_on_the_form_in_its_language_and_kept(
    client: TestClient, token_for: Any, login: Login, db_session: Any
) -> None:
    body = signal_body()
    client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    officer = login("privacy_officer")
    form = {
        "bsn": body["person"]["bsn"],
        "request": "rectification",
        "new_postcode": "30X4AB",
        "new_phone": "+31611112222",
        "csrf_token": csrf(officer, "/ui/rights"),
    }
    page = officer.post("/ui/rights", data=form)
    assert page.status_code == 422
    assert "Niets gewijzigd. Controleer dit veld: Juiste postcode" in page.text
    # What was typed stays in the form, the person too.
    assert 'value="30X4AB"' in page.text and 'value="+31611112222"' in page.text
    assert f'value="{body["person"]["bsn"]}"' in page.text
    english = officer.post("/ui/rights?lang=en", data=form)
    assert "Nothing changed. Check this field: Correct postcode" in english.text
    assert not entries(db_session, "subject.rectification")
