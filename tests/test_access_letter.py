"""The GDPR art. 15 access report fit to send to the person: disclosures grouped per
recipient, purpose and legal basis; the sources named; the checkpoint it was made from; and
the letter, as standalone HTML and as a PDF, in Dutch and in English."""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import select

from audit.merkle import root_of_leaf_hashes
from audit.note import open_checkpoint
from exchange.auditlog.models import AuditEntry
from tests.conftest import Login, csrf
from tests.factories import generated_bsn, signal_body

Headers = Callable[[str], dict[str, str]]


def send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def entries(db_session: Any, action: str) -> list[tuple[int, bytes]]:
    with db_session() as session:
        rows = session.execute(
            select(AuditEntry.leaf_index, AuditEntry.entry)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.leaf_index)
        )
        return [(index, bytes(data)) for index, data in rows]


def root_at(db_session: Any, size: int) -> str:
    """The log's root at a size, recomputed here from the stored leaf hashes."""
    with db_session() as session:
        hashes = session.scalars(
            select(AuditEntry.leaf_hash)
            .where(AuditEntry.leaf_index < size)
            .order_by(AuditEntry.leaf_index)
        ).all()
    assert len(hashes) == size
    return base64.b64encode(root_of_leaf_hashes(bytes(h) for h in hashes)).decode()


def pdf_text(content: bytes) -> str:
    """The PDF's text with every run of white space one space (lines wrap anywhere)."""
    reader = PdfReader(io.BytesIO(content))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


@pytest.fixture
def person() -> dict[str, Any]:
    body = signal_body()
    return {**body["person"], "initials": "A.B.", "surname": f"de Vries-{generated_bsn()[:4]}"}


@pytest.fixture
def read_often(client: TestClient, token_for: Headers, person: dict[str, Any]) -> dict[str, Any]:
    """A rent signal and an energy signal about one person, and a case worker who opens the
    case five times in one sitting."""
    send(client, token_for("housing_corporation"), signal_body(person=person))
    signal = send(client, token_for("energy_supplier"), signal_body(kind="energy", person=person))
    municipality = token_for("municipality")
    for _ in range(5):
        response = client.get(f"/v1/cases/{signal['case_id']}", headers=municipality)
        assert response.status_code == 200, response.text
    return signal


def report_of(client: TestClient, token_for: Headers, person: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/v1/audit/access-report", json={"person": person}, headers=token_for("privacy_officer")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_page_reads_of_one_case_are_one_group_line_with_count_and_period(
    client: TestClient, token_for: Headers, person: dict[str, Any], read_often: Any
) -> None:
    report = report_of(client, token_for, {"bsn": person["bsn"]})
    # The flat list is still there, one line per disclosure ...
    assert len(report["disclosures"]) >= 7
    # ... and each recipient, purpose and basis is one group line.
    groups = report["groups"]
    keys = [(g["recipient"], g["purpose"], tuple(g["legal_basis"])) for g in groups]
    assert len(keys) == len(set(keys)) < len(report["disclosures"])
    assert sum(g["count"] for g in groups) == len(report["disclosures"])
    together = {
        (d["recipient"], d["purpose"], tuple(d["legal_basis"])) for d in report["disclosures"]
    }
    assert set(keys) == together
    [rotterdam] = [g for g in groups if g["recipient"] == "Gemeente Rotterdam"]
    assert rotterdam["count"] >= 7  # two signals passed on, five reads of the case
    days = [d["date"] for d in report["disclosures"] if d["recipient"] == "Gemeente Rotterdam"]
    assert (rotterdam["first"], rotterdam["last"]) == (min(days), max(days))
    assert f"{rotterdam['count']} keer" in rotterdam["sentence_nl"]
    assert f"{rotterdam['count']} times" in rotterdam["sentence_en"]
    assert "wettelijke verplichting" in rotterdam["sentence_nl"]
    assert f"Gemeente Rotterdam ({rotterdam['count']} keer)" in report["summary_nl"]


