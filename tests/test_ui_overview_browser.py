"""The municipality's overview in a real browser, on a desktop and on a phone (390x844):
suppressed figures read "te weinig om te tonen", the breakdowns and the CSV link are there,
the file downloads, and axe-core finds no WCAG 2.1 AA violation. Fixtures:
``tests/test_ui_browser``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.factories import signal_body
from tests.test_ui_browser import chromium, live_url, log_in, shots  # noqa: F401 (fixtures)

AXE_TAGS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
TOO_FEW = "te weinig om te tonen"


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_the_overview_reads_too_few_in_words_downloads_and_passes_axe(
    phone: bool,
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    world: dict[str, Any],
    people: dict[str, str],
    live_url: str,  # noqa: F811
    chromium: Any,  # noqa: F811
    shots: Callable[[Any, str], None],  # noqa: F811
) -> None:
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    case_ids = []
    for kind in ["rent"] * 11 + ["energy"]:
        response = client.post(
            "/v1/signals", json=signal_body(kind=kind), headers=token_for("housing_corporation")
        )
        assert response.status_code == 201, response.text
        case_ids.append(response.json()["case_id"])
    for case_id in case_ids[:3]:
        response = client.post(
            f"/v1/cases/{case_id}/assignment",
            json={"organisation_id": world["neighbourhood_team"].id},
            headers=token_for("municipality"),
        )
        assert response.status_code == 200, response.text

    page = log_in(chromium, live_url, people["municipality"], phone=phone)
    page.goto(f"{live_url}/ui/overview")
    assert page.locator("h1").inner_text() == "Overzicht"
    text = page.locator("main").inner_text()
    assert TOO_FEW in text
    assert "< 10" not in text
    for heading in ("Per wijkteam of schuldhulpverlener", "Per wijk (postcodegebied)"):
        assert page.get_by_role("heading", name=heading).is_visible()
    # Three cases with the team, nine with the municipality: both too few, in words.
    team = page.locator("#t-team")
    assert team.get_by_role("cell", name="Wijkteam Rotterdam Noord").is_visible()
    assert team.get_by_role("cell", name=TOO_FEW).count() == 2
    # On the phone, nothing runs off the side of the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width
    shots(page, f"overview-{'phone' if phone else 'desktop'}")

    results = axe.Axe().run(page, options={**AXE_TAGS, "resultTypes": ["violations"]})
    violations = results.response["violations"]
    assert [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations] == []

    with page.expect_download() as download:
        page.get_by_role("link", name="Overzicht downloaden (CSV, voor Excel)").click()
    saved = Path(download.value.path())
    assert download.value.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Onderdeel", "Groep", "Waarde", "Aantal casussen waarover"]
    assert ["Per wijkteam of schuldhulpverlener", "Wijkteam Rotterdam Noord", TOO_FEW, ""] in rows
