"""The register for people: /ui/register says what AVG art. 30(1) asks, in Dutch first,
one section per purpose, in words (no field paths, no legal-basis codes, no ISO durations);
/ui/register/rules is the machine view, with rule ids, field paths and the version hash.

The browser checks (no horizontal scroll on a phone, axe) are at the end of
tests/test_ui_browser.py.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from exchange.api.app import create_app
from exchange.broker import Broker
from exchange.policy.service import activate
from exchange.rights.report import LEGAL_BASES
from policies.engine import Register, load_register
from policies.source import default_register_dir
from policies.words import duration_words, number_words
from tests.conftest import ISSUER, Login

# Anything on the people's page that looks like the register's machine words.
ISO_DURATION = re.compile(r"\bP\d+[YMWD]")
LEGAL_CODE = re.compile(r"eu-gdpr:")


@pytest.mark.parametrize(
    ("duration", "dutch", "english"),
    [
        ("P6M", "zes maanden", "six months"),
        ("P2Y", "twee jaar", "two years"),
        ("P30D", "30 dagen", "30 days"),
        ("P1Y6M", "één jaar en zes maanden", "one year and six months"),
        ("P1Y", "één jaar", "one year"),
        ("P1M", "één maand", "one month"),
        ("P1D", "één dag", "one day"),
        ("P3W", "drie weken", "three weeks"),
        ("P12M", "twaalf maanden", "twelve months"),
        ("P5Y", "vijf jaar", "five years"),
        ("P20D", "twintig dagen", "twenty days"),
        ("P21D", "21 dagen", "21 days"),
        ("P1Y2M3D", "één jaar, twee maanden en drie dagen", "one year, two months and three days"),
        ("P2Y0M", "twee jaar", "two years"),
        ("P0D", "nul dagen", "zero days"),
    ],
)
def test_an_iso_duration_in_dutch_and_english_words(
    duration: str, dutch: str, english: str
) -> None:
    assert duration_words(duration, "nl") == dutch
    assert duration_words(duration, "en") == english


@pytest.mark.parametrize("wrong", ["6M", "P", "PT6H", "P6m", "P1.5Y", "P6M ", "", "P-1D"])
def test_anything_but_a_register_duration_is_refused(wrong: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        duration_words(wrong, "nl")


def test_numbers_are_words_up_to_twenty_and_a_language_must_be_known() -> None:
    assert [number_words(n, "nl") for n in (1, 10, 20, 21)] == ["één", "tien", "twintig", "21"]
    assert number_words(10, "en") == "ten"
    with pytest.raises(ValueError):
        duration_words("P6M", "de")
    with pytest.raises(ValueError):
        number_words(-1, "nl")


def test_every_period_of_the_shipped_register_has_words() -> None:
    for purpose in load_register().purposes:
        for language in ("nl", "en"):
            assert not ISO_DURATION.search(duration_words(purpose.retention_period, language))


def test_the_shipped_register_states_what_avg_art_30_asks_in_both_languages() -> None:
    register = load_register()
    for text in (
        register.controller_name,
        register.controller_contact,
        register.dpo,
        register.transfers,
        *register.data_subjects,
        *register.security_measures,
    ):
        assert set(text) == {"nl", "en"} and all(text.values())
    assert register.data_subjects and register.security_measures
    for purpose in register.purposes:
        assert set(purpose.retention_counted_from) == {"nl", "en"}, purpose.id
        # Every legal basis has words on the page (no code shown instead).
        assert all(basis in LEGAL_BASES for basis in purpose.legal_basis), purpose.id


def _text(page: str) -> str:
    """The page's main content as text, tags dropped, entities decoded."""
    main = page.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", main))


def _sections(page: str) -> dict[str, str]:
    """Each purpose section of the page, by its heading."""
    found = re.findall(
        r'<section aria-labelledby="purpose-\d+">\s*<h3 id="purpose-\d+">(.*?)</h3>(.*?)</section>',
        page,
        flags=re.S,
    )
    return {html.unescape(heading): body for heading, body in found}


def _field_paths(register: Register) -> list[str]:
    return [field.id for field in register.fields]


