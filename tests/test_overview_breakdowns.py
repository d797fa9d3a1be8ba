"""The municipality's overview in words that cannot be misread: breakdowns by team,
neighbourhood and result under the same small-count rule, no suppressed group recoverable
from a total, suppressed figures as "te weinig om te tonen" (never "< 10"), a CSV export
that says what the page says, all through the one ``report.overview`` disclosure."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from exchange.auditlog.models import AuditEntry
from exchange.clock import today
from exchange.organisations.service import add_organisation
from exchange.reports.overview import _Suppression
from exchange.ui.i18n import MONTHS_NL
from tests.conftest import Login
from tests.factories import signal_body
from tests.test_reports import record_outreach

TOO_FEW = {"nl": "te weinig om te tonen", "en": "too few to show"}
MINIMUM = 10
# The neighbourhoods (PC4) of 34 cases: two shown, two suppressed that together count 11.
PC4S = {"3012": 12, "3014": 11, "3020": 8, "3021": 3}
# Who has the cases: two teams shown; a small team and the municipality's own suppressed.
TEAMS = {"Wijkteam Rotterdam Noord": 12, "Wijkteam Rotterdam Zuid": 11, "Wijkteam West": 2}
# The results: one group of two, so the next smallest (ten without a result) goes with it.
RESULTS = {"follow_up_financial": 12, "no_help_needed": 10, "paid_or_arranged": 2}
CASES = sum(PC4S.values())
# Words of the English overview that must not be on the Dutch one.
ENGLISH = (
    "too few", "count", "cases", "months", "kinds", "channels", "total", "download",
    "section", "group", "value", "result", "neighbourhood", "team or", "with the municipality",
    "no result", "key figures", "median", "share overdue", "reach rate",
)  # fmt: skip


def period() -> dict[str, str]:
    return {"from": (today() - dt.timedelta(days=30)).isoformat(), "to": today().isoformat()}


@pytest.fixture
def cases(
    client: TestClient,
    token_for: Callable[[str], dict[str, str]],
    world: dict[str, Any],
    db_session: Callable[[], Any],
) -> list[str]:
    """34 cases, each its own household, spread over the neighbourhoods, teams and results
    above; the ids, in the order made."""
    municipality = uuid.UUID(world["municipality"].id)
    with db_session() as session:
        extra = {
            name: str(
                add_organisation(
                    session, kind="neighbourhood_team", name=name, parent_id=municipality
                ).id
            )
            for name in ("Wijkteam Rotterdam Zuid", "Wijkteam West")
        }
    team_ids = {"Wijkteam Rotterdam Noord": world["neighbourhood_team"].id, **extra}
    case_ids = []
    for pc4, count in PC4S.items():
        for _ in range(count):
            body = signal_body(address={"postcode": f"{pc4}AB"})
            response = client.post(
                "/v1/signals", json=body, headers=token_for("housing_corporation")
            )
            assert response.status_code == 201, response.text
            case_ids.append(response.json()["case_id"])
    teams = [name for name, count in TEAMS.items() for _ in range(count)]
    for case_id, name in zip(case_ids, teams, strict=False):
        response = client.post(
            f"/v1/cases/{case_id}/assignment",
            json={"organisation_id": team_ids[name]},
            headers=token_for("municipality"),
        )
        assert response.status_code == 200, response.text
    results = [code for code, count in RESULTS.items() for _ in range(count)]
    for index, (case_id, code) in enumerate(zip(case_ids, results, strict=False)):
        record_outreach(
            db_session,
            case_id,
            world["municipality"].id,
            days_after_opening=index % 3,
            reached=True,
            result=code,
        )
    return case_ids


def test_breakdowns_show_large_groups_and_hide_small_ones_unrecoverably(
    cases: list[str], client: TestClient, token_for: Callable[[str], dict[str, str]]
) -> None:
    overview = client.get(
        "/v1/reports/overview", params=period(), headers=token_for("municipality")
    ).json()
    assert overview["cases"] == {"count": CASES, "suppressed": False}
    breakdowns = overview["breakdowns"]

    pc4 = {g["pc4"]: g["count"] for g in breakdowns["pc4"]}
    # 8 and 3 are small, and together eleven: nothing larger needs to go with them.
    assert pc4 == {"3012": 12, "3014": 11, "3020": None, "3021": None}

    team = {g["name"]: g["count"] for g in breakdowns["team"]}
    assert team == {
        "Wijkteam Rotterdam Noord": 12,
        "Wijkteam Rotterdam Zuid": 11,
        "Wijkteam West": None,
        None: None,  # the nine cases still with the municipality: small too
    }
    assert all(g["kind"] in ("neighbourhood_team", None) for g in breakdowns["team"])

    result = {g["result_code"]: g["count"] for g in breakdowns["result"]}
    # Two "paid or arranged" alone would be 34 - 12 - 10 - 10: the next smallest group (the
    # ten cases without a result) is suppressed with it.
    assert result == {
        "follow_up_financial": 12,
        "no_help_needed": 10,
        "paid_or_arranged": None,
        None: None,
    }

    totals = {"pc4": CASES, "team": CASES, "result": CASES}
    for name, groups in breakdowns.items():
        assert_unrecoverable(groups, totals[name])
    assert_unrecoverable(overview["signals"]["per_month_and_kind"], overview["signals"]["count"])


def assert_unrecoverable(groups: list[dict[str, Any]], total: int) -> None:
    """The shown groups are true counts that add up under the total; what the total leaves
    is a sum over two or more suppressed groups, never a small number."""
    shown = [g["count"] for g in groups if not g["suppressed"]]
    suppressed = [g for g in groups if g["suppressed"]]
    assert all(count >= MINIMUM for count in shown)
    assert all(g["count"] is None for g in suppressed)
    left = total - sum(shown)
    if suppressed:
        assert len(suppressed) >= 2 and left >= MINIMUM, (groups, total)
    else:
        assert left == 0


@pytest.mark.parametrize(
    ("counts", "hidden"),
    [
        ({"a": 12, "b": 11, "c": 1}, {"b", "c"}),  # one small group takes the next with it
        ({"a": 30, "b": 12, "c": 1, "d": 2}, {"b", "c", "d"}),  # 1 + 2 is still small
        ({"a": 30, "b": 6, "c": 5}, {"b", "c"}),  # two small ones that make eleven
        ({"a": 30, "b": 20}, set()),
        ({"a": 3}, {"a"}),  # the total itself is suppressed then
    ],
)
def test_a_suppressed_group_takes_as_many_others_as_keep_it_hidden(
    counts: dict[str, int], hidden: set[str]
) -> None:
    cells = _Suppression(MINIMUM).groups(counts)
    assert {key for key, cell in cells.items() if cell["suppressed"]} == hidden
    assert all(cells[key]["count"] == counts[key] for key in counts.keys() - hidden)


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_page_and_its_csv_say_the_same_in_words_and_the_export_is_on_record(
    lang: str, cases: list[str], login: Login, db_session: Callable[[], Any]
) -> None:
    worker = login("municipality")
    page = worker.get("/ui/overview", params={**period(), "lang": lang})
    assert page.status_code == 200, page.text
    assert TOO_FEW[lang] in page.text
    assert "< 10" not in page.text and "&lt; 10" not in page.text
    assert 'href="/ui/overview.csv?' in page.text
    if lang == "nl":
        words = re.sub(r"<[^>]+>", " ", page.text[page.text.index("<main") :])
        english = [w for w in ENGLISH if re.search(rf"\b{w}\b", words, re.IGNORECASE)]
        assert english == []
    tables = tables_of(page.text)
    team_rows = dict(tables["t-team"])
    assert team_rows["Wijkteam Rotterdam Noord"] == "12"
    assert team_rows["Wijkteam West"] == TOO_FEW[lang]
    result_rows = dict(tables["t-result"])
    if lang == "nl":
        assert result_rows["Vervolghulp en/of verwijzing financieel"] == "12"
        assert result_rows["Nog geen resultaat"] == TOO_FEW[lang]
    else:
        assert result_rows["No result yet"] == TOO_FEW[lang]

    export = worker.get("/ui/overview.csv", params={**period(), "lang": lang})
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith("attachment;")
    assert export.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert all(len(row) == 4 for row in rows)
    assert "< 10" not in export.content.decode("utf-8-sig")
    by_section: dict[str, list[tuple[str, str]]] = {}
    for section, group, value, _ in rows[1:]:
        by_section.setdefault(section, []).append((group, value))
    # The tiles, figure for figure, and every table of the page, row for row, are in the file.
    for group, value in by_section[{"nl": "Kerncijfers", "en": "Key figures"}[lang]]:
        assert f'">{value}</span>{group}' in page.text, (group, value)
    # Every table of the page, row for row, is a section of the file.
    titles = section_titles(page.text)
    for table_id, table_rows in tables.items():
        assert by_section[titles[table_id]] == table_rows, table_id
    assert TOO_FEW[lang] in {row[2] for row in rows}
    # A suppressed cell is words in the file too: no count of a suppressed group is in it.
    suppressed_groups = [g for g, v in by_section[titles["t-pc4"]] if v == TOO_FEW[lang]]
    assert sorted(suppressed_groups) == ["3020", "3021"]

    with db_session() as session:
        recorded = [
            json.loads(entry)
            for entry in session.scalars(
                select(AuditEntry.entry)
                .where(AuditEntry.action == "report.overview")
                .order_by(AuditEntry.leaf_index)
            )
        ]
    page_entry, csv_entry = recorded[-2:]
    for entry in (page_entry, csv_entry):
        assert entry["decision"] == "permit"
        assert entry["rule_id"] == "municipality.statistics.aggregate"
        assert {"pc4", "case.assignments", "case.result_code"} <= set(entry["fields"])
    assert "format" not in page_entry["resources"]
    assert csv_entry["resources"]["format"] == "csv"
    assert csv_entry["resources"]["from"] == period()["from"]


@pytest.mark.parametrize("kind", ["neighbourhood_team", "debt_service", "privacy_officer"])
def test_no_one_but_the_municipality_gets_the_overview_or_its_export(
    kind: str, login: Login, db_session: Callable[[], Any]
) -> None:
    other = login(kind)
    for path in ("/ui/overview", "/ui/overview.csv"):
        response = other.get(path, params=period())
        assert response.status_code == 403, (path, response.status_code)
        assert "text/csv" not in response.headers["content-type"]
    with db_session() as session:
        assert not session.scalars(
            select(AuditEntry).where(AuditEntry.action == "report.overview")
        ).all()


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"from": "2026-13-45"}, "from", ("Vul een datum in", "Enter a date")),
        ({"to": "morgen"}, "to", ("Vul een datum in", "Enter a date")),
        (
            {"from": "2026-05-01", "to": "2026-04-30"},
            "from",
            ("De begindatum ligt na de einddatum.", "The start date is after the end date."),
        ),
        (
            {"from": "2025-01-01", "to": "2026-01-02"},
            "to",
            ("ten hoogste 366 dagen", "at most 366 days"),
        ),
        ({"from": "0001-01-01", "to": "0001-01-02"}, "from", ("te ver in het verleden", "too far")),
    ],
)
@pytest.mark.parametrize("path", ["/ui/overview", "/ui/overview.csv"])
def test_a_bad_period_is_named_on_the_form_in_the_page_s_language(
    path: str,
    query: dict[str, str],
    field: str,
    words: tuple[str, str],
    login: Login,
    db_session: Callable[[], Any],
) -> None:
    worker = login("municipality")
    for lang, expected in zip(("nl", "en"), words, strict=True):
        response = worker.get(path, params={**query, "lang": lang})
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/html")
        assert f'lang="{lang}"' in response.text
        assert expected in response.text
        assert f'aria-describedby="e-{field}"' in response.text
        # What was typed stays on the form.
        for name, value in query.items():
            assert f'name="{name}" type="date" value="{value}"' in response.text
    with db_session() as session:  # nothing was disclosed, so nothing is on record
        assert not session.scalars(
            select(AuditEntry).where(AuditEntry.action == "report.overview")
        ).all()


def test_a_small_figure_reads_too_few_in_the_tiles_and_the_chart(
    client: TestClient, token_for: Callable[[str], dict[str, str]], login: Login
) -> None:
    # Twelve rent signals are shown; six energy and five water signals are each too few.
    for provider, kind, count in (
        ("housing_corporation", "rent", 12),
        ("energy_supplier", "energy", 6),
        ("water_company", "water", 5),
    ):
        for _ in range(count):
            response = client.post(
                "/v1/signals", json=signal_body(kind=kind), headers=token_for(provider)
            )
            assert response.status_code == 201, response.text
    page = login("municipality").get("/ui/overview", params=period()).text
    tiles = page[page.index('class="tiles"') : page.index("</ul>", page.index('class="tiles"'))]
    # Nobody was tried yet: reach, acceptance and the median are over too few cases.
    assert tiles.count(TOO_FEW["nl"]) == 3
    assert f'too-few">{TOO_FEW["nl"]}</span>Mediaan dagen tot eerste contactpoging' in tiles
    assert '">23</span>Signalen' in tiles
    chart = page[page.index("<svg") : page.index("</svg>")]
    assert f"energie: {TOO_FEW['nl']}" in chart  # the dashed bars say it too
    assert "huur: 12" in chart
    assert "months" not in chart and "kinds" not in chart  # its description is Dutch
    assert dict(tables_of(page)["t-months"]) == {
        f"{MONTHS_NL[today().month - 1]} {today().year}, huur": "12",
        f"{MONTHS_NL[today().month - 1]} {today().year}, energie": TOO_FEW["nl"],
        f"{MONTHS_NL[today().month - 1]} {today().year}, water": TOO_FEW["nl"],
    }


# Reading the page's tables ---------------------------------------------------------------


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[tuple[str, str]]] = {}
        self.titles: dict[str, str] = {}
        self._table: str | None = None
        self._in_body = False
        self._cells: list[str] | None = None
        self._text: list[str] | None = None
        self._heading: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "h2":
            self._heading = ""
        elif tag == "table" and attributes.get("id"):
            self._table = attributes["id"]
            self.tables[self._table or ""] = []
            self.titles[self._table or ""] = self._last_heading
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._cells = []
        elif tag == "td" and self._cells is not None:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._heading is not None:
            self._last_heading = self._heading.strip()
            self._heading = None
        elif tag == "td" and self._text is not None and self._cells is not None:
            self._cells.append("".join(self._text).strip())
            self._text = None
        elif tag == "tr" and self._cells is not None and self._table:
            *groups, value = self._cells
            self.tables[self._table].append((", ".join(groups), value))
            self._cells = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading += data
        if self._text is not None:
            self._text.append(data)

    _last_heading = ""


def _parsed(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def tables_of(page: str) -> dict[str, list[tuple[str, str]]]:
    """Each data table of the page by id: its rows as (groups, figure)."""
    return _parsed(page).tables


def section_titles(page: str) -> dict[str, str]:
    return _parsed(page).titles
