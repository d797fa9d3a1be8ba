"""The pages deny by default, like /v1: every /ui route states who may open it, a route that
states nothing is refused to everyone, and each role is refused the pages not meant for it.

``ACCESS`` below is the specification: which organisation kinds may open each page. The
routes' declared rules must match it, and the pages must answer by it.
"""

from __future__ import annotations

import ast
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from starlette.routing import Mount

from exchange import ui
from exchange.api.app import create_app
from exchange.auditlog.models import AuditEntry
from exchange.broker import Broker
from exchange.organisations.terms import OrganisationKind
from exchange.ui.accounts import add_user
from exchange.ui.web import PUBLIC, PageRoute, page, rule_of
from tests.conftest import ISSUER, PASSWORD, hidden
from tests.test_ui_hardening import api_routes

MUNICIPALITY = frozenset({"municipality"})
# Every caseworker records attempts and results, each under its own rule.
RECORDERS = frozenset({"municipality", "neighbourhood_team", "debt_service"})
# The municipality hands over to its teams and debt services, a team to a debt service.
ASSIGNERS = frozenset({"municipality", "neighbourhood_team"})
# Who sends letters, e-mail and text messages from templates (exchange.outreach).
SENDERS = frozenset({"municipality", "neighbourhood_team"})
CASEWORK = frozenset({"municipality", "neighbourhood_team", "debt_service"})
OVERSIGHT = frozenset({"privacy_officer"})
EVERY_KIND = frozenset(k.value for k in OrganisationKind)
ANYONE = None  # public: signed in or not

ACCESS: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/ui/login"): ANYONE,
    ("POST", "/ui/login"): ANYONE,
    ("GET", "/ui/login/oidc"): ANYONE,
    ("GET", "/ui/login/oidc/callback"): ANYONE,
    ("GET", "/ui/login/oidc/jwks"): ANYONE,  # the public half of the broker's key
    ("POST", "/ui/logout"): EVERY_KIND,
    ("GET", "/ui/"): CASEWORK | OVERSIGHT,
    ("GET", "/ui/register"): EVERY_KIND,
    ("GET", "/ui/register/rules"): EVERY_KIND,
    ("GET", "/ui/cases"): CASEWORK,
    ("GET", "/ui/cases.csv"): CASEWORK,
    ("POST", "/ui/cases/bulk"): ASSIGNERS,
    ("POST", "/ui/cases/views"): CASEWORK,
    ("POST", "/ui/cases/views/{view_id}/delete"): CASEWORK,
    ("POST", "/ui/cases/bulk-letters"): SENDERS,
    ("GET", "/ui/cases/{case_id}"): CASEWORK,
    ("GET", "/ui/cases/{case_id}/outreach/{template}"): SENDERS,
    ("GET", "/ui/cases/{case_id}/outreach/{template}/pdf"): SENDERS,
    ("POST", "/ui/cases/{case_id}/outreach/{template}"): SENDERS,
    ("POST", "/ui/cases/{case_id}/assignment"): ASSIGNERS,
    ("POST", "/ui/cases/{case_id}/assignments/{assignment_id}/end"): CASEWORK,
    ("POST", "/ui/cases/{case_id}/contact-attempts"): RECORDERS,
    ("POST", "/ui/cases/{case_id}/result"): RECORDERS,
    ("POST", "/ui/cases/{case_id}/reopen"): RECORDERS,
    ("POST", "/ui/cases/{case_id}/consents"): ASSIGNERS,
    ("POST", "/ui/cases/{case_id}/consents/{consent_id}/withdrawal"): CASEWORK,
    ("GET", "/ui/overview"): MUNICIPALITY,
    ("GET", "/ui/overview.csv"): MUNICIPALITY,
    ("GET", "/ui/audit"): OVERSIGHT,
    ("POST", "/ui/audit"): OVERSIGHT,
    ("GET", "/ui/access-report"): OVERSIGHT,
    ("POST", "/ui/access-report"): OVERSIGHT,
    ("POST", "/ui/access-report/letter"): OVERSIGHT,
    ("GET", "/ui/log"): OVERSIGHT,
    ("POST", "/ui/log/verification"): OVERSIGHT,
    ("GET", "/ui/consents"): OVERSIGHT,
    ("POST", "/ui/consents"): OVERSIGHT,
    ("GET", "/ui/rights"): OVERSIGHT,
    ("POST", "/ui/rights"): OVERSIGHT,
}
# Everyone who can have a session: the four kinds with pages, and a creditor, whose people
# may log in (the register is for everyone) but have no start page.
KINDS = ("municipality", "neighbourhood_team", "debt_service", "privacy_officer")
CREDITOR = "housing_corporation"