def test_the_sources_are_the_providers_by_name_and_kind_with_count_and_dates(
    client: TestClient,
    token_for: Headers,
    world: Any,
    person: dict[str, Any],
    read_often: Any,
) -> None:
    send(client, token_for("housing_corporation"), signal_body(person=person))
    report = report_of(client, token_for, {"bsn": person["bsn"]})
    sources = {s["organisation"]: s for s in report["sources"]}
    housing = sources[world["housing_corporation"].name]
    energy = sources[world["energy_supplier"].name]
    assert set(sources) == {world["housing_corporation"].name, world["energy_supplier"].name}
    assert (housing["kind"], housing["signals"]) == ("housing_corporation", 2)
    assert (energy["kind"], energy["signals"]) == ("energy_supplier", 1)
    assert housing["first_received"] <= housing["last_received"]
    assert "woningcorporatie" in housing["sentence_nl"] and "2 signalen" in housing["sentence_nl"]
    assert "energy supplier" in energy["sentence_en"] and "1 signal " in energy["sentence_en"]
    assert report["held"], "what is kept, and until when"


def test_the_report_names_the_checkpoint_it_was_made_from(
    client: TestClient, token_for: Headers, db_session: Any, person: dict[str, Any], read_often: Any
) -> None:
    report = report_of(client, token_for, {"bsn": person["bsn"]})
    checkpoint = report["checkpoint"]
    assert checkpoint["tree_size"] == report["tree_size"] > 0
    # The root recomputed from the log's own leaves at that size ...
    assert checkpoint["root_hash"] == root_at(db_session, checkpoint["tree_size"])
    # ... and the checkpoint signed at it, verified with the offline verifier's code.
    key = client.get("/v1/audit/verifier-key", headers=token_for("privacy_officer")).text.strip()
    signed = open_checkpoint(checkpoint["note"], key)
    assert signed.size == checkpoint["tree_size"]
    assert base64.b64encode(signed.root).decode() == checkpoint["root_hash"]
    # The report holds only what the checkpoint covers.
    assert all(d["leaf_index"] < checkpoint["tree_size"] for d in report["disclosures"])


def test_the_identifiers_searched_are_said_in_words_and_an_ambiguous_name_asks_for_the_bsn(
    client: TestClient, token_for: Headers, person: dict[str, Any]
) -> None:
    housing = token_for("housing_corporation")
    send(client, housing, signal_body(person=person))
    send(client, housing, signal_body(person={**person, "bsn": generated_bsn()}))
    by_bsn = report_of(client, token_for, {"bsn": person["bsn"]})
    assert by_bsn["identifiers_searched"] == ["bsn"]
    assert "burgerservicenummer (BSN)" in by_bsn["searched_nl"]
    assert "meer dan één persoon" not in by_bsn["searched_nl"]
    name = {k: person[k] for k in ("initials", "surname", "birth_date")}
    by_name = report_of(client, token_for, name)
    assert by_name["ambiguous"] is True
    assert "naam en geboortedatum horen bij meer dan één persoon" in by_name["searched_nl"]
    assert "Geef ons dan uw BSN" in by_name["searched_nl"]
    assert "more than one person" in by_name["searched_en"]


