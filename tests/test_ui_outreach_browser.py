"""Outreach from the case page in a real browser (Chromium), on a desktop and on a phone
(390x844): the worker opens a text, sees it filled in, sends it, and finds the attempt in
the case's history; the e-mail arrives at a real SMTP server (aiosmtpd), the text message
at a real local gateway. In Dutch with no English words in it, no sideways scrolling, and
axe-core WCAG 2.1 AA clean. Fixtures: ``tests/test_ui_browser`` and ``tests/test_outreach``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import signal_body
from tests.test_outreach import (  # noqa: F401 (fixtures)
    MUNICIPALITY_PHONE,
    TEAM_PHONE,
    Gateway,
    Mailbox,
    gateway,
    mailbox,
    settings,
)
from tests.test_ui_browser import chromium, live_url, log_in, shots  # noqa: F401 (fixtures)

AXE = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
# Words of the English pages that must not show on the Dutch ones.
ENGLISH = re.compile(
    r"\b(the|send|sent|letter|text|message|subject|proposal|proposed|time|update|download"
    r"|record|recorded|to|your|visit|call|phone)\b",
    re.IGNORECASE,
)


def _clean(words: str, *known: str) -> str:
    for value in known:
        words = words.replace(value, "")
    return words.replace("English", "")  # the language switch names itself


def _axe_clean(page: Any) -> None:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    violations = axe.Axe().run(page, options=AXE).response["violations"]
    assert [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations] == []


@pytest.mark.parametrize(
    ("kind", "phone"),
    [("municipality", False), ("municipality", True)],
    ids=["desktop", "phone"],
)
def test_the_municipality_sends_an_e_mail_from_the_case_page_and_sees_the_attempt(
    kind: str,
    phone: bool,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    people: dict[str, str],
    live_url: str,  # noqa: F811
    chromium: Any,  # noqa: F811
    shots: Callable[[Any, str], None],  # noqa: F811
    mailbox: tuple[Mailbox, int],  # noqa: F811
) -> None:
    body = signal_body()
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert sent.status_code == 201, sent.text
    case_id = sent.json()["case_id"]
    surname = body["person"]["surname"]
    size = "phone" if phone else "desktop"

    page = log_in(chromium, live_url, people[kind], phone=phone)
    page.goto(f"{live_url}/ui/cases/{case_id}")
    part = page.locator("section.outreach")
    part.scroll_into_view_if_needed()
    assert "Brief, e-mail of sms" in part.inner_text()
    _axe_clean(page)

    part.get_by_role("link", name="E-mail", exact=True).click()
    page.wait_for_load_state()
    preview = page.locator("main").inner_text()
    assert f"Beste Q. {surname}," in preview and body["contact"]["email"] in preview
    assert MUNICIPALITY_PHONE in preview
    assert body["person"]["bsn"] not in preview
    assert ENGLISH.findall(_clean(preview, surname, body["contact"]["email"])) == []
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shots(page, f"40-outreach-email-preview-{size}")
    _axe_clean(page)

    page.get_by_role("button", name="E-mail versturen").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/ui/cases/{case_id}?saved=outreach_saved_email")
    status = page.locator("[role=status]").first.inner_text()
    assert "E-mail verstuurd en vastgelegd als contactpoging." in status
    history = page.locator("ol.history").first.inner_text()
    assert "e-mail" in history and "Demo municipality" in history
    assert "e-mail verstuurd (sjabloon e-mail)" in history
    shots(page, f"41-outreach-email-sent-{size}")
    _axe_clean(page)

    [(recipients, message)] = mailbox[0].messages
    assert recipients == [body["contact"]["email"]]
    assert f"Beste Q. {surname}," in message.get_payload(decode=True).decode()  # type: ignore[union-attr]


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_neighbourhood_team_sends_a_text_message_from_the_case_page_and_sees_the_attempt(
    phone: bool,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    world: Any,
    people: dict[str, str],
    live_url: str,  # noqa: F811
    chromium: Any,  # noqa: F811
    shots: Callable[[Any, str], None],  # noqa: F811
    gateway: Gateway,  # noqa: F811
) -> None:
    body = signal_body()
    sent = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert sent.status_code == 201, sent.text
    case_id = sent.json()["case_id"]
    assigned = client.post(
        f"/v1/cases/{case_id}/assignment",
        json={"organisation_id": world["neighbourhood_team"].id},
        headers=token_for("municipality"),
    )
    assert assigned.status_code == 200, assigned.text
    surname = body["person"]["surname"]
    size = "phone" if phone else "desktop"

    team = log_in(chromium, live_url, people["neighbourhood_team"], phone=phone)
    team.goto(f"{live_url}/ui/cases/{case_id}")
    part = team.locator("section.outreach")
    part.scroll_into_view_if_needed()
    words = part.inner_text()
    # The team's rule shows no e-mail address: no e-mail to send.
    assert "Sms" in words and "E-mail" not in words
    assert ENGLISH.findall(_clean(words)) == []

    part.get_by_role("link", name="Sms", exact=True).click()
    team.wait_for_load_state()
    team.get_by_label("Tijd").fill("15:30")
    team.get_by_role("button", name="Tekst bijwerken").click()
    team.wait_for_load_state()
    preview = team.locator("main").inner_text()
    assert "om 15.30 uur" in preview and TEAM_PHONE in preview
    assert "van de 160 tekens" in preview
    assert ENGLISH.findall(_clean(preview, surname, body["contact"]["phone"])) == []
    assert team.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shots(team, f"42-outreach-sms-preview-{size}")
    _axe_clean(team)

    team.get_by_role("button", name="Sms versturen").click()
    team.wait_for_load_state()
    status = team.locator("[role=status]").first.inner_text()
    assert "Sms verstuurd en vastgelegd als contactpoging." in status
    history = team.locator("ol.history").first.inner_text()
    assert "sms/WhatsApp" in history and "Demo neighbourhood team" in history
    shots(team, f"43-outreach-sms-sent-{size}")
    _axe_clean(team)

    [(_, message)] = gateway.received
    assert message["to"] == "+31687654321"
    assert "om 15.30 uur" in message["text"] and surname in message["text"]