# Opens a browser signed in as the person of a kind (None: nobody), on an app if given.
SignIn = Callable[..., TestClient]


def ui_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    for path, route in api_routes(app.routes):
        if path.startswith("/ui"):
            for method in sorted(route.methods or ()):
                yield method, path, route


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.fixture
def sign_in(
    broker: Broker, people: dict[str, str], world: dict[str, Any], db_session: Any
) -> Iterator[SignIn]:
    """A browser signed in as the person of a kind (None: nobody), on ``app`` if given."""
    with db_session() as session:
        creditor = add_user(
            session,
            organisation_id=uuid.UUID(world[CREDITOR].id),
            username="creditor@example.test",
            display_name="Demo creditor",
            password=PASSWORD,
        )
    usernames = people | {CREDITOR: creditor.username}
    opened: list[TestClient] = []

    def open_as(kind: str | None, app: FastAPI | None = None) -> TestClient:
        browser = TestClient(
            app or create_app(broker=broker), base_url=ISSUER, follow_redirects=False
        )
        opened.append(browser)
        if kind is not None:
            form = browser.get("/ui/login")
            answer = browser.post(
                "/ui/login",
                data={
                    "username": usernames[kind],
                    "password": PASSWORD,
                    "login_csrf": hidden(form.text, "login_csrf"),
                },
            )
            assert answer.status_code == 303, answer.text
        return browser

    yield open_as
    for browser in opened:
        browser.close()


def session_csrf(browser: TestClient) -> str:
    """The session's CSRF token, from the page everyone signed in may open."""
    return hidden(browser.get("/ui/register").text, "csrf_token")


def audit_size(db_session: Any) -> int:
    with db_session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_every_ui_route_states_its_rule_and_the_rules_are_the_specification(
    broker: Broker,
) -> None:
    app = create_app(broker=broker)
    declared: dict[tuple[str, str], frozenset[str] | None] = {}
    for method, path, route in ui_routes(app):
        assert isinstance(route, PageRoute), f"{method} {path} is not checked by PageRoute"
        rule = rule_of(route.endpoint)
        assert rule is not None, f"{method} {path} states no rule"
        declared[method, path] = None if rule.public else frozenset(k.value for k in rule.kinds)
    assert declared == ACCESS
    # The static files are the one mount under /ui, and public by their own declaration.
    mounts = [r for r in app.routes if isinstance(r, Mount) and r.path.startswith("/ui")]
    assert [m.path for m in mounts] == ["/ui/static"]
    assert rule_of(mounts[0].app) is PUBLIC


def _app_with_a_forgotten_rule(broker: Broker) -> FastAPI:
    """The app with two pages added to a /ui router the usual way, but without @page."""
    app = create_app(broker=broker)
    forgotten = APIRouter(prefix="/ui", include_in_schema=False, route_class=PageRoute)

    @forgotten.get("/forgotten", response_class=HTMLResponse)
    def forgotten_page(request: Request) -> str:
        return "<p>every case of the city</p>"

    @forgotten.post("/forgotten", response_class=HTMLResponse)
    def forgotten_form(request: Request) -> str:
        return "<p>done</p>"

    @forgotten.get("/declared", response_class=HTMLResponse)
    @page(PUBLIC)
    def declared_page(request: Request) -> str:
        return "<p>a page with a rule</p>"

    app.include_router(forgotten)
    return app