def test_the_pdf_letter_reads_back_with_the_sentences_names_and_checkpoint(
    client: TestClient,
    token_for: Headers,
    world: Any,
    db_session: Any,
    person: dict[str, Any],
    read_often: Any,
) -> None:
    report = report_of(client, token_for, {"bsn": person["bsn"]})
    response = client.post(
        "/v1/audit/access-report/letter",
        json={"person": person},
        headers={**token_for("privacy_officer"), "Accept": "application/pdf"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.headers["cache-control"] == "no-store"
    text = pdf_text(response.content)
    assert "Inzage in uw gegevens" in text
    assert "Aan wie wij uw gegevens gaven" in text
    assert "Wat wij bewaren en tot wanneer" in text
    assert f"Beste A.B. {person['surname']}," in text  # the name as given
    for group in report["groups"]:
        assert group["sentence_nl"] in text
    for source in report["sources"]:
        assert source["sentence_nl"] in text
    for name in ("Gemeente Rotterdam", world["housing_corporation"].name):
        assert name in text
    assert person["bsn"] not in text  # only its last four digits
    assert person["bsn"][-4:] in text
    # The checkpoint: the log's size before the letter's own record, and its root then.
    [(leaf, recorded)] = entries(db_session, "audit.access_letter")
    root = root_at(db_session, leaf)
    assert root in text.replace(" ", "")
    assert f"Aantal regels in het logboek {leaf}" in text
    # The letter is on record, by pseudonym: no BSN, no name in the log.
    entry = orjson.loads(recorded)
    assert entry["subject"] == report["subject"]
    assert entry["resources"] == {"format": "pdf", "language": "nl"}
    assert person["bsn"].encode() not in recorded and person["surname"].encode() not in recorded


def _assert_standalone(html: str) -> None:
    lowered = html.lower()
    assert "csrf" not in lowered
    assert "<nav" not in lowered and "<form" not in lowered and "<script" not in lowered
    assert "logout" not in lowered and "uitloggen" not in lowered and "log out" not in lowered
    assert "<style>" in lowered and "@page" in lowered
    assert "<link" not in lowered and "src=" not in lowered and "/ui/" not in lowered


def test_the_html_letter_from_the_page_is_standalone_with_its_styles_inline(
    client: TestClient, login: Login, db_session: Any, person: dict[str, Any], read_often: Any
) -> None:
    officer = login("privacy_officer")
    token = csrf(officer, "/ui/access-report")
    response = officer.post(
        "/ui/access-report/letter",
        data={"csrf_token": token, "bsn": person["bsn"], "format": "html"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert re.fullmatch(
        r'attachment; filename="inzage-\d{4}-\d{2}-\d{2}\.html"',
        response.headers["content-disposition"],
    )
    html = response.text
    _assert_standalone(html)
    assert token not in html
    assert '<html lang="nl">' in html
    assert "Gemeente Rotterdam kreeg uw gegevens" in html
    assert "Van wie wij uw gegevens kregen" in html
    [(_, recorded)] = entries(db_session, "audit.access_letter")
    assert orjson.loads(recorded)["resources"] == {"format": "html", "language": "nl"}
    assert person["bsn"].encode() not in recorded


def test_the_page_s_report_shows_groups_sources_held_and_checkpoint_and_offers_the_letter(
    login: Login, person: dict[str, Any], read_often: Any, world: Any
) -> None:
    officer = login("privacy_officer")
    page = officer.post(
        "/ui/access-report",
        data={"csrf_token": csrf(officer, "/ui/access-report"), "bsn": person["bsn"]},
    )
    assert page.status_code == 200, page.text
    html = page.text
    assert 'class="groups cards"' in html and 'class="sources cards"' in html
    assert world["energy_supplier"].name in html
    assert "Wat wij bewaren en tot wanneer" in html and "Controle" in html
    assert "Brief (PDF)" in html and "Brief (HTML, printbaar)" in html
    assert 'action="/ui/access-report/letter"' in html
    assert "28 keer" not in html


def test_the_english_letter_is_in_english(
    client: TestClient, token_for: Headers, person: dict[str, Any], read_often: Any
) -> None:
    response = client.post(
        "/v1/audit/access-report/letter",
        json={"person": {"bsn": person["bsn"]}, "format": "html", "lang": "en"},
        headers=token_for("privacy_officer"),
    )
    assert response.status_code == 200, response.text
    html = response.text
    _assert_standalone(html)
    assert '<html lang="en">' in html
    for heading in (
        "Access to your personal data",
        "Who received your data",
        "Where your data came from",
        "What we keep and until when",
        "Your rights",
    ):
        assert heading in html
    assert "Gemeente Rotterdam received your data" in html
    assert "Dear Sir or Madam," in html  # by BSN only: no name to address
    for dutch in ("Inzage", "Beste", "kreeg uw gegevens", " keer"):
        assert dutch not in html
    pdf = client.post(
        "/v1/audit/access-report/letter",
        json={"person": {"bsn": person["bsn"]}, "lang": "en"},
        headers={**token_for("privacy_officer"), "Accept": "application/pdf;q=0.5, text/html"},
    )
    assert pdf.headers["content-type"] == "text/html; charset=utf-8"  # the one preferred
    assert "Access to your personal data" in pdf.text


def test_a_letter_in_a_type_it_is_not_made_in_is_406(
    client: TestClient, token_for: Headers, person: dict[str, Any]
) -> None:
    response = client.post(
        "/v1/audit/access-report/letter",
        json={"person": {"bsn": person["bsn"]}},
        headers={**token_for("privacy_officer"), "Accept": "image/png"},
    )
    assert response.status_code == 406
    assert (
        client.post(
            "/v1/audit/access-report/letter",
            json={"person": {"bsn": person["bsn"]}},
            headers=token_for("municipality"),
        ).status_code
        == 403
    )
