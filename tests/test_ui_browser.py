"""The pages in a real browser: headless Chromium (Debian's package) driven by Playwright,
against a broker served by uvicorn on a local port, on SQLite and on PostgreSQL.

Screenshots of every step land in ``var/screenshots/`` (one folder per database) so a
person can look at what the tests saw.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.broker import Broker
from exchange.clock import today
from exchange.config import Settings
from tests.conftest import PASSWORD
from tests.factories import signal_body

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "var" / "screenshots"

playwright_api = pytest.importorskip("playwright.sync_api")


def _chromium_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail("Chromium is required under CI=true (make test installs Debian's chromium)")
    pytest.skip("no Chromium here: `apt-get install chromium` (make test does it)")


@pytest.fixture
def live_url(settings: Settings, database: Any) -> Iterator[str]:
    """A broker on a free local port, in this process, on the test's database."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    broker = Broker.start(settings.model_copy(update={"issuer": url}))
    server = uvicorn.Server(
        uvicorn.Config(create_app(broker=broker), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the broker did not start")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
        broker.engine.dispose()


@pytest.fixture
def chromium() -> Iterator[Any]:
    executable = _chromium_or_skip()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shots(database: Any) -> Callable[[Any, str], None]:
    folder = SHOTS / database.backend
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return take


def log_in(chromium: Any, live_url: str, username: str, *, phone: bool = False) -> Any:
    context = chromium.new_context(
        viewport={"width": 390, "height": 844} if phone else {"width": 1280, "height": 900},
        locale="nl-NL",
        accept_downloads=True,
        # Lets the accessibility test inject axe-core; the pages' own CSP is checked in
        # tests/test_ui_pages.py.
        bypass_csp=True,
    )
    page = context.new_page()
    page.goto(f"{live_url}/ui/")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    page.wait_for_load_state()
    return page


def test_a_case_from_queue_to_home_visit_to_result_and_into_the_access_report(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    people: dict[str, str],
    live_url: str,
    chromium: Any,
    shots: Callable[[Any, str], None],
) -> None:
    body = signal_body(crisis=True)
    response = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert response.status_code == 201, response.text
    case_id = response.json()["case_id"]
    surname = body["person"]["surname"]

    # The municipality's case worker: the queue, the case with the BSN, assignment.
    worker = log_in(chromium, live_url, people["municipality"])
    assert worker.url.endswith("/ui/cases")
    row = worker.locator("table.queue tbody tr").first
    assert "Crisis" in row.inner_text()
    shots(worker, "1-municipality-queue")
    row.get_by_role("link").click()
    worker.wait_for_load_state()
    assert body["person"]["bsn"] in worker.content()
    worker.get_by_label("Toewijzen aan").select_option(label="Wijkteam Rotterdam Noord")
    worker.get_by_role("button", name="Toewijzen").click()
    worker.wait_for_load_state()
    assert "Casus toegewezen." in worker.locator("[role=status]").inner_text()
    shots(worker, "2-municipality-case-assigned")

    # The neighbourhood team, on a phone: only the outreach view, then record two attempts.
    team = log_in(chromium, live_url, people["neighbourhood_team"], phone=True)
    team.locator(f'table.queue a[href="/ui/cases/{case_id}"]').click()
    team.wait_for_load_state()
    page_text = team.content()
    assert surname in page_text and body["contact"]["phone"] in page_text
    assert body["person"]["bsn"] not in page_text  # the team's rule has no BSN
    assert body["contact"]["email"] not in page_text
    shots(team, "3-team-case-on-a-phone")

    team.get_by_label("Kanaal").select_option("phone")
    team.get_by_label("Datum").fill(today().isoformat())
    team.get_by_label("Dagdeel").select_option("morning")
    team.get_by_label("nee").check()
    team.get_by_label("Notitie (versleuteld opgeslagen)").fill("Geen gehoor, voicemail")
    team.get_by_role("button", name="Opslaan").click()
    team.wait_for_load_state()
    assert "Contactpoging vastgelegd." in team.locator("[role=status]").inner_text()

    team.get_by_label("Kanaal").select_option("home_visit")
    team.get_by_label("Datum").fill(today().isoformat())
    team.get_by_label("Dagdeel").select_option("afternoon")
    team.get_by_label("ja").check()
    team.get_by_role("button", name="Opslaan").click()
    team.wait_for_load_state()
    history = team.locator("ol.history").first.inner_text()
    assert "huisbezoek" in history and "Bereikt" in history and "Geen gehoor" in history
    shots(team, "4-team-after-home-visit")

    team.get_by_label("Resultaat").select_option("budget_advice_or_quick_fix")
    team.get_by_role("button", name="Casus afsluiten").click()
    team.wait_for_load_state()
    # Closing asks first, naming the result.
    assert "(Budget)advies en/of quick fix" in team.locator(".confirm").inner_text()
    team.get_by_role("button", name="Ja, afsluiten").click()
    team.wait_for_load_state()
    assert "Casus afgesloten." in team.locator("[role=status]").inner_text()
    assert "(Budget)advies en/of quick fix" in team.content()
    shots(team, "5-team-case-closed")

    # The privacy officer finds the team's read in the log, by the person's BSN.
    officer = log_in(chromium, live_url, people["privacy_officer"])
    assert officer.url.endswith("/ui/audit")
    officer.get_by_label("Persoon (BSN)").fill(body["person"]["bsn"])
    officer.get_by_role("button", name="Zoeken").click()
    officer.wait_for_load_state()
    # Newest first: the team's read is the latest case read.
    reads = officer.locator("table.entries tbody tr", has_text="case.read")
    assert "neighbourhood-team.outreach.receive" in reads.all_inner_texts()[0]
    assert "Wijkteam Rotterdam Noord" in reads.all_inner_texts()[0]
    assert body["person"]["bsn"] not in officer.url
    shots(officer, "6-officer-audit-search")

    # ... and downloads the access report for that person.
    officer.get_by_role("link", name="Inzageverzoek").click()
    officer.get_by_label("Persoon (BSN)").fill(body["person"]["bsn"])
    with officer.expect_download() as download:
        officer.get_by_role("button", name="Brief (HTML, printbaar)").click()
    report = Path(download.value.path()).read_text()
    assert "Wijkteam Rotterdam Noord kreeg uw gegevens" in report
    assert "Gemeente Rotterdam kreeg uw gegevens" in report
    officer.get_by_role("button", name="Zoeken").click()
    officer.wait_for_load_state()
    shots(officer, "7-officer-access-report")


def test_a_role_cannot_open_another_role_s_pages_or_another_s_case(
    people: dict[str, str], live_url: str, chromium: Any, shots: Callable[[Any, str], None]
) -> None:
    team = log_in(chromium, live_url, people["neighbourhood_team"])
    for path in ("/ui/audit", "/ui/overview", "/ui/log"):
        assert team.goto(f"{live_url}{path}").status == 403
        assert "Geen toegang" in team.locator("h1").inner_text()
    shots(team, "8-team-forbidden")
    officer = log_in(chromium, live_url, people["privacy_officer"])
    assert officer.goto(f"{live_url}/ui/cases").status == 403
    worker = log_in(chromium, live_url, people["municipality"])
    missing = worker.goto(f"{live_url}/ui/cases/00000000-0000-4000-8000-000000000000")
    assert missing is not None and missing.status == 404
    shots(worker, "9-case-not-found")


def test_the_overview_and_the_log_status_render_for_their_roles(
    people: dict[str, str], live_url: str, chromium: Any, shots: Callable[[Any, str], None]
) -> None:
    worker = log_in(chromium, live_url, people["municipality"])
    worker.get_by_role("link", name="Overzicht").click()
    worker.wait_for_load_state()
    assert worker.locator("h1").inner_text() == "Overzicht"
    shots(worker, "10-overview")
    officer = log_in(chromium, live_url, people["privacy_officer"])
    officer.get_by_role("link", name="Status logboek").click()
    officer.get_by_role("button", name="Nu controleren").click()
    officer.wait_for_load_state()
    assert "Het logboek klopt." in officer.locator("#verification").inner_text()
    officer.get_by_role("link", name="English").click()
    officer.wait_for_load_state()
    assert "The log verifies." in officer.locator("#verification").inner_text()
    shots(officer, "11-log-status-english")


def test_every_page_passes_axe_s_wcag_2_1_aa_rules(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    people: dict[str, str],
    live_url: str,
    chromium: Any,
) -> None:
    """axe-core (the engine behind most accessibility checkers) on each page of each role,
    for the WCAG 2.0/2.1 A and AA rules. A violation names the rule and the element."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    response = client.post(
        "/v1/signals", json=signal_body(crisis=True), headers=token_for("housing_corporation")
    )
    case_id = response.json()["case_id"]
    pages = {
        "municipality": ["/ui/cases", f"/ui/cases/{case_id}", "/ui/overview", "/ui/register"],
        "privacy_officer": [
            "/ui/audit",
            "/ui/access-report",
            "/ui/consents",
            "/ui/log",
            "/ui/rights",
        ],
    }
    options = {
        "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        "resultTypes": ["violations"],
    }
    found: dict[str, list[str]] = {}
    login_page = chromium.new_context(bypass_csp=True).new_page()
    login_page.goto(f"{live_url}/ui/login")
    checks = [("/ui/login", login_page)]
    for kind, paths in pages.items():
        page = log_in(chromium, live_url, people[kind])
        for path in paths:
            fresh = page.context.new_page()
            fresh.goto(f"{live_url}{path}")
            checks.append((path, fresh))
    for path, page in checks:
        results = axe.Axe().run(page, options=options)
        violations = results.response["violations"]
        if violations:
            found[path] = [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations]
    assert found == {}


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "nl",
            {
                "person": "Persoon (BSN)",
                "search": "Zoeken",
                "groups": "Aan wie wij uw gegevens gaven",
                "sources": "Van wie wij uw gegevens kregen",
                "held": "Wat wij bewaren en tot wanneer",
                "pdf": "Brief (PDF)",
                "html": "Brief (HTML, printbaar)",
            },
        ),
        (
            "en",
            {
                "person": "Person (BSN)",
                "search": "Search",
                "groups": "Who received your data",
                "sources": "Where your data came from",
                "held": "What we keep and until when",
                "pdf": "Letter (PDF)",
                "html": "Letter (HTML, printable)",
            },
        ),
    ],
)
def test_the_access_report_page_shows_groups_and_sources_and_passes_axe(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    people: dict[str, str],
    world: Any,
    live_url: str,
    chromium: Any,
    shots: Callable[[Any, str], None],
    lang: str,
    words: dict[str, str],
) -> None:
    """The privacy officer's report: one line per recipient, purpose and basis (five reads
    of a case are one line), the creditors the data came from, what is kept, the checkpoint
    and the two letters; in Dutch and in English, with no WCAG 2.1 AA violation."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    body = signal_body()
    signal = client.post("/v1/signals", json=body, headers=token_for("housing_corporation"))
    assert signal.status_code == 201, signal.text
    municipality = token_for("municipality")
    for _ in range(5):
        client.get(f"/v1/cases/{signal.json()['case_id']}", headers=municipality)

    officer = log_in(chromium, live_url, people["privacy_officer"])
    officer.goto(f"{live_url}/ui/access-report?lang={lang}")
    officer.get_by_label(words["person"]).fill(body["person"]["bsn"])
    officer.get_by_role("button", name=words["search"], exact=True).click()
    officer.wait_for_load_state()
    assert body["person"]["bsn"] not in officer.url
    page = officer.locator("article.report")
    for heading in ("groups", "sources", "held"):
        assert officer.get_by_role("heading", name=words[heading]).is_visible()
    [line] = officer.locator("table.groups tbody tr", has_text="Gemeente Rotterdam").all()
    assert int(line.locator("td").last.inner_text()) >= 5  # five reads, one line
    sources = officer.locator("table.sources tbody tr").all_inner_texts()
    assert len(sources) == 1 and world["housing_corporation"].name in sources[0]
    assert "28 keer" not in page.inner_text()
    assert officer.get_by_role("button", name=words["pdf"]).is_visible()
    assert officer.get_by_role("button", name=words["html"]).is_visible()
    shots(officer, f"12-officer-access-report-{lang}")
    options = {
        "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        "resultTypes": ["violations"],
    }
    violations = axe.Axe().run(officer, options=options).response["violations"]
    assert [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations] == []

    with officer.expect_download() as download:
        officer.get_by_role("button", name=words["pdf"]).click()
    assert download.value.suggested_filename.endswith(".pdf")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")


def test_the_consent_ledger_shows_its_records_in_dutch_and_english_and_passes_axe(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    people: dict[str, str],
    world: Any,
    live_url: str,
    chromium: Any,
    shots: Callable[[Any, str], None],
) -> None:
    """The privacy officer searches a person's consents: each one as an ISO/IEC TS 27560
    record in words, in either language, downloadable as JSON-LD; axe finds nothing."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    from tests.factories import generated_bsn

    bsn = generated_bsn()
    municipality = token_for("municipality")
    consent = client.post(
        "/v1/consents",
        json={
            "person": {"bsn": bsn},
            "purposes": ["debt-service-referral"],
            "recipients": [world["debt_service"].id],
            "collection_method": "phone",
            "notice_version": "2026-01",
            "notice_url": "https://rotterdam.example/privacy/toestemming",
            "consent_type": "explicit",
        },
        headers=municipality,
    )
    assert consent.status_code == 201, consent.text
    client.post(f"/v1/consents/{consent.json()['id']}/withdrawal", headers=municipality)

    officer = log_in(chromium, live_url, people["privacy_officer"])
    officer.get_by_role("link", name="Toestemmingen").click()
    officer.get_by_label("Persoon (BSN)").fill(bsn)
    officer.get_by_role("button", name="Zoeken").click()
    officer.wait_for_load_state()
    record = officer.locator("section.consent-record").first
    dutch = record.inner_text()
    for words in (
        "Doorverwijzing naar een schuldhulpverlener",
        "ingetrokken",
        "telefonisch",
        "uitdrukkelijke toestemming",
        "Verwerkingsverantwoordelijke",
        "Gemeente Rotterdam",
        "6 maanden",
        "Europese Unie, Nederland",
    ):
        assert words in dutch, words
    assert "debt-service-referral" not in officer.locator("main").inner_text()
    options = {
        "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        "resultTypes": ["violations"],
    }
    violations = axe.Axe().run(officer, options=options).response["violations"]
    assert [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations] == []
    shots(officer, "12-officer-consent-record")

    with officer.expect_download() as download:
        record.get_by_role("button", name="Record downloaden (JSON-LD)").click()
    exported = Path(download.value.path()).read_text()
    assert '"dpv:ConsentWithdrawn"' in exported and bsn not in exported
    assert download.value.suggested_filename.endswith(".jsonld")

    # The same search in English: the language link keeps the page's POST form, so search again.
    officer.get_by_role("link", name="English").click()
    officer.wait_for_load_state()
    officer.get_by_label(re.compile("BSN")).fill(bsn)
    officer.get_by_role("button", name="Search").click()
    officer.wait_for_load_state()
    english = officer.locator("section.consent-record").first.inner_text()
    for words in (
        "Referral to a debt service",
        "withdrawn",
        "by phone",
        "explicit consent",
        "Controller",
        "6 months",
        "European Union, the Netherlands",
        "How to withdraw",
    ):
        assert words in english, words
    violations = axe.Axe().run(officer, options=options).response["violations"]
    assert [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations] == []
    shots(officer, "13-officer-consent-record-english")


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_register_reads_on_a_phone_without_sideways_scrolling_and_passes_axe(
    people: dict[str, str],
    live_url: str,
    chromium: Any,
    shots: Callable[[Any, str], None],
    lang: str,
) -> None:
    """/ui/register on a 390x844 phone, in Dutch and in English: nothing wider than the
    screen, and axe finds no WCAG 2.1 A/AA violation; the machine view fits too."""
    axe = pytest.importorskip("axe_playwright_python.sync_playwright")
    options = {
        "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        "resultTypes": ["violations"],
    }
    page = log_in(chromium, live_url, people["neighbourhood_team"], phone=True)
    page.goto(f"{live_url}/ui/register?lang={lang}")
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator("h1").inner_text() == (
        "Verwerkingsregister" if lang == "nl" else "Register of processing"
    )
    assert page.locator("main section h3").count() >= 7  # a section per purpose
    shots(page, f"12-register-phone-{lang}")
    for path in (f"/ui/register?lang={lang}", "/ui/register/rules"):
        page.goto(f"{live_url}{path}")
        width = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (path, width)
        violations = axe.Axe().run(page, options=options).response["violations"]
        assert [f"{v['id']}: {v['nodes'][0]['target']}" for v in violations] == [], path
