"""Test data made by the tests: generated BSNs that pass the 11-check, names from a fixed
fake list, dates relative to today. Nothing here is a real person."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select

from exchange.cases.models import Case
from exchange.clock import today
from exchange.identity.models import Household, Subject
from exchange.signals.models import Signal

PROBLEM_JSON = "application/problem+json"
NOTHING_STORED = {"signals": 0, "cases": 0, "households": 0, "subjects": 0}

FAKE_SURNAMES = ["Testsma", "Proefhuis", "Voorbeeldt", "Nepstra", "Fictiefma", "Bedachtink"]
FAKE_PREFIXES = [None, "van", "de", "van der", "ter"]
_sequence = itertools.count(1)


def generated_bsn(rng: random.Random | None = None) -> str:
    """A nine-digit number that passes the 11-check (and is nobody's, being random)."""
    rng = rng or random.Random()
    while True:
        digits = [rng.randint(0, 9) for _ in range(8)]
        total = sum(d * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2), strict=True))
        last = total % 11
        if last <= 9 and digits[0] != 0 and (total - last) % 11 == 0 and total - last != 0:
            return "".join(map(str, digits)) + str(last)


def signal_body(**overrides: Any) -> dict[str, Any]:
    """A rent signal that passes every intake rule today; override any part."""
    number = next(_sequence)
    now = today()
    body: dict[str, Any] = {
        "external_ref": f"TEST-{number:06d}-{random.randint(0, 10**6):06d}",
        "kind": "rent",
        "amount_cents": 98_765,
        "arrears_since": (now - dt.timedelta(days=62)).isoformat(),
        "crisis": False,
        "warm_handover": False,
        "person": {
            "bsn": generated_bsn(),
            "initials": "Q.",
            "surname_prefix": None,
            # One surname per signal: with the same initial and birth date, a shared surname
            # would make every signal's person one and the same by name and birth date.
            "surname": f"{random.choice(FAKE_SURNAMES)}-{number}",
            "birth_date": "1979-03-14",
        },
        "address": {
            "postcode": "3012QX",
            "house_number": str(100 + number % 800),
            "house_number_addition": None,
            "street": "Proefstraat",
            "city": "Rotterdam",
        },
        "contact": {"phone": "+31687654321", "email": f"testpersoon{number}@example.test"},
        "preconditions": {
            "contact_attempted_on": (now - dt.timedelta(days=21)).isoformat(),
            "debt_help_offered_on": (now - dt.timedelta(days=21)).isoformat(),
            "reminder_sent_on": (now - dt.timedelta(days=28)).isoformat(),
            "reminder_offered_transfer": True,
            "subject_refused": False,
        },
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


def failing_bsn(rng: random.Random | None = None) -> str:
    """Nine digits that fail the 11-check: a valid BSN with its check digit changed."""
    valid = generated_bsn(rng)
    return valid[:8] + str((int(valid[8]) + 1) % 10)


def problem_of(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """The RFC 9457 problem details of a response, after checking status and media type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    if slug is not None:
        assert problem["type"] == f"https://signal-exchange.example/problems/{slug}", problem
    return problem


def errors_of(problem: dict[str, Any]) -> list[tuple[str, str]]:
    """A problem's field errors as (field path, message) pairs, in order."""
    return [(error["field"], error["detail"]) for error in problem.get("errors", [])]


def stored_counts(db_session: Callable[[], Any]) -> dict[str, int]:
    """How many signals, cases, households and subjects the database holds."""
    tables = {"signals": Signal, "cases": Case, "households": Household, "subjects": Subject}
    with db_session() as session:
        return {
            name: session.scalar(select(func.count()).select_from(model))
            for name, model in tables.items()
        }
