"""The web pages' edges: login throttling per account and per address, the language
cookie's flags, and CSRF on every form, on SQLite and PostgreSQL.

Browsers here are TestClients with a cookie jar of their own and a client address of their
own (the ASGI client host, which a trusted proxy sets in production).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import orjson
import pytest
from argon2 import PasswordHasher
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from exchange import clock
from exchange.api.app import create_app
from exchange.auditlog.models import AuditEntry
from exchange.broker import Broker
from exchange.config import Settings
from exchange.ui import accounts, throttle
from exchange.ui.models import LoginThrottle, User
from tests.conftest import ISSUER, PASSWORD

WRONG = "not the password at all"
HOME = "203.0.113.10"
ELSEWHERE = "198.51.100.77"
DUTCH = "Te veel mislukte pogingen om in te loggen. Probeer het over 15 minuten opnieuw."
ENGLISH = "Too many failed login attempts. Try again in 15 minutes."
Browser = Callable[..., TestClient]


class CountingHasher(PasswordHasher):
    """argon2id at the tests' low cost, counting how often a password is verified."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(accounts, "_HASHER", counting)
    return counting


@pytest.fixture
def browser(broker: Broker) -> Iterator[Browser]:
    """A browser at a client address of its own (``host``), with its own cookies."""
    with ExitStack() as stack:

        def open_at(host: str = HOME, app: Any = None) -> TestClient:
            return stack.enter_context(
                TestClient(
                    app or create_app(broker=broker),
                    base_url=ISSUER,
                    follow_redirects=False,
                    client=(host, 50000),
                )
            )

        yield open_at


@pytest.fixture
def move_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.timedelta], None]:
    """Move the broker's clock (exchange.clock.now) forward by the given time."""
    real = clock.now
    offset = [dt.timedelta()]
    monkeypatch.setattr(clock, "now", lambda: real() + offset[0])

    def move(by: dt.timedelta) -> None:
        offset[0] += by

    return move


def log_in(browser: TestClient, username: str, password: str) -> httpx.Response:
    form = browser.get("/ui/login")
    match = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert match, "no login CSRF token on the login page"
    return browser.post(
        "/ui/login",
        data={"username": username, "password": password, "login_csrf": match.group(1)},
    )


def statuses(browser: TestClient, username: str, password: str, times: int) -> list[int]:
    return [log_in(browser, username, password).status_code for _ in range(times)]


def throttle_entries(db_session: Any) -> list[bytes]:
    with db_session() as session:
        return list(
            session.scalars(
                select(AuditEntry.entry)
                .where(AuditEntry.action == "ui.login_throttled")
                .order_by(AuditEntry.leaf_index)
            )
        )


def audit_size(db_session: Any) -> int:
    with db_session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


# Throttling per account ---------------------------------------------------------------------


def test_an_account_is_locked_after_five_failures_even_for_the_right_password(
    browser: Browser, people: dict[str, str]
) -> None:
    name = people["municipality"]
    here, there = browser(HOME), browser(ELSEWHERE)
    assert statuses(here, name, WRONG, throttle.ACCOUNT_LIMIT) == [401] * 5

    refused = log_in(here, name, PASSWORD)
    assert refused.status_code == 429
    assert 890 <= int(refused.headers["retry-after"]) <= 900
    assert DUTCH in refused.text
    assert "sx_session" not in refused.headers.get("set-cookie", "")
    # The account, not the address: from anywhere else it is locked too.
    elsewhere = log_in(there, name, PASSWORD)
    assert elsewhere.status_code == 429
    assert "sx_session" not in elsewhere.headers.get("set-cookie", "")


def test_a_name_without_an_account_is_locked_exactly_like_an_account(
    browser: Browser, people: dict[str, str]
) -> None:
    known = statuses(browser(HOME), people["municipality"], WRONG, 7)
    unknown = statuses(browser(ELSEWHERE), "nobody@example.test", WRONG, 7)
    assert known == unknown == [401] * 5 + [429] * 2


def test_no_password_is_verified_while_throttled(
    browser: Browser, people: dict[str, str], hasher: CountingHasher
) -> None:
    here = browser(HOME)
    statuses(here, people["neighbourhood_team"], WRONG, throttle.ACCOUNT_LIMIT)
    assert hasher.verified == throttle.ACCOUNT_LIMIT  # one argon2 verification per try
    assert statuses(here, people["neighbourhood_team"], PASSWORD, 10) == [429] * 10
    assert hasher.verified == throttle.ACCOUNT_LIMIT


def test_a_successful_login_starts_the_account_over(
    browser: Browser, people: dict[str, str]
) -> None:
    here = browser(HOME)
    name = people["debt_service"]
    for _ in range(2):
        assert statuses(here, name, WRONG, throttle.ACCOUNT_LIMIT - 1) == [401] * 4
        assert log_in(here, name, PASSWORD).status_code == 303
    # Eight failures in the window, yet a fresh count after the last success:
    assert statuses(here, name, WRONG, throttle.ACCOUNT_LIMIT + 1) == [401] * 5 + [429]


