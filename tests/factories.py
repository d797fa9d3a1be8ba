"""Test data made by the tests: generated BSNs that pass the 11-check, names from a fixed
fake list, dates relative to today. Nothing here is a real person."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from typing import Any

from exchange.clock import today

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
            "surname": random.choice(FAKE_SURNAMES),
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