def test_the_page_in_dutch_is_the_register_in_words_one_section_per_purpose(
    login: Login, broker: Broker, db_session: Any
) -> None:
    browser = login("neighbourhood_team")
    answer = browser.get("/ui/register")
    assert answer.status_code == 200
    page = answer.text
    with db_session() as session:
        register = broker.policies.active(session).register
    assert '<html lang="nl">' in page
    text = _text(page)

    # AVG art. 30(1): controller and FG, subjects, purposes, transfers, security.
    for heading in (
        "Wie is verantwoordelijk",
        "Functionaris gegevensbescherming",
        "Over wie",
        "Waarvoor de gegevens worden gebruikt",
        "Doorgifte buiten Europa",
        "Beveiliging",
    ):
        assert heading in text
    assert register.controller_name["nl"] in text
    assert register.transfers["nl"] in text
    assert all(measure["nl"] in text for measure in register.security_measures)

    sections = _sections(page)
    assert list(sections) == [purpose.name["nl"] for purpose in register.purposes]
    categories = {category.id: category.name["nl"] for category in register.categories}
    for purpose in register.purposes:
        body = html.unescape(sections[purpose.name["nl"]])
        for basis in purpose.legal_basis:
            assert LEGAL_BASES[basis][0] in body, (purpose.id, basis)
        assert duration_words(purpose.retention_period, "nl") in body
        assert purpose.retention_counted_from["nl"] in " ".join(body.split())
        for category in purpose.categories:
            assert categories[category] in body

    early = html.unescape(sections["Vroegsignalering van betalingsachterstanden"])
    assert "wettelijke verplichting (AVG art. 6 lid 1 sub c)" in early
    assert "Hoe lang bewaard:" in early and "zes maanden na het afsluiten van de casus" in early
    referral = html.unescape(sections["Doorverwijzing naar een schuldhulpverlener"])
    assert "Externe schuldhulpverlener (alleen met uw toestemming)" in referral
    statistics = html.unescape(sections["Statistiek en beleidsinformatie"])
    assert "alleen aantallen, in groepen van ten minste tien" in statistics
    assert "vijf jaar" in statistics

    # Never the machine's words on the people's view.
    assert not ISO_DURATION.search(text)
    assert not LEGAL_CODE.search(page)
    for path in _field_paths(register):
        if "." in path or "_" in path:
            assert path not in page, path
    assert not any(rule.id in page for rule in register.rules)
    assert register.version_hash not in page
    # The machine view is one link away, not in the way.
    assert 'href="/ui/register/rules"' in page


def test_the_page_in_english_is_in_english(login: Login, broker: Broker, db_session: Any) -> None:
    browser = login("municipality")
    page = browser.get("/ui/register?lang=en").text
    with db_session() as session:
        register = broker.policies.active(session).register
    assert '<html lang="en">' in page
    text = _text(page)
    for heading in ("Who is responsible", "Whose data", "What the data is used for", "Security"):
        assert heading in text
    assert list(_sections(page)) == [purpose.name["en"] for purpose in register.purposes]
    assert "legal obligation (GDPR art. 6(1)(c))" in text
    assert "six months after the case closing" in " ".join(text.split())
    assert "counts only, in groups of at least ten" in text
    assert "only with your consent" in text
    for dutch in (
        "Verwerkingsregister",
        "Grondslag",
        "Hoe lang bewaard",
        "zes maanden",
        "wettelijke",
    ):
        assert dutch not in text, dutch
    assert not ISO_DURATION.search(text)
    # The language sticks (the cookie): the next page is English too.
    assert '<html lang="en">' in browser.get("/ui/register/rules").text


def test_the_machine_view_shows_the_rules_with_ids_field_paths_and_version(
    login: Login, broker: Broker, db_session: Any
) -> None:
    browser = login("privacy_officer")
    answer = browser.get("/ui/register/rules")
    assert answer.status_code == 200
    page = answer.text
    with db_session() as session:
        register = broker.policies.active(session).register
    flat = page.replace("<wbr>", "")
    assert register.version_hash in flat
    for rule in register.rules:
        assert f"<h3><code>{rule.id}</code></h3>" in flat
        for field in rule.fields:
            assert f"<code>{field}</code>" in flat
    assert "<code>person.bsn</code>" in flat
    assert "<code>P6M</code>" in page and "eu-gdpr:A6-1-c" in page
    assert 'href="/ui/register"' in page
    assert "Regels van het register" in _text(page)


def test_everyone_signed_in_may_read_both_and_nobody_else(login: Login, broker: Broker) -> None:
    with TestClient(create_app(broker=broker), base_url=ISSUER, follow_redirects=False) as anon:
        for path in ("/ui/register", "/ui/register/rules"):
            assert anon.get(path).status_code == 303
    for kind in ("municipality", "neighbourhood_team", "debt_service", "privacy_officer"):
        browser = login(kind)
        for path in ("/ui/register", "/ui/register/rules"):
            assert browser.get(path).status_code == 200, (kind, path)


def test_an_older_register_without_the_art_30_words_still_shows_what_it_has(
    login: Login, broker: Broker, db_session: Any, tmp_path: Path
) -> None:
    """A version stored before the register asked for the controller's contact, the FG,
    the subjects, transfers, security and the retention's start in words."""
    shipped = default_register_dir()
    shutil.copytree(shipped, tmp_path / "register")
    shutil.copytree(shipped.parent / "documents", tmp_path / "documents")
    art_30 = ("controller_name", "controller_contact", "dpo", "data_subjects", "transfers")
    meta = tmp_path / "register" / "register.yaml"
    document = yaml.safe_load(meta.read_text())
    for key in (*art_30, "security_measures"):
        del document["register"][key]
    meta.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    purposes = tmp_path / "register" / "purposes.yaml"
    document = yaml.safe_load(purposes.read_text())
    for purpose in document["purposes"]:
        del purpose["retention"]["counted_from"]
    purposes.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    with db_session() as session:
        activate(session, tmp_path / "register")
    page = login("municipality").get("/ui/register").text
    text = _text(page)
    assert "Niet vastgelegd in deze versie van het register." in text
    assert "The municipality (college van burgemeester en wethouders)" in text
    assert "Hoe lang bewaard: zes maanden." in " ".join(text.split())
    assert not ISO_DURATION.search(text)