def test_the_lock_ends_and_the_next_one_within_a_day_lasts_twice_as_long(
    browser: Browser, people: dict[str, str], move_clock: Callable[[dt.timedelta], None]
) -> None:
    here = browser(HOME)
    name = people["municipality"]
    statuses(here, name, WRONG, throttle.ACCOUNT_LIMIT)
    assert int(log_in(here, name, PASSWORD).headers["retry-after"]) > 890

    move_clock(dt.timedelta(minutes=14))
    still = log_in(here, name, PASSWORD)
    assert still.status_code == 429
    assert 50 <= int(still.headers["retry-after"]) <= 60
    assert "over een minuut" in still.text

    move_clock(dt.timedelta(minutes=1, seconds=1))
    assert statuses(here, name, WRONG, throttle.ACCOUNT_LIMIT) == [401] * 5
    second = log_in(here, name, PASSWORD)
    assert second.status_code == 429
    assert 1790 <= int(second.headers["retry-after"]) <= 1800

    move_clock(dt.timedelta(minutes=30, seconds=1))
    assert log_in(here, name, PASSWORD).status_code == 303
    # The success started the account over: the next lock is a first one again.
    statuses(here, name, WRONG, throttle.ACCOUNT_LIMIT)
    assert int(log_in(here, name, PASSWORD).headers["retry-after"]) <= 900


def test_what_nobody_tried_for_a_day_is_forgotten(
    browser: Browser,
    people: dict[str, str],
    db_session: Any,
    move_clock: Callable[[dt.timedelta], None],
) -> None:
    here = browser(HOME)
    name = people["municipality"]
    statuses(here, name, WRONG, throttle.ACCOUNT_LIMIT + 1)  # locked once
    move_clock(throttle.FORGET_AFTER + throttle.FIRST_LOCK + dt.timedelta(minutes=1))
    log_in(browser(ELSEWHERE), "someone.else@example.test", WRONG)
    with db_session() as session:
        # Only that last attempt's account and address are left.
        assert session.scalar(select(func.count()).select_from(LoginThrottle)) == 2
    # And the next lock of the account is a first one again, not twice as long.
    statuses(here, name, WRONG, throttle.ACCOUNT_LIMIT)
    assert 890 <= int(log_in(here, name, PASSWORD).headers["retry-after"]) <= 900


# Throttling per address ---------------------------------------------------------------------


def test_an_address_is_locked_after_twenty_failures_over_different_names(
    browser: Browser, people: dict[str, str]
) -> None:
    here, there = browser(HOME), browser(ELSEWHERE)
    sprayed = [
        log_in(here, f"guess{i}@example.test", WRONG).status_code
        for i in range(throttle.ADDRESS_LIMIT)
    ]
    assert sprayed == [401] * 20
    # An account nobody guessed at, with its right password: refused from this address...
    refused = log_in(here, people["privacy_officer"], PASSWORD)
    assert refused.status_code == 429
    assert DUTCH in refused.text
    # ...and fine from another one.
    assert log_in(there, people["privacy_officer"], PASSWORD).status_code == 303


def test_an_ipv6_client_is_counted_by_its_64(browser: Browser, people: dict[str, str]) -> None:
    for i in range(throttle.ADDRESS_LIMIT):
        assert log_in(browser(f"2001:db8:1:2::{i + 1:x}"), f"g{i}@x.test", WRONG).status_code == 401
    neighbour = browser("2001:db8:1:2:ffff::1")
    assert log_in(neighbour, people["municipality"], PASSWORD).status_code == 429
    assert log_in(browser("2001:db8:1:3::1"), people["municipality"], PASSWORD).status_code == 303


