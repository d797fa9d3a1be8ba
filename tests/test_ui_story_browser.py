"""The household's story on a case page in a real browser, on a desktop and on a phone
(390x844): who signalled, the earlier case, the notice after a correction; in Dutch with no
English words in it, no sideways scrolling, and axe-core WCAG 2.1 AA clean. Fixtures:
``tests/test_ui_browser``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.clock import today
from exchange.rights.report import long_date
from tests.factories import signal_body
from tests.test_ui_browser import chromium, live_url, log_in, shots  # noqa: F401 (fixtures)

AXE = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
# Words of the English page that must not show on the Dutch one.
ENGLISH = re.compile(
    r"\b(the|signalled|since|earlier|case|opened|closed|corrected|request|who|other|story)\b",
    re.IGNORECASE,
)


def _send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _story_world(
    client: TestClient, token_for: Callable[[str], dict[str, str]], world: Any
) -> tuple[str, str]:
    """A household's closed case, then a repeat with two creditors, handed to the team, and
    a corrected phone number: (earlier case, later case)."""
    municipality = token_for("municipality")
    body = signal_body()
    first = _send(client, token_for("housing_corporation"), body)
    attempt = client.post(
        f"/v1/cases/{first['case_id']}/contact-attempts",
        json={"channel": "home_visit", "date": today().isoformat(), "reached": True},
        headers=municipality,
    )
    assert attempt.status_code == 201, attempt.text
    closed = client.post(
        f"/v1/cases/{first['case_id']}/result",
        json={"result": "budget_advice_or_quick_fix"},
        headers=municipality,
    )
    assert closed.status_code == 200, closed.text
    again = signal_body(person=body["person"], address=body["address"])
    second = _send(client, token_for("housing_corporation"), again)
    energy = signal_body(kind="energy", person=body["person"], address=body["address"])
    assert _send(client, token_for("energy_supplier"), energy)["case_id"] == second["case_id"]
    assigned = client.post(
        f"/v1/cases/{second['case_id']}/assignment",
        json={"organisation_id": world["neighbourhood_team"].id},
        headers=municipality,
    )
    assert assigned.status_code == 200, assigned.text
    corrected = client.post(
        "/v1/subjects/rectification",
        json={"person": {"bsn": body["person"]["bsn"]}, "corrections": {"phone": "+31612345678"}},
        headers=token_for("privacy_officer"),
    )
    assert corrected.status_code == 200, corrected.text
    return first["case_id"], second["case_id"]


@pytest.mark.parametrize(
    ("kind", "phone"),
    [("municipality", False), ("municipality", True), ("neighbourhood_team", True)],
    ids=["municipality-desktop", "municipality-phone", "team-phone"],
)
def test_the_household_s_story_reads_on_desktop_and_phone_and_passes_axe(
    kind: str,
    phone: bool,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    world: Any,
    people: dict[str, str],
    live_url: str,  # noqa: F811
    chromium: Any,  # noqa: F811
    shots: Callable[[Any, str], None],  # noqa: F811
) -> None:
    earlier, later = _story_world(client, token_for, world)
    page = log_in(chromium, live_url, people[kind], phone=phone)
    page.goto(f"{live_url}/ui/cases/{later}")
    story = page.locator("section.story")
    story.scroll_into_view_if_needed()
    text = story.inner_text()

    assert "Het verhaal van het huishouden" in text
    assert "Woonstichting De Maasoever" in text and "Energie Zuid-Holland" in text
    assert (
        f"Op {long_date(today(), 'nl')} zijn gegevens in deze casus verbeterd op verzoek van "
        "de persoon." in text
    )
    if kind == "municipality":
        link = story.get_by_role("link", name=re.compile("Eerdere casus"))
        assert link.get_attribute("href") == f"/ui/cases/{earlier}"
        assert "(Budget)advies en/of quick fix" in text
    else:
        assert "eerdere casus (niet bij u in behandeling)" in text
        assert story.get_by_role("link").count() == 0
    names = {"Woonstichting De Maasoever", "Energie Zuid-Holland"}
    words = text
    for name in names:
        words = words.replace(name, "")
    assert ENGLISH.findall(words) == [], words
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    shots(page, f"30-story-{kind}-{'phone' if phone else 'desktop'}")

    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    violations = axe.Axe().run(page, options=AXE).response["violations"]
    assert [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations] == []

    if kind == "municipality":
        page.goto(f"{live_url}/ui/cases/{later}?lang=en")
        english = page.locator("section.story").inner_text()
        assert "The household's story" in english and "Who signalled" in english
        assert "data in this case was corrected at the person's request" in english
