"""The privacy officer's rights page in a real browser, on a phone: a person signalled by BSN
by one provider and by name alone by another is one person to every request, in Dutch and in
English; a wrong house number is corrected on the page. Fixtures: ``tests/test_ui_browser``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import generated_bsn, signal_body
from tests.test_ui_browser import chromium, live_url, log_in, shots  # noqa: F401 (fixtures)

AXE_TAGS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
WORDS = {
    "nl": {
        "request": "Rectificatie",
        "house_number": "Juist huisnummer",
        "carry_out": "Uitvoeren",
        "done": "Verbeterd in 2 signaal/signalen",
        "moved": "2 signaal/signalen staan nu bij het juiste adres",
        "erasure": "Wissing",
        "searched": "Gezocht op: naam en geboortedatum",
    },
    "en": {
        "request": "Rectification",
        "house_number": "Correct house number",
        "carry_out": "Carry out",
        "done": "Corrected in 2 signal(s)",
        "moved": "2 signal(s) now belong to the right address",
        "erasure": "Erasure",
        "searched": "Searched by: name and date of birth",
    },
}


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_request_by_name_reaches_the_signal_that_came_with_the_bsn_on_a_phone(
    lang: str,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    people: dict[str, str],
    live_url: str,  # noqa: F811
    chromium: Any,  # noqa: F811
    shots: Callable[[Any, str], None],  # noqa: F811
) -> None:
    person = {
        "bsn": generated_bsn(),
        "initials": "K.",
        "surname_prefix": None,
        "surname": f"Koppelsma{uuid.uuid4().hex[:6]}",
        "birth_date": "1984-05-06",
    }
    housing = signal_body(person=person, address={"postcode": "3014AB", "house_number": "12"})
    energy = signal_body(
        kind="energy",
        person={**person, "bsn": None},
        address={"postcode": "3014AB", "house_number": "12"},
    )
    for kind, body in (("housing_corporation", housing), ("energy_supplier", energy)):
        sent = client.post("/v1/signals", json=body, headers=token_for(kind))
        assert sent.status_code == 201, sent.text
    words = WORDS[lang]

    officer = log_in(chromium, live_url, people["privacy_officer"], phone=True)
    officer.goto(f"{live_url}/ui/rights?lang={lang}")

    def by_name() -> None:
        officer.locator("#surname").fill(person["surname"])
        officer.locator("#initials").fill(person["initials"])
        officer.locator("#birth_date").fill(person["birth_date"])

    # The erasure preview by name counts both signals, and says what was searched by.
    by_name()
    officer.get_by_label(words["erasure"], exact=True).check()
    officer.get_by_role("button", name=words["carry_out"]).click()
    officer.wait_for_load_state()
    preview = officer.locator("[role=status]").first.inner_text()
    assert ": 2" in preview, preview
    assert words["searched"] in preview
    shots(officer, f"20-officer-rights-preview-by-name-{lang}")

    # A wrong house number, corrected by name: both signals move, and the answer says for whom.
    officer.goto(f"{live_url}/ui/rights?lang={lang}")
    by_name()
    officer.get_by_label(words["request"], exact=True).check()
    officer.get_by_label(words["house_number"]).fill("14")
    officer.get_by_role("button", name=words["carry_out"]).click()
    officer.wait_for_load_state()
    answer = officer.locator("[role=status]").first.inner_text()
    assert words["done"] in answer and words["moved"] in answer, answer
    assert person["surname"] in answer
    assert officer.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shots(officer, f"21-officer-rights-rectified-by-name-{lang}")

    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    violations = axe.Axe().run(officer, options=AXE_TAGS).response["violations"]
    assert [v["id"] for v in violations] == []
    case = client.get("/v1/cases", headers=token_for("municipality")).json()["items"]
    assert case, "the moved case is still in the municipality's queue"


def test_the_audit_log_and_the_access_report_read_on_a_phone_without_sideways_scrolling(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    people: dict[str, str],
    live_url: str,  # noqa: F811
    chromium: Any,  # noqa: F811
    shots: Callable[[Any, str], None],  # noqa: F811
) -> None:
    body = signal_body()
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert sent.status_code == 201, sent.text
    officer = log_in(chromium, live_url, people["privacy_officer"], phone=True)
    officer.goto(f"{live_url}/ui/audit")
    officer.get_by_role("button", name="Zoeken").click()
    officer.wait_for_load_state()
    # Each entry is a card whose values say their column's name.
    assert officer.locator("table.entries td[data-label]").count() > 0
    assert officer.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shots(officer, "22-officer-audit-phone")
    officer.goto(f"{live_url}/ui/access-report")
    officer.locator("#bsn").fill(body["person"]["bsn"])
    officer.get_by_role("button", name="Zoeken").click()
    officer.wait_for_load_state()
    assert "Woonstichting" in officer.locator("table.sources").inner_text()
    assert officer.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shots(officer, "23-officer-access-report-phone")