def test_parallel_guesses_on_two_replicas_get_no_more_than_the_limit(
    broker: Broker, settings: Settings, people: dict[str, str], browser: Browser
) -> None:
    """The count is the database's, taken before the password is checked: twelve guesses at
    once, half on each of two replicas, get five verifications between them."""
    replica = Broker.start(settings)
    try:
        apps = [create_app(broker=broker), create_app(broker=replica)]
        clients = [browser(f"192.0.2.{i + 1}", apps[i % 2]) for i in range(12)]
        forms = []
        for client in clients:
            page = client.get("/ui/login")
            token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
            assert token
            forms.append(token.group(1))
        start = threading.Barrier(len(clients))
        answers: list[int] = []

        def guess(client: TestClient, token: str) -> None:
            start.wait()
            response = client.post(
                "/ui/login",
                data={"username": people["municipality"], "password": WRONG, "login_csrf": token},
            )
            answers.append(response.status_code)

        threads = [
            threading.Thread(target=guess, args=pair) for pair in zip(clients, forms, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(answers) == [401] * 5 + [429] * 7
    finally:
        replica.engine.dispose()


# What the log and the table keep ------------------------------------------------------------


def test_a_lock_is_audited_once_without_the_name_or_the_address(
    browser: Browser, people: dict[str, str], db_session: Any
) -> None:
    address = "198.51.100.23"
    here = browser(address)
    name = people["municipality"]
    ghost = "Ghost.Person@Example.TEST"
    statuses(here, name, WRONG, throttle.ACCOUNT_LIMIT + 4)  # one lock, four refusals more
    statuses(here, ghost, WRONG, throttle.ACCOUNT_LIMIT + 1)
    for i in range(throttle.ADDRESS_LIMIT - 2 * throttle.ACCOUNT_LIMIT):
        log_in(here, f"guess{i}@example.test", WRONG)
    assert log_in(here, people["debt_service"], PASSWORD).status_code == 429

    entries = throttle_entries(db_session)
    assert len(entries) == 3  # each lock once, not every refused attempt
    with db_session() as session:
        user_id = session.scalar(select(User.id).where(User.username == name))
        rows = session.scalars(select(LoginThrottle)).all()
    account, unknown, by_address = (orjson.loads(e)["resources"] for e in entries)
    assert account["scope"] == unknown["scope"] == "account"
    assert account["account"] == f"user:{user_id}"
    assert unknown["account"].startswith("name:")
    assert by_address["scope"] == "address" and "account" not in by_address
    # One pseudonym for the one address, in every entry: a privacy officer sees it was one
    # place, without seeing the place.
    assert len({e["address"] for e in (account, unknown, by_address)}) == 1
    assert account["locked_seconds"] == "900" and account["failures"] == "5"

    kept = b"".join(entries) + b"".join(
        repr((r.key, r.scope, r.failures, r.window_started_at)).encode() for r in rows
    )
    for secret in (name, ghost, ghost.lower(), "ghost.person", address, "198.51.100"):
        assert secret.encode() not in kept, secret
    assert address.encode() not in b"".join(r.key for r in rows)


def test_a_name_with_a_nul_is_a_wrong_login_not_a_server_error(browser: Browser) -> None:
    assert log_in(browser(HOME), "some\x00one@example.test", WRONG).status_code == 401


# The page's words and cookies ---------------------------------------------------------------


def test_the_throttled_page_speaks_english_when_asked(
    browser: Browser, people: dict[str, str]
) -> None:
    here = browser(HOME)
    here.get("/ui/login?lang=en")
    statuses(here, people["municipality"], WRONG, throttle.ACCOUNT_LIMIT)
    refused = log_in(here, people["municipality"], PASSWORD)
    assert refused.status_code == 429
    assert ENGLISH in refused.text and DUTCH not in refused.text


def test_the_language_cookie_is_secure_under_an_https_issuer(browser: Browser) -> None:
    answer = browser(HOME).get("/ui/login?lang=en")
    [cookie] = [c for c in answer.headers.get_list("set-cookie") if c.startswith("sx_lang=")]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


# CSRF on every form -------------------------------------------------------------------------


def ui_forms(app: Any) -> list[str]:
    """Every path the pages take a form post on, with a made-up id for each path parameter."""
    paths = [
        re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        for path, route in api_routes(app.routes)
        if path.startswith("/ui") and (route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert len(paths) >= 10, paths  # the walk found the forms (login, logout, cases, ...)
    return paths


def api_routes(routes: Any, prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute of the app with its full path, into included routers (FastAPI >= 0.160
    keeps those whole instead of copying their routes into the app)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def test_a_form_without_its_csrf_token_is_refused_like_a_forged_one_on_every_form(
    broker: Broker, people: dict[str, str], db_session: Any, browser: Browser
) -> None:
    signed_in = browser(HOME)
    assert log_in(signed_in, people["municipality"], PASSWORD).status_code == 303
    before = audit_size(db_session)
    for path in ui_forms(signed_in.app):
        forged = signed_in.post(path, data={"csrf_token": "forged", "login_csrf": "forged"})
        assert forged.status_code == 403, path
        assert forged.headers["content-type"].startswith("text/html"), path
        assert "CSRF" in forged.text, path
        for missing in ({}, {"csrf_token": "", "login_csrf": ""}):
            answer = signed_in.post(path, data=missing)
            assert (answer.status_code, answer.text) == (403, forged.text), path
        # Not a form at all: refused the same way.
        raw = signed_in.post(path, content=b"{}", headers={"content-type": "application/json"})
        assert (raw.status_code, raw.text) == (403, forged.text), path
    assert audit_size(db_session) == before  # nothing was done, nothing was logged

    signed_out = browser(ELSEWHERE)
    for path in ui_forms(signed_out.app):
        answer = signed_out.post(path, data={})
        if path == "/ui/login":
            forged = signed_out.post(path, data={"login_csrf": "forged"})
            assert (answer.status_code, answer.text) == (403, forged.text)
        else:
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/ui/login"), path
