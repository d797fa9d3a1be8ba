"""The work list (issue 16, items 1 and 7): case numbers, paging with a total, sorting on
every column, filters as people type them, per-role filters and columns, saved views
(werkbakjes), the CSV export and the bulk hand-over.

Pages through the TestClient (``login``), data through the API with real tokens, as
tests/test_ui_pages.py and tests/test_cases.py do; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from exchange.auditlog.models import AuditEntry
from exchange.cases.models import Case
from exchange.cases.terms import CaseStatus
from exchange.clock import today
from exchange.organisations.service import add_organisation
from exchange.ui.accounts import add_user
from tests.conftest import ISSUER, PASSWORD, Login, csrf, hidden
from tests.factories import signal_body

Headers = Callable[[str], dict[str, str]]

NUMBER = re.compile(r"^(\d{4})-(\d{4})-(\d{6})$")
LINK = re.compile(r'href="/ui/cases/([0-9a-f-]{36})"')
COUNT = re.compile(r'<p class="count" role="status">([^<·]*)')
# How many open cases the big queue holds: more than one page of 50.
BIG = 64


def entries(db_session: Any, action: str) -> list[dict[str, Any]]:
    with db_session() as session:
        rows = session.execute(
            select(AuditEntry.entry)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.leaf_index)
        )
        return [orjson.loads(data) for (data,) in rows]


def send(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/signals", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def send_batch(
    client: TestClient, headers: dict[str, str], bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    response = client.post("/v1/signals/batch", json={"signals": bodies}, headers=headers)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["outcome"] for r in results] == ["created"] * len(bodies), results
    return [r["signal"] for r in results]


def all_items(client: TestClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/cases", params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def ids_on(page: str) -> list[str]:
    """The cases a queue page lists, in its order (each row links its case once)."""
    return list(dict.fromkeys(LINK.findall(page)))


def count_line(page: str) -> str:
    match = COUNT.search(page)
    assert match, "no count line on the page"
    return " ".join(match.group(1).split())


def second_team(db_session: Any, world: Any, name: str = "Wijkteam Charlois") -> str:
    with db_session() as session:
        team = add_organisation(
            session,
            kind="neighbourhood_team",
            name=name,
            parent_id=uuid.UUID(world["municipality"].id),
        )
        return str(team.id)


def big_queue(
    client: TestClient, token_for: Headers, world: Any, db_session: Any
) -> dict[str, Any]:
    """64 open cases of Rotterdam: 60 rent signals in one batch (amounts, ages and
    neighbourhoods spread over every band, every tenth a crisis), two energy and two water
    signals; one household signalled twice (multiple). Three cases are handed to teams
    (two teams), two are in contact (no deadline), one is overdue."""
    bodies = []
    birth_years = [1950, 1970, 1990, 2001]
    amounts = [4_000, 60_000, 150_000, 300_000, 600_000, 1_200_000]
    for n in range(60):
        bodies.append(
            signal_body(
                amount_cents=amounts[n % len(amounts)],
                crisis=n % 10 == 3,
                person={"birth_date": f"{birth_years[n % len(birth_years)]}-06-15"},
                address={"postcode": f"30{11 + n % 40:02d}AB", "house_number": str(n + 1)},
            )
        )
    rent = send_batch(client, token_for("housing_corporation"), bodies)
    energy = [
        send(
            client,
            token_for("energy_supplier"),
            signal_body(kind="energy", amount_cents=20_000, address={"postcode": "3055EE"}),
        )
        for _ in range(2)
    ]
    water = [
        send(
            client,
            token_for("water_company"),
            signal_body(kind="water", amount_cents=9_000, address={"postcode": "3066WW"}),
        )
        for _ in range(2)
    ]
    # The first rent household also owes the energy supplier: one multiple case.
    same = bodies[0]
    joined = send(
        client,
        token_for("energy_supplier"),
        signal_body(kind="energy", person=same["person"], address=same["address"]),
    )
    assert joined["case_id"] == rent[0]["case_id"]
    municipality = token_for("municipality")
    charlois = second_team(db_session, world)
    handed = {
        rent[1]["case_id"]: world["neighbourhood_team"].id,
        rent[2]["case_id"]: charlois,
        rent[4]["case_id"]: world["neighbourhood_team"].id,
    }
    for case_id, team_id in handed.items():
        response = client.post(
            f"/v1/cases/{case_id}/assignment",
            json={"organisation_id": team_id},
            headers=municipality,
        )
        assert response.status_code == 200, response.text
    in_contact = [rent[5]["case_id"], rent[6]["case_id"]]
    for case_id in in_contact:
        response = client.post(
            f"/v1/cases/{case_id}/contact-attempts",
            json={"channel": "phone", "date": today().isoformat(), "reached": True},
            headers=municipality,
        )
        assert response.status_code == 201, response.text
    overdue = rent[7]["case_id"]
    with db_session() as session:
        session.execute(
            update(Case)
            .where(Case.id == uuid.UUID(overdue))
            .values(deadline_on=today() - dt.timedelta(days=1))
        )
    case_ids = [s["case_id"] for s in rent + energy + water]
    assert len(set(case_ids)) == BIG
    return {
        "bodies": bodies,
        "rent": rent,
        "energy": energy,
        "water": water,
        "case_ids": case_ids,
        "handed": handed,
        "charlois": charlois,
        "in_contact": in_contact,
        "overdue": overdue,
    }


# Case numbers ---------------------------------------------------------------------------


def test_case_numbers_are_unique_and_run_in_order_per_municipality_and_year(
    client: TestClient, token_for: Headers, db_session: Any, login: Login
) -> None:
    housing = token_for("housing_corporation")
    one_by_one = [send(client, housing, signal_body()) for _ in range(3)]
    batch = send_batch(client, housing, [signal_body() for _ in range(5)])
    with db_session() as session:
        add_organisation(
            session,
            kind="municipality",
            name="Gemeente Utrecht",
            gemeentecode="0344",
            postcodes="3500-3585",
        )
    utrecht = send(client, housing, signal_body(address={"postcode": "3511AA"}))

    municipality = token_for("municipality")
    number_of = {i["id"]: i["number"] for i in all_items(client, municipality)}
    year = str(today().year)
    running = []
    for signal in one_by_one + batch:
        match = NUMBER.match(number_of[signal["case_id"]])
        assert match, number_of[signal["case_id"]]
        assert match.group(1) == "0599" and match.group(2) == year
        running.append(int(match.group(3)))
    # One after the other in the order the cases opened; the batch takes the next block.
    assert running[:3] == [1, 2, 3]
    assert sorted(running[3:]) == [4, 5, 6, 7, 8]
    assert len(set(number_of.values())) == len(number_of)
    # Utrecht counts on its own.
    with db_session() as session:
        utrecht_number = session.scalar(
            select(Case.number).where(Case.id == uuid.UUID(utrecht["case_id"]))
        )
    assert utrecht_number == f"0344-{year}-000001"

    # The number names the case everywhere: the API's case, the queue and the case page.
    first = one_by_one[0]["case_id"]
    document = client.get(f"/v1/cases/{first}", headers=municipality).json()
    assert document["number"] == f"0599-{year}-000001"
    worker = login("municipality")
    assert f"0599-{year}-000001" in worker.get("/ui/cases").text
    page = worker.get(f"/ui/cases/{first}").text
    assert f"<h1>Casus 0599-{year}-000001" in page
    # Searching by number finds that one case.
    found = worker.get("/ui/cases", params={"number": f"0599-{year}-000002"})
    assert ids_on(found.text) == [one_by_one[1]["case_id"]]
    # Said without its zeros, it is the same number.
    short = worker.get("/ui/cases", params={"number": f"0599-{year}-3"})
    assert ids_on(short.text) == [one_by_one[2]["case_id"]]


# The migration's numbering of older cases is in tests/test_migrations.py.


# Paging and sorting ----------------------------------------------------------------------


def test_the_pages_and_their_total_reach_every_case_and_an_old_offset_still_works(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    made = big_queue(client, token_for, world, db_session)
    worker = login("municipality")
    first = worker.get("/ui/cases")
    assert first.status_code == 200
    assert count_line(first.text) == f"1–50 van {BIG} casussen"
    assert 'rel="next"' in first.text and "Pagina 1 van 2" in first.text
    second = worker.get("/ui/cases", params={"page": 2})
    assert count_line(second.text) == f"51–{BIG} van {BIG} casussen"
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    on_pages = ids_on(first.text) + ids_on(second.text)
    assert len(on_pages) == BIG and set(on_pages) == set(made["case_ids"])
    # A link from before the page numbers: offset=50 is page 2.
    assert ids_on(worker.get("/ui/cases", params={"offset": 50}).text) == ids_on(second.text)
    # The API pages the same way and says how many there are.
    municipality = token_for("municipality")
    seen: list[str] = []
    for offset in (0, 50):
        answer = client.get(
            "/v1/cases", params={"limit": 50, "offset": offset}, headers=municipality
        ).json()
        assert answer["total"] == BIG
        seen += [item["id"] for item in answer["items"]]
    assert sorted(seen) == sorted(made["case_ids"])


_STATUS_POSITION = {status.value: n for n, status in enumerate(CaseStatus)}
_CLASS_POSITION = {"single": 0, "multiple": 1, "repeat": 2}
_AMOUNT_POSITION = {
    b: n for n, b in enumerate(["0-500", "500-1000", "1000-2500", "2500-5000", "5000-10000"])
} | {"10000+": 5}
_AGE_POSITION = {"under-18": 0, "18-27": 1, "27-45": 2, "45-67": 3, "67+": 4}

SORT_KEYS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "number": lambda i: i["number"],
    "status": lambda i: _STATUS_POSITION[i["status"]],
    "classification": lambda i: _CLASS_POSITION[i["classification"]],
    "kind": lambda i: min(i["kinds"]),
    "amount": lambda i: max(_AMOUNT_POSITION[b] for b in i["amount_bands"]),
    "age": lambda i: max(_AGE_POSITION[b] for b in i["age_bands"]),
    "pc4": lambda i: i["pc4"],
    "team": lambda i: min(i["teams"]) if i["teams"] else None,
    "deadline": lambda i: i["deadline"],
    "opened": lambda i: i["opened_at"],
}


def test_each_column_sorts_both_ways_with_empty_cells_last(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    made = big_queue(client, token_for, world, db_session)
    municipality = token_for("municipality")
    for sort, key in SORT_KEYS.items():
        for descending in (False, True):
            items = all_items(client, municipality, sort=sort, descending=descending)
            assert len(items) == BIG, sort
            values = [key(item) for item in items]
            filled = [v for v in values if v is not None]
            # Every empty cell comes after every filled one, whichever way the column runs.
            assert values == filled + [None] * (len(values) - len(filled)), (sort, descending)
            assert filled == sorted(filled, reverse=descending), (sort, descending, filled)
            assert len(set(filled)) > 1, f"the data do not exercise the {sort} sort"
    teams = [i for i in all_items(client, municipality, sort="team") if i["teams"]]
    assert {i["id"] for i in teams} == set(made["handed"])
    deadlines = all_items(client, municipality, sort="deadline", descending=True)
    assert {i["id"] for i in deadlines[-2:]} == set(made["in_contact"])
    # Urgency (the default): crises first, then the nearest deadline.
    urgent = all_items(client, municipality)
    crises = [i["crisis"] for i in urgent]
    assert crises == sorted(crises, reverse=True)
    plain = [i["deadline"] for i in urgent if not i["crisis"] and i["deadline"]]
    assert plain == sorted(plain)

    # The page sorts the same way and marks the column for a screen reader.
    worker = login("municipality")
    page = worker.get("/ui/cases", params={"sort": "number", "dir": "desc"}).text
    expected = [i["id"] for i in all_items(client, municipality, sort="number", descending=True)]
    assert ids_on(page) == expected[:50]
    assert 'aria-sort="descending"' in page
    by_pc4 = worker.get("/ui/cases", params={"sort": "pc4", "page": 2}).text
    expected = [i["id"] for i in all_items(client, municipality, sort="pc4")]
    assert ids_on(by_pc4) == expected[50:]


# Filters -------------------------------------------------------------------------------


def test_filters_narrow_the_list_and_read_amounts_as_people_write_them(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    made = big_queue(client, token_for, world, db_session)
    worker = login("municipality")
    bodies, rent = made["bodies"], made["rent"]

    def listed(**params: Any) -> set[str]:
        page = worker.get("/ui/cases", params={"sort": "number", **params})
        assert page.status_code == 200, (params, page.text[:500])
        return set(ids_on(page.text))

    def rent_cases(test: Callable[[dict[str, Any]], bool]) -> set[str]:
        return {s["case_id"] for s, b in zip(rent, bodies, strict=True) if test(b)}

    # Amounts in euros the Dutch way: "1.000" is a thousand, "€ 1.000,50" too.
    at_least = listed(amount_min="1.000")
    assert at_least == listed(amount_min="1000") != set()
    assert at_least == rent_cases(lambda b: b["amount_cents"] >= 100_000)
    at_most = listed(amount_max="€ 1.000,50")
    assert at_most == listed(amount_max="1000")
    # Bands: up to 1000 euros takes the bands that start at or below it.
    assert at_most == set(made["case_ids"]) - rent_cases(lambda b: b["amount_cents"] >= 250_000)

    assert listed(pc4="3011 3012") == rent_cases(
        lambda b: b["address"]["postcode"][:4] in ("3011", "3012")
    )
    assert listed(pc4="3011, 3012") == listed(pc4="3011 3012")
    assert listed(status="in_contact") == set(made["in_contact"])
    assert listed(status="assigned") == set(made["handed"])
    assert listed(kind="water") == {s["case_id"] for s in made["water"]}
    assert listed(creditor="water_company") == {s["case_id"] for s in made["water"]}
    energy = {s["case_id"] for s in made["energy"]} | {rent[0]["case_id"]}
    assert listed(creditor="energy_supplier") == energy
    assert listed(classification="multiple") == {rent[0]["case_id"]}
    assert listed(age_band="67+") == rent_cases(lambda b: b["person"]["birth_date"][:4] == "1950")
    assert listed(team=made["charlois"]) == {rent[2]["case_id"]}
    assert listed(team=world["neighbourhood_team"].id) == {rent[1]["case_id"], rent[4]["case_id"]}
    crisis = listed(crisis="yes")
    assert crisis == rent_cases(lambda b: b["crisis"]) and len(crisis) == 6
    assert listed(overdue="yes") == {made["overdue"]}
    # Filters combine.
    assert listed(crisis="yes", amount_min="1.000") == crisis & at_least
    # The form shows what was chosen.
    page = worker.get("/ui/cases", params={"amount_min": "€ 1.000,50", "pc4": "3011 3012"})
    assert 'value="€ 1.000,50"' in page.text and 'value="3011 3012"' in page.text


def test_a_bad_value_is_named_on_its_field_in_dutch_with_422_not_json(login: Login) -> None:
    worker = login("municipality")
    bad = {
        "pc4": ("12", "e-pc4", "Een postcodegebied is vier cijfers"),
        "amount_min": ("tien euro", "e-amount_min", "Schrijf een bedrag in hele euro"),
        "amount_max": ("10.00", "e-amount_max", "Schrijf een bedrag in hele euro"),
        "number": ("0599-26-1", "e-number", "Een casusnummer ziet er zo uit"),
    }
    for name, (value, anchor, words) in bad.items():
        page = worker.get("/ui/cases", params={name: value})
        assert page.status_code == 422, (name, page.text[:300])
        assert page.headers["content-type"].startswith("text/html")
        assert f'id="{anchor}"' in page.text and words in page.text, name
        assert "Niet alle filters konden worden gebruikt" in page.text
        assert f'value="{value}"' in page.text  # what was typed stays in the field
    for params in ({"offset": "abc"}, {"page": "twee"}, {"offset": "9223372036854775808"}):
        page = worker.get("/ui/cases", params=params)
        assert page.status_code == 422, params
        assert page.headers["content-type"].startswith("text/html")
        assert "Dat paginanummer bestaat niet; u ziet pagina 1." in page.text
    # A page past the last (an old link after cases closed): said, and the first shown.
    past = worker.get("/ui/cases", params={"page": "3"})
    assert past.status_code == 422
    assert "Dat paginanummer bestaat niet; u ziet pagina 1." in past.text
    assert "0–" not in count_line(past.text)
    reversed_range = worker.get("/ui/cases", params={"amount_min": "900", "amount_max": "100"})
    assert reversed_range.status_code == 422
    assert (
        "Het bedrag &#39;tot&#39; is lager dan het bedrag &#39;vanaf&#39;." in reversed_range.text
    )


# Per role --------------------------------------------------------------------------------


def _field_ids(page: str) -> set[str]:
    return set(re.findall(r'<(?:input|select) id="(f-[a-z0-9]+)"', page))


def _headings(page: str) -> list[str]:
    head = page.split("<thead>", 1)[1].split("</thead>", 1)[0]
    cells = re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    return [" ".join(re.sub(r"<[^>]+>|[↑↓]", " ", cell).split()) for cell in cells]


def test_each_role_gets_the_filters_and_columns_its_rule_shows_and_no_bsn(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    housing = token_for("housing_corporation")
    municipality = token_for("municipality")
    bodies = [signal_body(address={"postcode": f"301{n}AB"}) for n in range(3)]
    sent = [send(client, housing, body) for body in bodies]
    for signal in sent[:2]:
        client.post(
            f"/v1/cases/{signal['case_id']}/assignment",
            json={"organisation_id": world["neighbourhood_team"].id},
            headers=municipality,
        )

    city = login("municipality").get("/ui/cases").text
    assert _field_ids(city) >= {
        "f-number", "f-kind", "f-creditor", "f-class", "f-age", "f-team", "f-pc4",
        "f-min", "f-max", "f-sort", "f-dir",
    }  # fmt: skip
    assert _headings(city)[1:] == [
        "Casus", "Status", "Samenstelling", "Soort", "Schuldeiser", "Bedrag", "Leeftijd",
        "Straat", "Wijk (PC4)", "Team", "Termijn", "Binnengekomen",
    ]  # fmt: skip

    team = login("neighbourhood_team")
    page = team.get("/ui/cases").text
    fields = _field_ids(page)
    # The team's rule: no PC4 field, no age, no assignments; the amount as a band.
    assert not fields & {"f-pc4", "f-team", "f-age"}
    assert {"f-kind", "f-class", "f-min", "f-max"} <= fields
    headings = _headings(page)
    assert "Team" not in headings and "Leeftijd" not in headings
    assert "Straat" in headings and "Wijk (PC4)" in headings
    assert set(ids_on(page)) == {s["case_id"] for s in sent[:2]}
    assert "Proefstraat" in page  # the street, to ring the right doorbell
    sort_options = re.findall(r'<option value="([a-z0-9]+)"', page.split('id="f-sort"')[1])
    assert "pc4" not in sort_options and "team" not in sort_options and "age" not in sort_options
    # A filter or sort on a field the rule does not show is dropped, not applied.
    assert set(ids_on(team.get("/ui/cases", params={"pc4": "3010"}).text)) == {
        s["case_id"] for s in sent[:2]
    }
    assert team.get("/ui/cases", params={"sort": "team"}).status_code == 200
    export = team.get("/ui/cases.csv").content.decode("utf-8-sig")
    for body in bodies:
        assert body["person"]["bsn"] not in page and body["person"]["bsn"] not in export
        assert body["person"]["bsn"] not in team.get(f"/ui/cases/{sent[0]['case_id']}").text
    header = next(csv.reader(io.StringIO(export), delimiter=";"))
    assert "Team" not in header and "Leeftijd" not in header and "Bedrag" in header

    # The debt service sees a case only with consent for exactly it.
    debt = login("debt_service")
    assert ids_on(debt.get("/ui/cases").text) == []
    consent = client.post(
        "/v1/consents",
        json={
            "person": {"bsn": bodies[2]["person"]["bsn"]},
            "purposes": ["debt-service-referral"],
            "recipients": [world["debt_service"].id],
            "collection_method": "in_person",
            "notice_version": "2026-01",
        },
        headers=municipality,
    )
    assert consent.status_code == 201, consent.text
    referred = client.post(
        f"/v1/cases/{sent[2]['case_id']}/assignment",
        json={"organisation_id": world["debt_service"].id},
        headers=municipality,
    )
    assert referred.status_code == 200, referred.text
    page = debt.get("/ui/cases").text
    assert ids_on(page) == [sent[2]["case_id"]]
    assert "f-pc4" not in page and "f-team" not in page
    assert bodies[2]["person"]["bsn"] not in page


# Saved views ---------------------------------------------------------------------------


def test_saved_views_belong_to_their_user(
    broker: Any, login: Login, world: Any, db_session: Any
) -> None:
    worker = login("municipality")
    token = csrf(worker)
    saved = worker.post(
        "/ui/cases/views",
        data={
            "name": "  Crisis   in Noord ",
            "query": "crisis=yes&pc4=3011&sort=deadline&evil=<script>",
            "csrf_token": token,
        },
    )
    assert saved.status_code == 303
    assert (
        saved.headers["location"] == "/ui/cases?crisis=yes&pc4=3011&sort=deadline&saved=view_saved"
    )
    page = worker.get(saved.headers["location"]).text
    assert "Werkbakje bewaard." in page
    link = '<a href="/ui/cases?crisis=yes&amp;pc4=3011&amp;sort=deadline" aria-current="page">'
    assert f"{link}Crisis in Noord</a>" in page
    view_id = re.search(r'action="/ui/cases/views/([0-9a-f-]{36})/delete"', page)
    assert view_id
    # Saved again under the same name: the view is replaced, not doubled.
    worker.post(
        "/ui/cases/views",
        data={"name": "Crisis in Noord", "query": "crisis=yes", "csrf_token": token},
    )
    assert worker.get("/ui/cases").text.count(">Crisis in Noord</a>") == 1
    assert (
        worker.post("/ui/cases/views", data={"name": "  ", "query": "", "csrf_token": token})
        .headers["location"]
        .endswith("saved=view_needs_name")
    )

    # A colleague in the same municipality has her own list, and cannot delete his.
    with db_session() as session:
        add_user(
            session,
            organisation_id=uuid.UUID(world["municipality"].id),
            username="collega@example.test",
            display_name="Collega",
            password=PASSWORD,
        )
    from exchange.api.app import create_app

    with TestClient(create_app(broker=broker), base_url=ISSUER, follow_redirects=False) as other:
        form = other.get("/ui/login")
        other.post(
            "/ui/login",
            data={
                "username": "collega@example.test",
                "password": PASSWORD,
                "login_csrf": hidden(form.text, "login_csrf"),
            },
        )
        assert "Crisis in Noord" not in other.get("/ui/cases").text
        refused = other.post(
            f"/ui/cases/views/{view_id.group(1)}/delete", data={"csrf_token": csrf(other)}
        )
        assert refused.status_code == 404
    assert "Crisis in Noord" in worker.get("/ui/cases").text
    deleted = worker.post(f"/ui/cases/views/{view_id.group(1)}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert "Crisis in Noord" not in worker.get(deleted.headers["location"]).text


# Export ----------------------------------------------------------------------------------


def test_the_export_holds_every_page_the_rule_s_columns_defused_cells_and_is_audited(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    made = big_queue(client, token_for, world, db_session)
    formula = send(
        client,
        token_for("housing_corporation"),
        signal_body(address={"postcode": "3099ZZ", "street": '=HYPERLINK("http://x")'}),
    )
    worker = login("municipality")
    answer = worker.get("/ui/cases.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header == [
        "Casusnummer", "Status", "Samenstelling", "Soort", "Schuldeiser", "Bedrag",
        "Leeftijd", "Straat", "Wijk (PC4)", "Team", "Termijn", "Binnengekomen",
    ]  # fmt: skip
    assert len(body) == BIG + 1  # every page, not just the first 50
    numbers = {row[0] for row in body}
    assert len(numbers) == BIG + 1 and all(NUMBER.match(n) for n in numbers)
    streets = [row[header.index("Straat")] for row in body]
    assert '\'=HYPERLINK("http://x") 1' in streets or any(
        s.startswith("'=HYPERLINK") for s in streets
    ), streets
    assert not any(s.startswith("=") for s in streets)
    # No BSN, no exact amount: the amount as the band the queue shows.
    text = answer.content.decode("utf-8-sig")
    assert all(b["person"]["bsn"] not in text for b in made["bodies"])
    assert "98765" not in text and "987,65" not in text

    exported = entries(db_session, "case.export")
    # One entry per person of each exported case (the multiple case has one person).
    assert len(exported) == BIG + 1
    assert {e["resources"]["case"] for e in exported} == set(made["case_ids"]) | {
        formula["case_id"]
    }
    assert all(e["decision"] == "permit" and e["subject"] for e in exported)
    assert all(e["actor"]["client"].startswith("user:") for e in exported)
    # A filtered export holds what the filter shows.
    water = worker.get("/ui/cases.csv", params={"kind": "water"}).content.decode("utf-8-sig")
    assert len(water.strip().splitlines()) == 3


# Bulk hand-over ----------------------------------------------------------------------------


def test_a_bulk_hand_over_decides_each_case_and_keeps_the_refusal_on_the_log(
    client: TestClient, token_for: Headers, world: Any, db_session: Any, login: Login
) -> None:
    housing, municipality = token_for("housing_corporation"), token_for("municipality")
    bodies = [signal_body() for _ in range(3)]
    sent = [send(client, housing, body) for body in bodies]
    for body in bodies[:2]:
        consent = client.post(
            "/v1/consents",
            json={
                "person": {"bsn": body["person"]["bsn"]},
                "purposes": ["debt-service-referral"],
                "recipients": [world["debt_service"].id],
                "collection_method": "in_person",
                "notice_version": "2026-01",
            },
            headers=municipality,
        )
        assert consent.status_code == 201, consent.text
    worker = login("municipality")
    answer = worker.post(
        "/ui/cases/bulk",
        data={
            "case": [s["case_id"] for s in sent],
            "organisation_id": world["debt_service"].id,
            "mode": "hand_over",
            "back": "sort=number",
            "csrf_token": csrf(worker),
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/cases?sort=number&")
    page = worker.get(answer.headers["location"]).text
    assert "2 casus(sen) overgedragen; 1 niet" in page
    debt = client.get("/v1/cases", headers=token_for("debt_service")).json()["items"]
    assert {i["id"] for i in debt} == {s["case_id"] for s in sent[:2]}
    decisions = {
        (e["resources"]["case"], e["decision"]) for e in entries(db_session, "case.assign")
    }
    assert (sent[2]["case_id"], "deny") in decisions
    assert {(s["case_id"], "permit") for s in sent[:2]} <= decisions
    with db_session() as session:
        status = session.scalar(select(Case.status).where(Case.id == uuid.UUID(sent[2]["case_id"])))
    assert status == "open"

    # The team hands its cases to the debt service in bulk and no longer sees them.
    team_cases = [send(client, housing, signal_body()) for _ in range(2)]
    for signal in team_cases:
        client.post(
            f"/v1/cases/{signal['case_id']}/assignment",
            json={"organisation_id": world["neighbourhood_team"].id},
            headers=municipality,
        )
    team = login("neighbourhood_team")
    page = team.get("/ui/cases").text
    assert 'name="case"' in page and "Overdragen aan" in page
    done = team.post(
        "/ui/cases/bulk",
        data={
            "case": [s["case_id"] for s in team_cases],
            "organisation_id": world["debt_service"].id,
            "csrf_token": csrf(team),
        },
    )
    # No consent for these people: nothing goes, and the team keeps them.
    assert "0 casus(sen) overgedragen; 2 niet" in team.get(done.headers["location"]).text
    assert set(ids_on(team.get("/ui/cases").text)) == {s["case_id"] for s in team_cases}
    # Nothing chosen: said so, nothing done.
    none = worker.post("/ui/cases/bulk", data={"csrf_token": csrf(worker)})
    assert none.headers["location"].endswith("saved=bulk_none_chosen")
    assert "Kies eerst een of meer casussen." in worker.get(none.headers["location"]).text


def test_letters_for_many_cases_come_as_one_pdf_and_each_is_an_attempt_on_its_case(
    client: TestClient, token_for: Headers, world: Any, broker: Any, login: Login
) -> None:
    """The team picks three cases and makes the letters at once: one PDF (a first page
    that names the case that got none, then a letter each), and each letter made is a
    contact attempt 'brief' on its case; the closed case gets no letter and no attempt."""
    from pypdf import PdfReader

    from tests.test_outreach import write_teams

    write_teams(broker.settings.data_dir)
    housing, municipality = token_for("housing_corporation"), token_for("municipality")
    sent = [send(client, housing, signal_body()) for _ in range(3)]
    for one in sent:
        assigned = client.post(
            f"/v1/cases/{one['case_id']}/assignment",
            json={"organisation_id": world["neighbourhood_team"].id},
            headers=municipality,
        )
        assert assigned.status_code == 200, assigned.text
    closed = client.post(
        f"/v1/cases/{sent[2]['case_id']}/result",
        json={"result": "no_help_needed"},
        headers=municipality,
    )
    assert closed.status_code == 200, closed.text
    team = login("neighbourhood_team")
    answer = team.post(
        "/ui/cases/bulk-letters",
        data={
            "case": [s["case_id"] for s in sent],
            "template": "letter_home_visit",
            "language": "nl",
            "csrf_token": csrf(team),
        },
    )
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == "application/pdf"
    pages = PdfReader(io.BytesIO(answer.content)).pages
    summary = pages[0].extract_text()
    assert "Brieven in dit bestand: 2" in summary
    number_closed = closed.json()["number"]
    assert number_closed in summary
    letters = "\n".join(page.extract_text() for page in pages[1:])
    for one in sent[:2]:
        document = client.get(f"/v1/cases/{one['case_id']}", headers=municipality).json()
        assert document["number"] in letters
        [attempt] = document["contact_attempts"]
        assert attempt["channel"] == "letter" and attempt["reached"] is False
    after = client.get(f"/v1/cases/{sent[2]['case_id']}", headers=municipality).json()
    assert after["contact_attempts"] == []