@pytest.mark.parametrize("kind", [*KINDS, CREDITOR, None])
def test_a_route_without_a_rule_is_the_403_page_for_everyone(
    broker: Broker, sign_in: SignIn, db_session: Any, kind: str | None
) -> None:
    browser = sign_in(kind, _app_with_a_forgotten_rule(broker))
    assert browser.get("/ui/declared").status_code == 200  # the router itself works

    answer = browser.get("/ui/forgotten")
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "every case of the city" not in answer.text
    assert "Geen toegang" in answer.text and "Deze pagina hoort niet bij uw rol." in answer.text

    before = audit_size(db_session)
    token = session_csrf(browser) if kind is not None else "none"
    posted = browser.post("/ui/forgotten", data={"csrf_token": token})
    assert posted.status_code == 403
    assert "done" not in posted.text
    assert audit_size(db_session) == before


@pytest.mark.parametrize("kind", [*KINDS, CREDITOR])
def test_each_role_gets_the_403_page_on_every_page_not_meant_for_it(
    sign_in: SignIn, db_session: Any, kind: str
) -> None:
    browser = sign_in(kind)
    token = session_csrf(browser)
    before = audit_size(db_session)
    refused = [
        (m, p) for (m, p), kinds in ACCESS.items() if kinds is not ANYONE and kind not in kinds
    ]
    assert refused, "every role is refused something"
    for method, path in refused:
        if method == "GET":
            answer = browser.get(concrete(path))
        else:
            # With the session's own CSRF token: the role is what is refused.
            answer = browser.post(concrete(path), data={"csrf_token": token})
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html")
        assert "Deze pagina hoort niet bij uw rol." in answer.text, (method, path)
    assert audit_size(db_session) == before  # nothing refused was done, or logged

    # The pages this role may open, open: a page, a redirect to its start page, or 404 for a
    # case that does not exist, but never the 403 page nor the login page. (Its forms are
    # sent in tests/test_ui_pages.py.)
    for (method, path), kinds in ACCESS.items():
        if method == "GET" and kinds is not ANYONE and kind in kinds:
            answer = browser.get(concrete(path))
            assert answer.status_code != 403, (path, answer.text)
            assert not answer.headers.get("location", "").startswith("/ui/login"), path


def test_nobody_signed_in_goes_to_the_login_page_except_on_the_public_pages(
    sign_in: SignIn,
) -> None:
    browser = sign_in(None)
    for (method, path), kinds in ACCESS.items():
        target = concrete(path)
        if method == "GET":
            answer = browser.get(target)
        else:
            answer = browser.post(target, data={"csrf_token": "none"})
        if kinds is ANYONE:
            assert answer.status_code != 303 or not answer.headers["location"].startswith(
                "/ui/login?next="
            ), path
            continue
        assert answer.status_code == 303, (method, path, answer.status_code)
        assert answer.headers["location"] == f"/ui/login?next={target}"
    assert browser.get("/ui/login").status_code == 200
    assert browser.get("/ui/static/style.css").status_code == 200


def test_only_the_modules_that_own_the_pages_tables_touch_them() -> None:
    """The pages' own tables (exchange.ui.models) are queried in the modules that own them;
    the routes call those, as they call each package's services for the other tables (the
    import-linter contract in pyproject.toml forbids those tables to exchange.ui)."""
    owners = {"accounts.py", "throttle.py", "verification.py", "oidc.py", "views.py", "models.py"}
    importers = set()
    for path in Path(ui.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            names = {alias.name for alias in node.names}
            if node.module == "exchange.ui.models" or (
                node.module == "exchange.ui" and "models" in names
            ):
                importers.add(path.name)
    assert importers and importers <= owners, importers - owners
