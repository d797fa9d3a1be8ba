"""The audit search, newest first and paged: on the API (``order=newest``, ``before``), on the
privacy officer's page (50 a page, "older entries"), with a decision filter, and bounded on a
long log (a page without a person looks through at most ``SEARCH_WINDOW`` entries)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from exchange.auditlog.service import AuditRecord
from exchange.broker import Broker
from exchange.demo import DemoOrganisation
from exchange.rights import report
from tests.conftest import Login, csrf

Headers = Callable[[str], dict[str, str]]
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _append(broker: Broker, organisation: uuid.UUID, decisions: list[str]) -> list[int]:
    """Entries of the given decisions, one each, by ``organisation``; their leaf indexes."""
    records = [
        AuditRecord(
            action="case.read",
            decision=decision,
            actor_org=organisation,
            purpose="early-signal",
            subject=f"{i:064x}",
            resources={"n": str(i)},
        )
        for i, decision in enumerate(decisions)
    ]
    with broker.sessions() as session, session.begin():
        return broker.audit.write(session, records, NOW)


def _pages(
    client: TestClient, headers: dict[str, str], **query: Any
) -> tuple[list[list[int]], list[dict[str, Any]]]:
    pages: list[list[int]] = []
    answers = []
    before: int | None = None
    while True:
        params = {**query, "order": "newest", **({"before": before} if before is not None else {})}
        response = client.get("/v1/audit/entries", params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        answers.append(body)
        pages.append([e["leaf_index"] for e in body["entries"]])
        before = body["next_before"]
        if before is None:
            return pages, answers


def test_newest_first_pages_reach_every_matching_entry_once_in_descending_order(
    client: TestClient, token_for: Headers, broker: Broker, world: dict[str, DemoOrganisation]
) -> None:
    organisation = uuid.UUID(world["municipality"].id)
    leaves = _append(broker, organisation, ["permit", "deny", "permit"] * 8)
    officer = token_for("privacy_officer")
    pages, answers = _pages(
        client, officer, organisation=str(organisation), action="case.read", limit=5
    )
    seen = [leaf for page in pages for leaf in page]
    assert seen == sorted(leaves, reverse=True)
    assert [len(p) for p in pages[:-1]] == [5] * (len(pages) - 1)
    assert all(a["next_after"] is None for a in answers)


def test_the_decision_filter_keeps_only_that_decision(
    client: TestClient, token_for: Headers, broker: Broker, world: dict[str, DemoOrganisation]
) -> None:
    organisation = uuid.UUID(world["municipality"].id)
    leaves = _append(broker, organisation, ["permit", "deny", "permit", "deny", "deny"])
    denied = {leaves[1], leaves[3], leaves[4]}
    pages, answers = _pages(
        client, token_for("privacy_officer"), action="case.read", decision="deny", limit=2
    )
    assert [leaf for page in pages for leaf in page] == sorted(denied, reverse=True)
    assert {e["decision"] for a in answers for e in a["entries"]} == {"deny"}
    # The same filter oldest first (the default order), through ?after=.
    oldest = client.get(
        "/v1/audit/entries",
        params={"action": "case.read", "decision": "deny"},
        headers=token_for("privacy_officer"),
    ).json()
    assert [e["leaf_index"] for e in oldest["entries"]] == sorted(denied)


def test_a_cursor_of_the_other_order_is_refused_naming_the_field(
    client: TestClient, token_for: Headers
) -> None:
    officer = token_for("privacy_officer")
    newest = client.get("/v1/audit/entries?order=newest&after=3", headers=officer)
    assert newest.status_code == 422
    assert [e["field"] for e in newest.json()["errors"]] == ["after"]
    oldest = client.get("/v1/audit/entries?before=3", headers=officer)
    assert oldest.status_code == 422
    assert [e["field"] for e in oldest.json()["errors"]] == ["before"]
    wrong = client.get("/v1/audit/entries?decision=maybe", headers=officer)
    assert wrong.status_code == 422


def test_a_page_without_a_person_looks_through_one_window_and_says_where_to_go_on(
    broker: Broker, world: dict[str, DemoOrganisation]
) -> None:
    organisation = uuid.UUID(world["municipality"].id)
    leaves = _append(broker, organisation, ["permit"] * 30 + ["deny"] + ["permit"] * 30)
    rare = leaves[30]
    with broker.sessions() as session:
        size = broker.audit.tree_size(session)
        wanted = report.Filters(action="case.read", decision="deny")
        first = report.search_newest(session, size, wanted, limit=10, window=20)
        # Twenty entries looked at, none of them the deny: an empty page, and a way on.
        assert first.entries == []
        assert (first.looked_from, first.looked_to) == (size - 20, size - 1)
        assert first.before == size - 20
        second = report.search_newest(session, size, wanted, before=first.before, window=20)
        assert [e["leaf_index"] for e in second.entries] == [rare]
        # With a person the index narrows the search: no window, the whole log at once.
        person = report.Filters(subject=f"{0:064x}", action="case.read")
        narrowed = report.search_newest(session, size, person, limit=10, window=20)
        assert [e["leaf_index"] for e in narrowed.entries] == [leaves[0]]
        assert narrowed.before is None


def test_the_page_shows_the_newest_fifty_and_pages_back_with_older_entries(
    login: Login, broker: Broker, world: dict[str, DemoOrganisation]
) -> None:
    organisation = uuid.UUID(world["municipality"].id)
    leaves = _append(broker, organisation, ["deny"] * 60 + ["permit"] * 5)
    denied = sorted(leaves[:60], reverse=True)
    officer = login("privacy_officer")
    token = csrf(officer, "/ui/audit")
    form = {"csrf_token": token, "action": "case.read", "decision": "deny"}
    first = officer.post("/ui/audit", data=form)
    assert first.status_code == 200, first.text
    assert _leaves(first.text) == denied[:50]
    more = re.search(r'name="before" value="(\d+)"', first.text)
    assert more is not None
    # The older page keeps the filters: the remaining ten, and nothing of the permits.
    second = officer.post("/ui/audit", data={**form, "before": more.group(1)})
    assert _leaves(second.text) == denied[50:]
    # The whole log has been looked at: no older page to offer, and the page says how far.
    assert 'name="before"' not in second.text
    assert re.search(r"10 gevonden in regels 0 tot en met \d+ van het logboek", second.text)


def test_the_page_refuses_a_decision_or_cursor_it_does_not_know(login: Login) -> None:
    officer = login("privacy_officer")
    token = csrf(officer, "/ui/audit")
    for field, value in (("decision", "maybe"), ("before", "-4"), ("before", "x")):
        response = officer.post("/ui/audit", data={"csrf_token": token, field: value})
        assert response.status_code == 422, (field, value, response.status_code)


def _leaves(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr class="\w+">\s*<td[^>]*>(\d+)</td>', page)]
