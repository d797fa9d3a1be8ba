"""Generated early signals that pass every intake rule today.

A copy of the shape of ``tests/factories.signal_body``, deterministic per seed: BSNs pass
the 11-check (and are random, so nobody's), postcodes lie in 3000-3099 (covered by the demo
municipality, Rotterdam), every ``external_ref`` is unique within a prefix. Nothing here is
a real person.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

FAKE_SURNAMES = ["Testsma", "Proefhuis", "Voorbeeldt", "Nepstra", "Fictiefma", "Bedachtink"]
FAKE_PREFIXES = [None, None, None, "van", "de", "van der", "ter"]
# Dutch postcodes never use the letter pairs SA, SD and SS; leaving out S avoids them.
POSTCODE_LETTERS = "ABCDEFGHJKLMNPRTVWXZ"
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2)


def generated_bsn(rng: random.Random) -> str:
    """A nine-digit number that passes the 11-check."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        total = sum(d * w for d, w in zip(digits, _WEIGHTS, strict=True))
        last = total % 11
        if last <= 9:
            return "".join(map(str, digits)) + str(last)


def signal_body(rng: random.Random, ref: str, today: dt.date) -> dict[str, Any]:
    """One rent signal (as a housing corporation sends it) that the broker accepts."""
    postcode = f"{rng.randint(3000, 3099)}{rng.choice(POSTCODE_LETTERS)}"
    postcode += rng.choice(POSTCODE_LETTERS)
    return {
        "external_ref": ref,
        "kind": "rent",
        "amount_cents": rng.randint(30_000, 900_000),
        "arrears_since": (today - dt.timedelta(days=rng.randint(35, 200))).isoformat(),
        "crisis": False,
        "warm_handover": rng.random() < 0.1,
        "person": {
            "bsn": generated_bsn(rng),
            "initials": f"{rng.choice('ABCDEFGHJKLMNPQRSTW')}.",
            "surname_prefix": rng.choice(FAKE_PREFIXES),
            "surname": rng.choice(FAKE_SURNAMES),
            "birth_date": dt.date(
                rng.randint(1940, 2004), rng.randint(1, 12), rng.randint(1, 28)
            ).isoformat(),
        },
        "address": {
            "postcode": postcode,
            "house_number": str(rng.randint(1, 999)),
            "house_number_addition": rng.choice([None, None, None, "A", "B", "2"]),
            "street": "Proefstraat",
            "city": "Rotterdam",
        },
        "contact": {
            "phone": f"+316{rng.randint(10_000_000, 99_999_999)}",
            "email": f"{ref.lower()}@example.test",
        },
        "preconditions": {
            "contact_attempted_on": (today - dt.timedelta(days=21)).isoformat(),
            "debt_help_offered_on": (today - dt.timedelta(days=21)).isoformat(),
            "reminder_sent_on": (today - dt.timedelta(days=28)).isoformat(),
            "reminder_offered_transfer": True,
            "subject_refused": False,
        },
    }


def signal_bodies(count: int, prefix: str, seed: int) -> list[dict[str, Any]]:
    """``count`` distinct signals with refs ``BENCH-<prefix>-<n>``."""
    rng = random.Random(seed)
    today = dt.date.today()
    return [signal_body(rng, f"BENCH-{prefix}-{n:07d}", today) for n in range(count)]
