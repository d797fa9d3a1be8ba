"""The casework pages in Chromium (issue 16): the work list and a case page for the
municipality, the neighbourhood team and the debt service, on a desktop (1280x900) and a
phone (390x844): axe-core's WCAG 2.1 A/AA rules, no sideways scrolling on the phone,
labelled cards, and no English word on a Dutch page. Then the team, on a phone, records an
attempt with a wrong date and sees the Dutch error with its note kept.

Fixtures: ``tests/test_ui_browser`` (a live broker on the test's database, Chromium).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from exchange.clock import today
from tests.factories import signal_body
from tests.test_ui_browser import chromium, live_url, log_in, shots  # noqa: F401 (fixtures)

Headers = Callable[[str], dict[str, str]]
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
# Words a Dutch page must not show (case-sensitive, as they would appear in English text).
ENGLISH = (
    "the ", " case", "Case ", "Assign", "Save", "reached", "Filter by", "error", "Submit",
    "Next", "Previous", "cannot", "Hand over", "Withdraw", "Close the", "Reopen", "Record ",
    "Consent", "Street", "Deadline", "Received", "Page ", "Choose", "Delete", "Apply",
)  # fmt: skip
ROLES = ("municipality", "neighbourhood_team", "debt_service")


def world_of_cases(client: TestClient, token_for: Headers, world: Any) -> dict[str, str]:
    """Three cases: one with the team (with an attempt recorded), one referred to the debt
    service with consent, one crisis left with the municipality."""
    housing, municipality = token_for("housing_corporation"), token_for("municipality")
    bodies = [signal_body(), signal_body(), signal_body(crisis=True)]
    ids = []
    for body in bodies:
        response = client.post("/v1/signals", json=body, headers=housing)
        assert response.status_code == 201, response.text
        ids.append(response.json()["case_id"])
    team_case, debt_case, _ = ids
    assigned = client.post(
        f"/v1/cases/{team_case}/assignment",
        json={"organisation_id": world["neighbourhood_team"].id},
        headers=municipality,
    )
    assert assigned.status_code == 200, assigned.text
    client.post(
        f"/v1/cases/{team_case}/contact-attempts",
        json={"channel": "phone", "date": today().isoformat(), "reached": False},
        headers=token_for("neighbourhood_team"),
    )
    consent = client.post(
        "/v1/consents",
        json={
            "person": {"bsn": bodies[1]["person"]["bsn"]},
            "purposes": ["debt-service-referral"],
            "recipients": [world["debt_service"].id],
            "collection_method": "in_person",
            "notice_version": "2026-01",
        },
        headers=municipality,
    )
    assert consent.status_code == 201, consent.text
    referred = client.post(
        f"/v1/cases/{debt_case}/assignment",
        json={"organisation_id": world["debt_service"].id},
        headers=municipality,
    )
    assert referred.status_code == 200, referred.text
    return {
        "municipality": team_case,
        "neighbourhood_team": team_case,
        "debt_service": debt_case,
    }


def english_on(page: Any) -> list[str]:
    text = " ".join(page.inner_text("body").split())
    return [word for word in ENGLISH if word in text]


def axe_violations(axe: Any, page: Any) -> list[str]:
    violations = axe.Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations]


def sideways(page: Any) -> list[int]:
    width: list[int] = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    return width


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize("role", ROLES)
def test_the_queue_and_a_case_page_pass_axe_fit_the_screen_and_speak_dutch(
    role: str,
    phone: bool,
    client: TestClient,
    token_for: Headers,
    world: Any,
    people: dict[str, str],
    live_url: str,  # noqa: F811
    chromium: Any,  # noqa: F811
    shots: Callable[[Any, str], None],  # noqa: F811
) -> None:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    case_of = world_of_cases(client, token_for, world)
    page = log_in(chromium, live_url, people[role], phone=phone)
    size = "phone" if phone else "desktop"
    found: dict[str, Any] = {}

    # The queue, as it opens, and with a wrong PC4 or amount (the refusal on its field).
    queue_paths = ["/ui/cases"]
    if role == "municipality":
        queue_paths.append("/ui/cases?pc4=12&amount_min=tien")
    for path in queue_paths:
        page.goto(f"{live_url}{path}")
        assert page.locator("html").get_attribute("lang") == "nl"
        rows = page.locator("table.queue tbody tr")
        if "pc4=12" not in path:
            assert rows.count() >= 1, (role, path)
        if phone:
            width = sideways(page)
            if width[0] > width[1]:
                found[f"{path} scrolls sideways"] = width
        if violations := axe_violations(axe, page):
            found[path] = violations
        if words := english_on(page):
            found[f"{path} English"] = words
    page.goto(f"{live_url}/ui/cases")
    shots(page, f"casework-queue-{role}-{size}")
    if phone:
        # Each cell of a card says what it is (the heading row is hidden on a phone).
        labels = page.evaluate(
            """() => [...document.querySelectorAll(
                   'table.queue tbody tr:first-child td[data-label]')]
                 .map(td => [td.dataset.label, getComputedStyle(td, '::before').content])"""
        )
        assert labels, "no labelled cells"
        for label, shown in labels:
            assert label in shown, (label, shown)
        assert "Binnengekomen" in [label for label, _ in labels]
        if role != "debt_service":
            assert "Termijn" in [label for label, _ in labels]

    # The case page: as it opens, after a refused form, and the close confirmation.
    case_path = f"/ui/cases/{case_of[role]}"
    page.goto(f"{live_url}{case_path}")
    assert page.locator("h1").inner_text().startswith("Casus ")
    assert re.search(r"\d{4}-\d{4}-\d{6}", page.locator("h1").inner_text())
    shots(page, f"casework-case-{role}-{size}")
    checks = [case_path]
    date = page.get_by_label("Datum", exact=True)
    date.fill((today() - dt.timedelta(days=40)).isoformat())
    page.locator("form.attempt button[type=submit]").click()
    page.wait_for_load_state()
    assert "Die datum ligt vóór de dag dat het signaal binnenkwam." in page.inner_text("body")
    checks.append(f"{case_path} (refused attempt)")
    for name, current in ((case_path, None), (f"{case_path} (refused attempt)", page)):
        target = current or page.context.new_page()
        if current is None:
            target.goto(f"{live_url}{case_path}")
        if phone:
            width = sideways(target)
            if width[0] > width[1]:
                found[f"{name} scrolls sideways"] = width
        if violations := axe_violations(axe, target):
            found[name] = violations
        if words := english_on(target):
            found[f"{name} English"] = words
    page.goto(f"{live_url}{case_path}")
    page.get_by_label("Resultaat", exact=True).select_option("no_help_needed")
    page.get_by_role("button", name="Casus afsluiten").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Ja, afsluiten").is_visible()
    if violations := axe_violations(axe, page):
        found[f"{case_path} (confirm close)"] = violations
    if words := english_on(page):
        found[f"{case_path} (confirm close) English"] = words
    assert found == {}


def test_the_team_on_a_phone_sees_a_wrong_date_refused_in_dutch_with_its_note_kept(
    client: TestClient,
    token_for: Headers,
    world: Any,
    people: dict[str, str],
    live_url: str,  # noqa: F811
    chromium: Any,  # noqa: F811
    shots: Callable[[Any, str], None],  # noqa: F811
) -> None:
    case_id = world_of_cases(client, token_for, world)["neighbourhood_team"]
    page = log_in(chromium, live_url, people["neighbourhood_team"], phone=True)
    page.goto(f"{live_url}/ui/cases")
    page.locator("table.queue tbody tr").first.get_by_role("link").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/ui/cases/{case_id}")
    note = "Niemand thuis, briefje door de bus gedaan. Buurman: na 18 uur."
    # A letter does not ask whether the person was reached.
    page.get_by_label("Kanaal").select_option("letter")
    assert not page.locator("#reached-yes").is_visible()
    page.get_by_label("Kanaal").select_option("home_visit")
    assert page.locator("#reached-yes").is_visible()
    page.get_by_label("Datum", exact=True).fill((today() - dt.timedelta(days=40)).isoformat())
    page.get_by_label("Dagdeel").select_option("evening")
    page.get_by_label("Notitie").fill(note)
    page.locator("form.attempt button[type=submit]").click()
    page.wait_for_load_state()
    shots(page, "casework-team-phone-refused-attempt")
    error = page.locator("#e-attempt-date")
    assert error.is_visible()
    assert error.inner_text() == "Die datum ligt vóór de dag dat het signaal binnenkwam."
    assert page.get_by_label("Notitie").input_value() == note
    assert page.get_by_label("Kanaal").input_value() == "home_visit"
    assert page.get_by_label("Dagdeel").input_value() == "evening"
    assert page.get_by_label("Datum", exact=True).get_attribute("aria-invalid") == "true"
    assert "Dit is niet opgeslagen. Wat u invulde staat er nog." in page.inner_text("body")
    width = sideways(page)
    assert width[0] <= width[1], width
    # Corrected, it is saved and the history says who did it.
    page.get_by_label("Datum", exact=True).fill(today().isoformat())
    page.locator("form.attempt button[type=submit]").click()
    page.wait_for_load_state()
    body = page.inner_text("body")
    assert "Niemand thuis" in body and "niet bereikt" in body
    assert "Wijkteam Rotterdam Noord (Demo neighbourhood team)" in body
